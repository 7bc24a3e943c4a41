package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// UpgradeOpset rewrites m in place from its ai.onnx opset (7 to 10) to
// opset 11, the first that the gradient rules cover: the operators whose
// signature changed on the way move their attributes to inputs (Slice,
// Pad, Clip, TopK), Upsample and Resize-10 become Resize-11 with the
// coordinate and rounding modes ONNX Runtime used for them (asymmetric;
// nearest takes the floor when upsampling), and BatchNormalization drops
// its `spatial` attribute (1, the only value ONNX Runtime runs). Every
// other operator of an exported classifier means the same at opset 11.
// An operator that cannot be moved is an error naming it and its node.
func UpgradeOpset(m *Model) error {
	from := m.Opset()
	if from >= 11 {
		return nil
	}
	if from < 7 {
		return fmt.Errorf("opset %d: models older than opset 7 cannot be converted", from)
	}
	g := m.Proto.GetGraph()
	inf := m.Infer()
	b := NewBuilder(m, "gauntlet_upgrade/")
	var nodes []*onnxpb.NodeProto
	orig := len(g.GetNode())
	for i, n := range g.GetNode()[:orig] {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			nodes = append(nodes, n)
			continue
		}
		name := nodeRef(i, n)
		in := func(i int) string {
			if i < len(n.GetInput()) {
				return n.GetInput()[i]
			}
			return ""
		}
		switch n.GetOpType() {
		case "Slice":
			if Attr(n, "starts") != nil {
				ins := []string{in(0), b.ConstI64(AttrIntsOr(n, "starts", nil)...), b.ConstI64(clampI64s(AttrIntsOr(n, "ends", nil))...)}
				if ax := AttrIntsOr(n, "axes", nil); ax != nil {
					ins = append(ins, b.ConstI64(ax...))
				}
				n.Input, n.Attribute = ins, nil
			}
		case "Pad":
			if p := Attr(n, "pads"); p != nil {
				ins := []string{in(0), b.ConstI64(p.GetInts()...)}
				if a := Attr(n, "value"); a != nil {
					e := inf.Types[in(0)].Elem
					if e == 0 {
						e = Float32
					}
					ins = append(ins, b.Scalar(float64(a.GetF()), e))
				}
				n.Input = ins
				n.Attribute = keepAttrs(n, "mode")
			}
		case "Clip":
			if Attr(n, "min") != nil || Attr(n, "max") != nil {
				e := inf.Types[in(0)].Elem
				if e == 0 {
					e = Float32
				}
				ins := []string{in(0), "", ""}
				if a := Attr(n, "min"); a != nil {
					ins[1] = b.Scalar(float64(a.GetF()), e)
				}
				if a := Attr(n, "max"); a != nil {
					ins[2] = b.Scalar(float64(a.GetF()), e)
				}
				for len(ins) > 1 && ins[len(ins)-1] == "" {
					ins = ins[:len(ins)-1]
				}
				n.Input, n.Attribute = ins, nil
			}
		case "TopK":
			if a := Attr(n, "k"); a != nil {
				n.Input = []string{in(0), b.ConstI64(a.GetI())}
				n.Attribute = keepAttrs(n, "axis")
			}
		case "Upsample", "Resize":
			mode := AttrStringOr(n, "mode", "nearest")
			if mode != "nearest" && mode != "linear" {
				return fmt.Errorf("node %s: %s mode %q cannot be converted to opset 11", name, n.GetOpType(), mode)
			}
			scales := in(1)
			if a := Attr(n, "scales"); a != nil { // Upsample-7
				v := make([]float64, len(a.GetFloats()))
				for i, f := range a.GetFloats() {
					v[i] = float64(f)
				}
				scales = b.ConstFloat("scales", Float32, []int64{int64(len(v))}, v)
			}
			nearest := "floor"
			if t := inf.Consts[scales]; t != nil {
				if v, err := TensorValues(t); err == nil {
					for _, s := range v {
						if s < 1 {
							nearest = "ceil" // ORT's legacy rounding when downsampling
						}
					}
				}
			}
			roi := b.ConstFloat("roi", Float32, []int64{0}, nil)
			n.OpType = proto.String("Resize")
			n.Input = []string{in(0), roi, scales}
			n.Attribute = []*onnxpb.AttributeProto{AttrString("mode", mode),
				AttrString("coordinate_transformation_mode", "asymmetric")}
			if mode == "nearest" {
				n.Attribute = append(n.Attribute, AttrString("nearest_mode", nearest))
			}
		case "BatchNormalization":
			if AttrIntOr(n, "spatial", 1) != 1 {
				return fmt.Errorf("node %s: BatchNormalization with spatial=0 has no opset-11 form", name)
			}
			n.Attribute = keepAttrs(n, "epsilon", "momentum")
		case "Dropout":
			n.Attribute = keepAttrs(n, "ratio")
		case "Scan", "Loop", "If":
			return fmt.Errorf("node %s: %s cannot be converted to opset 11 here", name, n.GetOpType())
		}
		nodes = append(nodes, n)
	}
	// the builder's constants are initializers, or Casts of them (float16)
	// appended after the original nodes: they go first
	g.Node = append(append([]*onnxpb.NodeProto{}, g.Node[orig:]...), nodes...)
	for _, o := range m.Proto.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			o.Version = proto.Int64(11)
		}
	}
	return nil
}

func keepAttrs(n *onnxpb.NodeProto, names ...string) []*onnxpb.AttributeProto {
	var out []*onnxpb.AttributeProto
	for _, a := range n.GetAttribute() {
		for _, k := range names {
			if a.GetName() == k {
				out = append(out, a)
			}
		}
	}
	return out
}

// clampI64s maps the INT_MAX ends older exporters write to INT64_MAX.
func clampI64s(v []int64) []int64 {
	out := append([]int64{}, v...)
	for i, x := range out {
		if x >= math.MaxInt32 {
			out[i] = math.MaxInt64
		}
	}
	return out
}

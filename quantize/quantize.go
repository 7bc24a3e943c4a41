package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Quantisation constants.
const (
	// WeightMax is the largest int8 weight: symmetric weights use
	// [−127, 127], as onnxruntime's quantiser does, so that −128 never
	// occurs and the int8 range is symmetric about the zero point 0.
	WeightMax = 127
	// ActivationLevels is the number of uint8 levels of an activation.
	ActivationLevels = 255
	// minOpset is the first ai.onnx opset with QuantizeLinear and
	// DequantizeLinear; perChannelOpset the first with their axis.
	minOpset        = 10
	perChannelOpset = 13
)

// Range is the calibrated [Min, Max] of one activation tensor.
type Range struct{ Min, Max float32 }

// Report says what a transformation did, for the suite's details.
type Report struct {
	// Quantized lists the operators given int8 weights, as
	// "<op> <node name>"; Skipped those left in float and why.
	Quantized []string `json:"quantized,omitempty"`
	Skipped   []string `json:"skipped,omitempty"`
	// Activations lists the activation tensors given a QDQ pair (Static).
	Activations []string `json:"activations,omitempty"`
	// PerChannel is false when the opset made weights per tensor.
	PerChannel bool `json:"per_channel"`
	// KeptFloat32 lists the operator types FP16 kept in float32.
	KeptFloat32 []string `json:"kept_float32,omitempty"`
}

// site is one operator Static or WeightsOnly quantises.
type site struct {
	node   *onnxpb.NodeProto
	act    string // the activation input
	weight string // the weight initializer
	axis   int64  // the weight's output-channel axis
	bias   string // the bias initializer ("" when none or not quantisable)
}

// sites finds the Conv, Gemm and MatMul nodes of m whose weight is a
// float32 initializer and whose activation is not; skipped says why the
// others of those types were left alone.
func sites(m *onnx.Model) (out []site, skipped []string) {
	g := m.Proto.GetGraph()
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			continue
		}
		ref := op + " " + n.GetName()
		var s site
		switch op {
		case "Conv":
			if len(n.GetInput()) < 2 {
				continue
			}
			s = site{node: n, act: n.GetInput()[0], weight: n.GetInput()[1], axis: 0}
			if len(n.GetInput()) > 2 {
				s.bias = n.GetInput()[2]
			}
		case "Gemm":
			if len(n.GetInput()) < 2 {
				continue
			}
			if onnx.AttrIntOr(n, "transA", 0) != 0 {
				skipped = append(skipped, ref+": transA")
				continue
			}
			s = site{node: n, act: n.GetInput()[0], weight: n.GetInput()[1], axis: 1}
			if onnx.AttrIntOr(n, "transB", 0) != 0 {
				s.axis = 0
			}
			if len(n.GetInput()) > 2 && onnx.AttrFloatOr(n, "beta", 1) == 1 && onnx.AttrFloatOr(n, "alpha", 1) == 1 {
				s.bias = n.GetInput()[2]
			}
		case "MatMul":
			s = site{node: n, act: n.GetInput()[0], weight: n.GetInput()[1], axis: 1}
		default:
			continue
		}
		w := m.Initializer(s.weight)
		switch {
		case w == nil:
			skipped = append(skipped, ref+": weight "+s.weight+" is not an initializer")
			continue
		case w.GetDataType() != onnx.Float32:
			skipped = append(skipped, ref+": weight "+s.weight+" is "+onnx.ElemName(w.GetDataType()))
			continue
		case op == "MatMul" && len(w.GetDims()) != 2, op == "Gemm" && len(w.GetDims()) != 2, op == "Conv" && len(w.GetDims()) < 3:
			skipped = append(skipped, fmt.Sprintf("%s: weight %s has dims %v", ref, s.weight, w.GetDims()))
			continue
		case m.Initializer(s.act) != nil:
			skipped = append(skipped, ref+": activation "+s.act+" is an initializer")
			continue
		}
		if s.bias != "" {
			b := m.Initializer(s.bias)
			if b == nil || b.GetDataType() != onnx.Float32 || len(b.GetDims()) != 1 || b.GetDims()[0] != w.GetDims()[s.axis] {
				s.bias = ""
			}
		}
		out = append(out, s)
	}
	return out, skipped
}

// start checks m and returns the copy Static or WeightsOnly edits, its
// sites, the report (with the skipped operators) and a Builder on it.
func start(m *onnx.Model) (*onnx.Model, []site, *Report, *onnx.Builder, error) {
	if err := checkModel(m); err != nil {
		return nil, nil, nil, nil, err
	}
	q := m.Clone()
	ss, skipped := sites(q)
	return q, ss, &Report{Skipped: skipped}, onnx.NewBuilder(q, "gauntlet/quantize/"), nil
}

// checkModel refuses models the quantiser cannot write.
func checkModel(m *onnx.Model) error {
	if o := m.Opset(); o < minOpset {
		return errs.Invalidf("model %s: opset %d has no QuantizeLinear/DequantizeLinear (needs %d or later)", m.Path, o, minOpset)
	}
	return nil
}

// Activations lists the activation tensors Static quantises, in node
// order: each site's activation input and its output unless that is a
// graph output. Calibrate them with CalibrationModel.
func Activations(m *onnx.Model) []string {
	ss, _ := sites(m)
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, s := range ss {
		add(s.act)
		if o := s.node.GetOutput()[0]; !m.IsOutput(o) {
			add(o)
		}
	}
	return out
}

// weightScales quantises w (float values, dims) symmetric int8 along axis
// (per tensor when axis < 0): it returns the int8 values and the scale of
// each channel.
func weightScales(v []float64, dims []int64, axis int) ([]int8, []float32) {
	channels, stride := 1, 1
	if axis >= 0 {
		channels = int(dims[axis])
		for _, d := range dims[axis+1:] {
			stride *= int(d)
		}
	}
	ch := func(i int) int {
		if axis < 0 {
			return 0
		}
		return (i / stride) % channels
	}
	maxAbs := make([]float64, channels)
	for i, x := range v {
		c := ch(i)
		maxAbs[c] = math.Max(maxAbs[c], math.Abs(x))
	}
	scales := make([]float32, channels)
	for c, a := range maxAbs {
		scales[c] = float32(a / WeightMax)
		if scales[c] == 0 {
			scales[c] = 1
		}
	}
	q := make([]int8, len(v))
	for i, x := range v {
		r := math.RoundToEven(x / float64(scales[ch(i)]))
		q[i] = int8(max(-WeightMax, min(WeightMax, r)))
	}
	return q, scales
}

// ActivationParams returns the uint8 scale and zero point of a tensor
// calibrated to r: the range widened to hold 0, (hi − lo)/255, zero point
// round(−lo/scale), as onnxruntime's MinMax calibrator with uint8
// activations.
func ActivationParams(r Range) (float32, uint8) {
	lo, hi := math.Min(float64(r.Min), 0), math.Max(float64(r.Max), 0)
	s := float32((hi - lo) / ActivationLevels)
	if s == 0 || math.IsInf(float64(s), 0) || math.IsNaN(float64(s)) {
		s = 1
	}
	zp := math.RoundToEven(-lo / float64(s))
	return s, uint8(max(0, min(255, zp)))
}

func tensorI8(name string, dims []int64, v []int8) *onnxpb.TensorProto {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(int32(onnxpb.TensorProto_INT8)), RawData: raw}
}

func tensorU8(name string, dims []int64, v []uint8) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(int32(onnxpb.TensorProto_UINT8)), RawData: append([]byte{}, v...)}
}

func tensorI32(name string, dims []int64, v []int32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(int32(onnxpb.TensorProto_INT32)), RawData: raw}
}

// dims1 is the dims of a scale or zero point: [n] per channel, scalar
// per tensor.
func dims1(n int, perChannel bool) []int64 {
	if perChannel {
		return []int64{int64(n)}
	}
	return nil
}

// quantizeWeights gives every site int8 weights behind a DequantizeLinear
// and, when xScale has the site's activation, an int32 bias; it rewires
// the sites' inputs in place.
func quantizeWeights(b *onnx.Builder, m *onnx.Model, ss []site, xScale map[string]float32, rep *Report) error {
	perChannel := m.Opset() >= perChannelOpset
	rep.PerChannel = perChannel
	for _, s := range ss {
		w := m.Initializer(s.weight)
		v, err := onnx.TensorValues(w)
		if err != nil {
			return errs.WithCode(errs.Invalid, fmt.Errorf("model %s: %s %s: %w", m.Path, s.node.GetOpType(), s.node.GetName(), err))
		}
		axis := int(s.axis)
		if !perChannel {
			axis = -1
		}
		q, scales := weightScales(v, w.GetDims(), axis)
		var attrs []*onnxpb.AttributeProto
		if perChannel {
			attrs = append(attrs, onnx.AttrInt("axis", s.axis))
		}
		qn := b.Initializer(tensorI8(s.weight+"_quantized", w.GetDims(), q))
		sn := b.Initializer(onnx.TensorF32(s.weight+"_scale", dims1(len(scales), perChannel), scales))
		zn := b.Initializer(tensorI8(s.weight+"_zero_point", dims1(len(scales), perChannel), make([]int8, len(scales))))
		s.node.Input[1] = b.Op("DequantizeLinear", []string{qn, sn, zn}, attrs...)
		rep.Quantized = append(rep.Quantized, s.node.GetOpType()+" "+s.node.GetName())
		sx, ok := xScale[s.act]
		if s.bias == "" || !ok {
			continue
		}
		bt := m.Initializer(s.bias)
		bv, err := onnx.TensorValues(bt)
		if err != nil {
			return errs.WithCode(errs.Invalid, fmt.Errorf("model %s: %s %s bias: %w", m.Path, s.node.GetOpType(), s.node.GetName(), err))
		}
		bs := make([]float32, len(bv))
		bq := make([]int32, len(bv))
		for i, x := range bv {
			sc := scales[0]
			if perChannel {
				sc = scales[i]
			}
			bs[i] = sx * sc
			r := math.RoundToEven(x / float64(bs[i]))
			bq[i] = int32(max(math.MinInt32, min(math.MaxInt32, r)))
		}
		bqn := b.Initializer(tensorI32(s.bias+"_quantized", bt.GetDims(), bq))
		bsn := b.Initializer(onnx.TensorF32(s.bias+"_scale", bt.GetDims(), bs))
		bzn := b.Initializer(tensorI32(s.bias+"_zero_point", bt.GetDims(), make([]int32, len(bv))))
		s.node.Input[2] = b.Op("DequantizeLinear", []string{bqn, bsn, bzn}, onnx.AttrInt("axis", 0))
	}
	return nil
}

// Static returns m quantised to INT8 in QDQ form (package doc), with the
// activation ranges of ranges (CalibrationModel); an activation of
// Activations(m) missing from ranges is an error.
func Static(m *onnx.Model, ranges map[string]Range) (*onnx.Model, *Report, error) {
	q, ss, rep, b, err := start(m)
	if err != nil {
		return nil, nil, err
	}
	xScale := map[string]float32{}
	acts := Activations(q)
	params := map[string][2]string{}
	for _, t := range acts {
		r, ok := ranges[t]
		if !ok {
			return nil, nil, fmt.Errorf("quantize: activation %q has no calibrated range", t)
		}
		s, zp := ActivationParams(r)
		xScale[t] = s
		params[t] = [2]string{
			b.Initializer(onnx.TensorF32(t+"_scale", nil, []float32{s})),
			b.Initializer(tensorU8(t+"_zero_point", nil, []uint8{zp})),
		}
	}
	// outputs first: a site's output is renamed and re-made by its
	// DequantizeLinear under the old name, so every consumer reads the
	// quantised value and needs no pair of its own
	done := map[string]bool{}
	for _, s := range ss {
		o := s.node.GetOutput()[0]
		p, ok := params[o]
		if !ok || done[o] {
			continue
		}
		raw := b.Name("float")
		s.node.Output[0] = raw
		qn := b.Op("QuantizeLinear", []string{raw, p[0], p[1]})
		b.NodeOut("DequantizeLinear", []string{qn, p[0], p[1]}, []string{o})
		done[o] = true
		rep.Activations = append(rep.Activations, o)
	}
	dq := map[string]string{}
	for _, s := range ss {
		if done[s.act] {
			continue
		}
		if _, ok := dq[s.act]; !ok {
			p := params[s.act]
			qn := b.Op("QuantizeLinear", []string{s.act, p[0], p[1]})
			dq[s.act] = b.Op("DequantizeLinear", []string{qn, p[0], p[1]})
			rep.Activations = append(rep.Activations, s.act)
		}
		s.node.Input[0] = dq[s.act]
	}
	if err := quantizeWeights(b, q, ss, xScale, rep); err != nil {
		return nil, nil, err
	}
	return finish(q, rep)
}

// WeightsOnly returns m with int8 weights behind DequantizeLinear and
// float activations (the dynamic INT8 variant; package doc).
func WeightsOnly(m *onnx.Model) (*onnx.Model, *Report, error) {
	q, ss, rep, b, err := start(m)
	if err != nil {
		return nil, nil, err
	}
	if err := quantizeWeights(b, q, ss, nil, rep); err != nil {
		return nil, nil, err
	}
	return finish(q, rep)
}

// finish drops unused initializers, sorts the nodes, drops the value_info
// (whose types may have changed; ONNX Runtime infers them) and
// serialises the model.
func finish(q *onnx.Model, rep *Report) (*onnx.Model, *Report, error) {
	g := q.Proto.GetGraph()
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			used[in] = true
		}
	}
	for _, o := range g.GetOutput() {
		used[o.GetName()] = true
	}
	for _, in := range g.GetInput() {
		used[in.GetName()] = true
	}
	kept := g.Initializer[:0]
	for _, t := range g.GetInitializer() {
		if used[t.GetName()] {
			kept = append(kept, t)
		}
	}
	g.Initializer = kept
	g.ValueInfo = nil
	if err := q.TopoSort(); err != nil {
		return nil, nil, fmt.Errorf("quantize: %w", err)
	}
	if _, err := q.Marshal(); err != nil {
		return nil, nil, err
	}
	return q, rep, nil
}

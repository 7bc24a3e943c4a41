package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// InspectOptions are the options of `gauntlet inspect`.
type InspectOptions struct {
	Model string
	JSON  bool
}

// ModelDescription is what `gauntlet inspect --json` prints.
type ModelDescription struct {
	Path      string `json:"path"`
	SHA256    string `json:"sha256"`
	IRVersion int64  `json:"ir_version"`
	// Opset is the default-domain (ai.onnx) opset, 0 when the model
	// imports none (a model of ai.onnx.ml operators only); Opsets has
	// every domain's, the default domain spelt "ai.onnx".
	Opset    int64          `json:"opset"`
	Opsets   map[string]int `json:"opsets"`
	Producer string         `json:"producer"`
	Inputs   []TensorDesc   `json:"inputs"`
	Outputs  []TensorDesc   `json:"outputs"`
	Nodes    int            `json:"nodes"`
	Params   int64          `json:"parameters"`
	Ops      []onnx.OpCount `json:"ops"`
	// WhiteBox says whether Gauntlet can build a gradient graph of the
	// model; Unsupported lists every op and node in the way when it cannot.
	autodiff.WhiteBoxInfo
}

// TensorDesc is one graph input or output; a symbolic or unknown dimension
// is -1 in Shape and named in Dims.
type TensorDesc struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []int64  `json:"shape"`
	Dims  []string `json:"dims"`
}

func newInspectCmd(s Streams) *cobra.Command {
	o := &InspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Describe an ONNX model: inputs, outputs, opset, operators, SHA-256",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Model = args[0]
			return Inspect(o, s)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// Inspect runs `gauntlet inspect`. It reads the ONNX file only; it does not
// need ONNX Runtime.
func Inspect(o *InspectOptions, s Streams) error {
	m, err := onnx.Load(o.Model)
	if err != nil {
		return errs.WithCode(errs.Invalid, err)
	}
	d := Describe(m)
	if o.JSON {
		b, _ := json.MarshalIndent(d, "", "  ")
		_, err := fmt.Fprintln(s.Out, string(b))
		return err
	}
	fmt.Fprintf(s.Out, "model     %s\nsha256    %s\nir        %d, %s, producer %s\n", d.Path, d.SHA256, d.IRVersion, opsetText(d.Opsets), d.Producer)
	fmt.Fprintf(s.Out, "graph     %d nodes, %d parameters\n", d.Nodes, d.Params)
	for _, t := range d.Inputs {
		fmt.Fprintf(s.Out, "input     %s %s [%s]\n", t.Name, t.Type, strings.Join(t.Dims, ", "))
	}
	for _, t := range d.Outputs {
		fmt.Fprintf(s.Out, "output    %s %s [%s]\n", t.Name, t.Type, strings.Join(t.Dims, ", "))
	}
	var ops []string
	for _, c := range d.Ops {
		name := c.Op
		if c.Domain != "" {
			name = c.Domain + "." + c.Op
		}
		ops = append(ops, fmt.Sprintf("%s×%d", name, c.Count))
	}
	fmt.Fprintf(s.Out, "ops       %s\n", strings.Join(ops, " "))
	if d.WhiteBox {
		fmt.Fprintln(s.Out, "white_box true (gradient graphs can be built: white-box attacks available)")
		if len(d.StraightThrough) > 0 {
			fmt.Fprintf(s.Out, "          straight_through: %s (a quantised graph: its gradients pass these operators straight through, an approximation)\n", strings.Join(d.StraightThrough, ", "))
		}
	} else {
		fmt.Fprintln(s.Out, "white_box false (no gradient graph: evasion and inversion with gradient_mode auto use estimated gradients; exact exits 2)")
		fmt.Fprintf(s.Out, "          reason: %s\n", d.Reason)
	}
	return nil
}

// opsetText says which opsets a model imports: "opset 15 (ai.onnx.ml 1)",
// or "no ai.onnx opset (ai.onnx.ml 3 only)" when the default domain is
// absent.
func opsetText(opsets map[string]int) string {
	var others []string
	for dom, v := range opsets {
		if dom != "ai.onnx" {
			others = append(others, fmt.Sprintf("%s %d", dom, v))
		}
	}
	sort.Strings(others)
	v, ok := opsets["ai.onnx"]
	switch {
	case ok && len(others) == 0:
		return fmt.Sprintf("opset %d", v)
	case ok:
		return fmt.Sprintf("opset %d (%s)", v, strings.Join(others, ", "))
	case len(others) == 0:
		return "no opset imports"
	}
	return fmt.Sprintf("no ai.onnx opset (%s only)", strings.Join(others, ", "))
}

// Describe summarises a model from its protobuf.
func Describe(m *onnx.Model) ModelDescription {
	g := m.Proto.GetGraph()
	d := ModelDescription{Path: m.Path, SHA256: m.SHA256, IRVersion: m.Proto.GetIrVersion(), Opset: m.Opset(),
		Opsets: map[string]int{}, Producer: strings.TrimSpace(m.Proto.GetProducerName() + " " + m.Proto.GetProducerVersion()),
		Nodes: len(g.GetNode()), Ops: m.OpHistogram(), WhiteBoxInfo: autodiff.Inspect(m)}
	for dom, v := range m.Opsets() {
		d.Opsets[dom] = int(v)
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
		n := int64(1)
		for _, dim := range t.GetDims() {
			n *= dim
		}
		d.Params += n
	}
	for _, v := range g.GetInput() {
		if !inits[v.GetName()] {
			d.Inputs = append(d.Inputs, describeValue(v))
		}
	}
	for _, v := range g.GetOutput() {
		d.Outputs = append(d.Outputs, describeValue(v))
	}
	return d
}

func describeValue(v *onnxpb.ValueInfoProto) TensorDesc {
	td := TensorDesc{Name: v.GetName(), Type: "unknown", Shape: []int64{}, Dims: []string{}}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return td
	}
	td.Type = typeName(onnxpb.TensorProto_DataType(tt.GetElemType()))
	for _, dim := range tt.GetShape().GetDim() {
		switch {
		case dim.GetDimParam() != "":
			td.Shape = append(td.Shape, -1)
			td.Dims = append(td.Dims, dim.GetDimParam())
		case dim.GetDimValue() > 0:
			td.Shape = append(td.Shape, dim.GetDimValue())
			td.Dims = append(td.Dims, fmt.Sprint(dim.GetDimValue()))
		default:
			td.Shape = append(td.Shape, -1)
			td.Dims = append(td.Dims, "?")
		}
	}
	return td
}

// typeName names an ONNX element type as Go and NumPy do (float32, int64).
func typeName(t onnxpb.TensorProto_DataType) string {
	switch t {
	case onnxpb.TensorProto_FLOAT:
		return "float32"
	case onnxpb.TensorProto_DOUBLE:
		return "float64"
	case onnxpb.TensorProto_FLOAT16:
		return "float16"
	default:
		return strings.ToLower(t.String())
	}
}

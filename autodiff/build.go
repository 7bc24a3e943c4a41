package autodiff

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// maxOpset is the newest ai.onnx opset the rules are written for.
const maxOpset = 21

// Loss heads accepted in Spec.Loss ("logit:K" takes a class index).
const (
	LossCE         = "ce"          // cross-entropy on the true label
	LossTargetedCE = "targeted_ce" // cross-entropy on a target label (minimise it)
	LossCW         = "cw"          // Carlini-Wagner margin max_{j≠y} z_j − z_y
	LossDLR        = "dlr"         // difference of logits ratio (Croce & Hein 2020)
	LossLogit      = "logit"       // "logit:K": the logit of class K
	LossReduce     = "reduce"      // a per-sample sum or mean of Spec.Tensor
)

// Output kinds for Spec.OutputKind.
const (
	OutputAuto          = "auto"
	OutputLogits        = "logits"
	OutputProbabilities = "probabilities"
)

// Default names of the tensors Build adds.
const (
	DefaultLabels = "labels"
	DefaultLoss   = "loss"
	DefaultGrad   = "grad"
)

// Spec says what to differentiate.
type Spec struct {
	// Input is the model input to differentiate with respect to ("": the
	// only non-initializer input).
	Input string
	// Output is the classifier output the loss head reads ("": the first
	// graph output). It must be [N, K].
	Output string
	// OutputKind is auto (a Softmax producing Output means probabilities),
	// logits or probabilities. With probabilities produced by a Softmax,
	// every head reads the Softmax's input (the logits); without one, ce
	// uses −log p_y and the other heads read p.
	OutputKind string
	// Loss is the loss head: ce, targeted_ce, cw, dlr, logit:K or reduce.
	Loss string
	// Tensor is the tensor reduced by the reduce head (any tensor that
	// depends on Input, batch axis first), and ReduceOp is sum or mean.
	Tensor   string
	ReduceOp string
	// Names of the added tensors ("": DefaultLabels, DefaultLoss,
	// DefaultGrad). Labels is an int64 [N] input holding true labels (ce,
	// cw, dlr) or targets (targeted_ce).
	LabelsName, LossName, GradName string
}

// Names are the tensor names of a model that Build made.
type Names struct {
	Input   string   // the differentiated input
	Labels  string   // the int64 [N] labels input, "" when the head needs none
	Outputs []string // the model's own outputs
	Output  string   // the output the head read
	Loss    string   // per-sample loss [N]
	Grad    string   // gradient, with Input's shape
	Elem    int32    // element type of Input and Grad
	Shape   []int64  // static shape of Input (-1: dynamic)
}

// NeedsLabels reports whether a loss head reads a labels input.
func NeedsLabels(loss string) bool {
	switch loss {
	case LossCE, LossTargetedCE, LossCW, LossDLR, "":
		return true
	}
	return false
}

// ParseLoss checks a loss head name and returns the class index of
// logit:K (or -1).
func ParseLoss(loss string) (head string, class int64, err error) {
	switch loss {
	case "":
		return LossCE, -1, nil
	case LossCE, LossTargetedCE, LossCW, LossDLR, LossReduce:
		return loss, -1, nil
	}
	if k, ok := strings.CutPrefix(loss, "logit:"); ok {
		c, err := strconv.ParseInt(k, 10, 64)
		if err != nil || c < 0 {
			return "", 0, errs.Invalidf("loss %q: the class after logit: must be a non-negative integer", loss)
		}
		return LossLogit, c, nil
	}
	return "", 0, errs.Invalidf("loss %q: want ce, targeted_ce, cw, dlr, logit:K or reduce", loss)
}

// Build returns a new model computing m's outputs, the per-sample loss of
// spec's head and its gradient with respect to spec.Input. m is not changed.
func Build(m *onnx.Model, spec Spec) (*onnx.Model, error) {
	out, _, err := BuildNamed(m, spec)
	return out, err
}

// BuildNamed is Build that also returns the names of the tensors involved.
// It never panics: a model that trips the builder is an error.
func BuildNamed(m *onnx.Model, spec Spec) (out *onnx.Model, nm Names, err error) {
	if !noRecover {
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, errs.Invalidf("gradient graph: the builder failed on this model (a bug in autodiff, please report it): %v", r)
			}
		}()
	}
	return buildNamed(m, spec)
}

// BuildForBatch is BuildNamed on a copy of m whose differentiated input
// has n samples: shape arithmetic that reads the batch size then folds to
// constants, so a graph that cannot be built for a dynamic batch axis can
// be built for each batch size in use (runtime.OpenGraphPerBatch).
func BuildForBatch(m *onnx.Model, spec Spec, n int) (*onnx.Model, Names, error) {
	if n < 1 {
		return nil, Names{}, fmt.Errorf("batch size %d: want at least 1", n)
	}
	fixed := m.Clone()
	input := spec.Input
	ins := fixed.Inputs()
	if input == "" && len(ins) == 1 {
		input = ins[0].GetName()
	}
	found := false
	for _, v := range ins {
		if v.GetName() != input {
			continue
		}
		dims := v.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) == 0 {
			return nil, Names{}, errs.Invalidf("input %q has no batch axis", input)
		}
		dims[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}
		found = true
	}
	if !found {
		return nil, Names{}, errs.Invalidf("input %q: the model has no such input", input)
	}
	return BuildNamed(fixed, spec)
}

// noRecover lets tests see the builder's panics.
var noRecover bool

func buildNamed(m *onnx.Model, spec Spec) (*onnx.Model, Names, error) {
	var nm Names
	head, class, err := ParseLoss(spec.Loss)
	if err != nil {
		return nil, nm, err
	}
	out := m.Clone()
	if op := m.Opset(); op >= 7 && op < 11 {
		// older exports: convert the operators in memory (onnx.UpgradeOpset)
		if err := onnx.UpgradeOpset(out); err != nil {
			return nil, nm, errs.Invalidf("model opset %d: converting to opset 11 for the gradient graph: %w", op, err)
		}
	}
	if op := out.Opset(); op != 0 && (op < 11 || op > maxOpset) {
		return nil, nm, errs.Invalidf("model opset %d: gradient graphs support ai.onnx opsets 7 to %d (7 to 10 converted to 11 in memory)", m.Opset(), maxOpset)
	}
	if err := out.Check(); err != nil {
		if err2 := out.TopoSort(); err2 != nil {
			return nil, nm, fmt.Errorf("gradient graph: %w", err)
		}
		if err := out.Check(); err != nil {
			return nil, nm, fmt.Errorf("gradient graph: %w", err)
		}
	}
	g := out.Proto.GetGraph()
	inputs := out.Inputs()
	nm.Input = spec.Input
	if nm.Input == "" {
		if len(inputs) != 1 {
			return nil, nm, errs.Invalidf("model has %d inputs: name the one to differentiate", len(inputs))
		}
		nm.Input = inputs[0].GetName()
	}
	found := false
	for _, v := range inputs {
		if v.GetName() == nm.Input {
			found = true
			vt := onnx.TypeOf(v)
			nm.Elem, nm.Shape = vt.Elem, vt.Shape
		}
	}
	if !found {
		return nil, nm, errs.Invalidf("input %q: the model has no such input", nm.Input)
	}
	if !onnx.IsFloat(nm.Elem) {
		return nil, nm, errs.Invalidf("input %q: element type %s cannot be differentiated", nm.Input, onnx.ElemName(nm.Elem))
	}
	for _, o := range g.GetOutput() {
		nm.Outputs = append(nm.Outputs, o.GetName())
	}
	nm.Output = spec.Output
	if nm.Output == "" && head != LossReduce {
		if len(nm.Outputs) == 0 {
			return nil, nm, errs.Invalidf("model has no outputs")
		}
		nm.Output = nm.Outputs[0]
	}
	nm.Loss, nm.Grad = orDefault(spec.LossName, DefaultLoss), orDefault(spec.GradName, DefaultGrad)
	if NeedsLabels(head) {
		nm.Labels = orDefault(spec.LabelsName, DefaultLabels)
	}

	c := newCtx(out)
	for _, name := range []string{nm.Labels, nm.Loss, nm.Grad} {
		if name != "" && c.b.Used(name) {
			return nil, nm, errs.Invalidf("tensor name %q is already used in the model: choose another", name)
		}
		if name != "" {
			c.b.Reserve(name)
		}
	}
	c.markDependent(nm.Input)
	if bad := c.unsupported(); len(bad) > 0 {
		return nil, nm, unsupportedError(bad)
	}

	if nm.Labels != "" {
		c.b.AddInput(nm.Labels, onnx.Int64, []int64{-1}, "N")
	}
	loss, lossElem, seeds, err := c.head(head, class, spec, nm)
	if err != nil {
		return nil, nm, err
	}
	gx, err := c.backward(seeds, nm.Input)
	if err != nil {
		return nil, nm, err
	}
	c.b.Identity(loss, nm.Loss)
	c.b.Identity(gx, nm.Grad)
	c.b.AddOutput(nm.Loss, lossElem, []int64{-1}, "N")
	gshape := nm.Shape
	var dn []string
	if len(gshape) > 0 && gshape[0] < 0 {
		dn = []string{"N"}
	}
	c.b.AddOutput(nm.Grad, nm.Elem, gshape, dn...)
	if err := out.Check(); err != nil {
		return nil, nm, fmt.Errorf("gradient graph is malformed (a bug in autodiff): %w", err)
	}
	if _, err := out.Marshal(); err != nil {
		return nil, nm, err
	}
	return out, nm, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// UnsupportedOp is a node on the input-to-output path whose operator has
// no gradient rule.
type UnsupportedOp struct {
	Op     string `json:"op"`
	Domain string `json:"domain,omitempty"`
	Node   string `json:"node"`
}

// UnsupportedError lists every unsupported node of a model.
type UnsupportedError struct{ Ops []UnsupportedOp }

func (e *UnsupportedError) Error() string {
	parts := make([]string, len(e.Ops))
	for i, o := range e.Ops {
		op := o.Op
		if o.Domain != "" {
			op = o.Domain + "." + op
		}
		parts[i] = fmt.Sprintf("%s (node %q)", op, o.Node)
	}
	return fmt.Sprintf("no gradient rule for %d node(s): %s", len(e.Ops), strings.Join(parts, ", "))
}

func unsupportedError(ops []UnsupportedOp) error {
	return errs.WithCode(errs.Invalid, &UnsupportedError{Ops: ops})
}

// AsUnsupported returns the UnsupportedError in err's chain, or nil.
func AsUnsupported(err error) *UnsupportedError {
	var u *UnsupportedError
	if errors.As(err, &u) {
		return u
	}
	return nil
}

// Unsupported lists the nodes on a path from the model's inputs to its
// outputs that carry a gradient but whose operator has no rule (empty: the
// model is white-box differentiable as far as operators go).
func Unsupported(m *onnx.Model) []UnsupportedOp {
	c := newCtx(m.Clone())
	for _, v := range c.m.Inputs() {
		if onnx.IsFloat(onnx.TypeOf(v).Elem) {
			c.markDependent(v.GetName())
		}
	}
	return c.unsupported()
}

// WhiteBox reports whether every node on the paths from the model's
// float inputs to its outputs has a gradient rule; the list names the
// others. A model can pass this and still fail to build (a rule can
// refuse a node's attributes or shapes): Inspect runs the builder.
func WhiteBox(m *onnx.Model) (bool, []UnsupportedOp) {
	u := Unsupported(m)
	return len(u) == 0, u
}

// WhiteBoxInfo is what `gauntlet inspect` reports about gradients.
type WhiteBoxInfo struct {
	// WhiteBox is true exactly when a gradient graph builds.
	WhiteBox bool `json:"white_box"`
	// Unsupported lists the nodes without a gradient rule.
	Unsupported []UnsupportedOp `json:"unsupported,omitempty"`
	// Reason is the builder's error when the graph does not build.
	Reason string `json:"reason,omitempty"`
	// StraightThrough lists the operators whose gradient is a
	// straight-through estimate (StraightThroughOps), when it builds.
	StraightThrough []string `json:"straight_through,omitempty"`
}

// Inspect returns m's WhiteBoxInfo by building the gradient graph of the
// cross-entropy on the classifier output (the first float output of rank
// 2, else the first output) with respect to the model's only input.
func Inspect(m *onnx.Model) WhiteBoxInfo {
	if u := Unsupported(m); len(u) > 0 {
		return WhiteBoxInfo{Unsupported: u, Reason: (&UnsupportedError{Ops: u}).Error()}
	}
	if _, _, err := BuildNamed(m, Spec{Output: classifierOutput(m)}); err != nil {
		return WhiteBoxInfo{Reason: err.Error()}
	}
	return WhiteBoxInfo{WhiteBox: true, StraightThrough: StraightThroughOps(m)}
}

// classifierOutput returns the first graph output that is a float tensor
// of rank 2 ("" when none is: Build then takes the first output).
func classifierOutput(m *onnx.Model) string {
	inf := m.Infer()
	for _, o := range m.Proto.GetGraph().GetOutput() {
		if t := inf.Types[o.GetName()]; onnx.IsFloat(t.Elem) && len(t.Shape) == 2 {
			return o.GetName()
		}
	}
	return ""
}

// unsupported lists dependent nodes that lead to a graph output and have
// no rule.
func (c *ctx) unsupported() []UnsupportedOp {
	nodes := c.g.GetNode()
	// nodes whose outputs reach a graph output
	reach := map[string]bool{}
	for _, o := range c.g.GetOutput() {
		reach[o.GetName()] = true
	}
	var out []UnsupportedOp
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		hit := false
		for _, o := range n.GetOutput() {
			if reach[o] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		for _, in := range n.GetInput() {
			reach[in] = true
		}
		if !c.carries(n) {
			continue
		}
		if _, ok := rules[n.GetOpType()]; !ok || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") {
			out = append(out, UnsupportedOp{Op: n.GetOpType(), Domain: n.GetDomain(), Node: nodeName(i, n)})
		}
	}
	// report in graph order
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func nodeName(i int, n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return fmt.Sprintf("#%d", i)
}

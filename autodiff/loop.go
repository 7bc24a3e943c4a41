package autodiff

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// PGD configures an L∞ projected-gradient-descent attack: Steps steps of
// x ← clip(min(max(x ± Step·sign(∇x L), x0 − Eps), x0 + Eps), Min, Max)
// from the clean input x0 (no random start).
type PGD struct {
	Eps, Step float64
	Steps     int
	// Min and Max bound the result (both 0: no clipping).
	Min, Max float64
	// Descend steps against the gradient (targeted losses).
	Descend bool
	// Output names the adversarial input ("": "x_adv"); Origin names the
	// clean-input graph input of the single-step model ("": "x0").
	Output, Origin string
}

func (p PGD) check() error {
	if !(p.Eps > 0) || !(p.Step > 0) {
		return errs.Invalidf("pgd: eps %v and step %v must be > 0", p.Eps, p.Step)
	}
	if p.Min > p.Max {
		return errs.Invalidf("pgd: clip range [%v, %v] is empty", p.Min, p.Max)
	}
	return nil
}

// pgdStep appends one step from x with gradient g and projection bounds
// lo = x0 − ε, hi = x0 + ε, and returns the new x.
func pgdStep(b *onnx.Builder, x, g, lo, hi string, cfg PGD, elem int32) string {
	step := cfg.Step
	if cfg.Descend {
		step = -step
	}
	d := b.Op("Mul", []string{b.Op("Sign", []string{g}), b.Scalar(step, elem)})
	y := b.Op("Add", []string{x, d})
	y = b.Op("Min", []string{b.Op("Max", []string{y, lo}), hi})
	if cfg.Min != 0 || cfg.Max != 0 {
		y = b.Op("Clip", []string{y, b.Scalar(cfg.Min, elem), b.Scalar(cfg.Max, elem)})
	}
	return y
}

// PGDStep returns the Extension appending one PGD step: it adds the clean
// input cfg.Origin as a graph input and outputs cfg.Output. Iterating it
// from Go gives the same result as BuildPGD's loop.
func PGDStep(cfg PGD) Extension {
	return func(b *onnx.Builder, nm Names) ([]Output, error) {
		if err := cfg.check(); err != nil {
			return nil, err
		}
		origin, name := orDefault(cfg.Origin, "x0"), orDefault(cfg.Output, "x_adv")
		for _, s := range []string{origin, name} {
			if b.Used(s) {
				return nil, errs.Invalidf("pgd: name %q is already used", s)
			}
		}
		b.AddInput(origin, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
		lo := b.Op("Sub", []string{origin, b.Scalar(cfg.Eps, nm.Elem)})
		hi := b.Op("Add", []string{origin, b.Scalar(cfg.Eps, nm.Elem)})
		b.Identity(pgdStep(b, nm.Input, nm.Grad, lo, hi, cfg, nm.Elem), name)
		return []Output{{Name: name, Elem: nm.Elem, Shape: nm.Shape}}, nil
	}
}

// BuildPGD returns a model that runs a whole L∞ PGD attack in one ORT
// call: its inputs are m's input and the labels (or targets) of spec's
// head, its output cfg.Output is the adversarial input. The gradient graph
// of Build is the body of an ONNX Loop with the step after it; weights
// and labels are read from the outer scope.
func BuildPGD(m *onnx.Model, spec Spec, cfg PGD) (*onnx.Model, Names, error) {
	if err := cfg.check(); err != nil {
		return nil, Names{}, err
	}
	if cfg.Steps < 1 {
		return nil, Names{}, errs.Invalidf("pgd: steps %d must be at least 1", cfg.Steps)
	}
	gm, nm, err := BuildNamed(m, spec)
	if err != nil {
		return nil, nm, err
	}
	const pre = "pgd_body/"
	body, rename := loopBody(gm, nm, "pgd_body", pre)
	xCur, iter, condIn := pre+"x", pre+"iter", pre+"cond_in"
	ren := func(s string) string {
		if r, ok := rename[s]; ok {
			return r
		}
		return s
	}
	body.Input = []*onnxpb.ValueInfoProto{
		onnx.ValueInfo(iter, onnx.Int64, []int64{}),
		onnx.ValueInfo(condIn, onnx.Bool, []int64{}),
		onnx.ValueInfo(xCur, nm.Elem, nm.Shape, dimNames(nm.Shape)...),
	}

	// outer graph: the inputs and initializers of the gradient model
	out := &onnx.Model{Proto: proto.Clone(gm.Proto).(*onnxpb.ModelProto)}
	og := out.Proto.GetGraph()
	og.Node, og.Output, og.ValueInfo = nil, nil, nil
	ob := onnx.NewBuilder(out, "pgd/")
	for name := range rename {
		ob.Reserve(name)
	}
	origin := nm.Input
	lo := ob.Op("Sub", []string{origin, ob.Scalar(cfg.Eps, nm.Elem)})
	hi := ob.Op("Add", []string{origin, ob.Scalar(cfg.Eps, nm.Elem)})

	// the step, inside the body
	bm := &onnx.Model{Proto: &onnxpb.ModelProto{OpsetImport: gm.Proto.GetOpsetImport(), Graph: body}}
	bb := onnx.NewBuilder(bm, pre+"step/")
	for name := range rename {
		bb.Reserve(name)
	}
	next := pgdStep(bb, xCur, ren(nm.Grad), lo, hi, cfg, nm.Elem)
	condOut := pre + "cond_out"
	bb.NodeOut("Identity", []string{condIn}, []string{condOut})
	body.Output = []*onnxpb.ValueInfoProto{
		onnx.ValueInfo(condOut, onnx.Bool, []int64{}),
		onnx.ValueInfo(next, nm.Elem, nm.Shape, dimNames(nm.Shape)...),
	}

	name := orDefault(cfg.Output, "x_adv")
	if ob.Used(name) {
		return nil, nm, errs.Invalidf("pgd: output name %q is already used", name)
	}
	steps := ob.Initializer(onnx.TensorI64("pgd_steps", nil, []int64{int64(cfg.Steps)}))
	cond := ob.Initializer(onnx.TensorBool("pgd_cond", nil, []bool{true}))
	ob.NodeOut("Loop", []string{steps, cond, origin}, []string{name}, onnx.AttrGraph("body", body))
	ob.AddOutput(name, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
	if err := out.Check(); err != nil {
		return nil, nm, fmt.Errorf("pgd graph is malformed (a bug in autodiff): %w", err)
	}
	if _, err := out.Marshal(); err != nil {
		return nil, nm, err
	}
	nm.Outputs = []string{name}
	nm.Loss, nm.Grad = "", ""
	return out, nm, nil
}

// loopBody copies the nodes of the gradient model gm into a new graph
// (the body of an ONNX Loop) named name, prefixing every node output with
// pre and renaming the differentiated input to pre+"x". It returns the
// body (nodes only) and the renaming; names it does not rename (the
// model's inputs and initializers) are read from the outer scope.
func loopBody(gm *onnx.Model, nm Names, name, pre string) (*onnxpb.GraphProto, map[string]string) {
	g := gm.Proto.GetGraph()
	rename := map[string]string{nm.Input: pre + "x"}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				rename[o] = pre + o
			}
		}
	}
	ren := func(s string) string {
		if r, ok := rename[s]; ok {
			return r
		}
		return s
	}
	body := &onnxpb.GraphProto{Name: proto.String(name)}
	for _, n := range g.GetNode() {
		c := proto.Clone(n).(*onnxpb.NodeProto)
		for i, s := range c.Input {
			c.Input[i] = ren(s)
		}
		for i, s := range c.Output {
			if s != "" {
				c.Output[i] = ren(s)
			}
		}
		if c.GetName() != "" {
			c.Name = proto.String(pre + c.GetName())
		}
		body.Node = append(body.Node, c)
	}
	return body, rename
}

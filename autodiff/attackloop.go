package autodiff

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Graph input and output names of the model BuildAttackLoop writes
// (besides the model's input, the start point, and the labels).
const (
	LoopLo    = "attack_lo"    // per-value lower bound of the iterate
	LoopHi    = "attack_hi"    // per-value upper bound of the iterate
	LoopX0    = "attack_x0"    // clean input: centre of the L2 ball (L2 only)
	LoopSteps = "attack_steps" // int64 [N]: the iteration count, read from its first entry
	LoopXAdv  = "attack_x"     // output: the last iterate (or the first hit)
	LoopDone  = "attack_done"  // int64 [N] output: 1 where an iterate hit (EarlyStop)
	LoopEvals = "attack_evals" // int64 [N] output: evaluations spent per sample
)

// AttackLoop configures the fused iterations of PGD (L∞ or L2) written by
// BuildAttackLoop. Each iteration evaluates the gradient graph at x,
// checks the prediction, and steps:
//
//	L∞: x ← min(max(x + α·s·sign(g), lo), hi)
//	L2: x ← P_ε(min(max(x + float32(α/‖g‖₂)·s·g, lo), hi))   (no move when g = 0)
//
// with s = −1 when Descend, else +1, ‖g‖₂ and the projection P_ε onto the
// L2 ball around x0 computed in float64 (as the evasion suite's Go steps).
type AttackLoop struct {
	// L2 selects the L2 step (else L∞).
	L2 bool
	// Alpha is the step size α, Eps the L2 radius (L2 only); both > 0.
	Alpha, Eps float64
	// Descend steps against the gradient (targeted losses).
	Descend bool
	// EarlyStop freezes a sample at the first iterate whose prediction
	// hits: its later iterations neither move it nor count evaluations.
	EarlyStop bool
	// HitTarget: a prediction hits when it equals the label input (the
	// target); otherwise when it differs from it.
	HitTarget bool
	// Scores names the output whose arg max is the prediction ("": the
	// output the loss head read).
	Scores string
}

// BuildAttackLoop returns a model that runs up to a whole PGD attack in one
// ORT call: an ONNX Loop whose body is the gradient graph of m (spec) and
// the step of cfg. Inputs: m's input (the start point), the labels (or
// targets), LoopLo, LoopHi, LoopX0 (L2 only) and LoopSteps, all batch-major;
// outputs LoopXAdv, LoopDone, LoopEvals. Iterating the same step from Go
// on the same batch gives the same values (the test compares them).
func BuildAttackLoop(m *onnx.Model, spec Spec, cfg AttackLoop) (*onnx.Model, Names, error) {
	if !(cfg.Alpha > 0) || cfg.L2 && !(cfg.Eps > 0) {
		return nil, Names{}, errs.Invalidf("attack loop: step %v and L2 eps %v must be > 0", cfg.Alpha, cfg.Eps)
	}
	gm, nm, err := BuildNamed(m, spec)
	if err != nil {
		return nil, nm, err
	}
	if nm.Labels == "" {
		return nil, nm, errs.Invalidf("attack loop: loss head %q reads no labels", spec.Loss)
	}
	if nm.Elem != onnx.Float32 {
		return nil, nm, errs.Invalidf("attack loop: input %q must be float32", nm.Input)
	}
	scores := orDefault(cfg.Scores, nm.Output)
	const pre = "attack_body/"
	body, rename := loopBody(gm, nm, "attack_body", pre)
	if _, ok := rename[scores]; !ok {
		return nil, nm, errs.Invalidf("attack loop: scores %q is not computed by the gradient graph", scores)
	}
	xCur, iter, condIn, doneIn, evalsIn := pre+"x", pre+"iter", pre+"cond_in", pre+"done_in", pre+"evals_in"
	batch := []int64{-1}
	body.Input = []*onnxpb.ValueInfoProto{
		onnx.ValueInfo(iter, onnx.Int64, []int64{}),
		onnx.ValueInfo(condIn, onnx.Bool, []int64{}),
		onnx.ValueInfo(xCur, nm.Elem, nm.Shape, dimNames(nm.Shape)...),
		onnx.ValueInfo(doneIn, onnx.Bool, batch, "N"),
		onnx.ValueInfo(evalsIn, onnx.Int64, batch, "N"),
	}

	out := &onnx.Model{Proto: proto.Clone(gm.Proto).(*onnxpb.ModelProto)}
	og := out.Proto.GetGraph()
	og.Node, og.Output, og.ValueInfo = nil, nil, nil
	ob := onnx.NewBuilder(out, "attack/")
	for name := range rename {
		ob.Reserve(name)
	}
	for _, s := range []string{LoopLo, LoopHi, LoopX0, LoopSteps, LoopXAdv, LoopDone, LoopEvals} {
		if ob.Used(s) {
			return nil, nm, errs.Invalidf("attack loop: name %q is already used by the model", s)
		}
	}
	lo := ob.AddInput(LoopLo, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
	hi := ob.AddInput(LoopHi, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
	x0 := ""
	if cfg.L2 {
		x0 = ob.AddInput(LoopX0, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
	}
	steps := ob.AddInput(LoopSteps, onnx.Int64, batch, "N")
	trip := ob.Op("Gather", []string{steps, ob.ScalarI64(0)}, onnx.AttrInt("axis", 0))
	evals0 := ob.Op("Sub", []string{steps, steps})
	done0 := ob.Op("Not", []string{ob.Op("Equal", []string{steps, steps})})

	// the body: prediction, hit, step, freeze
	bm := &onnx.Model{Proto: &onnxpb.ModelProto{OpsetImport: gm.Proto.GetOpsetImport(), Graph: body}}
	bb := onnx.NewBuilder(bm, pre+"step/")
	for name := range rename {
		bb.Reserve(name)
	}
	for _, s := range []string{LoopLo, LoopHi, LoopX0, LoopSteps, nm.Labels} {
		bb.Reserve(s)
	}
	var next string
	if cfg.L2 {
		next = l2Step(bb, xCur, rename[nm.Grad], lo, hi, x0, cfg.Alpha, cfg.Eps, cfg.Descend, len(nm.Shape))
	} else {
		next = linfStep(bb, xCur, rename[nm.Grad], lo, hi, cfg.Alpha, cfg.Descend)
	}
	one := bb.Op("Cast", []string{bb.Op("Not", []string{doneIn})}, onnx.AttrInt("to", int64(onnx.Int64)))
	evalsOut := bb.Op("Add", []string{evalsIn, one})
	doneOut := doneIn
	if cfg.EarlyStop {
		pred := bb.Op("ArgMax", []string{rename[scores]}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 0))
		hit := bb.Op("Equal", []string{pred, nm.Labels})
		if !cfg.HitTarget {
			hit = bb.Op("Not", []string{hit})
		}
		doneOut = bb.Op("Or", []string{doneIn, hit})
		bshape := make([]int64, len(nm.Shape))
		bshape[0] = -1
		for i := 1; i < len(bshape); i++ {
			bshape[i] = 1
		}
		next = bb.Op("Where", []string{bb.Reshape(doneOut, bshape...), xCur, next})
	}
	condOut := pre + "cond_out"
	bb.NodeOut("Identity", []string{condIn}, []string{condOut})
	body.Output = []*onnxpb.ValueInfoProto{
		onnx.ValueInfo(condOut, onnx.Bool, []int64{}),
		onnx.ValueInfo(next, nm.Elem, nm.Shape, dimNames(nm.Shape)...),
		onnx.ValueInfo(doneOut, onnx.Bool, batch, "N"),
		onnx.ValueInfo(evalsOut, onnx.Int64, batch, "N"),
	}

	cond := ob.Initializer(onnx.TensorBool("attack_cond", nil, []bool{true}))
	doneB := ob.Name("attack_done_b")
	ob.NodeOut("Loop", []string{trip, cond, nm.Input, done0, evals0}, []string{LoopXAdv, doneB, LoopEvals}, onnx.AttrGraph("body", body))
	ob.NodeOut("Cast", []string{doneB}, []string{LoopDone}, onnx.AttrInt("to", int64(onnx.Int64)))
	ob.AddOutput(LoopXAdv, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
	ob.AddOutput(LoopDone, onnx.Int64, batch, "N")
	ob.AddOutput(LoopEvals, onnx.Int64, batch, "N")
	if err := out.Check(); err != nil {
		return nil, nm, fmt.Errorf("attack loop graph is malformed (a bug in autodiff): %w", err)
	}
	if _, err := out.Marshal(); err != nil {
		return nil, nm, err
	}
	nm.Outputs = []string{LoopXAdv, LoopDone, LoopEvals}
	nm.Loss, nm.Grad = "", ""
	return out, nm, nil
}

// linfStep appends x ← min(max(x ± α·sign(g), lo), hi) (float32).
func linfStep(b *onnx.Builder, x, g, lo, hi string, alpha float64, descend bool) string {
	if descend {
		alpha = -alpha
	}
	d := b.Op("Mul", []string{b.Op("Sign", []string{g}), b.Scalar(alpha, onnx.Float32)})
	y := b.Op("Add", []string{x, d})
	return b.Op("Min", []string{b.Op("Max", []string{y, lo}), hi})
}

// l2Step appends the L2 step of AttackLoop on float32 tensors of the given
// rank: y = clamp(x + float32(α/‖g‖)·s·g) (x when g = 0), then up to two
// projections onto the ball of radius eps around x0, each applied only where
// the float64 distance exceeds eps, the second shrinking by 1 − 1e-7 (the
// evasion suite's projectL2 and its first retry).
func l2Step(b *onnx.Builder, x, g, lo, hi, x0 string, alpha, eps float64, descend bool, rank int) string {
	axes := make([]int64, 0, rank-1)
	for i := 1; i < rank; i++ {
		axes = append(axes, int64(i))
	}
	f64 := func(s string) string { return b.Cast(s, onnx.Float64) }
	norm := func(v string) string { // float64 per-sample norm, keepdims
		return b.Op("Sqrt", []string{b.ReduceSum(b.Op("Mul", []string{v, v}), axes, true)})
	}
	gd := f64(g)
	n := norm(gd)
	zero := b.Scalar(0, onnx.Float64)
	pos := b.Op("Greater", []string{n, zero})
	// α/‖g‖ where ‖g‖ > 0 (the divisor is replaced by 1 elsewhere: no Inf)
	safe := b.Op("Where", []string{pos, n, b.Scalar(1, onnx.Float64)})
	f := b.Cast(b.Op("Div", []string{b.Scalar(alpha, onnx.Float64), safe}), onnx.Float32)
	if descend {
		f = b.Op("Neg", []string{f})
	}
	moved := b.Op("Add", []string{x, b.Op("Mul", []string{f, g})})
	y := b.Op("Where", []string{pos, moved, x})
	y = b.Op("Min", []string{b.Op("Max", []string{y, lo}), hi})
	x0d := f64(x0)
	for try := 0; try < 2; try++ {
		diff := b.Op("Sub", []string{f64(y), x0d})
		dn := norm(diff)
		out := b.Op("Greater", []string{dn, b.Scalar(eps, onnx.Float64)})
		s := b.Op("Div", []string{b.Scalar(eps, onnx.Float64), b.Op("Where", []string{out, dn, b.Scalar(1, onnx.Float64)})})
		if try > 0 {
			s = b.Op("Mul", []string{s, b.Scalar(1-1e-7, onnx.Float64)})
		}
		proj := b.Op("Add", []string{x0, b.Cast(b.Op("Mul", []string{diff, s}), onnx.Float32)})
		y = b.Op("Where", []string{out, proj, y})
	}
	return y
}

// PGDL2 configures one L2 PGD step as an Extension (PGDL2Step).
type PGDL2 struct {
	// Alpha is the step length, Eps the radius of the ball around the
	// clean input; both > 0.
	Alpha, Eps float64
	// Descend steps against the gradient (targeted losses).
	Descend bool
	// Output names the new point ("": "x_adv"); Origin, Lo and Hi name the
	// graph inputs it adds: the clean input ("": "x0") and the per-value
	// bounds ("": "lo", "hi").
	Output, Origin, Lo, Hi string
}

// PGDL2Step returns the Extension appending one L2 PGD step (AttackLoop's
// L2 step) after the gradient; iterating it from Go gives the same values
// as BuildAttackLoop with L2.
func PGDL2Step(cfg PGDL2) Extension {
	return func(b *onnx.Builder, nm Names) ([]Output, error) {
		if !(cfg.Alpha > 0) || !(cfg.Eps > 0) {
			return nil, errs.Invalidf("pgd l2: step %v and eps %v must be > 0", cfg.Alpha, cfg.Eps)
		}
		if nm.Elem != onnx.Float32 {
			return nil, errs.Invalidf("pgd l2: input %q must be float32", nm.Input)
		}
		origin, lo, hi := orDefault(cfg.Origin, "x0"), orDefault(cfg.Lo, "lo"), orDefault(cfg.Hi, "hi")
		name := orDefault(cfg.Output, "x_adv")
		for _, s := range []string{origin, lo, hi, name} {
			if b.Used(s) {
				return nil, errs.Invalidf("pgd l2: name %q is already used", s)
			}
		}
		for _, s := range []string{origin, lo, hi} {
			b.AddInput(s, nm.Elem, nm.Shape, dimNames(nm.Shape)...)
		}
		b.Identity(l2Step(b, nm.Input, nm.Grad, lo, hi, origin, cfg.Alpha, cfg.Eps, cfg.Descend, len(nm.Shape)), name)
		return []Output{{Name: name, Elem: nm.Elem, Shape: nm.Shape}}, nil
	}
}

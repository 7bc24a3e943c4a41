package evasion

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Values of fuse: whether PGD's iterations run as one fused ONNX Loop per
// batch and restart (autodiff.BuildAttackLoop) or one ORT call per step.
const (
	FuseAuto   = "auto"   // fused on CUDA and TensorRT, per step on CPU (measured: fuseCPU)
	FuseAlways = "always" // fused wherever the attack allows it
	FuseNever  = "never"  // one ORT call per step
)

// fuseCPU is what fuse: auto does on the CPU execution provider: per
// step, as measured (benchmarks/pgdpeer, one ORT thread, 1000 MNIST test
// images, PGD-40 L∞ eps 0.1, batch 128, interleaved in one process; CPU
// time per step ÷ fused, 2026-12-07): without early stop 1.00, 0.89, 0.87
// on the MNIST CNN and 1.22, 1.15, 1.03 on the residual CNN with
// BatchNorm (benchmarks/pgdpeer/res_cnn.onnx); with early stop, the
// suite's default, 0.91 and 1.00 on the MNIST CNN and 0.16 and 0.16 on the
// residual CNN, where the per-step path drops the samples it breaks (98 %
// of them, most in the first steps) while the loop keeps evaluating them
// to its last iteration. On CUDA and TensorRT the loop removes two
// host↔device copies per step and is chosen.
const fuseCPU = false

// fuseChoice records which path PGD took in a run (details.fuse).
type fuseChoice struct {
	setting string
	fused   bool
	reason  string
}

func (f fuseChoice) details() map[string]any {
	path := "per_step"
	if f.fused {
		path = "fused_loop"
	}
	d := map[string]any{"setting": f.setting, "pgd_path": path}
	if f.reason != "" {
		d["reason"] = f.reason
	}
	return d
}

// decideFuse settles fuse: auto|always|never on the run's execution
// provider and gradient mode.
func decideFuse(t *suite.Target, cfg Config, mode string) fuseChoice {
	fc := fuseChoice{setting: cfg.Fuse}
	switch {
	case mode != ModeExact:
		fc.reason = "the fused loop needs exact gradient graphs"
	case cfg.Fuse == FuseNever:
		fc.reason = "fuse: never"
	case cfg.Fuse == FuseAlways:
		fc.fused = true
	default:
		p := t.Session.Provider().Provider
		if p == "CUDAExecutionProvider" || p == "TensorrtExecutionProvider" {
			fc.fused, fc.reason = true, "fuse: auto on "+p
		} else {
			fc.fused = fuseCPU
			fc.reason = "fuse: auto on " + p + ": per step on the CPU"
		}
	}
	return fc
}

// fusable reports whether attack a runs its iterations in the fused loop:
// PGD with at least two steps (the loop runs steps − 1 iterations between
// the first and the last evaluation, which stay per step).
func fusable(a AttackConfig) bool { return a.Name == PGD && a.Steps >= 2 }

// openLoopGraph is how the suite opens the fused PGD loop of one attack at
// one eps (a test hook).
var openLoopGraph = buildLoopGraph

// buildLoopGraph writes the fused PGD loop of the target's model (ce
// head) and opens it on the target's device.
func buildLoopGraph(t *suite.Target, cfg autodiff.AttackLoop) (*runtime.Graph, error) {
	spec := grad.TargetSpec(t, headCE, "gauntlet")
	cfg.Scores = t.Session.Output().Name
	m, nm, err := autodiff.BuildAttackLoop(t.Model, spec, cfg)
	if err != nil {
		return nil, fmt.Errorf("fused pgd loop: %w", err)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	sample := t.Session.SampleShape()
	ins := []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: sample}, {Name: nm.Labels, Type: "int64"},
		{Name: autodiff.LoopLo, Type: "float32", Sample: sample}, {Name: autodiff.LoopHi, Type: "float32", Sample: sample}}
	if cfg.L2 {
		ins = append(ins, runtime.GraphTensor{Name: autodiff.LoopX0, Type: "float32", Sample: sample})
	}
	ins = append(ins, runtime.GraphTensor{Name: autodiff.LoopSteps, Type: "int64"})
	outs := []runtime.GraphTensor{{Name: autodiff.LoopXAdv, Type: "float32", Sample: sample},
		{Name: autodiff.LoopDone, Type: "int64"}, {Name: autodiff.LoopEvals, Type: "int64"}}
	return runtime.OpenGraph(t.Env, "fused pgd loop of "+t.Session.Info().Path, b, ins, outs, t.SessionOptions)
}

// openLoops opens the fused loop of PGD attack a at eps with step alpha and
// a runner per worker; the caller closes them with closeLoops.
func (rt *runners) openLoops(t *suite.Target, a AttackConfig, eps, alpha float64) error {
	cfg := autodiff.AttackLoop{L2: a.Norm == L2, Alpha: alpha, Eps: eps, Descend: a.Targeted,
		EarlyStop: a.earlyStop(), HitTarget: a.Targeted}
	g, err := openLoopGraph(t, cfg)
	if err != nil {
		return err
	}
	rt.loop = g
	for _, w := range rt.works {
		if w.loop, err = g.NewRunner(w.batch); err != nil {
			rt.closeLoops()
			return fmt.Errorf("fused pgd loop: %w", err)
		}
		w.loopL2 = cfg.L2
	}
	return nil
}

func (rt *runners) closeLoops() {
	for _, w := range rt.works {
		if w.loop != nil {
			w.loop.Close()
			w.loop = nil
		}
	}
	if rt.loop != nil {
		rt.loop.Close()
		rt.loop = nil
	}
}

// runLoop runs iterations 1 … steps−1 of PGD on the active samples in one
// fused call: it stages each active sample's point, label (or target),
// box and clean input, and copies back the new points and the evaluations
// spent. A sample frozen by the loop (its prediction hit) counts one
// evaluation fewer: the last, per-step evaluation re-evaluates its frozen
// point, as the per-step path would have at the iteration that hit.
func (w *work) runLoop(ctx context.Context, j *job, steps int, targeted bool) error {
	r, n, d := w.loop, len(w.act), w.d
	x, lab, lo, hi := r.F32In(0), r.I64In(1), r.F32In(2), r.F32In(3)
	k := 4
	var x0 []float32
	if w.loopL2 {
		x0 = r.F32In(4)
		k = 5
	}
	st := r.I64In(k)
	for row, i := range w.act {
		copy(x[row*d:(row+1)*d], w.row(w.x, i))
		copy(lo[row*d:(row+1)*d], w.row(w.lo, i))
		copy(hi[row*d:(row+1)*d], w.row(w.hi, i))
		if x0 != nil {
			copy(x0[row*d:(row+1)*d], j.x0[i*d:(i+1)*d])
		}
		lab[row] = j.y[i]
		if targeted {
			lab[row] = w.tgt[i]
		}
		st[row] = int64(steps - 1)
	}
	if err := r.Run(ctx, n); err != nil {
		return err
	}
	xo, done, evals := r.Out(0), r.I64Out(1), r.I64Out(2)
	for row, i := range w.act {
		copy(w.row(w.x, i), xo[row*d:(row+1)*d])
		j.queries[i] += int32(evals[row] - done[row])
	}
	return nil
}

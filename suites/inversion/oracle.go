package inversion

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// oracle gives the cross-entropy of each row's target class and its
// gradient with respect to the row.
type oracle interface {
	// eval writes CE_y(x_r) into loss[r] and, when g is not nil, ∇CE_y
	// into g (n×d). step numbers the call, for seeded estimates.
	eval(ctx context.Context, x []float32, y []int64, loss []float64, g []float32, step int) error
	close()
}

// newOracle returns the oracle of one batch of n classes: a runner of the
// shared gradient graph g for exact gradients, an NES estimator otherwise.
func newOracle(t *suite.Target, g *runtime.Graph, cfg Config, n, d int, lo, hi float64) (oracle, error) {
	if g != nil {
		r, err := newGraphRunner(g, n)
		if err != nil {
			return nil, err
		}
		return &exact{r: r}, nil
	}
	return newNES(t, cfg, n, d, lo, hi)
}

// Test hooks: how the suite opens the gradient graph and a runner of it.
// Tests replace them to inject failures.
var (
	openGraph      = openGradGraph
	newGraphRunner = func(g *runtime.Graph, n int) (*runtime.GraphRunner, error) { return g.NewRunner(n) }
)

// exact runs the model's cross-entropy gradient graph (package autodiff)
// through its own runner; the graph is shared by the batches.
type exact struct {
	r *runtime.GraphRunner
}

// openGradGraph builds and opens the model's cross-entropy gradient graph
// once per run; its runners are safe to use from parallel workers.
func openGradGraph(t *suite.Target) (*runtime.Graph, error) {
	sample := t.Session.SampleShape()
	return grad.OpenTargetGraph(t, "inversion gradient graph", t.Model, grad.TargetSpec(t, autodiff.LossCE, "gauntlet_inversion"),
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: sample}, {Name: nm.Labels, Type: "int64"}}
		},
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Loss, Type: "float32"}, {Name: nm.Grad, Type: "float32", Sample: sample}}
		})
}

func (o *exact) eval(ctx context.Context, x []float32, y []int64, loss []float64, g []float32, _ int) error {
	n := len(y)
	copy(o.r.F32In(0), x)
	copy(o.r.I64In(1), y)
	if err := o.r.Run(ctx, n); err != nil {
		return err
	}
	for i, v := range o.r.Out(0)[:n] {
		loss[i] = float64(v)
	}
	if g != nil {
		copy(g, o.r.Out(1)[:len(x)])
	}
	return nil
}

func (o *exact) close() { o.r.Close() }

// nes estimates the gradient by natural evolution strategies (Ilyas et al.
// 2018): q antithetic Gaussian pairs per row, all rows and perturbations
// in one forward batch of n·(2q+1). A row's directions at a step come from
// its own stream, seeded by its class and the step, so they do not depend
// on the row's position in the batch or on runtime.batch_size.
type nes struct {
	r       *runtime.Runner
	probs   bool
	q, d, k int
	sigma   float64
	seeds   []uint64 // per class: suite.DeriveSeed(suite seed, "inversion/nes/class/<c>")
	pcg     *rand.PCG
	rng     *rand.Rand
	big     []float32 // n(2q+1)×d
	u       []float32 // n·q×d directions
	f       []float64 // n(2q+1) losses
	z, lp   []float64 // one output row as float64, its log-softmax
}

func newNES(t *suite.Target, cfg Config, n, d int, lo, hi float64) (*nes, error) {
	q := cfg.NESPairs
	rows := n * (2*q + 1)
	r, err := t.Session.NewRunner(rows)
	if err != nil {
		return nil, err
	}
	seeds := make([]uint64, t.Classes)
	for c := range seeds {
		seeds[c] = suite.DeriveSeed(t.Seed, "inversion/nes/class/"+strconv.Itoa(c))
	}
	pcg := rand.NewPCG(0, 0)
	return &nes{r: r, probs: t.OutputKind == runtime.Probabilities, q: q, d: d, k: t.Classes,
		sigma: cfg.NESSigma * (hi - lo), seeds: seeds, pcg: pcg, rng: rand.New(pcg),
		big: make([]float32, rows*d), u: make([]float32, n*q*d), f: make([]float64, rows),
		z: make([]float64, t.Classes), lp: make([]float64, t.Classes)}, nil
}

func (o *nes) eval(ctx context.Context, x []float32, y []int64, loss []float64, g []float32, step int) error {
	n, q, d := len(y), o.q, o.d
	per := 2*q + 1
	sig := float32(o.sigma)
	for r := 0; r < n; r++ {
		o.pcg.Seed(o.seeds[y[r]], uint64(step)) // (class, step): the row's own stream
		xr := x[r*d : (r+1)*d]
		base := r * per
		copy(o.big[base*d:(base+1)*d], xr)
		for k := 0; k < q; k++ {
			u := o.u[(r*q+k)*d : (r*q+k+1)*d]
			plus := o.big[(base+1+2*k)*d : (base+2+2*k)*d]
			minus := o.big[(base+2+2*k)*d : (base+3+2*k)*d]
			for j := range u {
				u[j] = float32(o.rng.NormFloat64())
				plus[j] = xr[j] + sig*u[j]
				minus[j] = xr[j] - sig*u[j]
			}
		}
	}
	rows := n * per
	out, err := o.r.Run(ctx, o.big[:rows*d], rows)
	if err != nil {
		return err
	}
	for i := 0; i < rows; i++ {
		learn.Logits(o.z, out[i*o.k:(i+1)*o.k], o.probs)
		learn.LogSoftmax(o.lp, o.z)
		o.f[i] = -o.lp[y[i/per]]
	}
	for r := 0; r < n; r++ {
		loss[r] = o.f[r*per]
		if g == nil {
			continue
		}
		gr := g[r*d : (r+1)*d]
		clear(gr)
		scale := 1 / (2 * float64(q) * o.sigma)
		for k := 0; k < q; k++ {
			c := float32((o.f[r*per+1+2*k] - o.f[r*per+2+2*k]) * scale)
			if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
				continue
			}
			u := o.u[(r*q+k)*d : (r*q+k+1)*d]
			for j, v := range u {
				gr[j] += c * v
			}
		}
	}
	return nil
}

func (o *nes) close() { o.r.Close() }

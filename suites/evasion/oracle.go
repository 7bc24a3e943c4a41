package evasion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Loss heads the attacks use. Targeted attacks feed the target as the
// label of the ce head and descend on it.
const (
	headCE   = "ce"
	headDLR  = "dlr"
	headDLRT = "dlrt" // targeted DLR of AutoAttack's APGD-T: labels y and targets t
)

// oracle evaluates a batch of gathered samples: outputs, per-sample loss
// and the gradient of each sample's loss with respect to its input.
type oracle interface {
	// in is the staging buffer for up to batch samples (n×d values);
	// labels the matching labels (or targets).
	in() []float32
	labels() []int64
	// targets holds the targets of the dlrt head (nil for other heads).
	targets() []int64
	// eval evaluates the first n staged samples.
	eval(ctx context.Context, n int, rng *rand.Rand) error
	// logits, loss and grad hold the results of the last eval: n×K, n, n×d.
	logits() []float32
	loss() []float32
	grad() []float32
	// cost is the number of model evaluations per sample per eval.
	cost() int32
}

// exactOracle runs an ONNX gradient graph (package autodiff).
type exactOracle struct {
	r    *runtime.GraphRunner
	nIn  int // 2, or 3 with a targets input (dlrt)
	outs int // index of the first output
}

func (o *exactOracle) in() []float32     { return o.r.F32In(0) }
func (o *exactOracle) labels() []int64   { return o.r.I64In(1) }
func (o *exactOracle) logits() []float32 { return o.r.Out(0) }
func (o *exactOracle) loss() []float32   { return o.r.Out(1) }
func (o *exactOracle) grad() []float32   { return o.r.Out(2) }
func (o *exactOracle) targets() []int64 {
	if o.nIn < 3 {
		return nil
	}
	return o.r.I64In(2)
}
func (o *exactOracle) cost() int32 { return 1 }
func (o *exactOracle) eval(ctx context.Context, n int, _ *rand.Rand) error {
	return o.r.Run(ctx, n)
}

// buildGraph writes the gradient graph of head for the target's model and
// opens it on the target's device.
func buildGraph(t *suite.Target, head string) (*runtime.Graph, error) {
	in, out := t.Session.Input(), t.Session.Output()
	if in.Type != "float32" {
		return nil, errs.Invalidf("gradient graph: input %q has type %s; gradient graphs are run on float32 inputs (use gradient_mode: estimated)", in.Name, in.Type)
	}
	src := t.Model
	spec := grad.TargetSpec(t, head, "gauntlet")
	if twoLabelHead(head) {
		build := withTargetedDLR
		if head == headMarginT {
			build = withTargetedMargin
		}
		var err error
		if src, err = build(t.Model, out.Name, t.Classes); err != nil {
			return nil, fmt.Errorf("gradient graph (%s loss): %w", head, err)
		}
		spec.Loss, spec.Tensor, spec.ReduceOp = autodiff.LossReduce, dlrtTensor, "sum"
	}
	sample := t.Session.SampleShape()
	return grad.OpenTargetGraph(t, "gradient graph ("+head+" loss)", src, spec,
		func(nm autodiff.Names) []runtime.GraphTensor {
			ins := []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: sample}, {Name: nm.Labels, Type: "int64"}}
			if twoLabelHead(head) {
				ins[1].Name = dlrtLabels
				ins = append(ins, runtime.GraphTensor{Name: dlrtTargets, Type: "int64"})
			}
			return ins
		},
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{
				{Name: out.Name, Type: "float32", Sample: []int64{int64(t.Classes)}},
				{Name: nm.Loss, Type: "float32"},
				{Name: nm.Grad, Type: "float32", Sample: sample},
			}
		})
}

// nesMaxBytes caps the memory of one NES forward batch (its input rows and
// their directions); larger batches are estimated in chunks of samples.
const nesMaxBytes = 256 << 20

// nesOracle estimates gradients by natural evolution strategies (Ilyas et
// al. 2018): q antithetic Gaussian pairs per sample, evaluated in forward
// batches of up to chunk·(2q+1) rows. It differentiates lossScores, in
// float64 on the logits or log-probabilities: for the ce head the log-odds
// surrogate of the cross-entropy, which keeps a signal on confident models
// where the cross-entropy itself rounds to a constant. loss() returns the
// same values: the attacks only compare losses of one sample, and the
// surrogate orders points as the cross-entropy does.
type nesOracle struct {
	fwd     *runtime.Runner
	head    string
	probs   bool
	q       int
	sigma   float32
	d, k    int
	chunk   int       // samples per forward batch
	x       []float32 // staged samples, batch×d
	y, t    []int64
	big     []float32 // chunk·(2q+1)×d forward input
	u       []float32 // chunk·q×d directions
	out     []float32 // batch×k outputs of the unperturbed rows
	lossBuf []float32
	g       []float32
	z       []float64 // one output row's scores (lossScores)
}

func newNES(s *runtime.Session, batch, d, k, q int, sigma float64, head string, probs bool) (*nesOracle, error) {
	per := 2*q + 1
	chunk := min(batch, max(1, nesMaxBytes/(4*d*(per+q))))
	fwd, err := s.NewRunner(chunk * per)
	if err != nil {
		return nil, err
	}
	return &nesOracle{fwd: fwd, head: head, probs: probs, q: q, sigma: float32(sigma), d: d, k: k, chunk: chunk,
		x: make([]float32, batch*d), y: make([]int64, batch), t: make([]int64, batch), big: make([]float32, chunk*per*d),
		u: make([]float32, chunk*q*d), out: make([]float32, batch*k), lossBuf: make([]float32, batch),
		g: make([]float32, batch*d), z: make([]float64, k)}, nil
}

func (o *nesOracle) in() []float32 { return o.x }
func (o *nesOracle) targets() []int64 {
	if !twoLabelHead(o.head) {
		return nil
	}
	return o.t
}
func (o *nesOracle) labels() []int64   { return o.y }
func (o *nesOracle) logits() []float32 { return o.out }
func (o *nesOracle) loss() []float32   { return o.lossBuf }
func (o *nesOracle) grad() []float32   { return o.g }
func (o *nesOracle) cost() int32       { return int32(2*o.q + 1) }

func (o *nesOracle) eval(ctx context.Context, n int, rng *rand.Rand) error {
	for c0 := 0; c0 < n; c0 += o.chunk {
		if err := o.evalChunk(ctx, c0, min(o.chunk, n-c0), rng); err != nil {
			return err
		}
	}
	return nil
}

// evalChunk estimates the gradients of samples c0 … c0+m−1.
func (o *nesOracle) evalChunk(ctx context.Context, c0, m int, rng *rand.Rand) error {
	d, q, per := o.d, o.q, 2*o.q+1
	for r := 0; r < m; r++ {
		x := o.x[(c0+r)*d : (c0+r+1)*d]
		base := r * per
		copy(o.big[base*d:], x)
		for j := 0; j < q; j++ {
			u := o.u[(r*q+j)*d : (r*q+j+1)*d]
			plus := o.big[(base+1+2*j)*d : (base+2+2*j)*d]
			minus := o.big[(base+2+2*j)*d : (base+3+2*j)*d]
			for p := range u {
				v := float32(rng.NormFloat64())
				u[p] = v
				plus[p] = x[p] + o.sigma*v
				minus[p] = x[p] - o.sigma*v
			}
		}
	}
	out, err := o.fwd.Run(ctx, o.big[:m*per*d], m*per)
	if err != nil {
		return err
	}
	k := o.k
	scale := float32(1 / (2 * float64(o.sigma) * float64(q)))
	for r := 0; r < m; r++ {
		i := c0 + r
		base := r * per
		y, tg := int(o.y[i]), int(o.t[i])
		copy(o.out[i*k:(i+1)*k], out[base*k:(base+1)*k])
		o.lossBuf[i] = float32(o.rowLoss(out[base*k:(base+1)*k], y, tg))
		g := o.g[i*d : (i+1)*d]
		clear(g)
		for j := 0; j < q; j++ {
			lp := o.rowLoss(out[(base+1+2*j)*k:(base+2+2*j)*k], y, tg)
			lm := o.rowLoss(out[(base+2+2*j)*k:(base+3+2*j)*k], y, tg)
			w := float32(lp-lm) * scale
			u := o.u[(r*q+j)*d : (r*q+j+1)*d]
			for p := range g {
				g[p] += w * u[p]
			}
		}
	}
	return nil
}

// rowLoss is the loss NES differentiates on one output row (lossScores).
func (o *nesOracle) rowLoss(row []float32, y, tg int) float64 {
	scores(o.z, row, o.probs)
	return lossScores(o.head, o.z, y, tg)
}

// minLogProb floors probabilities before their log: the smallest positive
// float32, so that every probability a float32 output can hold keeps its
// own log-probability.
var minLogProb = math.Log(math.SmallestNonzeroFloat32)

// scores writes the row the NES losses are computed on into dst, in
// float64: the logits, or the log-probabilities log max(p, 2⁻¹⁴⁹) when the
// model outputs probabilities (the logits up to a per-row shift, which no
// loss head below depends on).
func scores(dst []float64, row []float32, probs bool) {
	for j, v := range row {
		if probs {
			dst[j] = max(math.Log(float64(v)), minLogProb)
		} else {
			dst[j] = float64(v)
		}
	}
}

// lossScores computes a loss head on one row of scores z (logits or
// log-probabilities), in float64:
//
//   - ce: the log-odds of a wrong class, L = log Σ_{j≠y} e^{z_j} − z_y =
//     log((1 − p_y)/p_y), computed as m − z_y + log Σ_{j≠y} e^{z_j − m}
//     with m = max_{j≠y} z_j. L is a strictly increasing function of the
//     cross-entropy (CE = log(1 + e^L), so ∇CE = σ(L)·∇L: the same
//     maximiser and the same gradient direction), but it does not
//     saturate: on a confident sample CE rounds to 0 in float32 and
//     float64 alike (at a logit margin above 37 resp. 745), while L stays
//     close to the Carlini–Wagner margin max_{j≠y} z_j − z_y.
//   - dlr: the DLR loss of Croce & Hein (2020), −(z_y − max_{j≠y} z_j) /
//     (z_π1 − z_π3 + 1e-12); dlrt: its targeted form for target tg. Both
//     are invariant to a shift of the row, so on log-probabilities they
//     equal the DLR of the logits.
func lossScores(head string, z []float64, y, tg int) float64 {
	switch head {
	case headMarginT: // FAB's z_t − z_y
		return z[tg] - z[y]
	case headDLRT:
		s := sortedTop(z, 4)
		return -(z[y] - z[tg]) / (s[0] - (s[2]+s[3])/2 + 1e-12)
	case headDLR:
		var v1, v2, v3 = math.Inf(-1), math.Inf(-1), math.Inf(-1)
		other := math.Inf(-1)
		for j, v := range z {
			if j != y && v > other {
				other = v
			}
			switch {
			case v > v1:
				v1, v2, v3 = v, v1, v2
			case v > v2:
				v2, v3 = v, v2
			case v > v3:
				v3 = v
			}
		}
		if len(z) < 3 {
			v3 = v2
		}
		return -(z[y] - other) / (v1 - v3 + 1e-12)
	}
	m := math.Inf(-1)
	for j, v := range z {
		if j != y {
			m = max(m, v)
		}
	}
	var s float64
	for j, v := range z {
		if j != y {
			s += math.Exp(v - m)
		}
	}
	return m - z[y] + math.Log(s)
}

// margin returns z_c − max_{j≠c} z_j: positive when class c wins.
func margin(row []float32, c int) float64 {
	other := math.Inf(-1)
	for j, z := range row {
		if j != c {
			other = max(other, float64(z))
		}
	}
	return float64(row[c]) - other
}

// sortedTop returns the n largest values of row in descending order
// (repeating the smallest when the row is shorter).
func sortedTop(row []float64, n int) [4]float64 {
	var top [4]float64
	for i := range top {
		top[i] = math.Inf(-1)
	}
	for _, v := range row {
		for i := 0; i < n; i++ {
			if v > top[i] {
				copy(top[i+1:n], top[i:n-1])
				top[i] = v
				break
			}
		}
	}
	for i := 1; i < n; i++ {
		if math.IsInf(top[i], -1) {
			top[i] = top[i-1]
		}
	}
	return top
}

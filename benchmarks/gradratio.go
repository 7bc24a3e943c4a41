package benchmarks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// GradSessions holds a classifier's plain forward session and the session
// of its gradient graph (autodiff.BuildNamed with the ce head: forward,
// per-sample cross-entropy and the input gradient in one call), both on the
// CPU with the same intra-op threads, as autodiff's BenchmarkMNISTCNN runs
// them.
type GradSessions struct {
	Model   string
	Threads int
	// Sample is the shape of one sample (the input's shape without the
	// batch axis).
	Sample []int64
	// Elements is the number of values in one sample.
	Elements  int
	fwd, grad *ortexec.Session
}

// OpenGrad loads the model at path, builds its gradient graph and opens
// both sessions with threads intra-op threads (0: ONNX Runtime's default).
// The model needs one float32 input whose only dynamic axis is the batch
// axis. ortexec.Init must have succeeded.
func OpenGrad(path string, threads int) (*GradSessions, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	gm, nm, err := autodiff.BuildNamed(m, autodiff.Spec{Loss: autodiff.LossCE})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if nm.Elem != onnx.Float32 {
		return nil, fmt.Errorf("%s: input %q is %s, want float32", path, nm.Input, onnx.ElemName(nm.Elem))
	}
	if len(nm.Shape) < 2 || nm.Shape[0] >= 0 {
		return nil, fmt.Errorf("%s: input %q has shape %v, want a dynamic batch axis and fixed sample axes", path, nm.Input, nm.Shape)
	}
	g := &GradSessions{Model: path, Threads: threads, Sample: slices.Clone(nm.Shape[1:]), Elements: 1}
	for _, d := range g.Sample {
		if d < 1 {
			return nil, fmt.Errorf("%s: input %q has shape %v, want fixed sample axes", path, nm.Input, nm.Shape)
		}
		g.Elements *= int(d)
	}
	opt := ortexec.Options{IntraOpThreads: threads}
	if g.fwd, err = ortexec.NewSession(m.Bytes, []string{nm.Input}, []string{nm.Output}, opt); err != nil {
		return nil, fmt.Errorf("%s: forward: %w", path, err)
	}
	if g.grad, err = ortexec.NewSession(gm.Bytes, []string{nm.Input, nm.Labels}, []string{nm.Loss, nm.Grad}, opt); err != nil {
		g.fwd.Close()
		return nil, fmt.Errorf("%s: gradient graph: %w", path, err)
	}
	return g, nil
}

// Close releases both sessions.
func (g *GradSessions) Close() {
	g.fwd.Close()
	g.grad.Close()
}

// GradConfig says how GradSessions.Measure repeats.
type GradConfig struct {
	Batch int
	// X holds at least Batch samples (row-major, batch first); nil means
	// values uniform in [0, 1) drawn from Seed.
	X    []float32
	Seed uint64
	// Warmup runs of each side precede the measured ones.
	Warmup int
	// MinReps, MinTime and MaxReps: measuring stops after at least MinReps
	// repetitions once each side has run MinTime in total, or after
	// MaxReps repetitions.
	MinReps, MaxReps int
	MinTime          time.Duration
}

// GradResult holds the per-repetition times of the forward pass and of the
// gradient graph, and their medians.
type GradResult struct {
	Model   string
	Batch   int
	Threads int
	// Forward and Grad are the times of the plain forward pass and of the
	// gradient graph (forward + loss + input gradient) per repetition.
	Forward, Grad []time.Duration
	// ForwardMedian and GradMedian are their medians.
	ForwardMedian, GradMedian time.Duration
	// Ratio is GradMedian / ForwardMedian.
	Ratio float64
	// ForwardCPU and GradCPU are the process CPU times (all threads,
	// user + system) of the same runs, which the load of other jobs on a
	// shared machine disturbs less than wall-clock time; with several
	// intra-op threads they include ONNX Runtime's spin-waiting. CPURatio
	// is the ratio of their medians. All are zero where process CPU time
	// cannot be read.
	ForwardCPU, GradCPU             []time.Duration
	ForwardCPUMedian, GradCPUMedian time.Duration
	CPURatio                        float64
}

// String formats the result for a terminal.
func (r GradResult) String() string {
	s := fmt.Sprintf("%s batch %d threads %d: forward %.2f ms, forward+grad %.2f ms (medians of %d interleaved repetitions), ratio %.2f",
		r.Model, r.Batch, r.Threads, ms(r.ForwardMedian), ms(r.GradMedian), len(r.Forward), r.Ratio)
	if r.CPURatio > 0 {
		s += fmt.Sprintf("; process CPU time %.2f ms and %.2f ms, ratio %.2f", ms(r.ForwardCPUMedian), ms(r.GradCPUMedian), r.CPURatio)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// gradLossTol is the largest relative difference accepted between the
// gradient graph's per-sample loss and the cross-entropy computed here from
// the forward session's output: float32 arithmetic in two graphs that ONNX
// Runtime optimises differently (e.g. BatchNorm folded into Conv in one).
const gradLossTol = 1e-3

// Measure runs the forward pass and the gradient graph on the same batch
// (labels i mod classes), interleaved: each repetition runs both, the order
// alternating between repetitions, so that the drift of a machine shared
// with other jobs falls on both sides alike. Before measuring it checks
// that the gradient graph's loss is the cross-entropy of the forward
// output.
func (g *GradSessions) Measure(cfg GradConfig) (GradResult, error) {
	res := GradResult{Model: g.Model, Batch: cfg.Batch, Threads: g.Threads}
	if cfg.Batch < 1 || cfg.MinReps < 1 || cfg.MaxReps < cfg.MinReps || cfg.Warmup < 0 {
		return res, fmt.Errorf("measure: bad config: batch %d, reps %d to %d, warmup %d", cfg.Batch, cfg.MinReps, cfg.MaxReps, cfg.Warmup)
	}
	n := cfg.Batch * g.Elements
	x := cfg.X
	switch {
	case x == nil:
		rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
		x = make([]float32, n)
		for i := range x {
			x[i] = rng.Float32()
		}
	case len(x) < n:
		return res, fmt.Errorf("measure: %d input values hold fewer than %d samples of %d", len(x), cfg.Batch, g.Elements)
	}
	in := ortexec.Tensor{Shape: append([]int64{int64(cfg.Batch)}, g.Sample...), F32: x[:n]}
	out, err := g.fwd.Run([]ortexec.Tensor{in})
	if err != nil {
		return res, fmt.Errorf("measure: forward: %w", err)
	}
	if len(out[0].Shape) != 2 || out[0].F32 == nil || out[0].Shape[0] != int64(cfg.Batch) {
		return res, fmt.Errorf("measure: forward output has shape %v, want float32 [%d, classes]", out[0].Shape, cfg.Batch)
	}
	classes := int(out[0].Shape[1])
	y := make([]int64, cfg.Batch)
	for i := range y {
		y[i] = int64(i % classes)
	}
	ins := []ortexec.Tensor{in, {Shape: []int64{int64(cfg.Batch)}, I64: y}}
	gout, err := g.grad.Run(ins)
	if err != nil {
		return res, fmt.Errorf("measure: gradient graph: %w", err)
	}
	if err := checkLoss(out[0].F32, y, classes, gout[0].F32); err != nil {
		return res, fmt.Errorf("measure: %s: %w", g.Model, err)
	}

	fwd := func() error { _, err := g.fwd.Run(ins[:1]); return err }
	grad := func() error { _, err := g.grad.Run(ins); return err }
	for range cfg.Warmup {
		if err := fwd(); err != nil {
			return res, err
		}
		if err := grad(); err != nil {
			return res, err
		}
	}
	_, haveCPU := processCPU()
	timeIt := func(f func() error) (wall, cpu time.Duration, err error) {
		c0, _ := processCPU()
		t0 := time.Now()
		err = f()
		wall = time.Since(t0)
		c1, _ := processCPU()
		return wall, c1 - c0, err
	}
	var tf, tg time.Duration
	for r := 0; r < cfg.MaxReps && (r < cfg.MinReps || tf < cfg.MinTime || tg < cfg.MinTime); r++ {
		var df, dg, cf, cg time.Duration
		if r%2 == 0 {
			if df, cf, err = timeIt(fwd); err == nil {
				dg, cg, err = timeIt(grad)
			}
		} else {
			if dg, cg, err = timeIt(grad); err == nil {
				df, cf, err = timeIt(fwd)
			}
		}
		if err != nil {
			return res, fmt.Errorf("measure: %w", err)
		}
		res.Forward, res.Grad = append(res.Forward, df), append(res.Grad, dg)
		res.ForwardCPU, res.GradCPU = append(res.ForwardCPU, cf), append(res.GradCPU, cg)
		tf, tg = tf+df, tg+dg
	}
	res.ForwardMedian, res.GradMedian = median(res.Forward), median(res.Grad)
	res.Ratio = float64(res.GradMedian) / float64(res.ForwardMedian)
	if haveCPU {
		res.ForwardCPUMedian, res.GradCPUMedian = median(res.ForwardCPU), median(res.GradCPU)
		if res.ForwardCPUMedian > 0 {
			res.CPURatio = float64(res.GradCPUMedian) / float64(res.ForwardCPUMedian)
		}
	} else {
		res.ForwardCPU, res.GradCPU = nil, nil
	}
	return res, nil
}

// checkLoss compares the gradient graph's per-sample loss with the
// cross-entropy of the forward output z [N, classes] at labels y, reading
// z as logits or, for a model ending in Softmax, as probabilities.
func checkLoss(z []float32, y []int64, classes int, loss []float32) error {
	if len(loss) != len(y) {
		return fmt.Errorf("gradient graph loss has %d values, want %d", len(loss), len(y))
	}
	for i, yi := range y {
		row := z[i*classes : (i+1)*classes]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		fromLogits := mx + math.Log(s) - float64(row[yi])
		fromProbs := -math.Log(float64(row[yi]))
		l := float64(loss[i])
		ok := func(want float64) bool { return math.Abs(l-want) <= gradLossTol*math.Max(1, math.Abs(want)) }
		if !ok(fromLogits) && !ok(fromProbs) {
			return fmt.Errorf("sample %d: gradient graph loss %g, cross-entropy of the forward output %g", i, l, fromLogits)
		}
	}
	return nil
}

// median returns the median of d (the mean of the middle two for an even
// count); d is not modified.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

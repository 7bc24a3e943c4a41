package evasion

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Allocation tests of the attack loops other than PGD's
// (TestPGDLoopAllocs): each runs a steady-state attack on one batch of 64
// samples of the demo digits model and asserts that it allocates no more
// than onnxruntime_go does for the ORT calls the attack made
// (ortAllocsPerCall + tensors·ortAllocsPerTensor per call), plus
// runtime.Runner's tail-tensor switches where a forward Runner sees a new
// partial row count (see runnerTailAllocs). The calls are counted, not
// estimated: a countingOracle logs the rows of every ORT call an oracle
// makes, and the forward calls of Square are read off the queries
// counters (squareRows).

// fwdTensors is the number of tensors of a forward call: input and output.
const fwdTensors = 2

// runnerTailAllocs is what runtime.Runner allocates when a call on fewer
// rows than its full tensors uses a row count it has not seen before, once
// it has seen it: 0, since the Runner caches a tensor pair per row count
// (runtime/runner.go, Runner.Run). The attacks shrink their ORT batches
// along the ladder of work.rows, so the forward Runners of Square and NES
// meet each ladder size once; TestRunnerTailSwitchAllocs pins the figure.
const runnerTailAllocs = 0

// maxLoggedCalls bounds the ORT calls a loop test logs (preallocated, so
// logging allocates nothing).
const maxLoggedCalls = 1 << 12

// countingOracle wraps an oracle and logs, per ORT call of its evals, the
// rows the call ran on: one call on n rows for a gradient graph, and for
// NES one forward call per chunk of samples, (2q+1) rows per sample.
type countingOracle struct {
	oracle
	evals int
	rows  []int
}

func (c *countingOracle) eval(ctx context.Context, n int, rng *rand.Rand) error {
	c.evals++
	if o, ok := c.oracle.(*nesOracle); ok {
		for c0 := 0; c0 < n; c0 += o.chunk {
			c.rows = append(c.rows, min(o.chunk, n-c0)*(2*o.q+1))
		}
	} else {
		c.rows = append(c.rows, n)
	}
	return c.oracle.eval(ctx, n, rng)
}

func (c *countingOracle) reset() { c.evals, c.rows = 0, c.rows[:0] }

// perCall returns onnxruntime_go's allocations per ORT call of the
// wrapped oracle: a gradient graph has its inputs (x, labels and, for the
// targeted DLR head, targets) and three outputs (logits, loss, gradient);
// NES runs the forward model.
func (c *countingOracle) perCall() int {
	tensors := fwdTensors
	if o, ok := c.oracle.(*exactOracle); ok {
		tensors = o.nIn + 3
	}
	return ortAllocsPerCall + tensors*ortAllocsPerTensor
}

// tailSwitches returns how many of the calls in rows (the row counts of
// one run, repeated identically) make runtime.Runner replace its tail
// tensors, for a Runner of full rows: calls on fewer rows whose count
// differs from the previous such call's, starting from the tail the
// previous run left.
func tailSwitches(rows []int, full int) int {
	tail := 0
	for _, r := range rows {
		if r < full {
			tail = r
		}
	}
	n := 0
	for _, r := range rows {
		if r < full && r != tail {
			n, tail = n+1, r
		}
	}
	return n
}

// loopRig is one worker's runners and a 64-sample job on the digits
// model: clean outputs from the forward model, every clean-correct sample
// attacked, each oracle wrapped in a countingOracle.
type loopRig struct {
	tg  *suite.Target
	w   *work
	j   *job
	src *rand.PCG
	rng *rand.Rand
}

func newLoopRig(t *testing.T, mode string, raw map[string]any) *loopRig {
	t.Helper()
	const n = 64
	tg := digits(t, "digits_cnn.onnx", 1, n)
	d, k := tg.Data.SampleSize(), tg.Classes
	rt, err := newRunners(tg, decode(t, raw), mode, d, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.close)
	w := rt.works[0]
	j := &job{n: n, x0: tg.Data.X[:n*d], y: tg.Data.Y[:n], correct: make([]bool, n), clean: make([]float32, n*k),
		success: make([]bool, n), pred: make([]int, n), queries: make([]int32, n), xadv: make([]float32, n*d)}
	out, err := w.fwd.Run(context.Background(), j.x0, n)
	if err != nil {
		t.Fatal(err)
	}
	copy(j.clean, out)
	for i := range j.correct {
		j.correct[i] = int64(stats.Argmax(j.clean[i*k:(i+1)*k])) == j.y[i]
	}
	for h, o := range w.oracles {
		w.oracles[h] = &countingOracle{oracle: o, rows: make([]int, 0, maxLoggedCalls)}
	}
	t.Cleanup(func() { // before rt.close, which closes the oracles it knows
		for h, o := range w.oracles {
			w.oracles[h] = o.(*countingOracle).oracle
		}
	})
	src := rand.NewPCG(1, 2)
	return &loopRig{tg: tg, w: w, j: j, src: src, rng: rand.New(src)}
}

// measure runs attack on the batch at norm and eps once to warm up (ORT
// plans memory and the runners create their tensors per row count), then
// returns its allocations per run; every run reseeds the random stream,
// so all runs make the same calls.
func (g *loopRig) measure(t *testing.T, norm string, eps float64, reset func(), attack func() error) float64 {
	t.Helper()
	g.j.norm, g.j.eps = norm, eps
	run := func() {
		g.src.Seed(1, 2)
		g.w.begin(g.j)
		reset()
		if err := attack(); err != nil {
			t.Fatal(err)
		}
	}
	run()
	return allocsPerRun(3, run)
}

// maxQueries is the largest per-sample query count of the last run, and
// the number of successful samples.
func (g *loopRig) maxQueries() (int, int) {
	mq, ns := int32(0), 0
	for i, q := range g.j.queries {
		mq = max(mq, q)
		if g.j.success[i] {
			ns++
		}
	}
	return int(mq), ns
}

// checkOracleLoop runs a gradient attack on oracle o and checks its
// allocations. The ORT calls are the oracle's logged calls; as a check on
// the counting, an eval includes every sample not yet done (samples only
// leave, on success or after the last step, and each restart or target
// class re-enters all the unbroken ones, which took part in every call
// before), so the evals equal the largest per-sample query count divided
// by the oracle's cost per eval (FMN: up to twice that, fmnEval).
func (g *loopRig) checkOracleLoop(t *testing.T, name, head, norm string, eps float64, attack func(o oracle) error) {
	t.Helper()
	co := g.w.oracles[head].(*countingOracle)
	got := g.measure(t, norm, eps, co.reset, func() error { return attack(co) })
	mq, ns := g.maxQueries()
	switch want := mq / int(co.cost()); {
	case name == FMN:
		// FMN evaluates again the samples whose best other class changed
		// (fmnEval): one to two evals per step, each sample at least one
		if co.evals < want || co.evals > 2*want {
			t.Errorf("%s %s: %d evals, but the largest query count %d gives %d to %d", name, norm, co.evals, mq, want, 2*want)
		}
	case co.evals != want:
		t.Errorf("%s %s: %d evals, but the largest query count %d gives %d", name, norm, co.evals, mq, want)
	}
	calls, switches := len(co.rows), 0
	if nes, ok := co.oracle.(*nesOracle); ok {
		switches = tailSwitches(co.rows, nes.chunk*(2*nes.q+1))
	}
	want := float64(calls*co.perCall() + switches*runnerTailAllocs)
	t.Logf("%s %s eps %v: %v allocations per batch for %d ORT calls (%d tail switches), bound %v; %d of %d samples broken",
		name, norm, eps, got, calls, switches, want, ns, g.j.n)
	if got > want {
		t.Errorf("%s %s: %v allocations per batch, want ≤ %v (onnxruntime_go's own for %d calls, %d Runner tail switches)",
			name, norm, got, want, calls, switches)
	}
}

// squareRows returns the rows of Square's forward calls in the last run:
// every call evaluates all samples still attacked (the first call every
// clean-correct sample), each spending one query, and samples only leave, so call c (from
// 1) has the samples with at least c queries, padded to work.rows.
func (g *loopRig) squareRows() []int {
	mq, _ := g.maxQueries()
	rows := make([]int, mq)
	for c := 1; c <= mq; c++ {
		a := 0
		for _, q := range g.j.queries {
			if int(q) >= c {
				a++
			}
		}
		rows[c-1] = g.w.rows(a)
	}
	return rows
}

// TestRunnerTailSwitchAllocs measures runnerTailAllocs on a forward
// Runner of the digits model (64 rows): calls on one partial row count
// allocate onnxruntime_go's per-call share only; calls alternating between
// two partial row counts also replace the tail tensors every time.
func TestRunnerTailSwitchAllocs(t *testing.T) {
	const n = 64
	tg := digits(t, "digits_cnn.onnx", 1, n)
	r, err := tg.Session.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, x := context.Background(), tg.Data.X[:n*tg.Data.SampleSize()]
	run := func(rows int) {
		if _, err := r.Run(ctx, x, rows); err != nil {
			t.Fatal(err)
		}
	}
	perCall := float64(ortAllocsPerCall + fwdTensors*ortAllocsPerTensor)
	if got := allocsPerRun(10, func() { run(48) }); got != perCall {
		t.Errorf("one tail: %v allocations per call, want %v", got, perCall)
	}
	got := allocsPerRun(10, func() { run(48); run(36) })
	if want := 2 * (perCall + runnerTailAllocs); got != want {
		t.Errorf("alternating tails: %v allocations per two calls, want %v: update runnerTailAllocs to %v",
			got, want, got/2-perCall)
	}
}

// TestAPGDLoopAllocs: APGD with the CE and DLR heads and with a fixed
// target (CE towards the target), L∞ and L2, 10 steps: one gradient-graph
// call for the start point and one per step while samples remain, 5
// tensors each.
func TestAPGDLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeExact, map[string]any{"attacks": []any{
		map[string]any{"name": "apgd", "eps": []any{0.1}},
		map[string]any{"name": "apgd", "label": "apgd-dlr", "loss": "dlr", "eps": []any{0.1}},
	}})
	const steps = 10
	target := 3
	ctx := context.Background()
	for _, norm := range []string{Linf, L2} {
		eps := map[string]float64{Linf: 0.1, L2: 0.5}[norm]
		for _, head := range []string{headCE, headDLR} {
			g.checkOracleLoop(t, "apgd-"+head, head, norm, eps, func(o oracle) error {
				return g.w.apgd(ctx, g.j, o, apgdParams{steps: steps, restarts: 1}, g.rng)
			})
		}
		g.checkOracleLoop(t, "apgd-ce target 3", headCE, norm, eps, func(o oracle) error {
			g.w.drawTargets(g.j, &target, nil)
			return g.w.apgd(ctx, g.j, o, apgdParams{steps: steps, restarts: 1, targeted: true, hitTarget: true}, g.rng)
		})
	}
}

// TestAPGDTLoopAllocs: APGD-T with the targeted DLR head (3 inputs, 6
// tensors per call) over 3 target classes, 5 steps and 2 restarts each,
// L∞ and L2.
func TestAPGDTLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeExact, map[string]any{"attacks": []any{
		map[string]any{"name": "apgd", "targeted": true, "loss": "dlr", "eps": []any{0.1}},
	}})
	ctx := context.Background()
	for _, norm := range []string{Linf, L2} {
		eps := map[string]float64{Linf: 0.1, L2: 0.5}[norm]
		g.checkOracleLoop(t, "apgd-t", headDLRT, norm, eps, func(o oracle) error {
			return g.w.apgdT(ctx, g.j, o, 5, 2, 3, g.rng)
		})
	}
}

// TestFGSMLoopAllocs: FGSM, untargeted and towards random targets, L∞
// and L2: at most two gradient-graph calls (the step, then the judgement
// of the samples it did not break).
func TestFGSMLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeExact, map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}})
	ctx := context.Background()
	for _, norm := range []string{Linf, L2} {
		eps := map[string]float64{Linf: 0.1, L2: 1}[norm]
		for _, targeted := range []bool{false, true} {
			name := "fgsm"
			if targeted {
				name = "fgsm targeted"
			}
			g.checkOracleLoop(t, name, headCE, norm, eps, func(o oracle) error {
				if targeted {
					g.w.drawTargets(g.j, nil, g.rng)
				}
				return g.w.pgd(ctx, g.j, o, pgdParams{alpha: eps, steps: 1, restarts: 1, earlyStop: true, targeted: targeted}, g.rng)
			})
		}
	}
}

// TestSquareLoopAllocs: Square L∞ and L2, untargeted and towards random
// targets, 40 queries: one forward call on every sample still attacked per
// query, 2 tensors each, on the worker's forward Runner (full rows: the
// batch), whose tail switches are counted from the per-call rows.
func TestSquareLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeExact, map[string]any{"attacks": []any{map[string]any{"name": "square", "eps": []any{0.1}}}})
	ctx := context.Background()
	perCall := ortAllocsPerCall + fwdTensors*ortAllocsPerTensor
	for _, norm := range []string{Linf, L2} {
		eps := map[string]float64{Linf: 0.1, L2: 1}[norm]
		for _, targeted := range []bool{false, true} {
			name := "square"
			if targeted {
				name = "square targeted"
			}
			p := shapeParams(g.w.shape)
			p.queries, p.pInit, p.targeted = 40, DefaultPInit, targeted
			got := g.measure(t, norm, eps, func() {}, func() error {
				if targeted {
					g.w.drawTargets(g.j, nil, g.rng)
				}
				if norm == L2 {
					return g.w.squareL2(ctx, g.j, p, g.rng)
				}
				return g.w.square(ctx, g.j, p, g.rng)
			})
			rows := g.squareRows()
			_, ns := g.maxQueries()
			switches := tailSwitches(rows, g.w.batch)
			want := float64(len(rows)*perCall + switches*runnerTailAllocs)
			t.Logf("%s %s eps %v: %v allocations per batch for %d ORT calls (%d tail switches), bound %v; %d of %d samples broken",
				name, norm, eps, got, len(rows), switches, want, ns, g.j.n)
			if got > want {
				t.Errorf("%s %s: %v allocations per batch, want ≤ %v (onnxruntime_go's own for %d calls, %d Runner tail switches)",
					name, norm, got, want, len(rows), switches)
			}
		}
	}
}

// TestNESLoopAllocs: the NES oracle of gradient_mode estimated (4
// antithetic pairs: 9 forward rows per sample) on its own, in one chunk
// of 64 samples and in chunks of 24 (3 forward calls per eval, the last
// on a 16-sample tail), and under PGD and APGD (CE and DLR heads), L∞ and
// L2, whose evals shrink along the row ladder.
func TestNESLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeEstimated, map[string]any{"nes_samples": 4, "attacks": []any{
		map[string]any{"name": "apgd", "eps": []any{0.1}},
		map[string]any{"name": "apgd", "label": "apgd-dlr", "loss": "dlr", "eps": []any{0.1}},
	}})
	ctx := context.Background()
	const steps = 5
	for _, norm := range []string{Linf, L2} {
		eps := map[string]float64{Linf: 0.2, L2: 2}[norm]
		g.checkOracleLoop(t, "nes pgd", headCE, norm, eps, func(o oracle) error {
			return g.w.pgd(ctx, g.j, o, pgdParams{alpha: eps / 4, steps: steps, restarts: 1, earlyStop: true}, g.rng)
		})
		for _, head := range []string{headCE, headDLR} {
			g.checkOracleLoop(t, "nes apgd-"+head, head, norm, eps, func(o oracle) error {
				return g.w.apgd(ctx, g.j, o, apgdParams{steps: steps, restarts: 1}, g.rng)
			})
		}
	}
	co := g.w.oracles[headCE].(*countingOracle)
	nes := co.oracle.(*nesOracle)
	n := g.j.n
	copy(nes.in(), g.j.x0)
	copy(nes.labels(), g.j.y)
	eval := func() error { return co.eval(ctx, n, g.rng) }
	for _, chunk := range []int{n, 24} {
		if chunk != nes.chunk {
			// a Runner of chunk·(2q+1) rows, as newNES makes for a chunk
			fwd, err := g.tg.Session.NewRunner(chunk * (2*nes.q + 1))
			if err != nil {
				t.Fatal(err)
			}
			nes.fwd.Close()
			nes.fwd, nes.chunk = fwd, chunk
		}
		got := g.measure(t, Linf, 0.1, co.reset, eval)
		want := float64(len(co.rows)*co.perCall() + tailSwitches(co.rows, chunk*(2*nes.q+1))*runnerTailAllocs)
		t.Logf("nes eval, chunks of %d: %v allocations per eval for %d ORT calls, bound %v", chunk, got, len(co.rows), want)
		if got > want {
			t.Errorf("nes eval, chunks of %d: %v allocations, want ≤ %v", chunk, got, want)
		}
	}
}

// allocsPerRun is testing.AllocsPerRun, the least of three measurements.
// AllocsPerRun counts the allocations of the whole process, so a stray one
// of another goroutine (the runtime's, a finalizer's) under CI load must
// not read as the loop's own; an allocation of the loop itself shows in
// every measurement.
func allocsPerRun(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for range 2 {
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}

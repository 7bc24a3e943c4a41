package inversion

import (
	"context"
	"math"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// digitsOracle opens the exact oracle on the demo CNN for n rows.
func digitsOracle(tb testing.TB, n int) (oracle, Config) {
	return digitsOracleMode(tb, n, GradExact)
}

// digitsOracleMode opens the oracle of the gradient mode (exact or
// estimated, with 4 NES pairs) on the demo CNN for n rows.
func digitsOracleMode(tb testing.TB, n int, mode string) (oracle, Config) {
	ds, err := data.Load(data.Spec{X: "digits_eval_x.npy", Y: "digits_eval_y.npy"}, testutil.Example(tb, ""))
	if err != nil {
		tb.Fatal(err)
	}
	tg := target(tb, testutil.Example(tb, "digits_cnn.onnx"), ds, "")
	c, _ := Suite{}.Decode(map[string]any{"steps": 10, "tv": 0.01, "l2": 0.01, "nes_pairs": 4})
	cfg := c.(Config)
	var g *runtime.Graph
	if mode == GradExact {
		if g, err = openGradGraph(tg); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { g.Close() })
	}
	o, err := newOracle(tg, g, cfg, n, 64, 0, 1)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(o.close)
	return o, cfg
}

// TestDescendAllocatesNothingPerStep: 10 extra steps cost no allocations
// beyond those of the 10 extra ONNX Runtime calls (onnxruntime_go's
// RunWithOptions makes its C value arrays per call); the step's own
// buffers are made once per descent.
// The estimated (NES) oracle likewise: reseeding each row's stream per
// step allocates nothing.
// allocSlack is the number of allocations beyond the ORT calls' own that
// ten extra steps may show without one being a per-step allocation (which
// would add at least ten).
const allocSlack = 10

func TestDescendAllocatesNothingPerStep(t *testing.T) {
	for _, mode := range []string{GradExact, GradEstimated} {
		t.Run(mode, func(t *testing.T) {
			o, cfg := digitsOracleMode(t, 10, mode)
			x := make([]float32, 10*64)
			y := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
			prob := make([]float64, 10)
			ctx := context.Background()
			measure := func(steps int) float64 {
				c := cfg
				c.Steps = steps
				return testing.AllocsPerRun(5, func() {
					if err := descend(ctx, o, c, x, y, prob, 64, 1, 8, 8, 0, 1, 1); err != nil {
						t.Fatal(err)
					}
				})
			}
			var run float64
			switch o := o.(type) {
			case *exact:
				run = testing.AllocsPerRun(5, func() {
					if err := o.r.Run(ctx, 10); err != nil {
						t.Fatal(err)
					}
				})
			case *nes:
				rows := 10 * (2*o.q + 1)
				run = testing.AllocsPerRun(5, func() {
					if _, err := o.r.Run(ctx, o.big[:rows*64], rows); err != nil {
						t.Fatal(err)
					}
				})
			}
			// Ten more steps must cost exactly ten more ORT calls' worth. A
			// per-step allocation adds at least 10; testing.AllocsPerRun counts
			// the whole process and rounds down its mean over 5 runs, so a
			// stray background allocation under load (seen in CI) can shift
			// either figure by 1.
			if a, b := measure(10), measure(20); math.Abs(b-a-10*run) >= allocSlack {
				t.Errorf("allocations: %v for 10 steps, %v for 20; ORT calls alone make %v each", a, b, run)
			}
		})
	}
}

// BenchmarkMIFaceStep is one MIFace step for all 10 classes of the demo
// CNN (gradient graph run, penalties, update).
func BenchmarkMIFaceStep(b *testing.B) {
	o, cfg := digitsOracle(b, 10)
	cfg.Steps = 1
	x := make([]float32, 10*64)
	y := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	prob := make([]float64, 10)
	ctx := context.Background()
	for b.Loop() {
		if err := descend(ctx, o, cfg, x, y, prob, 64, 1, 8, 8, 0, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
}

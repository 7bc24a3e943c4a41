package evasion

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// openTarget opens model (relative to dir) on the CPU and the first limit
// samples (all when limit is 0) of its evaluation data, in the shape they
// are stored in (not fitted to the model input).
func openTarget(t testing.TB, model string, spec data.Spec, dir string, workers, batch int, limit int) *suite.Target {
	t.Helper()
	ds := suitetest.Load(t, spec, dir)
	if limit > 0 && limit < ds.N {
		ds.X = ds.X[:limit*ds.SampleSize()]
		ds.Y = ds.Y[:limit]
		ds.N = limit
	}
	tg := suitetest.Open(t, filepath.Join(dir, model), nil)
	tg.Data = ds
	return withSettings(t, tg, workers, batch)
}

// withSettings sets the evasion tests' run settings on tg: data.range
// [0, 1], seed 20260101, a temporary OutDir, and workers and batch.
func withSettings(t testing.TB, tg *suite.Target, workers, batch int) *suite.Target {
	tg.Range, tg.BatchSize, tg.Pool, tg.Seed, tg.OutDir = [2]float64{0, 1}, batch, runtime.Pool{Workers: workers}, 20260101, t.TempDir()
	return tg
}

// digits is suitetest.Digits with withSettings.
func digits(t testing.TB, model string, workers, batch int) *suite.Target {
	t.Helper()
	return withSettings(t, suitetest.Digits(t, model), workers, batch)
}

// ownLabels returns the predictions of sess, with k classes, on the n
// samples x, run in one batch.
func ownLabels(t testing.TB, sess *runtime.Session, x []float32, n, k int) []int64 {
	t.Helper()
	r, err := sess.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := r.Run(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]int64, n)
	for i := range y {
		y[i] = int64(stats.Argmax(out[i*k : (i+1)*k]))
	}
	return y
}

func decode(t testing.TB, raw map[string]any) Config {
	t.Helper()
	c, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c.(Config)
}

// runOutcomes runs every attack of cfg and keeps the adversarial points.
func runOutcomes(t testing.TB, tg *suite.Target, cfg Config) ([]*outcome, []bool) {
	t.Helper()
	ctx := context.Background()
	k := tg.Classes
	ds := tg.Data
	clean := make([]float32, ds.N*k)
	if err := suite.ForEachBatch(ctx, tg, ds, func(_, lo, hi int, out []float32) error {
		copy(clean[lo*k:hi*k], out[:(hi-lo)*k])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	correct := make([]bool, ds.N)
	for i := range correct {
		correct[i] = int64(stats.Argmax(clean[i*k:(i+1)*k])) == ds.Y[i]
	}
	rt, _, err := openRunners(tg, cfg, ds.SampleSize(), k)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	rt.keepAdv = true
	var outs []*outcome
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			o, err := rt.attack(ctx, tg, cfg, a, e, clean, correct)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
	}
	return outs, correct
}

// epsSlack is the float64 slack of the eps-ball check: none. Boxes are
// rounded inward and L2 projections re-checked in float64, so every point
// must satisfy the constraint exactly.
const epsSlack = 0

// checkConstraints asserts, for every sample, that the adversarial point is
// inside data.range and within eps of the clean point in the attack's norm.
func checkConstraints(t *testing.T, tg *suite.Target, o *outcome) {
	t.Helper()
	d := tg.Data.SampleSize()
	for i := 0; i < tg.Data.N; i++ {
		x, x0 := o.adv[i*d:(i+1)*d], tg.Data.Sample(i)
		for p, v := range x {
			if float64(v) < tg.Range[0] || float64(v) > tg.Range[1] || math.IsNaN(float64(v)) {
				t.Fatalf("%s eps %v: sample %d value %d = %v outside data.range %v", o.a.Key(), o.eps, i, p, v, tg.Range)
			}
		}
		var dist float64
		if o.a.Norm == L2 {
			dist = distL2(x, x0)
		} else {
			dist = distLinf(x, x0)
		}
		if dist > o.eps+epsSlack {
			t.Fatalf("%s %s eps %v: sample %d perturbation %v exceeds eps", o.a.Key(), o.a.Norm, o.eps, i, dist)
		}
		if o.success[i] && dist == 0 {
			t.Fatalf("%s eps %v: sample %d counted as a success with no perturbation", o.a.Key(), o.eps, i)
		}
	}
}

// TestConstraintsEveryAttack runs every attack, both norms where
// supported, and checks every sample's adversarial point; it also checks
// the robust flags against a fresh forward pass of the saved points.
func TestConstraintsEveryAttack(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	cfg := decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.05, 0.1}},
		map[string]any{"name": "fgsm", "norm": "l2", "eps": []any{0.5}},
		map[string]any{"name": "fgsm", "label": "fgsm-t", "norm": "linf", "eps": []any{0.2}, "targeted": true},
		map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.1}, "steps": 10, "step_size": 0.02, "random_start": true, "restarts": 2},
		map[string]any{"name": "pgd", "norm": "l2", "eps": []any{0.5}, "steps": 10, "step_size": 0.1},
		map[string]any{"name": "pgd", "label": "pgd-t3", "norm": "linf", "eps": []any{0.2}, "steps": 10, "step_size": 0.05, "targeted": true, "target": 3},
		map[string]any{"name": "square", "label": "square-t3", "norm": "linf", "eps": []any{0.2}, "queries": 100, "targeted": true, "target": 3},
		map[string]any{"name": "apgd", "norm": "linf", "eps": []any{0.1}, "steps": 20},
		map[string]any{"name": "apgd", "label": "apgd-dlr", "loss": "dlr", "norm": "l2", "eps": []any{0.5}, "steps": 20},
		map[string]any{"name": "apgd", "label": "apgd-t", "targeted": true, "target_classes": 3, "norm": "linf", "eps": []any{0.05}, "steps": 10},
		map[string]any{"name": "square", "norm": "linf", "eps": []any{0.1}, "queries": 200},
		map[string]any{"name": "square", "norm": "l2", "eps": []any{0.5}, "queries": 200},
		map[string]any{"name": "autoattack", "norm": "linf", "eps": []any{0.05}, "steps": 10, "queries": 100},
		map[string]any{"name": "autoattack", "norm": "l2", "eps": []any{0.3}, "steps": 10, "queries": 100},
		map[string]any{"name": "fab", "norm": "linf", "eps": []any{0.1}, "steps": 10, "restarts": 2},
		map[string]any{"name": "fab", "label": "fab-t", "norm": "l2", "eps": []any{0.5}, "steps": 10, "targeted": true, "target_classes": 3},
		map[string]any{"name": "autoattack", "label": "aa-plus", "version": "plus", "norm": "linf", "eps": []any{0.05}, "steps": 5, "restarts": 2, "queries": 50},
		map[string]any{"name": "autoattack", "label": "aa-rand", "version": "rand", "norm": "l2", "eps": []any{0.3}, "steps": 10},
		map[string]any{"name": "deepfool", "norm": "linf", "eps": []any{0.1, 0.2}},
		map[string]any{"name": "deepfool", "norm": "l2", "eps": []any{0.5}},
	}})
	outs, correct := runOutcomes(t, tg, cfg)
	ctx := context.Background()
	r, err := tg.Session.NewRunner(tg.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, k := tg.Data.SampleSize(), tg.Classes
	for _, o := range outs {
		checkConstraints(t, tg, o)
		// success and robust flags must agree with the model on the points
		// (up to samples within float noise of a tie: none on this model).
		for lo := 0; lo < tg.Data.N; lo += tg.BatchSize {
			hi := min(lo+tg.BatchSize, tg.Data.N)
			out, err := r.Run(ctx, o.adv[lo*d:hi*d], hi-lo)
			if err != nil {
				t.Fatal(err)
			}
			for i := lo; i < hi; i++ {
				p := int64(stats.Argmax(out[(i-lo)*k : (i-lo+1)*k]))
				y := tg.Data.Y[i]
				if o.success[i] && !o.a.Targeted && p == y {
					t.Errorf("%s eps %v: sample %d marked successful but the model predicts its label on the saved point", o.a.Key(), o.eps, i)
				}
				if o.success[i] && o.a.Target != nil && p != int64(*o.a.Target) {
					t.Errorf("%s eps %v: sample %d marked successful but the model predicts %d, not the target %d", o.a.Key(), o.eps, i, p, *o.a.Target)
				}
				if o.success[i] && o.a.Target != nil && y == int64(*o.a.Target) {
					t.Errorf("%s: sample %d of the target class was attacked", o.a.Key(), i)
				}
				if o.robust[i] != (correct[i] && p == y) && (o.success[i] || !correct[i]) {
					t.Errorf("%s eps %v: sample %d robust flag %v, but clean-correct %v and prediction %d on the saved point (label %d)", o.a.Key(), o.eps, i, o.robust[i], correct[i], p, y)
				}
				if o.success[i] && !correct[i] {
					t.Errorf("%s: sample %d was misclassified clean but counted as attacked", o.a.Key(), i)
				}
			}
		}
		ns := 0
		for _, s := range o.success {
			if s {
				ns++
			}
		}
		t.Logf("%-10s %s eps=%-4v mode=%-9s successes %3d robust %.4f zero-grad %d/%d", o.a.Key(), o.a.Norm, o.eps, o.mode, ns, share(o.robust), o.zeroGrad, o.gradSeen)
		if ns == 0 && o.eps >= 0.1 {
			t.Errorf("%s eps %v: no successes at all on the digits model", o.a.Key(), o.eps)
		}
	}
}

// TestWorkersDeterminism: same seed, random starts on → identical metrics
// and details for 1 and 4 workers, with exact gradients (every attack,
// the autoattack preset and APGD-T among them) and with NES estimates.
func TestWorkersDeterminism(t *testing.T) {
	configs := map[string]map[string]any{
		"exact": {"attacks": []any{
			map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.05, 0.1}, "steps": 8, "step_size": 0.02, "random_start": true, "restarts": 2},
			map[string]any{"name": "apgd", "norm": "l2", "eps": []any{0.5}, "steps": 10},
			map[string]any{"name": "square", "norm": "linf", "eps": []any{0.1}, "queries": 50},
			map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}, "targeted": true},
			map[string]any{"name": "apgd", "label": "apgd-t", "targeted": true, "target_classes": 3, "norm": "linf", "eps": []any{0.1}, "steps": 5},
			map[string]any{"name": "autoattack", "norm": "linf", "eps": []any{0.1}, "steps": 5, "target_classes": 3, "queries": 30},
		}},
		// NES: 2·3+1 forward rows per sample and estimate, one stream per batch
		"estimated": {"gradient_mode": "estimated", "nes_samples": 3, "attacks": []any{
			map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.1}, "steps": 3, "step_size": 0.04, "random_start": true},
			map[string]any{"name": "autoattack", "norm": "l2", "eps": []any{0.5}, "steps": 2, "target_classes": 2, "queries": 20},
		}},
	}
	for _, name := range []string{"exact", "estimated"} {
		raw := configs[name]
		t.Run(name, func(t *testing.T) {
			var res []*suite.Result
			for _, w := range []int{1, 4} {
				tg := digits(t, "digits_cnn.onnx", w, 32)
				r, err := Suite{}.Run(context.Background(), tg, decode(t, raw))
				if err != nil {
					t.Fatal(err)
				}
				res = append(res, r)
			}
			if !reflect.DeepEqual(res[0].Metrics, res[1].Metrics) {
				t.Fatalf("metrics differ between 1 and 4 workers:\n%v\n%v", res[0].Metrics, res[1].Metrics)
			}
			if !reflect.DeepEqual(res[0].Details, res[1].Details) {
				t.Fatalf("details differ between 1 and 4 workers")
			}
			if !reflect.DeepEqual(res[0].Warnings, res[1].Warnings) {
				t.Fatalf("warnings differ between 1 and 4 workers:\n%q\n%q", res[0].Warnings, res[1].Warnings)
			}
			for _, mode := range res[0].Details["gradient_mode"].(map[string]string) {
				if want := map[string]string{"exact": ModeExact, "estimated": ModeEstimated}[name]; mode != want && mode != "none" {
					t.Errorf("gradient mode %s, want %s", mode, want)
				}
			}
			listed := (Suite{}).Metrics(decode(t, raw), 10)
			for _, k := range listed {
				_, ok := res[0].Metrics[k]
				und := false
				for _, u := range res[0].Undefined {
					und = und || u == k
				}
				if !ok && !und {
					t.Errorf("listed metric %s is neither reported nor undefined", k)
				}
			}
			for k := range res[0].Metrics {
				found := false
				for _, l := range listed {
					found = found || l == k
				}
				if !found {
					t.Errorf("reported metric %s is not listed by Metrics", k)
				}
			}
		})
	}
}

// TestWorstIsMinimum: worst robust accuracy is at most each attack's.
func TestWorstAndSaveExamples(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	cfg := decode(t, map[string]any{"save_examples": 5, "attacks": []any{
		map[string]any{"name": "fgsm", "eps": []any{0.1}},
		map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 10, "step_size": 0.02},
	}})
	r, err := Suite{}.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Metrics
	w := m["worst.linf.eps=0.1.robust_accuracy"]
	if w > m["fgsm.linf.eps=0.1.robust_accuracy"] || w > m["pgd.linf.eps=0.1.robust_accuracy"] {
		t.Errorf("worst %v above an attack's robust accuracy (%v)", w, m)
	}
	if m["pgd.linf.eps=0.1.robust_accuracy"] > m["clean_accuracy"] {
		t.Errorf("robust accuracy above clean accuracy")
	}
	ex := r.Details["examples"].(map[string]any)
	if ex["saved"] != 5 {
		t.Fatalf("saved %v examples, want 5", ex["saved"])
	}
	files := ex["files"].(map[string]any)
	for _, name := range []string{"adversarial.npy", "clean.npy", "labels.npy", "grid.png"} {
		p, ok := files[name].(string)
		if !ok {
			t.Fatalf("no %s in %v", name, files)
		}
		p = filepath.Join(tg.OutDir, p)
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	ds, err := data.Load(data.Spec{X: files["adversarial.npy"].(string)}, tg.OutDir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 5 || !reflect.DeepEqual(ds.SampleShape, []int{1, 8, 8}) {
		t.Fatalf("adversarial.npy: %d samples of %v", ds.N, ds.SampleShape)
	}
}

func TestBadConfig(t *testing.T) {
	cases := []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{-0.1}}}}, "eps[0] -0.1"},
		{map[string]any{"attacks": []any{map[string]any{"name": "pgd", "eps": []any{0.1}, "step_size": -1}}}, "step_size"},
		{map[string]any{"attacks": []any{map[string]any{"name": "pgd", "eps": []any{0.1}, "step_size": 0}}}, "step_size 0"},
		{map[string]any{"attacks": []any{map[string]any{"name": "apgd", "eps": []any{0.1}, "loss": "hinge"}}}, `loss "hinge"`},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}, "target": 3, "targeted": false}}}, "targeted is false"},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}, "steps": 3}}}, "steps: not a parameter of fgsm"},
		{map[string]any{"attacks": []any{map[string]any{"name": "square", "eps": []any{0.1}, "random_start": true}}}, "random_start: not a parameter of square"},
		{map[string]any{"attacks": []any{map[string]any{"name": "autoattack", "eps": []any{0.1}, "targeted": true}}}, "targeted: not a parameter of autoattack"},
		{map[string]any{"attacks": []any{map[string]any{"name": "apgd", "eps": []any{0.1}, "target_classes": 3}}}, "target_classes: only for targeted"},
		{map[string]any{"attacks": []any{map[string]any{"name": "pgd", "norm": "l1", "eps": []any{0.1}}}}, `norm "l1"`},
		{map[string]any{"attacks": []any{map[string]any{"name": "cw", "eps": []any{0.1}}}}, `name "cw"`},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm"}}}, "eps: list"},
		{map[string]any{"attacks": []any{}}, "at least one attack"},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}, "bogus": 1}}}, "bogus"},
		{map[string]any{"gradient_mode": "magic", "attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}}, "gradient_mode"},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}, map[string]any{"name": "fgsm", "eps": []any{0.1}}}}, "set label"},
	}
	for _, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an exit-2 error containing %q", c.raw, err, c.want)
		}
	}
	// eps beyond the input range: found at run time, when the range is known
	tg := digits(t, "digits_cnn.onnx", 1, 64)
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{1.5}}}}, "diameter"},
		// L2 diameter of [0,1]^64 is 8
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "l2", "eps": []any{9}}}}, "diameter"},
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}, "targeted": true, "target": 10}}}, "has 10 classes"},
	} {
		_, err := Suite{}.Run(context.Background(), tg, decode(t, c.raw))
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an exit-2 error containing %q", c.raw, err, c.want)
		}
	}
	tg.Range = [2]float64{}
	_, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}}))
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "needs data.range") {
		t.Errorf("no data.range: got %v", err)
	}
}

// TestEstimatedMode runs PGD with NES gradients on the digits model: the
// estimate must still break samples, and the report says estimated.
func TestEstimatedMode(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	cfg := decode(t, map[string]any{"gradient_mode": "estimated", "nes_samples": 10, "attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.2}, "steps": 10, "step_size": 0.05},
	}})
	outs, _ := runOutcomes(t, tg, cfg)
	o := outs[0]
	checkConstraints(t, tg, o)
	if o.mode != ModeEstimated {
		t.Fatalf("mode %s", o.mode)
	}
	ns := 0
	for _, s := range o.success {
		if s {
			ns++
		}
	}
	t.Logf("NES PGD eps 0.2: %d successes", ns)
	if ns == 0 {
		t.Fatal("NES-PGD broke no sample at eps 0.2")
	}
}

// TestProbabilityOutputs: the softmax model gives the same PGD result as
// the logits model (the gradient graph reads the logits before the final
// Softmax) and raises the probability-output flag.
func TestProbabilityOutputs(t *testing.T) {
	raw := map[string]any{"attacks": []any{map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 10, "step_size": 0.02}}}
	var rob []float64
	for _, m := range []string{"digits_cnn.onnx", "digits_cnn_softmax.onnx"} {
		tg := digits(t, m, 1, 64)
		r, err := Suite{}.Run(context.Background(), tg, decode(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		rob = append(rob, r.Metrics["pgd.linf.eps=0.1.robust_accuracy"])
		flagged := false
		for _, w := range r.Warnings {
			flagged = flagged || strings.Contains(w, "outputs probabilities")
		}
		if flagged != (m == "digits_cnn_softmax.onnx") {
			t.Errorf("%s: probability flag %v; warnings %v", m, flagged, r.Warnings)
		}
	}
	if rob[0] != rob[1] {
		t.Errorf("robust accuracy logits %v vs softmax %v", rob[0], rob[1])
	}
}

// ortAllocsPerTensor and ortAllocsPerCall are onnxruntime_go v1.35.0's own
// heap allocations in DynamicAdvancedSession.RunWithOptions: one
// ValueInternalData per tensor and two OrtValue pointer slices per call
// (runtime/allocs_test.go measured them).
const (
	ortAllocsPerTensor = 1
	ortAllocsPerCall   = 2
)

// TestPGDLoopAllocs: a steady-state PGD attack on a batch allocates
// nothing beyond onnxruntime_go's per-call allocations (5 tensors: input,
// labels, logits, loss, gradient), for L∞ and L2.
func TestPGDLoopAllocs(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 1, 64)
	cfg := decode(t, map[string]any{"attacks": []any{map[string]any{"name": "pgd", "eps": []any{0.1}}}})
	d, k := tg.Data.SampleSize(), tg.Classes
	rt, err := newRunners(tg, cfg, ModeExact, d, k)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	n := 64
	j := &job{n: n, eps: 0.1, x0: tg.Data.X[:n*d], y: tg.Data.Y[:n], correct: make([]bool, n), clean: make([]float32, n*k),
		success: make([]bool, n), pred: make([]int, n), queries: make([]int32, n), xadv: make([]float32, n*d)}
	for i := range j.correct {
		j.correct[i] = true
	}
	w := rt.works[0]
	o := w.oracles[headCE]
	ctx := context.Background()
	const steps = 10
	perCall := float64(ortAllocsPerCall + 5*ortAllocsPerTensor)
	for _, norm := range []string{Linf, L2} {
		j.norm = norm
		run := func() {
			w.begin(j)
			if err := w.pgd(ctx, j, o, pgdParams{alpha: 0.01, steps: steps, restarts: 1}, nil); err != nil {
				t.Fatal(err)
			}
		}
		run()
		got := allocsPerRun(3, run)
		if want := perCall * (steps + 1); got > want {
			t.Errorf("pgd %s: %v allocations per batch, want ≤ %v (onnxruntime_go's own)", norm, got, want)
		}
	}
}

// TestTargetedDLRGraph checks the targeted-DLR gradient graph on the
// digits model: its loss equals lossRow's float64 formula on the graph's
// own logits, and its gradient equals the chain rule Σ_c ∂L/∂z_c · ∇z_c,
// with ∂L/∂z from the closed form in float64 and each ∇z_c from autodiff's
// logit:c head (checked against PyTorch by package autodiff).
func TestTargetedDLRGraph(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 1, 16)
	ctx := context.Background()
	n, d, k := 16, tg.Data.SampleSize(), tg.Classes
	// lossTol: float32 graph vs float64 formula on the same logits,
	// relative (the loss is a ratio of logit differences of order 1–10).
	// gradTol: per-sample relative L2 error of the gradient against the
	// chain rule; both are float32 sums of the same terms in another order
	// (measured 2.5e-7).
	const (
		lossTol = 1e-5
		gradTol = 1e-4
	)
	g, err := buildGraph(tg, headDLRT)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r, err := g.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := &exactOracle{r: r, nIn: 3}
	target := func(i int) int { return int((tg.Data.Y[i] + 3) % int64(k)) }
	copy(o.in(), tg.Data.X[:n*d])
	for i := 0; i < n; i++ {
		o.labels()[i], o.targets()[i] = tg.Data.Y[i], int64(target(i))
	}
	if err := o.eval(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	logits := o.logits()[:n*k]
	// per-class logit gradients
	jac := make([][]float32, k)
	for c := 0; c < k; c++ {
		m, nm, err := autodiff.BuildNamed(tg.Model, autodiff.Spec{Loss: "logit:" + strconv.Itoa(c)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s := tg.Session.SampleShape()
		lg, err := runtime.OpenGraph(tg.Env, "logit", b, []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: s}},
			[]runtime.GraphTensor{{Name: nm.Grad, Type: "float32", Sample: s}}, tg.SessionOptions)
		if err != nil {
			t.Fatal(err)
		}
		lr, err := lg.NewRunner(n)
		if err != nil {
			t.Fatal(err)
		}
		copy(lr.F32In(0), tg.Data.X[:n*d])
		if err := lr.Run(ctx, n); err != nil {
			t.Fatal(err)
		}
		jac[c] = append([]float32(nil), lr.Out(0)[:n*d]...)
		lr.Close()
		lg.Close()
	}
	var worst float64
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		y, tc := int(tg.Data.Y[i]), target(i)
		z := make([]float64, k)
		scores(z, row, false)
		want := lossScores(headDLRT, z, y, tc)
		if got := float64(o.loss()[i]); math.Abs(got-want) > lossTol*max(1, math.Abs(want)) {
			t.Errorf("sample %d: graph loss %v, formula %v", i, got, want)
		}
		// ∂L/∂z of L = −(z_y − z_t)/D, D = z_π1 − (z_π3 + z_π4)/2 + 1e-12
		order := make([]int, k)
		for c := range order {
			order[c] = c
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		top := sortedTop(z, 4)
		den := top[0] - (top[2]+top[3])/2 + 1e-12
		num := float64(row[y]) - float64(row[tc])
		dz := make([]float64, k)
		dz[y] -= 1 / den
		dz[tc] += 1 / den
		dz[order[0]] += num / (den * den)
		dz[order[2]] -= num / (den * den) / 2
		dz[order[3]] -= num / (den * den) / 2
		var diff, ref float64
		for p := 0; p < d; p++ {
			var v float64
			for c := 0; c < k; c++ {
				v += dz[c] * float64(jac[c][i*d+p])
			}
			e := float64(o.grad()[i*d+p]) - v
			diff += e * e
			ref += v * v
		}
		rel := math.Sqrt(diff / ref)
		worst = max(worst, rel)
		if rel > gradTol {
			t.Errorf("sample %d: gradient relative L2 error %v against the chain rule", i, rel)
		}
	}
	t.Logf("worst relative L2 gradient error %.2g", worst)
}

// TestSanityFlags feeds sanity made-up outcomes: a Square attack that
// breaks a sample every white-box attack missed, and a PGD run with 3 of
// 100 zero gradients. Figures: robust shares 2/4 vs 3/4 → 0.25; 3/100.
func TestSanityFlags(t *testing.T) {
	tg := &suite.Target{OutputKind: runtime.Logits}
	mk := func(name string, robust []bool) *outcome {
		return &outcome{a: AttackConfig{Name: name, Norm: Linf}, eps: 0.1, robust: robust}
	}
	pgd := mk(PGD, []bool{true, true, true, false})
	pgd.zeroGrad, pgd.gradSeen = 3, 100
	fgsm := mk(FGSM, []bool{true, true, true, true})
	sq := mk(Square, []bool{true, false, true, false})
	r := suite.NewResult()
	sanity(tg, r, []*outcome{fgsm, pgd, sq}, nil)
	flags, _ := r.Details["sanity"].([]map[string]any)
	got := map[string]float64{}
	for _, f := range flags {
		got[f["flag"].(string)] = f["value"].(float64)
	}
	want := map[string]float64{"zero_gradients": 0.03, "black_box_beats_white_box": 0.25}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flags %v, want %v (warnings %q)", got, want, r.Warnings)
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "1 samples fall to the black-box attack only") {
		t.Errorf("warnings %q do not count the one sample only Square broke", r.Warnings)
	}
}

// TestNoGradientRule: a model with an operator autodiff has no rule for
// (Atan) falls back to NES under gradient_mode auto, and is an exit-2
// error under gradient_mode exact.
func TestNoGradientRule(t *testing.T) {
	const n, f, k = 64, 4, 5
	m := onnx.NewModel("sin", 13)
	b := onnx.NewBuilder(m, "s/")
	b.AddInput("x", onnx.Float32, []int64{-1, f}, "N")
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, k*f)
	for i := range w {
		w[i] = rng.NormFloat64() * 3
	}
	wn := b.ConstFloat("w", onnx.Float32, []int64{k, f}, w)
	bn := b.ConstFloat("b", onnx.Float32, []int64{k}, make([]float64, k))
	h := b.Op("Atan", []string{"x"})
	b.NodeOut("Gemm", []string{h, wn, bn}, []string{"logits"}, onnx.AttrInt("transB", 1))
	b.AddOutput("logits", onnx.Float32, []int64{-1, k}, "N")
	path := filepath.Join(t.TempDir(), "sin.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	tg := suitetest.Open(t, path, nil)
	x := make([]float32, n*f)
	for i := range x {
		x[i] = rng.Float32()
	}
	// labels: the model's own predictions, so every sample is attackable
	tg.Data = &data.Dataset{X: x, N: n, SampleShape: []int{f}, Y: ownLabels(t, tg.Session, x, n, k)}
	tg.Range, tg.Classes, tg.OutputKind = [2]float64{0, 1}, k, runtime.Logits
	tg.BatchSize, tg.Pool, tg.Seed = 16, runtime.Pool{Workers: 2}, 7
	raw := func(mode string) map[string]any {
		return map[string]any{"gradient_mode": mode, "attacks": []any{
			map[string]any{"name": "pgd", "eps": []any{0.3}, "steps": 10, "step_size": 0.05}}}
	}
	_, err := Suite{}.Run(context.Background(), tg, decode(t, raw("exact")))
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "Atan") {
		t.Fatalf("gradient_mode exact on an Atan model: got %v, want an exit-2 error naming Atan", err)
	}
	res, err := Suite{}.Run(context.Background(), tg, decode(t, raw("auto")))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Details["gradient_mode"].(map[string]string)["pgd"]; got != ModeEstimated {
		t.Fatalf("gradient_mode %q, want estimated", got)
	}
	if sr := res.Metrics["pgd.linf.eps=0.3.attack_success_rate"]; sr == 0 {
		t.Errorf("NES-PGD broke no sample of the Atan model")
	}
	// 10 steps + 1 evaluation, each 2·20+1 forward rows
	if q := res.Metrics["pgd.linf.eps=0.3.queries"]; q > 11*41 {
		t.Errorf("queries %v above the budget of 11 NES evaluations", q)
	}
	outs, _ := runOutcomes(t, tg, decode(t, raw("auto")))
	checkConstraints(t, tg, outs[0])
}

// TestFixedBatchAndFloat64Models: models whose gradient graphs the suite
// cannot run in shrinking batches (fixed batch 4) or on float32 (float64
// input) fall back to NES under auto and are exit-2 errors under exact.
func TestFixedBatchAndFloat64Models(t *testing.T) {
	for _, model := range []string{"fixed_batch4.onnx", "mlp_float64.onnx"} {
		t.Run(model, func(t *testing.T) {
			const n = 10
			tg := selfLabelled(t, model, n, 6, 3)
			raw := func(mode string) map[string]any {
				return map[string]any{"gradient_mode": mode, "nes_samples": 5, "attacks": []any{
					map[string]any{"name": "pgd", "eps": []any{0.5}, "steps": 5, "step_size": 0.2}}}
			}
			if _, err := (Suite{}).Run(context.Background(), tg, decode(t, raw("exact"))); err == nil || errs.Code(err, 0) != errs.Invalid {
				t.Fatalf("gradient_mode exact: got %v, want an exit-2 error", err)
			}
			res, err := Suite{}.Run(context.Background(), tg, decode(t, raw("auto")))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Details["gradient_mode"].(map[string]string)["pgd"]; got != ModeEstimated {
				t.Fatalf("gradient_mode %q, want estimated", got)
			}
			outs, _ := runOutcomes(t, tg, decode(t, raw("auto")))
			checkConstraints(t, tg, outs[0])
		})
	}
}

// TestNESChunks: estimating in chunks of samples draws the same directions
// in the same order, so the gradients equal the one-batch estimate (up to
// ORT's per-row float differences between batch sizes: measured none).
func TestNESChunks(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 1, 16)
	n, d, k := 16, tg.Data.SampleSize(), tg.Classes
	var grads [][]float32
	for _, chunk := range []int{16, 3} {
		o, err := newNES(tg.Session, n, d, k, 4, 1e-3, headCE, false)
		if err != nil {
			t.Fatal(err)
		}
		o.chunk = chunk
		copy(o.in(), tg.Data.X[:n*d])
		copy(o.labels(), tg.Data.Y[:n])
		if err := o.eval(context.Background(), n, rand.New(rand.NewPCG(5, 6))); err != nil {
			t.Fatal(err)
		}
		grads = append(grads, append([]float32(nil), o.grad()[:n*d]...))
		o.fwd.Close()
	}
	if !reflect.DeepEqual(grads[0], grads[1]) {
		t.Fatal("chunked NES estimate differs from the one-batch estimate")
	}
}

// TestCancel: cancelling the context stops a long attack promptly with the
// context's error.
func TestCancel(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	cfg := decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "apgd", "eps": []any{0.001}, "steps": 100000},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Without cancellation the 100000 steps would run for minutes and
	// end without an error.
	_, err := Suite{}.Run(ctx, tg, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline error", err)
	}
}

// selfLabelled opens runtime/testdata/<model> on the CPU (closed with the
// test) and returns a target of n uniform random samples in [0,1) from the
// stream (seed, seed+1), labelled with the model's own predictions so that
// every sample is attacked.
func selfLabelled(t *testing.T, model string, n, batch int, seed uint64) *suite.Target {
	t.Helper()
	tg := suitetest.Open(t, filepath.Join(testutil.RepoRoot(t), "runtime", "testdata", model), nil)
	d, k := tg.Session.SampleSize(), tg.Classes
	rng := rand.New(rand.NewPCG(seed, seed+1))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = rng.Float32()
	}
	tg.Data = &data.Dataset{X: x, N: n, SampleShape: []int{d}, Y: ownLabels(t, tg.Session, x, n, k)}
	tg.Range, tg.OutputKind = [2]float64{0, 1}, runtime.Logits
	tg.BatchSize, tg.Pool, tg.Seed = batch, runtime.Pool{Workers: 2}, 7
	return tg
}

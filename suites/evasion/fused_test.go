package evasion

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestFusedEqualsPerStep runs PGD (L∞ and L2, random start, restarts,
// early stop on and off, targeted) with fuse: always and fuse: never on
// the CPU and requires the same per-sample outcomes: success, robustness,
// prediction, queries and adversarial points. The random starts are drawn
// in Go from the same per-batch streams on both paths, and the fused L∞
// loop runs the same float32 operations as the Go step (bit for bit,
// autodiff.TestAttackLoopMatchesGo); the L2 loop sums its norms in another
// order (one float32 ulp), so its points are compared to 1e-5 and its
// outcomes exactly. Source of truth: the per-step path.
func TestFusedEqualsPerStep(t *testing.T) {
	attacks := []any{
		map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.05, 0.1}, "steps": 10, "step_size": 0.02, "random_start": true, "restarts": 2},
		map[string]any{"name": "pgd", "label": "pgd-last", "norm": "linf", "eps": []any{0.1}, "steps": 6, "early_stop": false},
		map[string]any{"name": "pgd", "label": "pgd-t", "norm": "linf", "eps": []any{0.1}, "steps": 6, "targeted": true},
		map[string]any{"name": "pgd", "label": "pgd-l2", "norm": "l2", "eps": []any{0.5}, "steps": 10, "random_start": true},
	}
	var outs [2][]*outcome
	var res [2]*suite.Result
	for k, fuse := range []string{FuseNever, FuseAlways} {
		cfg := decode(t, map[string]any{"fuse": fuse, "gradient_mode": "exact", "attacks": attacks})
		tg := digits(t, "digits_cnn.onnx", 2, 32)
		outs[k], _ = runOutcomes(t, tg, cfg)
		r, err := Suite{}.Run(context.Background(), digits(t, "digits_cnn.onnx", 2, 32), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res[k] = r
	}
	if got := res[1].Details["fuse"].(map[string]any)["pgd_path"]; got != "fused_loop" {
		t.Fatalf("fuse: always: details.fuse.pgd_path %v, want fused_loop", got)
	}
	if got := res[0].Details["fuse"].(map[string]any)["pgd_path"]; got != "per_step" {
		t.Fatalf("fuse: never: details.fuse.pgd_path %v, want per_step", got)
	}
	if len(res[0].Metrics) != len(res[1].Metrics) {
		t.Fatalf("%d metrics per step, %d fused", len(res[0].Metrics), len(res[1].Metrics))
	}
	for k, v := range res[0].Metrics {
		tol := 0.0
		if strings.Contains(k, ".l2.") && strings.HasSuffix(k, "_perturbation") {
			tol = 1e-6 // norms of points that differ by float32 ulps (measured 3e-10)
		}
		if w, ok := res[1].Metrics[k]; !ok || math.Abs(v-w) > tol {
			t.Errorf("%s: per step %v, fused %v", k, v, w)
		}
	}
	compared, broken := 0, 0
	for a := range outs[0] {
		p, f := outs[0][a], outs[1][a]
		for i := range p.success {
			if p.success[i] != f.success[i] || p.robust[i] != f.robust[i] || p.queries[i] != f.queries[i] {
				t.Fatalf("%s eps %v sample %d: per step success %v robust %v queries %d, fused %v %v %d",
					p.a.Key(), p.eps, i, p.success[i], p.robust[i], p.queries[i], f.success[i], f.robust[i], f.queries[i])
			}
			if p.success[i] {
				broken++
			}
			compared++
		}
		tol := float32(0)
		if p.a.Norm == L2 {
			tol = 1e-5
		}
		for q := range p.adv {
			if d := p.adv[q] - f.adv[q]; d > tol || d < -tol {
				t.Fatalf("%s eps %v value %d: per step %v, fused %v", p.a.Key(), p.eps, q, p.adv[q], f.adv[q])
			}
		}
	}
	if compared != 5*400 || broken == 0 || broken == compared {
		t.Fatalf("compared %d outcomes (want 5 attacks × the 400 digits_eval samples), %d broken: the test would not tell the paths apart", compared, broken)
	}
	t.Logf("%d outcomes equal, %d broken", compared, broken)
}

// TestFuseConfig: fuse takes auto (the default), always or never; any
// other value is an errs.Invalid error naming the key.
func TestFuseConfig(t *testing.T) {
	pgd := []any{map[string]any{"name": "pgd", "eps": []any{0.1}}}
	if got := decode(t, map[string]any{"attacks": pgd}).Fuse; got != FuseAuto {
		t.Fatalf("default fuse %q, want auto", got)
	}
	_, err := Suite{}.Decode(map[string]any{"fuse": "sometimes", "attacks": pgd})
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "suites.evasion.fuse") {
		t.Fatalf("fuse: sometimes: error %v, want an errs.Invalid naming suites.evasion.fuse", err)
	}
}

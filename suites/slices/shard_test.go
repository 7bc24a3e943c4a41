package slices

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestShardsMergeEqualRun: the repository's Adult MLP on its 1,000
// evaluation rows (examples/adult), slices of num_age (a model input
// column, binned), sex and race, selection rate over sex and race: the
// merge of 1, 2, 3 and 7 shards' units gives byte-identical metrics,
// undefined keys, details (the slices found, their tests and adjusted
// p-values, the findings) and warnings to Run on the same target (the
// expected figures are Run's). 1,000 rows in batches of 97 are 11 units.
// Killed after 1, 5 and 10 units and resumed, the run redoes only the
// missing units and merges to Run's result too.
func TestShardsMergeEqualRun(t *testing.T) {
	ex := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, ex)
	tg := suitetest.Open(t, filepath.Join(ex, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool = 97, runtime.Pool{Workers: 2}
	raw := map[string]any{"features": []any{"num_age", "sex", "race"}, "sensitive": []any{"sex", "race"}, "alpha": 0.2}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 11)
	if res.Metrics["count_significant"] == 0 {
		t.Errorf("Run found no slice to compare: %v", res.Metrics)
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{1, 5, 10}, suitetest.ResultJSON(t, res))
}

// TestShardsMergeEqualRunEvasion: the slices of TestShardsMergeEqualRun
// with an evasion block (robust_accuracy slices): FGSM, PGD-5 with its
// random start, DeepFool (L2, two eps judged from one run) and
// HopSkipJump (60 queries) in attack
// batches of 64, which straddle the model pass's batches of 97: 11
// model-pass units and 16 attack units. The merge of 1, 2, 3 and 7
// shards gives Run's result byte for byte (robust_attacks,
// gradient_mode, the robust-accuracy slices; the expected figures are
// Run's), and so does a run killed after 3, 11 (the model pass done) and
// 20 units and resumed.
func TestShardsMergeEqualRunEvasion(t *testing.T) {
	ex := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, ex)
	tg := suitetest.Open(t, filepath.Join(ex, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool, tg.Range, tg.Seed = 97, runtime.Pool{Workers: 2}, [2]float64{0, 1}, 1
	raw := map[string]any{"features": []any{"num_age", "sex", "race"}, "alpha": 0.2,
		"evasion": map[string]any{"batch_size": 64, "attacks": []any{
			map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}},
			map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.05}, "steps": 5},
			map[string]any{"name": "deepfool", "norm": "l2", "eps": []any{0.1, 0.3}, "steps": 10},
			map[string]any{"name": "hopskipjump", "norm": "l2", "budgets": []any{60}, "eps": []any{0.3}, "init_eval": 10, "max_eval": 20, "init_size": 20},
		}}}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 27)
	pm := res.Details["per_metric"].(map[string]any)
	rob, ok := pm[RobustAccuracy].(map[string]any)
	if !ok || rob["value"] == pm[Accuracy].(map[string]any)["value"] {
		t.Fatalf("Run's robust accuracy %v equals its accuracy or is missing: the attacks changed nothing to compare", rob)
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{3, 11, 20}, suitetest.ResultJSON(t, res))
}

// TestShardEvasionRefusals: an evasion block shards with every attack
// listed as sharding (all of them today, the decision-based ones too:
// ShardRefusal is empty), but a white-box attack on estimated gradients
// does not run batch by batch (the square fallback reruns the whole
// attack): the shard that crafts it is exit 2 naming the entry, and the
// shard with the model pass only runs.
func TestShardEvasionRefusals(t *testing.T) {
	for _, raw := range []map[string]any{{"features": []any{"sex"}},
		{"features": []any{"sex"}, "evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}},
			map[string]any{"name": "hopskipjump", "norm": "l2", "eps": []any{1}}, map[string]any{"name": "signopt", "norm": "l2", "eps": []any{1}}}}}} {
		cfg, err := Suite{}.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Suite{}).ShardRefusal(cfg); got != "" {
			t.Errorf("ShardRefusal of %v = %q, want none", raw, got)
		}
	}
	ex := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, ex)
	tg := suitetest.Open(t, filepath.Join(ex, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool, tg.Range, tg.Seed = 500, runtime.Pool{Workers: 1}, [2]float64{0, 1}, 1
	cfg, err := Suite{}.Decode(map[string]any{"features": []any{"sex"}, "evasion": map[string]any{"gradient_mode": "estimated", "batch_size": 500,
		"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// 2 model-pass units, then 2 attack units: shard 0/2 has the model
	// pass, shard 1/2 the attacks.
	if units, _, err := (Suite{}).RunShard(context.Background(), tg, cfg, suite.Shard{Index: 0, Count: 2}, &suite.MemStore{}); err != nil || units != 4 {
		t.Fatalf("shard 0/2 (the model pass): %d units, %v; want 4 units", units, err)
	}
	_, _, err = (Suite{}).RunShard(context.Background(), tg, cfg, suite.Shard{Index: 1, Count: 2}, &suite.MemStore{})
	if want := "attacks[0] (fgsm): runs on estimated gradients here (gradient_mode: estimated)"; err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("shard 1/2 (the attacks) = %v, want exit 2 with %q", err, want)
	}
}

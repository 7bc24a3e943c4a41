package slices

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
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

// TestShardRefusesEvasion: a slices block with an evasion block does not
// shard, and says why.
func TestShardRefusesEvasion(t *testing.T) {
	cfg, err := Suite{}.Decode(map[string]any{"features": []any{"sex"},
		"evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := (Suite{}).ShardRefusal(cfg); got != "its evasion block (robust_accuracy slices) does not shard" {
		t.Errorf("ShardRefusal = %q", got)
	}
	cfg, err = Suite{}.Decode(map[string]any{"features": []any{"sex"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := (Suite{}).ShardRefusal(cfg); got != "" {
		t.Errorf("ShardRefusal without evasion = %q, want none", got)
	}
}

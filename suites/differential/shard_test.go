package differential

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
)

// TestShardsMergeEqualRun: the Adult MLP against its INT8 (static) and
// FP16 variants, by sex (with its bootstrap gap intervals): the merge
// of 1, 2, 3 and 7 shards' units gives byte-identical metrics, undefined
// keys, details (the variants' files and reports, the flips CSVs' paths)
// and warnings to Run on the same target (the expected figures are Run's).
// 1,000 rows in batches of 97 are 11 units. Killed after 1, 4 and 10
// units and resumed, the run redoes only the missing units and merges to
// Run's result too.
func TestShardsMergeEqualRun(t *testing.T) {
	tg := adult(t)
	tg.BatchSize = 97
	raw := byAdult()
	delete(raw, "evasion")
	raw["variants"] = []any{
		map[string]any{"name": "int8", "quantize": "int8_static"},
		map[string]any{"name": "fp16", "convert": "fp16"},
	}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 11)
	if _, ok := res.Metrics["int8.agreement.worst_group"]; !ok {
		t.Fatalf("Run has no by-group figures to compare: %v", res.Metrics)
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{1, 4, 10}, suitetest.ResultJSON(t, res))
}

// TestShardRefusesEvasion: a differential block with an evasion block
// does not shard, and says why.
func TestShardRefusesEvasion(t *testing.T) {
	cfg, err := Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "fp16", "convert": "fp16"}},
		"evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := (Suite{}).ShardRefusal(cfg); got != "its evasion block does not shard; only the variants' comparison does" {
		t.Errorf("ShardRefusal = %q", got)
	}
	cfg, err = Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "fp16", "convert": "fp16"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := (Suite{}).ShardRefusal(cfg); got != "" {
		t.Errorf("ShardRefusal without evasion = %q, want none", got)
	}
}

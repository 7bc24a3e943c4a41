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

// TestShardsMergeEqualRunEvasion: the variants of TestShardsMergeEqualRun
// with an evasion block (FGSM, and PGD-5 with its random start, on the
// model, replayed on each variant and run on each variant) by sex, in
// attack batches of 64, which straddle the comparison's batches of 97: 11
// comparison units and 16 attack units. The merge of 1, 2, 3 and 7
// shards gives Run's result byte for byte (robust accuracies, transfer
// rates and robust-accuracy deltas with their by-group figures, the
// gradient modes and the INT8 variant's straight-through operators; the
// expected figures are Run's), and so does a run killed after 2, 11 (the
// comparison done) and 20 units and resumed.
func TestShardsMergeEqualRunEvasion(t *testing.T) {
	tg := adult(t)
	tg.BatchSize = 97
	raw := byAdult()
	raw["variants"] = []any{
		map[string]any{"name": "int8", "quantize": "int8_static"},
		map[string]any{"name": "fp16", "convert": "fp16"},
	}
	raw["evasion"] = map[string]any{"batch_size": 64, "attacks": []any{
		map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}},
		map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.05}, "steps": 5},
	}}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 27)
	for _, k := range []string{"pgd.linf.eps=0.05.robust_accuracy", "int8.pgd.linf.eps=0.05.transfer_rate", "fp16.fgsm.linf.eps=0.03.robust_accuracy_delta"} {
		if _, ok := res.Metrics[k]; !ok {
			t.Fatalf("Run has no %s to compare: %v", k, res.Metrics)
		}
	}
	if res.Metrics["int8.pgd.linf.eps=0.05.transfer_rate"] == 0 || res.Metrics["pgd.linf.eps=0.05.robust_accuracy"] == res.Metrics["accuracy"] {
		t.Fatalf("Run's attacks changed nothing to compare: %v", res.Metrics)
	}
	if st, _ := res.Details["variants"].([]map[string]any)[0]["straight_through"].([]string); len(st) == 0 {
		t.Fatalf("the INT8 variant's details have no straight_through to compare: %v", res.Details["variants"])
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{2, 11, 20}, suitetest.ResultJSON(t, res))
}

// TestShardEvasionNotRefused: an evasion block shards with every attack
// listed as sharding (all of them today, the decision-based ones too), so
// ShardRefusal is empty with or without one.
func TestShardEvasionNotRefused(t *testing.T) {
	v := []any{map[string]any{"name": "fp16", "convert": "fp16"}}
	for _, raw := range []map[string]any{{"variants": v},
		{"variants": v, "evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}},
			map[string]any{"name": "hopskipjump", "norm": "l2", "eps": []any{1}}, map[string]any{"name": "signopt", "norm": "l2", "eps": []any{1}}}}}} {
		cfg, err := Suite{}.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Suite{}).ShardRefusal(cfg); got != "" {
			t.Errorf("ShardRefusal of %v = %q, want none", raw, got)
		}
	}
}

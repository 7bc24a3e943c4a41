package extraction

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
)

// TestShardsMergeEqualRun: the Adult demo model on its 1,000 evaluation
// rows (700 in the query pool, 300 held out), budgets 100, 300, 700 and
// 5,000 (over the pool: undefined, with its warning), 3 epochs: the merge
// of 1, 2, 3 and 7 shards' units (one per budget; 7 shards leave three
// empty) gives byte-identical metrics, undefined keys, details (the
// split, the extraction curve) and warnings to Run on the same target
// (the expected figures are Run's): each budget trains its own seeded
// surrogate, whichever shard runs it. Killed after 1 and 3 budgets and
// resumed, the run redoes only the missing budgets and merges to Run's
// result too.
func TestShardsMergeEqualRun(t *testing.T) {
	tg := demo(t)
	raw := map[string]any{"budgets": []any{100, 300, 700, 5000}, "training": map[string]any{"epochs": 3}, "transfer_rows": 100}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 4)
	for _, k := range []string{"fidelity@100", "transfer@700", "target_accuracy"} {
		if _, ok := res.Metrics[k]; !ok {
			t.Errorf("Run has no %s to compare", k)
		}
	}
	if len(res.Warnings) != 1 {
		t.Errorf("Run's warnings %q, want budget 5,000's", res.Warnings)
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{1, 3}, suitetest.ResultJSON(t, res))

	// With a query file (examples/adult/adult_train.csv, 2,000 rows): the
	// merge records it as Run does, its path joined to the merge's
	// config folder.
	raw = map[string]any{"budgets": []any{100, 300}, "training": map[string]any{"epochs": 2}, "transfer_rows": 50,
		"queries": map[string]any{"csv": "adult/adult_train.csv", "label": "label", "keep": []any{"sex", "race"}}}
	res = suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2}, 2)
	if len(res.Data) != 1 || res.Data[0].Role != "queries" || res.Data[0].Rows != 2000 {
		t.Errorf("Run's data files %+v, want the 2,000 query rows", res.Data)
	}
}

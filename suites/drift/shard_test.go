package drift

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// TestShardsMergeEqualRun: the merge of 1, 2, 3 and 7 shards' units gives
// byte-identical metrics, undefined keys, details and warnings to Run on
// the same target (the expected figures are Run's), on two kinds of data:
//
//   - tabular: the Adult MLP's 1,000 evaluation rows (examples/adult)
//     against its 2,000 training rows, features num_age and
//     num_hours_per_week, categorical sex, sensitive sex, MMD on 200 rows
//     of each with 50 permutations: 3 feature units, the MMD unit and 11
//     batches of 97 rows;
//   - images: the digits CNN's 400 images (examples/) against themselves,
//     no named features, the MMD on the penultimate activations and the
//     shift by intensity: the MMD unit and 5 batches of 97 images.
//
// Killed after 1, 4 and 12 units and resumed, the tabular run redoes only
// the missing units and merges to Run's result too.
func TestShardsMergeEqualRun(t *testing.T) {
	ex := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, ex)
	tg := suitetest.Open(t, filepath.Join(ex, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool, tg.Seed = 97, runtime.Pool{Workers: 2}, 3
	raw := map[string]any{"reference": map[string]any{"csv": "adult_train.csv", "label": "label", "keep": []any{"sex", "race"}},
		"features": []any{"num_age", "num_hours_per_week"}, "categorical": []any{"sex"}, "sensitive": []any{"sex"},
		"mmd_samples": 200, "permutations": 50}
	res := suitetest.ShardsMergeEqualRun(t, Suite{}, tg, raw, []int{1, 2, 3, 7}, 3+1+11)
	for _, k := range []string{"ks.num_age.p", "chi2.sex.p", "mmd.p", "shift.num_age.selection_rate_gap"} {
		if _, ok := res.Metrics[k]; !ok {
			t.Errorf("Run has no %s to compare", k)
		}
	}
	if len(res.Data) != 1 || res.Data[0].Role != "reference" || res.Data[0].Rows != 2000 {
		t.Errorf("Run's data files %+v, want the 2,000 reference rows", res.Data)
	}
	suitetest.ResumeEqualsRun(t, Suite{}, tg, raw, []int{1, 4, 12}, suitetest.ResultJSON(t, res))

	img := suitetest.Digits(t, "digits_cnn.onnx")
	img.BatchSize, img.Pool, img.Seed, img.Range = 97, runtime.Pool{Workers: 2}, 3, [2]float64{0, 1}
	res = suitetest.ShardsMergeEqualRun(t, Suite{}, img, map[string]any{"reference": map[string]any{"x": "digits_eval_x.npy"},
		"mmd_samples": 100, "permutations": 20}, []int{1, 2, 3, 7}, 1+5)
	if _, ok := res.Metrics["shift.intensity.accuracy"]; !ok {
		t.Errorf("Run has no shift by intensity to compare: %v", res.Metrics)
	}
}

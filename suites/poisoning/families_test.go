package poisoning

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
)

// familyFixtures are the committed trigger-family fixtures
// (testdata/families, made by make_families.py): each family's poisoned
// digits training set with ground truth, and a CNN and a residual CNN
// trained on it (clean accuracy and attack success rate in its
// REFERENCE.json).
var (
	families      = []string{"blend", "warp", "sinusoidal", "clean_label"}
	architectures = []string{"cnn", "rescnn"}
)

// familyRun runs the data part on one family fixture with the given
// extra data keys and returns the metrics.
func familyRun(t *testing.T, fam, arch string, extra map[string]any) map[string]float64 {
	t.Helper()
	tg := target(t, filepath.Join("testdata", "families", fam+"_"+arch+".onnx"), "", "")
	d := map[string]any{
		"train":       map[string]any{"x": fam + "_train_x.npy", "y": fam + "_train_y.npy"},
		"is_poisoned": fam + "_is_poisoned.npy",
	}
	for k, v := range extra {
		d[k] = v
	}
	return run(t, tg, map[string]any{"data": d}).Metrics
}

// artDefaults are ART 1.18.2's default rules expressed as Gauntlet
// configs on ART's default layer, the model's last layer (the logits):
// ActivationDefence (activation_defence.py lines 98–102: 2 clusters,
// KMeans, nb_dims 10, reduce PCA, cluster_analysis "smaller"; line 694:
// layer nb_layers − 1; clustering_analyzer.py lines 73–77: the smaller
// cluster of each class is poison) and SpectralSignatureDefense
// (spectral_signature_defense.py lines 59–61: expected_pp_poison 0.33,
// eps_multiplier 1.5; line 118: layer nb_layers − 1; lines 136–137: flag
// scores at or above the 1 − 1.5·0.33 quantile per class; lines 176–180:
// score |v·r| with v the top right singular vector of the centred
// activations applied to the uncentred ones).
var artDefaults = map[string]map[string]any{
	MethodClustering: {"layer": "logits", "methods": []any{MethodClustering},
		MethodClustering: map[string]any{"analysis": AnalysisSmaller, "dims": 10, "reduce": "pca"}},
	MethodSpectral: {"layer": "logits", "methods": []any{MethodSpectral},
		MethodSpectral: map[string]any{"score": ScoreART, "expected_poison_rate": 0.33, "eps_multiplier": 1.5}},
}

// artF1 is ART's default rules' F1 on each family row ({activation
// clustering, spectral signatures}, to 4 decimals), as measured by
// TestFamiliesDefaultVersusART (which asserts these values) with
// artDefaults; TestFamiliesGrid reads it.
var artF1 = map[[2]string][2]float64{
	{"blend", "cnn"}:          {0.1390, 0.2166},
	{"blend", "rescnn"}:       {0.2097, 0.2407},
	{"warp", "cnn"}:           {0.2445, 0.1468},
	{"warp", "rescnn"}:        {0.1607, 0.2094},
	{"sinusoidal", "cnn"}:     {0.2406, 0.2046},
	{"sinusoidal", "rescnn"}:  {0.2141, 0.1131},
	{"clean_label", "cnn"}:    {0.0974, 0.1199},
	{"clean_label", "rescnn"}: {0.0614, 0.1623},
}

// shortfalls are the rows where the default detector's F1 is below ART's
// default rule's (default F1, to 4 decimals; ART's is in artF1), each
// with its reason; a row listed must keep its figure, every row not listed
// must reach ART's F1. None since each class is read at its own layer
// (chooseLayer) and spectral signatures take the class decision from the
// activations' split (ClassCutoff); before, 6 rows (one layer for all
// classes, the score split deciding alone), then 2 (sinusoidal rescnn and
// clean-label cnn, spectral signatures: their poisoned class's score
// split was one group with its smaller cluster at 35–41% of the class).
// docs/metrics/poisoning.md, "What was tried", has every step's figures.
var shortfalls = map[[3]string]float64{}

// TestFamiliesDefaultVersusART runs the default data config (no layer, no
// method options) on every committed trigger family × architecture and
// asks each default detector for an F1 at least that of ART's default
// rule for the same detector (artDefaults) on the same model and data,
// on every row except those of shortfalls, whose figures must stay as
// recorded. ART's F1 must equal artF1. A default tuned on one fixture
// fails here on the others. The figures are logged;
// docs/metrics/poisoning.md tabulates them.
func TestFamiliesDefaultVersusART(t *testing.T) {
	checked, short, better := 0, 0, 0
	for _, fam := range families {
		for _, arch := range architectures {
			def := familyRun(t, fam, arch, nil)
			for mi, m := range []string{MethodClustering, MethodSpectral} {
				art := familyRun(t, fam, arch, artDefaults[m])
				f1, auc, af1, aauc := def[m+".f1"], def[m+".auc"], art[m+".f1"], art[m+".auc"]
				t.Logf("%-11s %-6s %-21s default f1 %.4f auc %.4f | ART default f1 %.4f auc %.4f", fam, arch, m, f1, auc, af1, aauc)
				checked++
				if math.IsNaN(f1) || math.IsNaN(af1) {
					t.Errorf("%s %s %s: F1 %v, ART's %v", fam, arch, m, f1, af1)
					continue
				}
				if want := artF1[[2]string{fam, arch}][mi]; math.Abs(af1-want) > 5e-5 {
					t.Errorf("%s %s %s: ART's F1 %.4f; recorded %.4f", fam, arch, m, af1, want)
				}
				if ks, ok := shortfalls[[3]string{fam, arch, m}]; ok {
					short++
					if math.Abs(f1-ks) > 5e-5 || !(f1 < af1) {
						t.Errorf("%s %s %s: default F1 %.4f, ART's %.4f; recorded shortfall %.4f: update shortfalls and the docs", fam, arch, m, f1, af1, ks)
					}
					continue
				}
				if f1 < af1-1e-12 {
					t.Errorf("%s %s %s: default F1 %.4f below ART's default %.4f", fam, arch, m, f1, af1)
				}
				if f1 > af1+1e-12 {
					better++
				}
			}
		}
	}
	if want := 2 * len(families) * len(architectures); checked != want || short != len(shortfalls) {
		t.Errorf("compared %d rows (%d recorded shortfalls of %d); want %d", checked, short, len(shortfalls), want)
	}
	// Better than ART on most rows: all 16 (every row not in shortfalls).
	if better != 16 {
		t.Errorf("default above ART's F1 on %d rows; recorded 16", better)
	}
}

// TestFamiliesGrid logs every data detector variant (both layers, every
// cluster analysis, both spectral scores with the rate-free and ART's
// cut-off, SPECTRE with its defaults and with p = 0.1) on every family fixture: the "best detector" column of the
// table in docs/metrics/poisoning.md. The best variant's F1 must reach the
// better of ART's two default rules' F1 on that row (artF1, measured by
// TestFamiliesDefaultVersusART).
func TestFamiliesGrid(t *testing.T) {
	for _, fam := range families {
		for _, arch := range architectures {
			best, bestName := -1.0, ""
			pen, err := DefaultLayer(target(t, filepath.Join("testdata", "families", fam+"_"+arch+".onnx"), "", "").Model)
			if err != nil {
				t.Fatal(err)
			}
			for _, layer := range []string{pen, "logits"} {
				var variants []map[string]any
				for _, a := range []string{AnalysisAuto, AnalysisSmaller, AnalysisRelativeSize, AnalysisSilhouette} {
					variants = append(variants, map[string]any{"methods": []any{MethodClustering}, MethodClustering: map[string]any{"analysis": a}})
				}
				for _, sc := range []string{ScoreART, ScoreCentred} {
					variants = append(variants, map[string]any{"methods": []any{MethodSpectral}, MethodSpectral: map[string]any{"score": sc}},
						map[string]any{"methods": []any{MethodSpectral}, MethodSpectral: map[string]any{"score": sc, "expected_poison_rate": 0.1}})
				}
				variants = append(variants, map[string]any{"methods": []any{MethodSpectre}},
					map[string]any{"methods": []any{MethodSpectre}, MethodSpectre: map[string]any{"expected_poison_rate": 0.1}})
				for _, v := range variants {
					v["layer"] = layer
					m := familyRun(t, fam, arch, v)
					meth := v["methods"].([]any)[0].(string)
					name := fmt.Sprintf("%s %s %v", layer, meth, v[meth])
					t.Logf("%s %s %s: f1 %.4f auc %.4f", fam, arch, name, m[meth+".f1"], m[meth+".auc"])
					if m[meth+".f1"] > best {
						best, bestName = m[meth+".f1"], fmt.Sprintf("%s auc %.4f", name, m[meth+".auc"])
					}
				}
			}
			t.Logf("BEST %s %s: f1 %.4f %s", fam, arch, best, bestName)
			art := max(artF1[[2]string{fam, arch}][0], artF1[[2]string{fam, arch}][1])
			if !(best >= art) {
				t.Errorf("%s %s: the best variant's F1 %.4f is below ART's default %.4f", fam, arch, best, art)
			}
		}
	}
}

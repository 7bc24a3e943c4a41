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

// knownShortfalls are the rows where the default detector's F1 is below
// ART's default rule's, as measured by this test (default F1, ART F1, to 4
// decimals): on these small digits models the poisoned samples are not a
// separated group in either layer (the AUCs of every detector are 0.34 to
// 0.74), so the default's rate-free cut-off and analysis auto flag little
// or nothing, while ART's rules flag a fixed share of every class (about
// half with "smaller", 49.5% with 1.5·0.33) and so score near the F1 of
// flagging everything, 2p/(1+p) = 0.18 at p = 140/1397. The figures are
// pinned: a row that improves or worsens fails until this table and the
// one in docs/metrics/poisoning.md are updated, and a row not listed must
// reach ART's F1.
var knownShortfalls = map[[3]string][2]float64{
	{"blend", "cnn", MethodClustering}:          {0.0000, 0.1390},
	{"blend", "cnn", MethodSpectral}:            {0.1212, 0.2166},
	{"blend", "rescnn", MethodClustering}:       {0.0000, 0.2097},
	{"blend", "rescnn", MethodSpectral}:         {0.0420, 0.2407},
	{"warp", "cnn", MethodClustering}:           {0.0000, 0.2445},
	{"warp", "cnn", MethodSpectral}:             {0.0000, 0.1468},
	{"warp", "rescnn", MethodClustering}:        {0.0000, 0.1607},
	{"warp", "rescnn", MethodSpectral}:          {0.0658, 0.2094},
	{"sinusoidal", "cnn", MethodClustering}:     {0.0000, 0.2406},
	{"sinusoidal", "cnn", MethodSpectral}:       {0.0274, 0.2046},
	{"sinusoidal", "rescnn", MethodClustering}:  {0.0000, 0.2141},
	{"sinusoidal", "rescnn", MethodSpectral}:    {0.0000, 0.1131},
	{"clean_label", "cnn", MethodClustering}:    {0.0000, 0.0974},
	{"clean_label", "cnn", MethodSpectral}:      {0.0000, 0.1199},
	{"clean_label", "rescnn", MethodClustering}: {0.0000, 0.0614},
	{"clean_label", "rescnn", MethodSpectral}:   {0.0000, 0.1623},
}

// TestFamiliesDefaultVersusART runs the default data config (no layer, no
// method options) on every committed trigger family × architecture and
// asks each default detector for an F1 at least that of ART's default
// rule for the same detector (artDefaults) on the same model and data,
// except on the rows of knownShortfalls, whose figures must stay as
// recorded. A default tuned on one fixture fails here on the others. The
// figures are logged; docs/metrics/poisoning.md tabulates them.
func TestFamiliesDefaultVersusART(t *testing.T) {
	checked, short := 0, 0
	for _, fam := range families {
		for _, arch := range architectures {
			def := familyRun(t, fam, arch, nil)
			for _, m := range []string{MethodClustering, MethodSpectral} {
				art := familyRun(t, fam, arch, artDefaults[m])
				f1, auc, af1, aauc := def[m+".f1"], def[m+".auc"], art[m+".f1"], art[m+".auc"]
				t.Logf("%-11s %-6s %-21s default f1 %.4f auc %.4f | ART default f1 %.4f auc %.4f", fam, arch, m, f1, auc, af1, aauc)
				checked++
				if math.IsNaN(f1) || math.IsNaN(af1) {
					t.Errorf("%s %s %s: F1 %v, ART's %v", fam, arch, m, f1, af1)
					continue
				}
				if ks, ok := knownShortfalls[[3]string{fam, arch, m}]; ok {
					short++
					if math.Abs(f1-ks[0]) > 5e-5 || math.Abs(af1-ks[1]) > 5e-5 {
						t.Errorf("%s %s %s: default F1 %.4f, ART's %.4f; recorded shortfall %.4f vs %.4f: update knownShortfalls and the docs", fam, arch, m, f1, af1, ks[0], ks[1])
					}
					continue
				}
				if f1 < af1-1e-12 {
					t.Errorf("%s %s %s: default F1 %.4f below ART's default %.4f", fam, arch, m, f1, af1)
				}
			}
		}
	}
	if want := 2 * len(families) * len(architectures); checked != want || short != len(knownShortfalls) {
		t.Errorf("compared %d rows (%d recorded shortfalls of %d); want %d", checked, short, len(knownShortfalls), want)
	}
}

// TestFamiliesGrid logs every data detector variant (both layers, every
// cluster analysis, both spectral scores with the rate-free and ART's
// cut-off) on every family fixture: the "best detector" column of the
// table in docs/metrics/poisoning.md. The best variant's F1 must reach the
// better of ART's two default rules' F1 on that row (knownShortfalls
// holds every row's ART figures, measured by TestFamiliesDefaultVersusART).
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
			art := max(knownShortfalls[[3]string{fam, arch, MethodClustering}][1], knownShortfalls[[3]string{fam, arch, MethodSpectral}][1])
			if !(best >= art) {
				t.Errorf("%s %s: the best variant's F1 %.4f is below ART's default %.4f", fam, arch, best, art)
			}
		}
	}
}

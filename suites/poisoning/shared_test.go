package poisoning

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The figures below come from ../shared/fixtures/vision/REFERENCE.json
// (models.mnist_backdoor_cnn.backdoor.detection), made by IBM ART 1.18.2 on
// the 6000-sample poisoned subset (300 poisoned) of mnist_backdoor_cnn.

// TestSpectralMatchesART runs ART's spectral score (|r·v| on uncentred
// activations, flag the top 1.5·p share per class) on the logits, ART's
// default layer. The algorithm is deterministic, so the flags must match
// ART's confusion counts exactly: p = 0.33 gives tp 188 fp 2782, p = 0.05
// gives tp 65 fp 390. The centred (paper) score on the same cut-off gives
// the numpy cross-check's counts: tp 217 fp 2753 and tp 67 fp 388.
func TestSpectralMatchesART(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	tg := target(t, filepath.Join(dir, "mnist_backdoor_cnn.onnx"), "", "")
	cases := []struct {
		layer, score string
		p            float64
		tp, fp       int
	}{
		{"logits", ScoreART, 0.33, 188, 2782},
		{"logits", ScoreART, 0.05, 65, 390},
		{"logits", ScoreCentred, 0.33, 217, 2753},
		{"logits", ScoreCentred, 0.05, 67, 388},
		// Penultimate layer (the default layer: input of the last Gemm).
		{penultimate, ScoreART, 0.33, 5, 2965},
		{penultimate, ScoreART, 0.05, 0, 455},
		{penultimate, ScoreCentred, 0.33, 252, 2718},
		{penultimate, ScoreCentred, 0.05, 67, 388},
	}
	for _, c := range cases {
		res := run(t, tg, map[string]any{"data": map[string]any{
			"train":       map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y.npy"},
			"is_poisoned": "mnist_poison_subset_is_poisoned.npy",
			"layer":       c.layer,
			"methods":     []any{MethodSpectral},
			MethodSpectral: map[string]any{
				"score": c.score, "expected_poison_rate": c.p,
			},
		}})
		md := res.Details["data"].(map[string]any)[MethodSpectral].(map[string]any)
		if md["tp"] != c.tp || md["fp"] != c.fp {
			t.Errorf("layer %q score %s p %g: tp %v fp %v; ART/numpy %d %d", c.layer, c.score, c.p, md["tp"], md["fp"], c.tp, c.fp)
		}
	}
}

// TestClusteringAgainstART runs activation clustering with ART's settings
// (PCA to 10 dims, 2-means, relative-size 0.35 or smaller) and asks for
// precision and recall at least as good as ART's: penultimate layer,
// relative-size: 0.9965 / 0.9367 (tp 281, fp 1); smaller: 0.1112 / 0.9367;
// logits, relative-size: 0.875 / 0.7233. The tolerance 1e-4 covers the
// rounding of the reference to 4 decimals. KMeans seeding differs from
// scikit-learn's (its MT19937 stream is not reproduced); with 10 restarts
// (scikit-learn's n_init) some suite seeds stop in the local optimum one
// boundary sample away (tp 280), with the default 50 seeds 1–8 all give
// ART's partition. `smaller` also splits the clean classes, which have no
// two-cluster structure, so where their split falls depends on the seeding:
// 2249 false positives against ART's 2247 (precision 0.1111 vs 0.1112);
// that case gets a tolerance of 0.001 (about 20 samples of 2528).
func TestClusteringAgainstART(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	tg := target(t, filepath.Join(dir, "mnist_backdoor_cnn.onnx"), "", "")
	cases := []struct {
		layer, analysis string
		p, r, tol       float64
	}{
		{penultimate, AnalysisRelativeSize, 0.9965, 0.9367, 1e-4},
		{penultimate, AnalysisSmaller, 0.1112, 0.9367, 1e-3},
		{penultimate, AnalysisSilhouette, 0.9965, 0.9367, 1e-4},
		{"logits", AnalysisRelativeSize, 0.875, 0.7233, 1e-4},
	}
	for _, c := range cases {
		res := run(t, tg, map[string]any{"data": map[string]any{
			"train":       map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y.npy"},
			"is_poisoned": "mnist_poison_subset_is_poisoned.npy",
			"layer":       c.layer,
			"methods":     []any{MethodClustering},
			MethodClustering: map[string]any{
				"analysis": c.analysis,
			},
		}})
		p, r := res.Metrics[MethodClustering+".precision"], res.Metrics[MethodClustering+".recall"]
		md := res.Details["data"].(map[string]any)[MethodClustering].(map[string]any)
		t.Logf("layer %q %s: precision %.4f recall %.4f (tp %v fp %v); ART %.4f %.4f", c.layer, c.analysis, p, r, md["tp"], md["fp"], c.p, c.r)
		if p < c.p-c.tol || r < c.r-c.tol || math.IsNaN(p) {
			t.Errorf("layer %q %s: precision %.4f recall %.4f below ART's %.4f %.4f", c.layer, c.analysis, p, r, c.p, c.r)
		}
	}
}

// TestBackdoorScanShared checks the model part on mnist_backdoor_cnn and
// its clean twin mnist_cnn with the first 1000 test images. The backdoor
// attack success rate of the known trigger (3×3 patch of 1.0 at rows and
// columns 25–27, target 0) is 0.9989 in REFERENCE.json
// (backdoor.attack_success_rate, 915 non-target images): 914 of 915, and
// 1 of 915 on the clean twin (0.0011), asserted exactly (a count, the same
// model, images and trigger). STRIP has no peer figure in ../shared: its
// false acceptance rate at 1% FRR is the seeded run's deterministic count
// (this test's log; the threshold from 200 held-out clean images, the
// false acceptance on the 179 non-target ones of 200 other images, the
// default overlays auto: 140 and 120 overlays), 2 of 179 triggered images
// on the backdoored model and 177 of 179 on the clean twin, asserted
// exactly, with the property from theory that
// STRIP separates triggered inputs only where a trigger was learnt (the
// backdoored model's FAR below the twin's). Neural Cleanse must flag class
// 0 on the backdoored model and nothing on the clean twin.
func TestBackdoorScanShared(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	var far [2]float64 // STRIP FAR: backdoored, clean twin
	checkedModels := 0
	raw := func() map[string]any {
		return map[string]any{"model": map[string]any{
			"methods": []any{"strip", "neural_cleanse"},
			"trigger": map[string]any{"type": "patch", "x": 25, "y": 25, "width": 3, "height": 3, "value": 1.0},
			"target":  0,
			"strip":   map[string]any{"samples": 200},
		}}
	}
	for _, c := range []struct {
		model    string
		backdoor bool
	}{{"mnist_backdoor_cnn.onnx", true}, {"mnist_cnn.onnx", false}} {
		// Every branch below ends in a comparison: two models checked.
		checkedModels++
		tg := target(t, filepath.Join(dir, c.model), "mnist_test_x.npy", "mnist_test_y.npy")
		tg.Data.N = 1000
		tg.Data.X = tg.Data.X[:1000*784]
		tg.Data.Y = tg.Data.Y[:1000]
		res := run(t, tg, raw())
		md := res.Details["model"].(map[string]any)
		t.Logf("%s: metrics %v", c.model, res.Metrics)
		t.Logf("%s: strip %v", c.model, md["strip"])
		nc := md["neural_cleanse"].(map[string]any)
		for _, pc := range nc["per_class"].([]map[string]any) {
			t.Logf("%s: %v", c.model, pc)
		}
		flagged := nc["flagged_classes"].([]int)
		asr := res.Metrics["backdoor.attack_success_rate"]
		if c.backdoor {
			wantCount(t, c.model+" attack success rate (REFERENCE.json 0.9989071038251366)", asr, 915, 914)
			far[0] = res.Metrics["strip.far"]
			wantCount(t, c.model+" strip.far", far[0], 179, 2)
			if len(flagged) != 1 || flagged[0] != 0 {
				t.Errorf("%s: neural cleanse flagged %v; want [0]", c.model, flagged)
			}
		} else {
			wantCount(t, c.model+" rate on triggered inputs (REFERENCE.json 0.001092896174863388)", asr, 915, 1)
			far[1] = res.Metrics["strip.far"]
			wantCount(t, c.model+" strip.far", far[1], 179, 177)
			if len(flagged) != 0 {
				t.Errorf("%s: neural cleanse flagged %v; want none", c.model, flagged)
			}
		}
	}
	if checkedModels != 2 || !(far[0] < far[1]) {
		t.Errorf("checked %d models; STRIP FAR backdoored %v, clean twin %v: want the backdoored model's below", checkedModels, far[0], far[1])
	}
}

// penultimate is mnist_backdoor_cnn's penultimate tensor, the input of its
// last Gemm (fc2), as the fixture's graph names it.
const penultimate = "/relu3/Relu_output_0"

// TestDefaultConfigShared runs the data part with the default config (no
// layer, no method options) on mnist_backdoor_cnn's poisoned subset and
// asks for at least the figures the earlier defaults had there (this
// file's cases above): activation clustering relative-size on the
// penultimate layer, TP 281 FP 1 (F1 0.9656, ART 0.9965 / 0.9367);
// spectral signatures centred at p = 0.33, TP 252 FP 2718 (F1 0.156).
// Class 0 must be read at the penultimate layer, whose split of class 0 is
// the ART-matching one (separation 6.13 against 3.56 on the logits; class
// 7 is read at the logits, 3.26 against 3.14). AUC floors: 0.98 for both,
// the values of the seeded run with one layer for all classes (0.9877 and
// 0.9825) rounded down; with per-class layers they are 0.9878 and 0.9851
// (TP 281 FP 1 and TP 281 FP 3, as before).
func TestDefaultConfigShared(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	tg := target(t, filepath.Join(dir, "mnist_backdoor_cnn.onnx"), "", "")
	res := run(t, tg, map[string]any{"data": map[string]any{
		"train":       map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y.npy"},
		"is_poisoned": "mnist_poison_subset_is_poisoned.npy",
	}})
	dd := res.Details["data"].(map[string]any)
	if pc := dd["layer_choice"].(map[string]any)["per_class"].([]map[string]any); pc[0]["class"] != 0 || pc[0]["layer"] != penultimate {
		t.Errorf("class 0's layer %v; want %s (choice %v)", pc[0], penultimate, dd["layer_choice"])
	}
	checked := 0
	for _, c := range []struct {
		method string
		tp, fp int
		minAUC float64
	}{{MethodClustering, 281, 1, 0.98}, {MethodSpectral, 252, 2718, 0.98}} {
		md := dd[c.method].(map[string]any)
		f1, auc := res.Metrics[c.method+".f1"], res.Metrics[c.method+".auc"]
		t.Logf("%s: f1 %.4f auc %.4f tp %v fp %v", c.method, f1, auc, md["tp"], md["fp"])
		old := 2 * float64(c.tp) / float64(2*c.tp+c.fp+300-c.tp)
		if !(f1 >= old-1e-12) || !(auc >= c.minAUC) {
			t.Errorf("%s: f1 %.4f auc %.4f; want f1 ≥ %.4f (earlier default) and auc ≥ %g", c.method, f1, auc, old, c.minAUC)
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d methods; want 2", checked)
	}
}

// TestDefaultConfigClean runs the default data config on training sets
// without poison: the committed digits split on digits_cnn, and the MNIST
// subset with its original labels (mnist_poison_subset_y_orig.npy) on the
// clean twin mnist_cnn: the seeded run's counts, asserted exactly. The
// clean classes' largest split separations are 4.92 (digits, class 9) and
// below the two-group line 5.29, but analysis auto's relative-size
// fallback flags smaller clusters under 35% of their class: on digits 60
// of 1397 with each class read at its own layer (71 with the penultimate
// layer for all: classes 5 and 9, shares 0.31 and 0.19; the auto rule
// without the fallback flagged 0); on MNIST every smaller cluster holds at
// least 40% of its class and nothing is flagged. Spectral signatures'
// rate-free cut-off (ClassCutoff) flags 69 of 1397 (139 with the score
// split deciding alone on per-class layers, 108 with one layer, 13 without
// the relative-size fallback) and 1 of 6000 (1). ART's default rules flag
// about half of every class by design.
func TestDefaultConfigClean(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	checked := 0
	for _, c := range []struct {
		name               string
		tg                 func() *suite.Target
		train              map[string]any
		n, spectral, clust int
	}{
		{"digits", func() *suite.Target { return digitsTarget(t) }, digitsTrain, 1397, 69, 60},
		{"mnist_cnn", func() *suite.Target { return target(t, filepath.Join(dir, "mnist_cnn.onnx"), "", "") },
			map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y_orig.npy"}, 6000, 1, 0},
	} {
		res := run(t, c.tg(), map[string]any{"data": map[string]any{"train": c.train}})
		wantCount(t, c.name+" spectral flagged", res.Metrics[MethodSpectral+".flagged_fraction"], c.n, c.spectral)
		wantCount(t, c.name+" clustering flagged", res.Metrics[MethodClustering+".flagged_fraction"], c.n, c.clust)
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d sets; want 2", checked)
	}
}

package attribute

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// adultTarget is suitetest.Adult with seed 11.
func adultTarget(t *testing.T, workers, batch int) *suite.Target {
	t.Helper()
	tg := suitetest.Adult(t)
	tg.BatchSize, tg.Pool, tg.Seed = batch, runtime.Pool{Workers: workers}, 11
	return tg
}

func run(t *testing.T, tg *suite.Target, raw map[string]any) *suite.Result {
	t.Helper()
	return suitetest.Run(t, Suite{}, tg, raw)
}

// TestAdultSex runs the default attack (attack_model mlp) on Adult's sex,
// with and without the features, and the logistic attack on race, and
// compares each figure with its scikit-learn peer in
// testdata/peer_sklearn.json (runs sex/mlp and race/logistic;
// testdata/peer_sklearn.py says how learn's models map onto scikit-learn's
// and where they do not). Each figure must lie within peerSDs of the
// peer's split-to-split standard deviations of its mean, plus a floor:
//   - mlp: mlpFloor = 0.003 for a systematic offset from what does not
//     map (one logistic output unit against two softmax units for sex, no
//     bias penalty, scikit-learn's own initial weights and shuffles):
//     twice the largest |Δ| measured on the 9 sex figures (0.0015).
//   - race/logistic: the same multinomial objective solved by both, so
//     peerFloor, as for sex.
//
// Measured (ORT 1.30.0, seed 11, 2 loaded cores): mlp figures within 2.3
// SDs (largest: outputs-only AUC 0.7313 against 0.7323 ± 0.0004; with the
// features, accuracy 0.9550 against 0.9535 ± 0.0017), race within 1.3 SDs
// (balanced accuracy 0.2382 against 0.2402 ± 0.0016).
func TestAdultSex(t *testing.T) {
	peer := readPeer(t)
	const mlpFloor = 0.003
	tg := adultTarget(t, 2, 512)
	res := run(t, tg, map[string]any{"sensitive": "sex"})
	m := res.Metrics
	// Baseline: 10147 Male of 15060 rows (counted from adult_test.csv with
	// awk; the README's file description).
	if want := 10147.0 / 15060; m["baseline"] != want {
		t.Errorf("baseline = %v, want %v", m["baseline"], want)
	}
	// The attacker must not be handed the sex one-hot columns.
	w := res.Details["attack_inputs"].(map[string]any)["withheld_features"].([]string)
	if len(w) != 2 || w[0] != "cat_sex_Female" || w[1] != "cat_sex_Male" {
		t.Errorf("withheld = %v, want the two cat_sex_ columns", w)
	}
	n := 0
	sex := peer.run(t, "sex/mlp")
	for _, k := range []string{"accuracy", "advantage", "auc", "features_only.accuracy", "features_only.auc", "output_gain"} {
		n += sex.cmp(t, k, m[k], k, mlpFloor)
	}
	t.Logf("sex: accuracy %.4f [%.4f, %.4f], baseline %.4f, auc %.4f; features only %.4f (auc %.4f), output gain %.4f",
		m["accuracy"], m["accuracy.ci_low"], m["accuracy.ci_high"], m["baseline"], m["auc"], m["features_only.accuracy"], m["features_only.auc"], m["output_gain"])

	// Outputs only: the attacker sees just the model's two log-probabilities.
	res = run(t, tg, map[string]any{"sensitive": "sex", "use_features": false})
	if _, ok := res.Metrics["features_only.accuracy"]; ok {
		t.Error("features_only reported without features")
	}
	for _, k := range []string{"accuracy", "advantage", "auc"} {
		n += sex.cmp(t, "outputs only "+k, res.Metrics[k], "outputs_only."+k, mlpFloor)
	}

	// Five categories: no AUC, listed as undefined.
	res = run(t, adultTarget(t, 1, 100), map[string]any{"sensitive": "race", "attack_model": "logistic"})
	if _, ok := res.Metrics["auc"]; ok {
		t.Error("auc defined for a 5-category attribute")
	}
	if want := 12970.0 / 15060; res.Metrics["baseline"] != want { // White rows, counted with awk
		t.Errorf("race baseline = %v, want %v", res.Metrics["baseline"], want)
	}
	race := peer.run(t, "race/logistic")
	if res.Metrics["baseline"] != race.Baseline {
		t.Errorf("race baseline = %v, peer %v", res.Metrics["baseline"], race.Baseline)
	}
	if got := res.Details["categories"].(map[string]int); !maps.Equal(got, race.Categories) {
		t.Errorf("race categories = %v, peer (csv module) %v", got, race.Categories)
	}
	for _, k := range []string{"accuracy", "advantage", "balanced_accuracy", "features_only.accuracy", "output_gain"} {
		n += race.cmp(t, "race "+k, res.Metrics[k], k, peerFloor)
	}
	if n != 14 {
		t.Errorf("compared %d peer figures, want 14", n)
	}
}

// peerFile is testdata/peer_sklearn.json.
type peerFile struct {
	Seeds int                 `json:"seeds"`
	Runs  map[string]*peerRun `json:"runs"`
}

// peerRun is one attacked column and attack model of the peer.
type peerRun struct {
	Baseline   float64        `json:"baseline"`
	Categories map[string]int `json:"categories"`
	Figures    map[string]struct {
		Mean float64 `json:"mean"`
		SD   float64 `json:"sd"`
	} `json:"figures"`
}

// Tolerance against the peer: peerSDs of its split-to-split standard
// deviation (Gauntlet's split is one more draw; 4 SDs is a false alarm
// about 1 in 16,000 for a normal spread and leaves room for a 10-seed SD
// estimate), plus peerFloor for two solvers of one convex objective
// (L-BFGS to 500 iterations or gradient 1e-7 against scikit-learn's lbfgs
// to 1e-10): twice the largest |Δ| measured on the logistic figures
// (0.0005, features-only accuracy, 0.8 SD), about 15 of 15,060 rows.
const (
	peerSDs   = 4
	peerFloor = 0.001
)

func readPeer(t *testing.T) *peerFile {
	t.Helper()
	var peer peerFile
	b, err := os.ReadFile(filepath.Join("testdata", "peer_sklearn.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &peer); err != nil {
		t.Fatal(err)
	}
	return &peer
}

func (p *peerFile) run(t *testing.T, name string) *peerRun {
	t.Helper()
	r, ok := p.Runs[name]
	if !ok {
		t.Fatalf("peer_sklearn.json has no run %s", name)
	}
	return r
}

// cmp checks got against the peer's figure key within peerSDs·SD + floor
// and returns 1 (the count of figures compared).
func (r *peerRun) cmp(t *testing.T, name string, got float64, key string, floor float64) int {
	t.Helper()
	f, ok := r.Figures[key]
	if !ok {
		t.Fatalf("peer_sklearn.json has no figure %s", key)
	}
	tol := peerSDs*f.SD + floor
	d := math.Abs(got - f.Mean)
	t.Logf("%s = %.4f, peer %.4f ± %.4f (|Δ| %.4f = %.1f SD, tol %.4f)", name, got, f.Mean, f.SD, d, d/f.SD, tol)
	if !(d <= tol) {
		t.Errorf("%s = %.4f, scikit-learn peer %.4f (|Δ| %.4f > %.4f)", name, got, f.Mean, d, tol)
	}
	return 1
}

func TestWorkerIndependence(t *testing.T) {
	// The attack model sees the same inputs whatever the worker count; the
	// logistic model keeps this test short (the MLP's seeding is tested in
	// package privacy).
	cfg := map[string]any{"sensitive": "sex", "attack_model": "logistic"}
	a := run(t, adultTarget(t, 1, 97), cfg)
	b := run(t, adultTarget(t, 2, 1024), cfg)
	for k, v := range a.Metrics {
		if b.Metrics[k] != v {
			t.Errorf("%s: %v vs %v", k, v, b.Metrics[k])
		}
	}
}

func TestBadConfig(t *testing.T) {
	tg := adultTarget(t, 1, 256)
	for name, raw := range map[string]map[string]any{
		"not kept":        {"sensitive": "age"},
		"unknown exclude": {"sensitive": "sex", "exclude_features": []any{"nope"}},
	} {
		cfg, err := Suite{}.Decode(raw)
		if err == nil {
			_, err = Suite{}.Run(context.Background(), tg, cfg)
		}
		if err == nil || errs.Code(err, 3) != errs.Invalid {
			t.Errorf("%s: err = %v, want exit 2", name, err)
		}
	}
	if _, err := (Suite{}).Decode(map[string]any{}); err == nil || errs.Code(err, 3) != errs.Invalid {
		t.Errorf("no sensitive: err = %v", err)
	}
}

// TestAdultSexPeer checks the logistic attack (with the features, and
// outputs only) against testdata/peer_sklearn.json (run sex/logistic):
// ART's black-box attribute-inference rule (delete the attacked columns,
// append the model's predictions) with scikit-learn 1.2.1's L2 logistic
// regression on the same model, rows and inputs, out of fold over 10
// stratified 5-fold splits (testdata/peer_sklearn.py), within peerSDs of
// the split-to-split SD plus peerFloor. The first peer used C = 1/(λn) for
// the two categories, twice learn.Fit's penalty on the single logit
// scikit-learn fits (see the script); with C = 2/(λn) the 0.0044 gap on
// accuracy, advantage and output_gain that needed a 0.005 floor is gone
// (measured: see the t.Logf lines).
func TestAdultSexPeer(t *testing.T) {
	peer := readPeer(t)
	sex := peer.run(t, "sex/logistic")
	n := 0
	tg := adultTarget(t, 2, 1024)
	m := run(t, tg, map[string]any{"sensitive": "sex", "attack_model": "logistic"}).Metrics
	if m["baseline"] != sex.Baseline {
		t.Errorf("baseline = %v, peer %v", m["baseline"], sex.Baseline)
	}
	for _, k := range []string{"accuracy", "advantage", "auc", "features_only.accuracy", "features_only.auc", "output_gain"} {
		n += sex.cmp(t, k, m[k], k, peerFloor)
	}
	m = run(t, tg, map[string]any{"sensitive": "sex", "attack_model": "logistic", "use_features": false}).Metrics
	for _, k := range []string{"accuracy", "advantage", "auc"} {
		n += sex.cmp(t, "outputs only "+k, m[k], "outputs_only."+k, peerFloor)
	}
	if n != 9 {
		t.Errorf("compared %d peer figures, want 9", n)
	}
}

package membership

import (
	"cmp"
	"context"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/learn"
)

// TestEpsilonTFPrivacyCase is TensorFlow Privacy's own Clopper-Pearson
// case (epsilon_lower_bound_test.py, test_epsilon_bound_clopper_pearson,
// from Jagielski et al. 2020): 500 members scored 1 against 500 nonmembers
// scored 0, α = 0.01, gives ε = 4.54 (two decimals) from tpr/fpr and
// tnr/fnr alike; δ lowers it as (p1 − δ)/p0.
func TestEpsilonTFPrivacyCase(t *testing.T) {
	sc := make([]float64, 1000)
	lab := make([]bool, 1000)
	for i := range 500 {
		sc[i], lab[i] = 1, true
	}
	roc := learn.NewROC(sc, lab, nil)
	e := epsilonLowerBound(roc, newCPTable(500, 0.99), newCPTable(500, 0.99), 0)
	if math.Abs(e.Value-4.54) > 0.005 || len(e.Top) < 2 || math.Abs(e.Top[1]-e.Value) > 1e-12 {
		t.Errorf("ε = %v (top %v, %s at point %d), want 4.54 twice (TF Privacy)", e.Value, e.Top, e.Ratio, e.Point)
	}
	// p1 = (α/2)^(1/500) and p0 = 1 − p1 at k = 0 (Clopper-Pearson at
	// the extremes), so with δ the bound is log((p1 − δ)/p0).
	p1 := math.Pow(0.005, 1.0/500)
	d := epsilonLowerBound(roc, newCPTable(500, 0.99), newCPTable(500, 0.99), 0.1)
	if want := math.Log((p1 - 0.1) / (1 - p1)); math.Abs(d.Value-want) > 1e-9 {
		t.Errorf("ε at δ 0.1 = %v, want log((p1 − δ)/p0) = %v", d.Value, want)
	}
	if math.Abs(e.Value-math.Log(p1/(1-p1))) > 1e-9 {
		t.Errorf("ε = %v, want log(p1/p0) = %v", e.Value, math.Log(p1/(1-p1)))
	}
}

// TestGapPeer checks the gap attack, its ε lower bound and the per-class
// slices against testdata/peer_label_only.json: ART's rule
// (MembershipInferenceBlackBoxRuleBased = LabelOnlyGapAttack) and TF
// Privacy's Clopper-Pearson ε lower bound rebuilt in numpy/scipy, and
// scikit-learn's roc_auc_score per true class, on the shared membership
// fixtures (every member and nonmember row).
func TestGapPeer(t *testing.T) {
	var peer struct {
		Models map[string]struct {
			Members, Nonmembers int
			Gap                 struct {
				PM       int       `json:"predicted_members_members"`
				PN       int       `json:"predicted_members_nonmembers"`
				Accuracy float64   `json:"art_accuracy"`
				AUC      float64   `json:"auc"`
				Adv      float64   `json:"advantage"`
				Eps      []float64 `json:"epsilon_top"`
			} `json:"gap"`
			Loss struct {
				Eps []float64 `json:"epsilon_top"`
			} `json:"loss"`
			ClassAUC map[string][]float64 `json:"class_auc"`
		} `json:"models"`
	}
	readJSON(t, filepath.Join("testdata", "peer_label_only.json"), &peer)
	sets := map[string][3]string{
		"mnist_overfit_mlp":      {"fixtures/vision", "mnist_members", "mnist_nonmembers"},
		"digits_overfit_mlp":     {"fixtures/tabular", "digits_members", "digits_nonmembers"},
		"digits_regularised_mlp": {"fixtures/tabular", "digits_members", "digits_nonmembers"},
	}
	// Clopper-Pearson from gonum's Beta quantile against scipy's.
	const epsTol = 1e-9
	compared := 0
	for model, s := range sets {
		t.Run(model, func(t *testing.T) {
			dir := testutil.Shared(t, s[0])
			p := peer.Models[model]
			raw := map[string]any{
				"members":    map[string]any{"x": s[1] + "_x.npy", "y": s[1] + "_y.npy"},
				"nonmembers": map[string]any{"x": s[2] + "_x.npy", "y": s[2] + "_y.npy"},
				"attacks":    []any{"gap", "loss"},
				"slices":     []any{"class"},
			}
			res := runSuite(t, target(t, filepath.Join(dir, model+".onnx"), 2, 128), raw)
			m := res.Metrics
			det := res.Details["attacks"].(map[string]any)["gap"].(map[string]any)
			pm := det["predicted_members"].(map[string]any)
			if pm["members"] != p.Gap.PM || pm["nonmembers"] != p.Gap.PN {
				t.Errorf("gap calls %v members and %v nonmembers members, ART %d and %d", pm["members"], pm["nonmembers"], p.Gap.PM, p.Gap.PN)
			}
			for _, c := range []struct {
				name      string
				got, want float64
				tol       float64
			}{
				{"accuracy (ART's, unbalanced)", det["accuracy"].(float64), p.Gap.Accuracy, exactTol},
				{"gap.auc", m["gap.auc"], p.Gap.AUC, exactTol},
				{"gap.advantage", m["gap.advantage"], p.Gap.Adv, exactTol},
				{"gap.epsilon_lower_bound", m["gap.epsilon_lower_bound"], p.Gap.Eps[0], epsTol},
				// The loss ε is a count ratio at one threshold: equal
				// rankings give equal counts (logits within 1e-5 of numpy's).
				{"loss.epsilon_lower_bound", m["loss.epsilon_lower_bound"], p.Loss.Eps[0], epsTol},
			} {
				if math.Abs(c.got-c.want) > c.tol {
					t.Errorf("%s = %v, peer %v", c.name, c.got, c.want)
				}
				compared++
			}
			for a, eps := range map[string][]float64{"gap": p.Gap.Eps, "loss": p.Loss.Eps} {
				top := res.Details["attacks"].(map[string]any)[a].(map[string]any)["epsilon_lower_bound"].(map[string]any)["top"].([]float64)
				if len(top) != len(eps) {
					t.Errorf("%s ε top %v, peer %v", a, top, eps)
					continue
				}
				for i := range top {
					if math.Abs(top[i]-eps[i]) > epsTol {
						t.Errorf("%s ε top[%d] = %v, peer %v", a, i, top[i], eps[i])
					}
				}
			}
			// Per-class slices against roc_auc_score: the gap score
			// exactly, the loss score within the threshold attacks'
			// tolerance (logits differ by up to 1e-5).
			rows := res.Details["slices"].(map[string]any)["slices"].([]map[string]any)
			for _, row := range rows {
				c, _ := strconv.Atoi(row["value"].(string))
				for a, tol := range map[string]float64{"gap": exactTol, "loss": thresholdAUCTol} {
					got := row["auc"].(map[string]any)[a].(float64)
					if want := p.ClassAUC[a][c]; math.Abs(got-want) > tol {
						t.Errorf("class %d %s AUC %v, roc_auc_score %v", c, a, got, want)
					}
					compared++
				}
			}
			t.Logf("gap: auc %.4f adv %.4f ε %.4f; loss ε %.4f; worst slice AUC gap %.4f loss %.4f", m["gap.auc"], m["gap.advantage"],
				m["gap.epsilon_lower_bound"], m["loss.epsilon_lower_bound"], m["gap.worst_slice_auc"], m["loss.worst_slice_auc"])
		})
	}
	if compared != 3*(5+20) {
		t.Errorf("compared %d figures, want %d", compared, 3*(5+20))
	}
}

// TestSlicesDirect recomputes every slice's AUC and advantage directly:
// the per-sample scores from perSample, the slices from their definitions
// (true class; numpy-style linear percentiles of the pooled confidence and
// loss, both bounds inclusive; correctness), and the AUC as the
// Mann-Whitney count over all member × nonmember pairs (ties 1/2), the
// advantage as max(0, TPR − FPR) over the thresholds "score ≥ each
// distinct score"; then the worst-slice metrics as the highest eligible
// values. Model: the shared MNIST membership target, 500 + 500 rows.
func TestSlicesDirect(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	model := filepath.Join(dir, "mnist_overfit_mlp.onnx")
	raw := map[string]any{
		"members":        map[string]any{"x": "mnist_members_x.npy", "y": "mnist_members_y.npy"},
		"nonmembers":     map[string]any{"x": "mnist_nonmembers_x.npy", "y": "mnist_nonmembers_y.npy"},
		"attacks":        []any{"loss", "confidence", "gap"},
		"slices":         []any{"class", "confidence", "loss", "correctness"},
		"min_slice_size": 60,
	}
	tg := target(t, model, 2, 128)
	res := runSuite(t, tg, raw)
	cfgAny, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	mem, non, _, err := prepare(tg, cfgAny.(Config))
	if err != nil {
		t.Fatal(err)
	}
	sm, _, err := perSample(context.Background(), tg, tg.Session, mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	sn, _, err := perSample(context.Background(), tg, tg.Session, non, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc := append(sm, sn...)
	labels := append(slices.Clone(mem.Y), non.Y...)
	n, nm := len(sc), mem.N
	score := map[string]func(i int) float64{
		"loss":       func(i int) float64 { return sc[i].LogPY },
		"confidence": func(i int) float64 { return sc[i].LogConf },
		"gap": func(i int) float64 {
			if sc[i].Correct {
				return 1
			}
			return 0
		},
	}
	// The slices, by definition.
	type def struct {
		name string
		in   func(i int) bool
	}
	var defs []def
	for c := range 10 {
		defs = append(defs, def{"class=" + strconv.Itoa(c), func(i int) bool { return labels[i] == int64(c) }})
	}
	for _, f := range []string{"confidence", "loss"} {
		v := make([]float64, n)
		for i := range v {
			v[i] = sc[i].LogConf
			if f == "loss" {
				v[i] = -sc[i].LogPY
			}
		}
		sorted := slices.Clone(v)
		slices.Sort(sorted)
		pct := func(q float64) float64 { // numpy.percentile, linear
			h := q * float64(n-1)
			k := int(h)
			if k >= n-1 {
				return sorted[n-1]
			}
			return sorted[k] + (h-float64(k))*(sorted[k+1]-sorted[k])
		}
		for d := range 10 {
			lo, hi := pct(float64(d)/10), pct(float64(d+1)/10)
			defs = append(defs, def{f + "=" + strconv.Itoa(10*d) + "-" + strconv.Itoa(10*d+10), func(i int) bool { return lo <= v[i] && v[i] <= hi }})
		}
	}
	defs = append(defs, def{"correctness=correct", func(i int) bool { return sc[i].Correct }},
		def{"correctness=misclassified", func(i int) bool { return !sc[i].Correct }})

	rows := res.Details["slices"].(map[string]any)["slices"].([]map[string]any)
	if len(rows) != len(defs) {
		t.Fatalf("%d slices, want %d", len(rows), len(defs))
	}
	worst := map[string][2]float64{}
	compared, nulls := 0, 0
	for k, d := range defs {
		row := rows[k]
		if name := row["feature"].(string) + "=" + row["value"].(string); name != d.name {
			t.Fatalf("slice %d is %s, want %s", k, name, d.name)
		}
		var pos, neg []int
		for i := range n {
			if d.in(i) {
				if i < nm {
					pos = append(pos, i)
				} else {
					neg = append(neg, i)
				}
			}
		}
		if row["members"] != len(pos) || row["nonmembers"] != len(neg) {
			t.Errorf("%s: %v members %v nonmembers, want %d and %d", d.name, row["members"], row["nonmembers"], len(pos), len(neg))
		}
		eligible := len(pos) > 0 && len(neg) > 0 && len(pos)+len(neg) >= 60
		for a, f := range score {
			got := row["auc"].(map[string]any)[a]
			if len(pos) == 0 || len(neg) == 0 {
				if got != nil {
					t.Errorf("%s %s AUC %v, want null", d.name, a, got)
				}
				nulls++
				continue
			}
			var wins float64
			for _, i := range pos {
				for _, j := range neg {
					switch cmp.Compare(f(i), f(j)) {
					case 1:
						wins++
					case 0:
						wins += 0.5
					}
				}
			}
			auc := wins / float64(len(pos)*len(neg))
			adv := 0.0
			for _, thr := range append(slices.Clone(pos), neg...) {
				tp, fp := 0, 0
				for _, i := range pos {
					if f(i) >= f(thr) {
						tp++
					}
				}
				for _, j := range neg {
					if f(j) >= f(thr) {
						fp++
					}
				}
				adv = math.Max(adv, float64(tp)/float64(len(pos))-float64(fp)/float64(len(neg)))
			}
			if math.Abs(got.(float64)-auc) > 1e-12 {
				t.Errorf("%s %s AUC %v, direct %v", d.name, a, got, auc)
			}
			if g := row["advantage"].(map[string]any)[a].(float64); math.Abs(g-adv) > 1e-12 {
				t.Errorf("%s %s advantage %v, direct %v", d.name, a, g, adv)
			}
			compared++
			if eligible {
				w := worst[a]
				worst[a] = [2]float64{math.Max(w[0], auc), math.Max(w[1], adv)}
			}
		}
	}
	for a, w := range worst {
		if got := res.Metrics[a+".worst_slice_auc"]; math.Abs(got-w[0]) > 1e-12 {
			t.Errorf("%s.worst_slice_auc %v, direct %v", a, got, w[0])
		}
		if got := res.Metrics[a+".worst_slice_advantage"]; math.Abs(got-w[1]) > 1e-12 {
			t.Errorf("%s.worst_slice_advantage %v, direct %v", a, got, w[1])
		}
		t.Logf("%s: AUC %.4f, worst slice %.4f (%v)", a, res.Metrics[a+".auc"], w[0], res.Details["slices"].(map[string]any)["worst"].(map[string]any)[a])
	}
	// 32 slices × 3 attacks; a slice without members or without
	// nonmembers (the misclassified rows hold no member) has null figures.
	if len(worst) != 3 || compared+nulls != 3*len(defs) || compared < 3*len(defs)/2 {
		t.Errorf("compared %d slice figures (%d null) over %d attacks, want %d in all over 3", compared, nulls, len(worst), 3*len(defs))
	}
	t.Logf("compared %d slice figures, %d null", compared, nulls)
}

// TestSlicesByGroupEqualByGroup: with by set, the slices by group are the
// by-group figures (groups.go builds each group's ROC from its own rows,
// as a slice does): every group's AUC and advantage in details.slices
// equal by_group's, on the demo's adult members and nonmembers
// (examples/adult), by sex and race; min_slice_size 30 leaves the small
// race groups out of the worst slice.
func TestSlicesByGroupEqualByGroup(t *testing.T) {
	dir := testutil.Example(t, "adult")
	tg := target(t, filepath.Join(dir, "adult_mlp.onnx"), 2, 256)
	tg.BaseDir = dir
	raw := map[string]any{
		"members":        map[string]any{"csv": "adult_train.csv", "label": "label", "keep": []any{"sex", "race"}},
		"nonmembers":     map[string]any{"csv": "adult_eval.csv", "label": "label", "keep": []any{"sex", "race"}},
		"attacks":        []any{"loss", "gap"},
		"by":             []any{"sex", "race"},
		"n_boot":         0,
		"slices":         []any{},
		"min_slice_size": 30,
	}
	res := suitetest.Run(t, Suite{}, tg, raw)
	rows := res.Details["slices"].(map[string]any)["slices"].([]map[string]any)
	bg := res.Details[groups.DetailsKey].(map[string]any)
	compared := 0
	for _, a := range []string{"loss", "gap"} {
		worst := math.Inf(-1)
		for _, m := range []string{"auc", "advantage"} {
			attrs := bg[a+"."+m].(map[string]any)["attributes"].(map[string]any)
			for _, row := range rows {
				var want float64
				found := false
				for _, g := range attrs[row["feature"].(string)].(map[string]any)["groups"].([]any) {
					if g := g.(map[string]any); g["group"] == row["value"] {
						want, found = g["value"].(float64), true
					}
				}
				got, ok := row[m].(map[string]any)[a].(float64)
				if !found || !ok || !(got == want || math.IsNaN(want) && !ok) {
					t.Errorf("%s %s %s=%s: slice %v, by_group %v", a, m, row["feature"], row["value"], row[m].(map[string]any)[a], want)
				}
				if m == "auc" && row["eligible"].(bool) {
					worst = math.Max(worst, got)
				}
				compared++
			}
		}
		if got := res.Metrics[a+".worst_slice_auc"]; got != worst {
			t.Errorf("%s.worst_slice_auc %v, want the highest eligible group AUC %v", a, got, worst)
		}
	}
	// 2 sexes + 5 races, 2 attacks, 2 figures.
	if compared != 7*2*2 {
		t.Errorf("compared %d figures, want 28", compared)
	}
}

// TestWorstSliceUndefined: with no eligible slice (min_slice_size above
// every slice's size) the worst-slice metrics are undefined, named in
// Undefined and never reported as 0; the slices' own figures stay in
// details; with slices: [] and no by, neither the metrics nor the details
// exist (examples/adult's members and nonmembers, 3,000 rows).
func TestWorstSliceUndefined(t *testing.T) {
	dir := testutil.Example(t, "adult")
	tg := target(t, filepath.Join(dir, "adult_mlp.onnx"), 2, 256)
	tg.BaseDir = dir
	raw := map[string]any{
		"members":        map[string]any{"csv": "adult_train.csv", "label": "label", "keep": []any{"sex", "race"}},
		"nonmembers":     map[string]any{"csv": "adult_eval.csv", "label": "label", "keep": []any{"sex", "race"}},
		"attacks":        []any{"loss"},
		"min_slice_size": 100000,
	}
	res := suitetest.Run(t, Suite{}, tg, raw)
	for _, k := range []string{"loss.worst_slice_auc", "loss.worst_slice_advantage"} {
		if _, ok := res.Metrics[k]; ok || !slices.Contains(res.Undefined, k) {
			t.Errorf("%s: value %v, undefined %v; want undefined", k, res.Metrics[k], res.Undefined)
		}
	}
	if rows := res.Details["slices"].(map[string]any)["slices"].([]map[string]any); len(rows) != 2+10 || rows[0]["eligible"] != false {
		t.Errorf("%d slices (first %v), want 12, none eligible", len(rows), rows[0])
	}
	raw["slices"] = []any{}
	res = suitetest.Run(t, Suite{}, tg, raw)
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Details["slices"]; ok || slices.Contains(Suite{}.Metrics(cfg, 2), "loss.worst_slice_auc") {
		t.Errorf("slices: [] still reports slices (%v) or lists the worst-slice keys", res.Details["slices"])
	}
}

package evasion

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
)

// adultNumeric are the five standardised numeric inputs of the shared adult
// model (shared/fixtures/tabular/README.md); the other 43 are one-hot.
var adultNumeric = []any{"num_age", "num_education-num", "num_capital-gain", "num_capital-loss", "num_hours-per-week"}

// adultTarget is suitetest.Adult with data.range [-4, 14], which holds
// every standardised value of adult_test.csv (−3.58 … 13.35, measured)
// and the one-hot 0/1.
func adultTarget(t *testing.T) *suite.Target {
	t.Helper()
	tg := suitetest.Adult(t)
	tg.Range, tg.BatchSize, tg.Pool, tg.Seed, tg.OutDir = [2]float64{-4, 14}, 512, runtime.Pool{Workers: 2}, 20260101, t.TempDir()
	return tg
}

// pgdAdult is a PGD-10 L∞ attack at eps 0.1 (standardised units) on the
// numeric features, by sex and race.
func pgdAdult() map[string]any {
	return map[string]any{
		"attacks":  []any{map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.1}, "steps": 10}},
		"features": adultNumeric,
		"by":       []any{"sex", "race"},
	}
}

// TestByGroupAdultNumeric runs PGD on the numeric features of the shared
// adult model by sex and race. Expected figures come from the suites
// themselves, cross-checked: each group's count equals the fairness
// suite's on the same data; the group counts of robust samples add up to
// the overall robust_accuracy's; worst_group and gap are the minimum and
// largest spread of the per-group figures; the one-hot inputs never move
// (the attack's adversarial points equal the clean values there, bit for
// bit) while the numeric ones stay within eps; and restricting the attack
// cannot make it stronger than the same attack on all 48 inputs.
func TestByGroupAdultNumeric(t *testing.T) {
	tg := adultTarget(t)
	res := suitetest.Run(t, Suite{}, tg, pgdAdult())
	const key = "pgd.linf.eps=0.1.robust_accuracy"
	if f := res.Details["features"].([]string); len(f) != 5 || f[0] != "num_age" {
		t.Errorf("details.features %v, want the 5 num_ columns", f)
	}

	ft := suitetest.Adult(t)
	ft.BatchSize, ft.Pool, ft.Seed = 512, runtime.Pool{Workers: 2}, 1
	fres := suitetest.Run(t, fairness.Suite{}, ft, map[string]any{"sensitive": []any{"sex", "race"}, "n_boot": 0})
	fattrs := fres.Details["attributes"].(map[string]any)

	n := tg.Data.N
	overall := res.Metrics[key] * float64(n)
	bg := res.Details[groups.DetailsKey].(map[string]any)[key].(map[string]any)["attributes"].(map[string]any)
	compared := 0
	for _, attr := range []string{"sex", "race"} {
		rows := bg[attr].(map[string]any)["groups"].([]any)
		frows := fattrs[attr].(map[string]any)["groups"].([]any)
		if len(rows) != len(frows) {
			t.Fatalf("%s: %d groups, fairness has %d", attr, len(rows), len(frows))
		}
		var robust float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, r := range rows {
			r, fr := r.(map[string]any), frows[i].(map[string]any)
			if r["group"] != fr["group"] || int64(r["count"].(int)) != fr["count"].(int64) {
				t.Errorf("%s group %d: %v count %v, fairness %v count %v", attr, i, r["group"], r["count"], fr["group"], fr["count"])
			}
			v := r["value"].(float64)
			robust += v * float64(r["count"].(int))
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			compared++
		}
		if math.Abs(robust-overall) > 1e-6 {
			t.Errorf("%s: robust samples by group add up to %v, overall %v", attr, robust, overall)
		}
		if got := res.Metrics[key+"."+attr+".gap"]; math.Abs(got-(hi-lo)) > 1e-12 {
			t.Errorf("%s gap %v, want %v", attr, got, hi-lo)
		}
		if got := res.Metrics[key+"."+attr+".worst_group"]; got != lo {
			t.Errorf("%s worst %v, want %v", attr, got, lo)
		}
	}
	if compared != 7 {
		t.Errorf("compared %d groups, want 7", compared)
	}
	t.Logf("robust accuracy %.4f; worst group %.4f, gap %.4f; by group: %v", res.Metrics[key], res.Metrics[key+".worst_group"], res.Metrics[key+".gap"], bg)

	// The adversarial points: one-hot inputs untouched, numeric within eps.
	cfgAny, err := Suite{}.Decode(pgdAdult())
	if err != nil {
		t.Fatal(err)
	}
	cfg := cfgAny.(Config)
	d, k := tg.Data.SampleSize(), tg.Classes
	clean := make([]float32, n*k)
	if err := suite.ForEachBatch(context.Background(), tg, tg.Data, func(_, lo, hi int, out []float32) error {
		copy(clean[lo*k:hi*k], out[:(hi-lo)*k])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	correct := make([]bool, n)
	for i := range correct {
		correct[i] = int64(stats.Argmax(clean[i*k:(i+1)*k])) == tg.Data.Y[i]
	}
	rt, _, err := openRunners(tg, cfg, d, k)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	rt.keepAdv = true
	o, err := rt.attack(context.Background(), tg, cfg, cfg.Attacks[0], 0.1, clean, correct)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i := range n {
		for p := range d {
			x0, xa := tg.Data.X[i*d+p], o.adv[i*d+p]
			if p >= 5 && xa != x0 {
				t.Fatalf("sample %d: one-hot input %d (%s) moved %v → %v", i, p, tg.Data.Features[p], x0, xa)
			}
			if math.Abs(float64(xa)-float64(x0)) > 0.1 {
				t.Fatalf("sample %d input %d moved by %v > eps", i, p, xa-x0)
			}
			if xa != x0 {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Error("the attack moved no numeric input")
	}

	all := pgdAdult()
	delete(all, "features")
	delete(all, "by")
	resAll := suitetest.Run(t, Suite{}, adultTarget(t), all)
	if resAll.Metrics[key] > res.Metrics[key] {
		t.Errorf("robust accuracy on all inputs %v is above the numeric-only attack's %v", resAll.Metrics[key], res.Metrics[key])
	}
	t.Logf("robust accuracy: numeric inputs only %.4f, all 48 inputs %.4f", res.Metrics[key], resAll.Metrics[key])
}

// TestByAndFeaturesBadInput: a by column or a features entry the data
// lacks is a config error (exit code 2) naming the key and the column,
// from CheckData and from Run.
func TestByAndFeaturesBadInput(t *testing.T) {
	tg := adultTarget(t)
	for _, c := range []struct {
		name string
		set  map[string]any
		want string
	}{
		{"by", map[string]any{"by": []any{"sex", "religion"}}, `config suites.evasion.by[1]: column "religion" is not in the CSV data of data`},
		{"features name", map[string]any{"features": []any{"num_age", "num_wealth"}}, `config suites.evasion.features[1]: "num_wealth" is not a feature column of the data nor an index`},
		{"features index", map[string]any{"features": []any{48}}, `config suites.evasion.features[0]: index 48 is outside 0..47`},
	} {
		raw := pgdAdult()
		delete(raw, "by")
		delete(raw, "features")
		for k, v := range c.set {
			raw[k] = v
		}
		cfg, err := Suite{}.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := (Suite{}).CheckData(cfg, tg.Data, tg.Classes); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CheckData %v, want exit 2 with %q", c.name, err, c.want)
		}
		if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Run %v, want exit 2 with %q", c.name, err, c.want)
		}
	}
	if _, err := (Suite{}).Decode(map[string]any{"attacks": pgdAdult()["attacks"], "features": []any{}}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("empty features: %v, want exit 2", err)
	}
}

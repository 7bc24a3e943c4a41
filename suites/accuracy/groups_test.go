package accuracy

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// groupTol is the agreement required with Fairlearn's per-group accuracy:
// both are the same integer ratio, so only rounding differs.
const groupTol = 1e-12

// TestByGroupAdult runs accuracy with by: [sex, race] on the shared adult
// model and compares every group's count and accuracy with Fairlearn 0.9's
// MetricFrame by_group records in shared/fixtures/tabular/REFERENCE.json
// (models.adult_mlp.fairlearn.{sex,race}.by_group). Worst group and gaps
// follow from those records: Male 0.8145 is the lowest of all seven
// groups; sex gap 0.9275 − 0.8145 = 0.1130 beats race's Black 0.9171 −
// White 0.8436 = 0.0734.
func TestByGroupAdult(t *testing.T) {
	tg := suitetest.Adult(t)
	tg.BatchSize, tg.Pool = 512, runtime.Pool{Workers: 2}
	b, err := os.ReadFile(filepath.Join(testutil.Shared(t, "fixtures/tabular"), "REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Models struct {
			Adult struct {
				Fairlearn map[string]struct {
					ByGroup []struct {
						Group    map[string]string `json:"group"`
						Accuracy float64           `json:"accuracy"`
						Count    int               `json:"count"`
					} `json:"by_group"`
				} `json:"fairlearn"`
			} `json:"adult_mlp"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"by": []any{"sex", "race"}})
	bg := res.Details[groups.DetailsKey].(map[string]any)["accuracy"].(map[string]any)["attributes"].(map[string]any)
	want := map[string]float64{} // "attr=group" → accuracy
	compared := 0
	for _, attr := range []string{"sex", "race"} {
		rows := bg[attr].(map[string]any)["groups"].([]any)
		fl := ref.Models.Adult.Fairlearn[attr].ByGroup
		if len(rows) != len(fl) {
			t.Fatalf("%s: %d groups, Fairlearn has %d", attr, len(rows), len(fl))
		}
		for i, r := range rows {
			r := r.(map[string]any)
			g := fl[i]
			if r["group"] != g.Group[attr] || r["count"] != g.Count || math.Abs(r["value"].(float64)-g.Accuracy) > groupTol {
				t.Errorf("%s group %d: %v, Fairlearn %v count %d accuracy %v", attr, i, r, g.Group, g.Count, g.Accuracy)
			}
			want[attr+"="+g.Group[attr]] = g.Accuracy
			compared++
		}
	}
	if compared != 7 {
		t.Errorf("compared %d groups, want 7 (2 sexes, 5 races)", compared)
	}
	for k, v := range map[string]float64{
		"accuracy.worst_group":      want["sex=Male"],
		"accuracy.gap":              want["sex=Female"] - want["sex=Male"],
		"accuracy.sex.gap":          want["sex=Female"] - want["sex=Male"],
		"accuracy.race.gap":         want["race=Black"] - want["race=White"],
		"accuracy.race.worst_group": want["race=White"],
	} {
		if got := res.Metrics[k]; math.Abs(got-v) > groupTol {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if lo, hi := res.Metrics["accuracy.worst_group.ci_low"], res.Metrics["accuracy.worst_group.ci_high"]; !(lo < want["sex=Male"] && want["sex=Male"] < hi) {
		t.Errorf("worst group bounds [%v, %v] do not bracket %v", lo, hi, want["sex=Male"])
	}
}

// TestByMissingColumn: by naming a column the data lacks is a config error
// (exit code 2) naming the key and the column, from CheckData (before any
// suite runs) and from Run. suitetest.Adult keeps only sex and race.
func TestByMissingColumn(t *testing.T) {
	tg := suitetest.Adult(t)
	tg.BatchSize, tg.Pool = 512, runtime.Pool{Workers: 1}
	cfg, err := Suite{}.Decode(map[string]any{"by": []any{"sex", "religion"}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `config suites.accuracy.by[1]: column "religion" is not in the CSV data of data`
	if err := (Suite{}).CheckData(cfg, tg.Data, tg.Classes); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckData: %v, want exit 2 with %q", err, want)
	}
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("Run: %v, want exit 2 with %q", err, want)
	}
	if _, err := (Suite{}).Decode(map[string]any{"by": []any{""}}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("empty by column: %v, want exit 2", err)
	}
}

// TestByGroupWorkersAgree: the by-group figures, bootstrap bounds of the
// gaps included, do not depend on the worker count or the batch size (the
// bootstrap streams derive from the suite seed and the metric key only).
func TestByGroupWorkersAgree(t *testing.T) {
	var got []map[string]float64
	for _, w := range []struct{ workers, batch int }{{1, 512}, {3, 97}} {
		tg := suitetest.Adult(t)
		tg.BatchSize, tg.Pool, tg.Seed = w.batch, runtime.Pool{Workers: w.workers}, 11
		res := suitetest.Run(t, Suite{}, tg, map[string]any{"by": []any{"sex", "race"}, "intersections": true})
		got = append(got, res.Metrics)
	}
	n := 0
	for k, v := range got[0] {
		if strings.Contains(k, "worst_group") || strings.Contains(k, "gap") {
			n++
			if got[1][k] != v {
				t.Errorf("%s: %v with 1 worker, %v with 3", k, v, got[1][k])
			}
		}
	}
	// 4 scopes (all, sex, race, sex&race) × worst_group and gap, each with
	// two bounds.
	if n != 24 {
		t.Errorf("compared %d by-group metrics, want 24", n)
	}
}

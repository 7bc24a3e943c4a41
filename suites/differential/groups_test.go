package differential

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
)

// groupTol bounds the difference between a per-group figure and the same
// ratio of integers computed here: only the rounding of one division
// differs.
const groupTol = 1e-12

// sumTol bounds the difference between the count-weighted sum of
// per-group figures and the overall figure times N (sums of at most 1000
// rounded ratios).
const sumTol = 1e-9

// byAdult is the config of the by-group tests: the demo's INT8 static
// variant (examples/differential.yaml) and its FGSM attack, by sex.
func byAdult() map[string]any {
	return map[string]any{
		"variants": []any{map[string]any{"name": "int8", "quantize": "int8_static"}},
		"by":       []any{"sex"},
		"evasion":  map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}}}},
	}
}

// groupRows returns the rows of details.by_group.<key>.attributes.<attr>.
func groupRows(t *testing.T, res map[string]any, key, attr string) []map[string]any {
	t.Helper()
	det, ok := res[key].(map[string]any)
	if !ok {
		t.Fatalf("details.by_group has no %s", key)
	}
	var out []map[string]any
	for _, r := range det["attributes"].(map[string]any)[attr].(map[string]any)["groups"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// TestByGroupAdult runs the INT8 static variant of the repo's Adult demo
// model (examples/adult) with by: [sex] and an FGSM block. Expected
// figures come from independent sources: each group's count is the
// fairness suite's on the same data (sensitive: [sex]); each group's
// agreement is 1 − (rows of the flips CSV in the group) / count, from the
// CSV the suite writes and the data's sex column; worst_group and gap are
// the minimum and the spread of the per-group figures; and the
// count-weighted per-group accuracy deltas, robust-accuracy deltas and
// transfer-rate hits add up to the overall figures.
func TestByGroupAdult(t *testing.T) {
	tg := adult(t)
	res := suitetest.Run(t, Suite{}, tg, byAdult())
	suitetest.Defined(t, res)
	bg := res.Details[groups.DetailsKey].(map[string]any)

	ft := adult(t)
	fres := suitetest.Run(t, fairness.Suite{}, ft, map[string]any{"sensitive": []any{"sex"}, "n_boot": 0})
	frows := fres.Details["attributes"].(map[string]any)["sex"].(map[string]any)["groups"].([]any)

	// flips per sex, from the CSV
	flipsCSV := filepath.Join(tg.OutDir, res.Details["variants"].([]map[string]any)[0]["flips_csv"].(string))
	f, err := os.Open(flipsCSV)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sex := tg.Data.Columns["sex"]
	flips := map[string]int{}
	for _, rec := range recs[1:] {
		i, err := strconv.Atoi(rec[0])
		if err != nil {
			t.Fatal(err)
		}
		flips[sex[i]]++
	}
	if len(recs)-1 != int(res.Metrics["int8.flips"]) {
		t.Fatalf("flips CSV has %d rows, int8.flips %v", len(recs)-1, res.Metrics["int8.flips"])
	}

	n := float64(tg.Data.N)
	rows := groupRows(t, bg, "int8.agreement", "sex")
	if len(rows) != len(frows) || len(rows) != 2 {
		t.Fatalf("%d groups, fairness has %d; want 2", len(rows), len(frows))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	compared := 0
	for i, r := range rows {
		fr := frows[i].(map[string]any)
		g, c := r["group"].(string), r["count"].(int)
		if g != fr["group"] || int64(c) != fr["count"].(int64) {
			t.Errorf("group %d: %s count %d, fairness %v count %v", i, g, c, fr["group"], fr["count"])
		}
		want := 1 - float64(flips[g])/float64(c)
		if v := r["value"].(float64); math.Abs(v-want) > groupTol {
			t.Errorf("%s agreement %v; flips CSV gives 1 − %d/%d = %v", g, v, flips[g], c, want)
		}
		lo, hi = math.Min(lo, want), math.Max(hi, want)
		compared++
	}
	if compared != 2 {
		t.Errorf("compared %d groups, want 2", compared)
	}
	for k, want := range map[string]float64{
		"int8.agreement.worst_group": lo, "int8.agreement.sex.worst_group": lo,
		"int8.agreement.gap": hi - lo, "int8.agreement.sex.gap": hi - lo,
	} {
		if got := res.Metrics[k]; math.Abs(got-want) > groupTol {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}

	// count-weighted sums add up to the overall figures
	const atk = "int8.fgsm.linf.eps=0.03"
	for _, c := range []struct{ key, overall string }{
		{"int8.accuracy_delta", "int8.accuracy_delta"},
		{atk + ".robust_accuracy_delta", atk + ".robust_accuracy_delta"},
	} {
		var sum float64
		for _, r := range groupRows(t, bg, c.key, "sex") {
			sum += r["value"].(float64) * float64(r["count"].(int))
		}
		if want := res.Metrics[c.overall] * n; math.Abs(sum-want) > sumTol {
			t.Errorf("%s: per-group sum %v, overall × N %v", c.key, sum, want)
		}
	}
	var hits, den float64
	for _, r := range groupRows(t, bg, atk+".transfer_rate", "sex") {
		if r["value"] != nil {
			hits += r["value"].(float64) * float64(r["count"].(int))
		}
		den += float64(r["count"].(int))
	}
	if got := res.Metrics[atk+".transfer_rate"]; math.Abs(hits/den-got) > sumTol {
		t.Errorf("transfer rate by group: %v/%v = %v, overall %v", hits, den, hits/den, got)
	}
	t.Logf("agreement by sex %v, worst %.4f gap %.4f; accuracy_delta worst %.4f; %s transfer_rate worst %.4f",
		rows, res.Metrics["int8.agreement.worst_group"], res.Metrics["int8.agreement.gap"],
		res.Metrics["int8.accuracy_delta.worst_group"], atk, res.Metrics[atk+".transfer_rate.worst_group"])
}

// TestByMissingColumn: a by column the data lacks is a config error (exit
// code 2) naming the key and the column, from CheckData and from Run.
func TestByMissingColumn(t *testing.T) {
	tg := adult(t)
	tg.Pool = runtime.Pool{Workers: 1}
	raw := byAdult()
	raw["by"] = []any{"sex", "religion"}
	delete(raw, "evasion")
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	const want = `config suites.differential.by[1]: column "religion" is not in the CSV data of data`
	if err := (Suite{}).CheckData(cfg, tg.Data, tg.Classes); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckData %v, want exit 2 with %q", err, want)
	}
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("Run %v, want exit 2 with %q", err, want)
	}
	raw["by"] = []any{"sex"}
	raw["min_group_size"] = -1
	if _, err := (Suite{}).Decode(raw); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "config suites.differential.min_group_size") {
		t.Errorf("min_group_size -1: %v, want exit 2 naming the key", err)
	}
}

package slices

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// pTol is the relative agreement required with scipy's p-values: the z
// test's p-value is erfc in Go and the χ² survival function in scipy,
// Fisher's sums the same hypergeometric terms (log-gamma in Go), so only
// rounding differs.
const pTol = 1e-9

// peerCase is one case of testdata/peer_scipy.json (peer_scipy.py).
type peerCase struct {
	Tested        int                  `json:"tested"`
	SelectionRate *peerCase            `json:"selection_rate"`
	MinSize       int                  `json:"min_size"`
	Rows          int                  `json:"rows"`
	Correct       int                  `json:"correct"`
	Found         []string             `json:"found"`
	BinEdges      map[string][]float64 `json:"bin_edges"`
	Slices        map[string]struct {
		Size     int     `json:"size"`
		Hits     int     `json:"hits"`
		RestSize int     `json:"rest_size"`
		Test     string  `json:"test"`
		P        float64 `json:"p"`
		PAdj     float64 `json:"p_adj"`
		Gap      float64 `json:"gap"`
	} `json:"slices"`
}

func peer(t *testing.T, name string) peerCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "peer_scipy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	var c peerCase
	if err := json.Unmarshal(all[name], &c); err != nil {
		t.Fatalf("peer_scipy.json %s: %v", name, err)
	}
	return c
}

func relClose(a, b, tol float64) bool {
	return a == b || math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// fixture opens testdata/logistic.onnx on testdata/<csv> (make_planted.py):
// the model's features are every column but label and the kept age, sex
// and region.
func fixture(t *testing.T, csv string) *suite.Target {
	t.Helper()
	testutil.ORTLibrary(t)
	dir, _ := filepath.Abs("testdata")
	ds := suitetest.Load(t, data.Spec{CSV: csv, Label: "label", Keep: []string{"age", "sex", "region"}}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "logistic.onnx"), ds)
	tg.BatchSize, tg.Pool = 512, runtime.Pool{Workers: 2}
	return tg
}

// checkFound compares the reported accuracy slices of res, in rank order,
// with the peer's, and each one's counts and p-values; it returns how
// many it compared.
func checkFound(t *testing.T, res *suite.Result, want peerCase) int {
	t.Helper()
	return checkMetric(t, res, Accuracy, want)
}

// checkMetric is checkFound for the slices of metric.
func checkMetric(t *testing.T, res *suite.Result, metric string, want peerCase) int {
	t.Helper()
	rows := res.Details["slices"].([]map[string]any)
	var got []map[string]any
	for _, r := range rows {
		if r["metric"] == metric {
			got = append(got, r)
		}
	}
	if len(got) != len(want.Found) {
		t.Fatalf("reported %d accuracy slices, peer %d: %v", len(got), len(want.Found), want.Found)
	}
	for i, r := range got {
		p := want.Slices[want.Found[i]]
		if r["slice"] != want.Found[i] || r["size"] != p.Size || r["hits"] != p.Hits || r["test"] != p.Test ||
			!relClose(r["p_value"].(float64), p.P, pTol) || !relClose(r["p_adjusted"].(float64), p.PAdj, pTol) ||
			math.Abs(r["gap"].(float64)-p.Gap) > 1e-12 {
			t.Errorf("rank %d: %v, peer %s %+v", i+1, r, want.Found[i], p)
		}
	}
	if res.Metrics[metric+".tested"] != float64(want.Tested) {
		t.Errorf("%s: tested %v, peer %d", metric, res.Metrics[metric+".tested"], want.Tested)
	}
	if want.MinSize > 0 && res.Details["min_size"] != want.MinSize {
		t.Errorf("min_size %v, peer %d", res.Details["min_size"], want.MinSize)
	}
	return len(got)
}

// TestPlanted: on planted.csv (make_planted.py flips 35% of the labels of
// age > 60 & sex = F) the planted slice is reported first, with scipy's
// p-value (peer_scipy.json: z-test p = 2.80e-118, BH-adjusted 9.80e-117,
// 35 slices tested, min_size max(30, 1% of 4,000) = 40); every reported
// slice, its rank, counts and p-values are the peer's.
func TestPlanted(t *testing.T) {
	want := peer(t, "planted")
	tg := fixture(t, "planted.csv")
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"features": []any{"age", "sex", "region"}})
	suitetest.Defined(t, res)
	if n := checkFound(t, res, want); n == 0 {
		t.Fatal("no slice reported")
	}
	top := res.Details["slices"].([]map[string]any)[0]
	if top["slice"] != "age>60.25 & sex=F" {
		t.Errorf("first slice %v, want the planted age>60.25 & sex=F", top["slice"])
	}
	t.Logf("planted slice: %v rows, accuracy %.4f against %.4f, p = %.3g, adjusted %.3g",
		top["size"], top["value"], top["rest_value"], top["p_value"], top["p_adjusted"])
	if res.Metrics["worst.accuracy"] != top["value"] || res.Metrics["worst.gap"] != top["gap"] ||
		res.Metrics["count_significant"] != float64(len(want.Found)) {
		t.Errorf("summary %v, top slice %v", res.Metrics, top)
	}
	edges := res.Details["bin_edges"].(map[string]any)["age"].([]float64)
	if len(edges) != len(want.BinEdges["age"]) {
		t.Fatalf("age edges %v, peer %v", edges, want.BinEdges["age"])
	}
	for i, e := range edges {
		if math.Abs(e-want.BinEdges["age"][i]) > 1e-12 {
			t.Errorf("age edge %d: %v, peer %v", i, e, want.BinEdges["age"][i])
		}
	}
	// The findings become SARIF results under gauntlet/weak-slice.
	fs := res.Details[reports.FindingsKey].([]reports.Finding)
	if len(fs) != len(want.Found) || !strings.Contains(fs[0].Message, "age>60.25 & sex=F") {
		t.Fatalf("findings %v", fs)
	}
	var buf bytes.Buffer
	rep := &reports.Report{Model: reports.Model{Path: "logistic.onnx"},
		Suites: []reports.SuiteResult{{Name: "slices", Version: "1", Status: "passed", Metrics: res.Metrics, Details: res.Details}}}
	if err := (reports.SARIFWriter{}).Write(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateSARIF(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `"ruleId": "gauntlet/weak-slice"`); n != len(want.Found) {
		t.Errorf("%d SARIF weak-slice results, want %d", n, len(want.Found))
	}
}

// TestAllTestedPlanted compares every tested slice of planted.csv (not
// only the reported ones) with scipy: the model predicts 4·x1 + 2·x2 > 0
// (make_planted.py's weights), so correctness is recomputed here from the
// CSV columns and searched directly.
func TestAllTestedPlanted(t *testing.T) {
	want := peer(t, "planted")
	dir, _ := filepath.Abs("testdata")
	ds := suitetest.Load(t, data.Spec{CSV: "planted.csv", Label: "label", Keep: []string{"age", "sex", "region", "x1", "x2"}}, dir)
	hit := make([]bool, ds.N)
	correct := 0
	for i := range hit {
		x1, _ := strconv.ParseFloat(ds.Columns["x1"][i], 32)
		x2, _ := strconv.ParseFloat(ds.Columns["x2"][i], 32)
		pred := int64(0)
		if 4*float32(x1)+2*float32(x2) > 0 {
			pred = 1
		}
		hit[i] = pred == ds.Y[i]
		if hit[i] {
			correct++
		}
	}
	if correct != want.Correct {
		t.Fatalf("%d correct, peer %d", correct, want.Correct)
	}
	cols, err := encodeAll("features", []string{"age", "sex", "region"}, ds, DefaultBins)
	if err != nil {
		t.Fatal(err)
	}
	s := search(Accuracy, cols, hit, 2, want.MinSize, DefaultAlpha, stats.BenjaminiHochberg)
	compared := 0
	for _, x := range s.All {
		if !x.Tested {
			continue
		}
		p, ok := want.Slices[x.Name]
		if !ok {
			t.Errorf("slice %s not tested by the peer", x.Name)
			continue
		}
		if x.N != p.Size || x.Hits != p.Hits || x.Test != p.Test || !relClose(x.P, p.P, pTol) || !relClose(x.PAdj, p.PAdj, pTol) {
			t.Errorf("%s: n %d hits %d %s p %v adj %v; peer %+v", x.Name, x.N, x.Hits, x.Test, x.P, x.PAdj, p)
		}
		compared++
	}
	if compared != want.Tested || compared != 35 {
		t.Errorf("compared %d slices, peer tested %d (35)", compared, want.Tested)
	}
}

// TestNull: on null.csv (the same generator without the planted flips)
// no slice is reported (peer_scipy.json: none of 35), count_significant
// is 0, and worst.accuracy is the overall accuracy (3,794 of 4,000
// correct, peer).
func TestNull(t *testing.T) {
	want := peer(t, "null")
	tg := fixture(t, "null.csv")
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"features": []any{"age", "sex", "region"}})
	suitetest.Defined(t, res)
	checkFound(t, res, want)
	if res.Metrics["count_significant"] != 0 || res.Metrics["worst.gap"] != 0 ||
		res.Metrics["worst.accuracy"] != float64(want.Correct)/float64(want.Rows) {
		t.Errorf("metrics %v, want nothing significant and worst.accuracy %d/%d", res.Metrics, want.Correct, want.Rows)
	}
	if _, ok := res.Details[reports.FindingsKey]; ok {
		t.Error("findings on the null data")
	}
}

// TestAdult runs the suite on the shared Adult MLP (adult_test.csv, 15,060
// rows; slices of age, sex and race) and compares the reported slices with
// peer_scipy.py's re-implementation (its predictions from the ONNX
// weights in numpy: 12,822 correct, the README's 0.8514).
func TestAdult(t *testing.T) {
	want := peer(t, "adult")
	dir := testutil.Shared(t, "fixtures/tabular")
	testutil.ORTLibrary(t)
	ds := suitetest.Load(t, data.Spec{CSV: "adult_test.csv", Label: "label", Keep: []string{"sex", "race", "age"}}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool = 1024, runtime.Pool{Workers: 2}
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"features": []any{"age", "sex", "race"}, "sensitive": []any{"sex", "race"}})
	suitetest.Defined(t, res)
	if n := checkFound(t, res, want); n != len(want.Found) || n == 0 {
		t.Errorf("compared %d slices", n)
	}
	if res.Details["min_size"] != 151 { // max(30, ⌈0.01 · 15,060⌉)
		t.Errorf("min_size %v, want 151", res.Details["min_size"])
	}
	// The selection rate (prediction 1) over sex and race: the peer
	// reports sex=Female & race=Black, sex=Female, race=Black, of 10.
	if n := checkMetric(t, res, SelectionRate, *want.SelectionRate); n != 3 {
		t.Errorf("compared %d selection-rate slices, want 3", n)
	}
}

// TestPlantedHolmDepth3: max_depth 3 with Holm's correction on
// planted.csv reports the peer's slices in the peer's order
// (peer_scipy.json planted_holm_depth3: 59 tested, 8 reported, the planted
// slice first with Holm-adjusted p = 1.65e-116).
func TestPlantedHolmDepth3(t *testing.T) {
	want := peer(t, "planted_holm_depth3")
	tg := fixture(t, "planted.csv")
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"features": []any{"age", "sex", "region"}, "max_depth": 3, "correction": "holm"})
	if n := checkFound(t, res, want); n != 8 {
		t.Errorf("compared %d slices, want 8", n)
	}
}

// TestParentRule: a depth-2 slice as bad as one of its parents is not
// reported even when significant. Constructed: column a (0/1), column b
// (0/1), 400 rows each cell; hits fail only where a = 1 (rate 0.5 in
// both a=1 cells, 1 elsewhere), so a=1 is reported and neither a=1 & b=0
// nor a=1 & b=1 (rate equal to their parent a=1's).
func TestParentRule(t *testing.T) {
	n := 1600
	a := column{Name: "a", Labels: []string{"a=0", "a=1"}, Code: make([]int32, n)}
	b := column{Name: "b", Labels: []string{"b=0", "b=1"}, Code: make([]int32, n)}
	hit := make([]bool, n)
	for i := range n {
		a.Code[i], b.Code[i] = int32(i/400%2), int32(i/800)
		hit[i] = a.Code[i] == 0 || i%2 == 0
	}
	s := search(Accuracy, []column{a, b}, hit, 2, 30, 0.05, stats.Holm)
	if len(s.Found) != 1 || s.Found[0].Name != "a=1" {
		var names []string
		for _, x := range s.Found {
			names = append(names, x.Name)
		}
		t.Fatalf("found %v, want [a=1]", names)
	}
	if s.Tested != 8 { // 4 depth-1 + 4 depth-2 slices, each 400 or 800 rows
		t.Errorf("tested %d, want 8", s.Tested)
	}
}

// TestBadConfig: bad values are errs.Invalid naming the key.
func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{}, "features"},
		{map[string]any{"features": []any{"age"}, "max_depth": 4}, "max_depth"},
		{map[string]any{"features": []any{"age"}, "correction": "bonferroni"}, "correction"},
		{map[string]any{"features": []any{"age"}, "alpha": 1}, "alpha"},
		{map[string]any{"features": []any{"age"}, "bins": 1}, "bins"},
		{map[string]any{"features": []any{"age"}, "min_size": -1}, "min_size"},
		{map[string]any{"features": []any{"age"}, "evasion": map[string]any{"attacks": "x"}}, "evasion"},
		{map[string]any{"features": []any{"age"}, "nope": 1}, "nope"},
	} {
		_, err := Suite{}.Decode(c.raw)
		if err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%v) = %v, want an Invalid error naming %s", c.raw, err, c.want)
		}
	}
	cfg, err := Suite{}.Decode(map[string]any{"features": []any{"age", "income"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &data.Dataset{N: 2, Y: []int64{0, 1}, Columns: map[string][]string{"age": {"1", "2"}}}
	if err := (Suite{}).CheckData(cfg, d, 2); err == nil || errs.Code(err, -1) != errs.Invalid ||
		!strings.Contains(err.Error(), "features[1]") || !strings.Contains(err.Error(), "income") {
		t.Errorf("CheckData = %v, want Invalid naming features[1] income", err)
	}
	if _, err := encode("features[0]", "age", []string{"1", ""}, 4); err == nil || !strings.Contains(err.Error(), "sample 1") {
		t.Errorf("empty value: %v", err)
	}
}

// TestEncodeEdges: quartile edges of 1..8 are 2.75, 4.5, 6.25 (type 7:
// h = 7q, so 1 + 7/4, 1 + 7/2, 1 + 21/4); a column whose quantiles all sit
// at its maximum (1, 2, 3, 4, 5, then 95 × 9) keeps no edge and is
// categorical (six values).
func TestEncodeEdges(t *testing.T) {
	c, err := encode("k", "x", []string{"1", "2", "3", "4", "5", "6", "7", "8"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{2.75, 4.5, 6.25}
	if !c.Numeric || len(c.Edges) != 3 || c.Edges[0] != want[0] || c.Edges[1] != want[1] || c.Edges[2] != want[2] {
		t.Fatalf("edges %v, want %v", c.Edges, want)
	}
	if c.Labels[0] != "x<=2.75" || c.Labels[3] != "x>6.25" || c.Code[2] != 1 || c.Code[7] != 3 {
		t.Errorf("labels %v codes %v", c.Labels, c.Code)
	}
	vals := []string{"1", "2", "3", "4", "5"}
	for range 95 {
		vals = append(vals, "9")
	}
	c, err = encode("k", "x", vals, 4)
	if err != nil {
		t.Fatal(err)
	}
	if c.Numeric || len(c.Labels) != 6 || c.Labels[5] != "x=9" {
		t.Errorf("numeric %v labels %v, want six categories", c.Numeric, c.Labels)
	}
}

// TestDocumentedKeys: every key Metrics lists for a config with all three
// metrics is in docs/metrics/slices.md's table (per-metric keys with
// <metric> in place of the name).
func TestDocumentedKeys(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "metrics", "slices.md"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Suite{}.Decode(map[string]any{"features": []any{"age"}, "sensitive": []any{"sex"},
		"evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}}}}})
	if err != nil {
		t.Fatal(err)
	}
	keys := Suite{}.Metrics(cfg, 2)
	for _, k := range keys {
		g := k
		for _, m := range []string{RobustAccuracy, SelectionRate, Accuracy} {
			g = strings.Replace(g, m, "<metric>", 1)
		}
		if !strings.Contains(string(doc), "`slices."+g+"`") {
			t.Errorf("key %s (`slices.%s`) not in docs/metrics/slices.md", k, g)
		}
	}
	if len(keys) != 18 { // 3 summary keys + 5 per metric
		t.Errorf("%d keys, want 18", len(keys))
	}
}

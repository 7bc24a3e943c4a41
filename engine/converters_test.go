package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// convRow is one CSV row for a converter fixture: two features, a label
// and a group.
type convRow struct {
	x0, x1 float64
	label  string
	group  string
}

// convRows are the rows of the black-box converter tests: values picked by
// hand so that no prediction is near a tie (x0 - 2 x1 + 0.5 is at least 0.5
// from 0, and the top two of x0, x1, -x0 - x1 are at least 0.25 apart).
var convRows = []convRow{
	{1, 0, "", "a"}, {0, 1, "", "a"}, {2, 0.5, "", "a"}, {-1, 0, "", "a"}, {0.75, -1, "", "a"}, {0, -0.25, "", "a"},
	{-2, 0, "", "b"}, {0, 2, "", "b"}, {1, 1.25, "", "b"}, {3, 0, "", "b"},
}

// runConverter writes rows with labels as a CSV, runs the accuracy and
// fairness suites on the converter fixture model through the engine, and
// returns the report.
func runConverter(t *testing.T, model string, labels []string, fairness string) *reports.Report {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("x0,x1,label,group\n")
	for i, r := range convRows {
		fmt.Fprintf(&b, "%v,%v,%s,%s\n", r.x0, r.x1, labels[i], r.group)
	}
	csv := filepath.Join(dir, "eval.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mp, err := filepath.Abs(filepath.Join("..", "runtime", "testdata", "converters", model))
	if err != nil {
		t.Fatal(err)
	}
	y := "version: 1\nmodel: " + mp + "\n" +
		"runtime: {ort_library: " + testutil.ORTLibrary(t) + "}\n" +
		"data: {csv: " + csv + ", label: label, features: [x0, x1], keep: [group]}\n" +
		"output: {dir: " + filepath.Join(dir, "out") + "}\n" +
		"suites: {accuracy: {}, fairness: {sensitive: [group], n_boot: 0" + fairness + "}}\n"
	p := filepath.Join(dir, "gauntlet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Suites {
		if s.Status != reports.StatusPassed {
			t.Fatalf("suite %s: %s %s", s.Name, s.Status, s.Error)
		}
	}
	return rep
}

// checkHand compares the report's accuracy and per-group selection rates
// with a hand computation: pred[i] and label[i] are class labels, pos the
// positive one.
func checkHand(t *testing.T, rep *reports.Report, pred, label []string, pos string) {
	t.Helper()
	correct := 0
	sel := map[string][2]int{} // group → positives, rows
	for i, r := range convRows {
		if pred[i] == label[i] {
			correct++
		}
		c := sel[r.group]
		if pred[i] == pos {
			c[0]++
		}
		c[1]++
		sel[r.group] = c
	}
	acc := float64(correct) / float64(len(convRows))
	if got := rep.Suites[0].Metrics["accuracy"]; math.Abs(got-acc) > 1e-12 {
		t.Errorf("accuracy.accuracy = %v, want %v (%d of %d by hand)", got, acc, correct, len(convRows))
	}
	rate := func(g string) float64 { return float64(sel[g][0]) / float64(sel[g][1]) }
	groups := rep.Suites[1].Details["attributes"].(map[string]any)["group"].(map[string]any)["groups"].([]any)
	for _, g := range groups {
		m := g.(map[string]any)
		name := m["group"].(string)
		if got, want := m["selection_rate"].(float64), rate(name); math.Abs(got-want) > 1e-12 {
			t.Errorf("group %s selection rate = %v, want %v by hand", name, got, want)
		}
	}
	dpd := math.Abs(rate("a") - rate("b"))
	if got := rep.Suites[1].Metrics["group.demographic_parity_difference"]; math.Abs(got-dpd) > 1e-12 {
		t.Errorf("fairness group.demographic_parity_difference = %v, want %v by hand", got, dpd)
	}
}

// TestZipMapIntLabelsBlackBox runs accuracy and fairness on a skl2onnx
// binary LogisticRegression whose classes are [3, 7]. The expected figures
// are computed here from the probabilities the model has by construction
// (runtime/testdata/converters/make_converters.py: P(7) = sigmoid(x0 - 2 x1
// + 0.5)); label 7 must be class index 1, not 7.
func TestZipMapIntLabelsBlackBox(t *testing.T) {
	labels := []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"}
	pred := make([]string, len(convRows))
	for i, r := range convRows {
		p7 := 1 / (1 + math.Exp(-(r.x0 - 2*r.x1 + 0.5)))
		pred[i] = map[bool]string{true: "7", false: "3"}[p7 > 0.5]
	}
	rep := runConverter(t, "skl_linear_int.onnx", labels, "")
	checkHand(t, rep, pred, labels, "7") // positive_label defaults to class 1, label 7
	m := rep.Model
	if m.OutputRead != `probabilities (ZipMap input tensor "probabilities" of output "output_probability"), classes [3 7]` ||
		!reflect.DeepEqual(m.ClassLabels, []string{"3", "7"}) || m.OutputKind != "probabilities" || m.Opset != 15 {
		t.Errorf("report model = %+v", m)
	}
	if pl := rep.Suites[1].Details["positive_label"].(map[string]any); pl["class"] != 1 || pl["name"] != `"7"` {
		t.Errorf("positive_label = %v, want class 1 named 7", pl)
	}
}

// TestZipMapStringLabelsBlackBox runs accuracy and fairness on a skl2onnx
// multinomial LogisticRegression whose classes are ["bird", "cat", "dog"],
// on data whose labels are only "cat" and "dog" (so the CSV's own sorted
// numbering, cat 0 and dog 1, differs from the model's, cat 1 and dog 2).
// The expected figures are computed here from the model's probabilities by
// construction (make_converters.py: softmax(x0, x1, -x0 - x1)).
func TestZipMapStringLabelsBlackBox(t *testing.T) {
	labels := []string{"cat", "cat", "dog", "dog", "cat", "cat", "dog", "cat", "cat", "dog"}
	classes := []string{"bird", "cat", "dog"}
	pred := make([]string, len(convRows))
	for i, r := range convRows {
		z := []float64{r.x0, r.x1, -r.x0 - r.x1} // softmax is monotone: argmax of z
		best := 0
		for k := range z {
			if z[k] > z[best] {
				best = k
			}
		}
		pred[i] = classes[best]
	}
	rep := runConverter(t, "skl_linear_str.onnx", labels, ", positive_label: dog")
	checkHand(t, rep, pred, labels, "dog")
	if m := rep.Model; !reflect.DeepEqual(m.ClassLabels, classes) || !strings.Contains(m.OutputRead, "classes [bird cat dog]") {
		t.Errorf("report model = %+v", m)
	}
	// Label strings the model does not know are bad input naming the row.
	dir := t.TempDir()
	csv := filepath.Join(dir, "bad.csv")
	os.WriteFile(csv, []byte("x0,x1,label\n1,0,cat\n0,1,cow\n"), 0o644)
	mp, _ := filepath.Abs(filepath.Join("..", "runtime", "testdata", "converters", "skl_linear_str.onnx"))
	p := filepath.Join(dir, "g.yaml")
	os.WriteFile(p, []byte("version: 1\nmodel: "+mp+"\nruntime: {ort_library: "+testutil.ORTLibrary(t)+"}\n"+
		"data: {csv: "+csv+", label: label}\noutput: {dir: "+filepath.Join(dir, "out")+"}\nsuites: {accuracy: {}}\n"), 0o644)
	cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{Now: fixedNow})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `label "cow" at sample 1 (line 3)`) {
		t.Errorf("unknown label: %v", err)
	}
}

// TestFloat16AndDynamicBlackBox runs the accuracy suite on the float16
// fixture and on the dynamic-feature-axis one, and checks that the report
// records the adaptation. Expected predictions by hand from
// make_converters.py: float16: class 0 when x0 - x1 + 0.25 > 0; dynamic:
// argmax(x0 + x2, x1 - x2).
func TestFloat16AndDynamicBlackBox(t *testing.T) {
	dir := t.TempDir()
	run := func(model, csvText string) *reports.Report {
		t.Helper()
		csv := filepath.Join(dir, model+".csv")
		if err := os.WriteFile(csv, []byte(csvText), 0o644); err != nil {
			t.Fatal(err)
		}
		mp, _ := filepath.Abs(filepath.Join("..", "runtime", "testdata", "converters", model))
		p := filepath.Join(dir, model+".yaml")
		os.WriteFile(p, []byte("version: 1\nmodel: "+mp+"\nruntime: {ort_library: "+testutil.ORTLibrary(t)+"}\n"+
			"data: {csv: "+csv+", label: y}\noutput: {dir: "+filepath.Join(dir, "out")+"}\nsuites: {accuracy: {}}\n"), 0o644)
		cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// float16: rows 1-3 predict 0 (x0 - x1 + 0.25 = 1.25, 0.75, 2.25),
	// row 4 predicts 1 (-0.75); labels make 3 of 4 correct.
	rep := run("fp16_mlp.onnx", "a,b,y\n1,0,0\n0.5,0,1\n2,0,0\n0,1,1\n")
	if got := rep.Suites[0].Metrics["accuracy"]; got != 0.75 {
		t.Errorf("fp16 accuracy = %v, want 0.75", got)
	}
	if m := rep.Model; len(m.IOConversion) != 2 || m.OutputRead != `output "probs" (float16, cast to float32)` || m.Inputs[0].Type != "float16" {
		t.Errorf("fp16 report model = %+v", m)
	}
	// dynamic: scores (4, -1), (1, -1.5), (0, 1) → classes 0, 0, 1; labels
	// 0, 1, 1 make 2 of 3 correct.
	rep = run("dynamic_features.onnx", "a,b,c,y\n1,2,3,0\n-1,0.5,2,1\n0,1,0,1\n")
	if got := rep.Suites[0].Metrics["accuracy"]; math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("dynamic accuracy = %v, want 2/3", got)
	}
	if m := rep.Model; !reflect.DeepEqual(m.InputShape, []int64{-1, 3}) || !reflect.DeepEqual(m.Inputs[0].Shape, []int64{-1, -1}) {
		t.Errorf("dynamic report model = %+v", m)
	}
}

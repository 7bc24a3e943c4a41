package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// The tests in this file run every black-box suite through the engine on
// the scikit-learn converter fixtures of runtime/testdata/converters
// (make_converters.py), whose probabilities are known in closed form:
//
//	skl_linear_int.onnx  classes [3, 7]: P(7) = sigmoid(x0 - 2 x1 + 0.5)
//	skl_linear_str.onnx  classes [bird, cat, dog]: softmax(x0, x1, -x0 - x1)
//	skl_tree_int.onnx    classes [0, 1]: x0 <= 0.5 gives (0.8, 0.2), else (0.1, 0.9)
//
// so every expected figure below is computed in the test from those
// formulas, and the data files each suite reads itself carry labels in the
// model's own class labels.

// convProbs returns the fixture's class probabilities of (x0, x1) in
// score-column order and its class labels, by the formulas above.
func convProbs(model string, x0, x1 float64) ([]float64, []string) {
	switch model {
	case "skl_linear_int.onnx":
		p7 := 1 / (1 + math.Exp(-(x0 - 2*x1 + 0.5)))
		return []float64{1 - p7, p7}, []string{"3", "7"}
	case "skl_linear_str.onnx":
		z := []float64{x0, x1, -x0 - x1}
		s := 0.0
		for _, v := range z {
			s += math.Exp(v)
		}
		return []float64{math.Exp(z[0]) / s, math.Exp(z[1]) / s, math.Exp(z[2]) / s}, []string{"bird", "cat", "dog"}
	case "skl_tree_int.onnx":
		if x0 <= 0.5 {
			return []float64{0.8, 0.2}, []string{"0", "1"}
		}
		return []float64{0.1, 0.9}, []string{"0", "1"}
	}
	panic("unknown fixture " + model)
}

// convModelPath is the absolute path of a converter fixture.
func convModelPath(t *testing.T, model string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "runtime", "testdata", "converters", model))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConvCSV writes rows with labels (and their groups) as a CSV with
// columns x0, x1, label, group and returns its path.
func writeConvCSV(t *testing.T, dir, name string, rows []convRow, labels []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("x0,x1,label,group\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%v,%v,%s,%s\n", r.x0, r.x1, labels[i], r.group)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runConvSuites runs the suites YAML on a converter fixture with the
// evaluation data evalCSV (dataExtra appended to the data block, e.g.
// ", range: [-4, 4]") and output under dir/out, and returns the report or
// the engine's error.
func runConvSuites(t *testing.T, dir, model, evalCSV, dataExtra, suites string) (*reports.Report, error) {
	t.Helper()
	y := "version: 1\nmodel: " + convModelPath(t, model) + "\n" +
		"runtime: {ort_library: " + testutil.ORTLibrary(t) + ", batch_size: 4}\n" +
		"data: {csv: " + evalCSV + ", label: label, features: [x0, x1], keep: [group]" + dataExtra + "}\n" +
		"output: {dir: " + filepath.Join(dir, "out") + "}\n" +
		"suites: " + suites + "\n"
	p := filepath.Join(dir, "gauntlet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), cfg, Options{Now: fixedNow})
}

// mustPass fails the test unless every suite of rep passed, and checks
// that the report says which output was read (model.output_read) and the
// class labels.
func mustPass(t *testing.T, rep *reports.Report, err error, labels []string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Suites {
		if s.Status != reports.StatusPassed {
			t.Fatalf("suite %s: %s %s", s.Name, s.Status, s.Error)
		}
	}
	if m := rep.Model; !strings.HasPrefix(m.OutputRead, `probabilities (ZipMap input tensor "probabilities" of output "output_probability")`) ||
		!slices.Equal(m.ClassLabels, labels) {
		t.Errorf("report model: output_read %q, class_labels %v; want the ZipMap input, classes %v", m.OutputRead, m.ClassLabels, labels)
	}
}

// suiteOf returns the named suite's report.
func suiteOf(t *testing.T, rep *reports.Report, name string) reports.SuiteResult {
	t.Helper()
	for _, s := range rep.Suites {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no suite %s in the report", name)
	return reports.SuiteResult{}
}

// suiteError returns the exit code and the error of a run that must have
// failed in its one suite (the engine records a suite's error in the
// report and sets the exit code from it).
func suiteError(t *testing.T, rep *reports.Report, err error) (int, string) {
	t.Helper()
	if err != nil {
		t.Fatalf("the engine failed before the suites: %v", err)
	}
	if len(rep.Suites) != 1 || rep.Suites[0].Status != reports.StatusError {
		t.Fatalf("want one suite with status error, got %+v", rep.Suites)
	}
	return rep.ExitCode, rep.Suites[0].Error
}

// aucByHand is the Mann-Whitney AUC of member scores against nonmember
// scores, ties counting 1/2 (scikit-learn's roc_auc_score). It fails the
// test when a member and a nonmember score are within 1e-4 of each other
// without being equal: float32 model outputs could order such a pair
// either way, so the rows must not hold one.
func aucByHand(t *testing.T, mem, non []float64) float64 {
	t.Helper()
	s := 0.0
	for _, a := range mem {
		for _, b := range non {
			switch {
			case a == b:
				s += 0.5
			case math.Abs(a-b) < 1e-4:
				t.Fatalf("member score %v and nonmember score %v nearly tie: pick other rows", a, b)
			case a > b:
				s++
			}
		}
	}
	return s / float64(len(mem)*len(non))
}

// TestConverterMembership runs membership inference (loss and confidence
// attacks) through the engine on the int- and string-labelled linear
// fixtures, with members and nonmembers read from CSV files whose labels
// are the model's class labels, and compares AUC, accuracies and mean
// losses with the values computed here from the closed-form probabilities.
// The member/nonmember splits keep every cross-set pair of scores apart
// (aucByHand checks it).
func TestConverterMembership(t *testing.T) {
	for _, tc := range []struct {
		model  string
		labels []string
		member []bool
	}{
		{"skl_linear_int.onnx", []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"},
			[]bool{true, true, true, true, false, true, true, false, true, false}},
		{"skl_linear_str.onnx", []string{"cat", "cat", "dog", "dog", "cat", "cat", "dog", "cat", "cat", "dog"},
			[]bool{true, true, true, true, true, true, false, false, false, false}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			dir := t.TempDir()
			var memRows, nonRows []convRow
			var memLab, nonLab []string
			var lossM, lossN, confM, confN []float64
			correct := [2]int{}
			meanLoss := [2]float64{}
			for i, r := range convRows {
				p, classes := convProbs(tc.model, r.x0, r.x1)
				y := slices.Index(classes, tc.labels[i])
				best := 0
				for k := range p {
					if p[k] > p[best] {
						best = k
					}
				}
				set := 1
				if tc.member[i] {
					set = 0
					memRows, memLab = append(memRows, r), append(memLab, tc.labels[i])
					lossM, confM = append(lossM, math.Log(p[y])), append(confM, math.Log(p[best]))
				} else {
					nonRows, nonLab = append(nonRows, r), append(nonLab, tc.labels[i])
					lossN, confN = append(lossN, math.Log(p[y])), append(confN, math.Log(p[best]))
				}
				if best == y {
					correct[set]++
				}
				meanLoss[set] -= math.Log(p[y])
			}
			mem := writeConvCSV(t, dir, "members.csv", memRows, memLab)
			non := writeConvCSV(t, dir, "nonmembers.csv", nonRows, nonLab)
			eval := writeConvCSV(t, dir, "eval.csv", convRows, tc.labels)
			block := func(p string) string { return "{csv: " + p + ", label: label, features: [x0, x1]}" }
			rep, err := runConvSuites(t, dir, tc.model, eval, "",
				"{membership: {members: "+block(mem)+", nonmembers: "+block(non)+", attacks: [loss, confidence], fpr: [0.25]}}")
			_, classes := convProbs(tc.model, 0, 0)
			mustPass(t, rep, err, classes)
			m := suiteOf(t, rep, "membership").Metrics
			nm, nn := float64(len(memRows)), float64(len(nonRows))
			for key, want := range map[string]float64{
				"loss.auc":             aucByHand(t, lossM, lossN),
				"confidence.auc":       aucByHand(t, confM, confN),
				"member_accuracy":      float64(correct[0]) / nm,
				"nonmember_accuracy":   float64(correct[1]) / nn,
				"generalisation_gap":   float64(correct[0])/nm - float64(correct[1])/nn,
				"mean_loss.members":    meanLoss[0] / nm,
				"mean_loss.nonmembers": meanLoss[1] / nn,
			} {
				// 1e-6: the model computes its probabilities in float32.
				if got, ok := m[key]; !ok || math.Abs(got-want) > 1e-6 {
					t.Errorf("membership.%s = %v (present %v), want %v by hand", key, got, ok, want)
				}
			}
			files := map[string]bool{}
			for _, f := range rep.Data {
				files[f.Role] = true
			}
			if !files["membership.members.csv"] || !files["membership.nonmembers.csv"] {
				t.Errorf("report data[] roles %v lack the membership files", files)
			}
		})
	}
}

// TestConverterSuiteDataUnknownLabel checks that every suite reading a
// data file of its own maps its labels through the model's class labels
// as the evaluation data is, with the same error: exit 2 naming the file,
// the row and the label.
func TestConverterSuiteDataUnknownLabel(t *testing.T) {
	dir := t.TempDir()
	labels := []string{"cat", "cat", "dog", "dog", "cat", "cat", "dog", "cat", "cat", "dog"}
	eval := writeConvCSV(t, dir, "eval.csv", convRows, labels)
	bad := slices.Clone(labels)
	bad[3] = "cow" // sample 3, line 5
	badCSV := writeConvCSV(t, dir, "bad.csv", convRows, bad)
	block := "{csv: " + badCSV + ", label: label, features: [x0, x1], keep: [group]}"
	good := "{csv: " + eval + ", label: label, features: [x0, x1], keep: [group]}"
	for _, tc := range []struct{ name, suites, field string }{
		{"membership", "{membership: {members: " + block + ", nonmembers: " + good + ", attacks: [loss]}}", "suites.membership.members"},
		{"attribute", "{attribute_inference: {sensitive: group, folds: 2, attack_model: logistic, data: " + block + "}}", "suites.attribute_inference.data"},
		{"poisoning", "{poisoning: {susceptibility: {train: " + block + ", attacks: [{type: label_flip}], rates: [0.1], trainer: logreg}}}", "config suites.poisoning.susceptibility.train"},
		{"inversion", "{inversion: {steps: 1, reference_data: " + block + "}}", "suites.inversion.reference_data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := runConvSuites(t, t.TempDir(), "skl_linear_str.onnx", eval, ", range: [-4, 4]", tc.suites)
			want := tc.field + ": data " + badCSV + `: 1 label(s) that are not classes of the model (its classes, in score order: bird, cat, dog); first: label "cow" at sample 3 (line 5)`
			if code, msg := suiteError(t, rep, err); code != errs.Invalid || !strings.Contains(msg, want) {
				t.Errorf("exit %d: %s\nwant exit 2 containing %s", code, msg, want)
			}
		})
	}
}

// attrRows are 40 rows on a grid whose group is the linear int fixture's
// predicted class ("hi" when P(7) > 1/2, i.e. x0 - 2 x1 + 0.5 > 0), every
// row at least 0.5 from the boundary.
func attrRows() []convRow {
	var rows []convRow
	for i := 0; len(rows) < 40; i++ {
		x0, x1 := float64(i%7)-3, float64(i/7%6)-2.5
		z := x0 - 2*x1 + 0.5
		if math.Abs(z) < 0.5 {
			continue
		}
		g := "lo"
		if z > 0 {
			g = "hi"
		}
		rows = append(rows, convRow{x0, x1, "", g})
	}
	return rows
}

// TestConverterAttributeInference runs attribute inference through the
// engine on the int-labelled linear fixture, once on the run's data and
// once on its own data block with the labels written as the model's class
// labels (3 and 7). The sensitive column is the model's predicted class,
// which the model's log-probabilities separate linearly
// (log P(7) - log P(3) = x0 - 2 x1 + 0.5, at least 0.5 from 0), so the
// logistic attack infers it on every row: accuracy 1; the baseline is the
// share of the larger group, counted here.
func TestConverterAttributeInference(t *testing.T) {
	dir := t.TempDir()
	rows := attrRows()
	labels := make([]string, len(rows))
	hi := 0
	for i, r := range rows {
		labels[i] = map[bool]string{true: "7", false: "3"}[i%3 == 0] // any labels the model knows
		if r.group == "hi" {
			hi++
		}
	}
	csv := writeConvCSV(t, dir, "attr.csv", rows, labels)
	eval := writeConvCSV(t, dir, "eval.csv", convRows, []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"})
	baseline := float64(max(hi, len(rows)-hi)) / float64(len(rows))
	for _, own := range []bool{false, true} {
		evalCSV, extra := csv, ""
		if own {
			evalCSV, extra = eval, ", data: {csv: "+csv+", label: label, features: [x0, x1], keep: [group]}"
		}
		rep, err := runConvSuites(t, t.TempDir(), "skl_linear_int.onnx", evalCSV, "",
			"{attribute_inference: {sensitive: group, attack_model: logistic"+extra+"}}")
		mustPass(t, rep, err, []string{"3", "7"})
		m := suiteOf(t, rep, "attribute_inference").Metrics
		if m["baseline"] != baseline || m["accuracy"] != 1 || m["advantage"] != 1-baseline {
			t.Errorf("own data %v: baseline %v accuracy %v advantage %v; want %v, 1, %v (%d of %d rows hi)",
				own, m["baseline"], m["accuracy"], m["advantage"], baseline, 1-baseline, hi, len(rows))
		}
	}
}

// TestConverterEvasion runs the black-box evasion attacks on the converter
// fixtures with gradient_mode auto: the ai.onnx.ml classifier has no
// gradient rule, so fgsm and pgd fall back to NES estimates with the
// reason recorded, and square needs none. With data.range [-4, 4] (no row
// reaches it within eps), the strongest L∞ attack on the linear model
// (eps 0.2) moves x0 and x1 by eps against the weights (1, -2), changing
// the logit x0 - 2 x1 + 0.5 by 3 eps, so a correct row is robust exactly
// when its logit is beyond 3 eps (rows 3 and 8, logit -0.5, fall); on the
// tree (eps 0.3), when |x0 - 0.5| > eps (row 4, x0 = 0.75, falls). Those
// counts, made here, are the robust accuracies of every attack. The tree
// is flat almost everywhere, so the NES estimates of fgsm and pgd are all
// zero there (zero_gradient_share 1) and the suite runs Square on those
// samples (docs/metrics/evasion.md, "No gradient signal"), which finds
// row 4; robust accuracy never exceeds clean accuracy.
func TestConverterEvasion(t *testing.T) {
	for _, tc := range []struct {
		model, node string
		eps         float64
		labels      []string
		robust      func(r convRow) bool
		flat        bool // every NES estimate is zero
	}{
		{"skl_linear_int.onnx", "LinearClassifier", 0.2, []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"},
			func(r convRow) bool { return math.Abs(r.x0-2*r.x1+0.5) > 3*0.2 }, false},
		{"skl_tree_int.onnx", "TreeEnsembleClassifier", 0.3, []string{"1", "0", "1", "0", "1", "0", "0", "0", "1", "1"},
			func(r convRow) bool { return math.Abs(r.x0-0.5) > 0.3 }, true},
	} {
		eps := tc.eps
		t.Run(tc.model, func(t *testing.T) {
			dir := t.TempDir()
			eval := writeConvCSV(t, dir, "eval.csv", convRows, tc.labels)
			clean, robust := 0, 0
			for i, r := range convRows {
				p, classes := convProbs(tc.model, r.x0, r.x1)
				pred := classes[map[bool]int{true: 1, false: 0}[p[1] > p[0]]]
				if pred == tc.labels[i] {
					clean++
					if tc.robust(r) {
						robust++
					}
				}
			}
			e := fmt.Sprint(eps)
			rep, err := runConvSuites(t, dir, tc.model, eval, ", range: [-4, 4]",
				"{evasion: {gradient_mode: auto, attacks: [{name: fgsm, eps: ["+e+"]}, {name: pgd, eps: ["+e+"], steps: 10}, {name: square, eps: ["+e+"], queries: 200}]}}")
			_, classes := convProbs(tc.model, 0, 0)
			mustPass(t, rep, err, classes)
			s := suiteOf(t, rep, "evasion")
			n := float64(len(convRows))
			if got := s.Metrics["clean_accuracy"]; got != float64(clean)/n {
				t.Errorf("clean_accuracy = %v, want %d/%v by hand", got, clean, n)
			}
			for _, a := range []string{"fgsm", "pgd", "square"} {
				got := s.Metrics[a+".linf.eps="+e+".robust_accuracy"]
				if got > s.Metrics["clean_accuracy"] {
					t.Errorf("%s robust accuracy %v exceeds the clean accuracy %v", a, got, s.Metrics["clean_accuracy"])
				}
				if got != float64(robust)/n {
					t.Errorf("%s robust accuracy = %v, want %d/%v by hand", a, got, robust, n)
				}
				if a != "square" {
					z, want := s.Metrics[a+".linf.eps="+e+".zero_gradient_share"], 0.0
					if tc.flat {
						want = 1
					}
					if z != want {
						t.Errorf("%s zero_gradient_share = %v, want %v", a, z, want)
					}
				}
			}
			g, _ := s.Details["gradient"].(map[string]any)
			if reason := fmt.Sprint(g["reason"]); g["mode"] != "estimated" || !strings.Contains(reason, tc.node) {
				t.Errorf("details.gradient = %v; want mode estimated with a reason naming %s", g, tc.node)
			}
		})
	}
}

// TestConverterPoisoningSusceptibility runs poisoning susceptibility with
// a user train command on the converter fixtures. The command stands in
// for the user's scikit-learn pipeline: it copies the fixture itself to
// {out_model}, so every "trained" model is the target and each figure is
// the fixture's, computed here: clean accuracy on the evaluation rows, and
// for the targeted label flip the share of rows not labelled with the
// target that the model classifies as the target. train_y.npy must hold
// the model's own class labels (3/7, or the strings), the labels the
// user's pipeline was trained with; a command writing a model with other
// class labels is exit 2.
func TestConverterPoisoningSusceptibility(t *testing.T) {
	for _, tc := range []struct {
		model  string
		labels []string
		target int // score column of the flip's target
	}{
		{"skl_linear_int.onnx", []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"}, 1},
		{"skl_linear_str.onnx", []string{"cat", "cat", "dog", "dog", "cat", "cat", "dog", "cat", "cat", "dog"}, 2},
	} {
		t.Run(tc.model, func(t *testing.T) {
			dir := t.TempDir()
			eval := writeConvCSV(t, dir, "eval.csv", convRows, tc.labels)
			clean, hit, other := 0, 0, 0
			var classes []string
			for i, r := range convRows {
				var p []float64
				p, classes = convProbs(tc.model, r.x0, r.x1)
				best := 0
				for k := range p {
					if p[k] > p[best] {
						best = k
					}
				}
				if classes[best] == tc.labels[i] {
					clean++
				}
				if tc.labels[i] != classes[tc.target] {
					other++
					if best == tc.target {
						hit++
					}
				}
			}
			block := "{csv: " + eval + ", label: label, features: [x0, x1]}"
			cmd := "test -s {train_x} && test -s {train_y} && cp '" + convModelPath(t, tc.model) + "' {out_model}"
			rep, err := runConvSuites(t, dir, tc.model, eval, ", range: [-4, 4]", fmt.Sprintf(
				`{poisoning: {susceptibility: {train: %s, attacks: [{type: label_flip, name: flip, target: %d}], rates: [0.2], trainer: command, train_command: "%s"}}}`,
				block, tc.target, cmd))
			mustPass(t, rep, err, classes)
			m := suiteOf(t, rep, "poisoning").Metrics
			n := float64(len(convRows))
			for key, want := range map[string]float64{
				"susceptibility.baseline.clean_accuracy":           float64(clean) / n,
				"susceptibility.flip.rate=0.2.clean_accuracy":      float64(clean) / n,
				"susceptibility.flip.baseline.attack_success_rate": float64(hit) / float64(other),
				"susceptibility.flip.rate=0.2.attack_success_rate": float64(hit) / float64(other),
			} {
				if got, ok := m[key]; !ok || got != want {
					t.Errorf("poisoning.%s = %v (present %v), want %v by hand", key, got, ok, want)
				}
			}
			// train_y.npy of the baseline holds the training labels as the
			// model names them, in file order.
			yp := filepath.Join(dir, "out", "poisoning_susceptibility", "baseline", "train_y.npy")
			if tc.model == "skl_linear_int.onnx" {
				f, err := os.Open(yp)
				if err != nil {
					t.Fatal(err)
				}
				var y []int64
				err = npyio.Read(f, &y)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				got := make([]string, len(y))
				for i, v := range y {
					got[i] = fmt.Sprint(v)
				}
				if !slices.Equal(got, tc.labels) {
					t.Errorf("train_y.npy = %v, want the labels %v", got, tc.labels)
				}
			} else {
				b, err := os.ReadFile(yp)
				if err != nil {
					t.Fatal(err)
				}
				// NumPy's '<U3' layout (cat, dog: 3 code points): a
				// 64-byte-aligned header, then each label as 3 UTF-32LE
				// code points, zero-padded.
				hlen := int(b[8]) | int(b[9])<<8
				if !strings.Contains(string(b[10:10+hlen]), "'descr': '<U3'") || (10+hlen)%64 != 0 || len(b) != 10+hlen+12*len(tc.labels) {
					t.Fatalf("train_y.npy header %q, %d bytes", b[10:10+hlen], len(b))
				}
				for i, want := range tc.labels {
					cell := b[10+hlen+12*i : 10+hlen+12*(i+1)]
					var got []rune
					for k := 0; k < 3; k++ {
						if r := rune(uint32(cell[4*k]) | uint32(cell[4*k+1])<<8 | uint32(cell[4*k+2])<<16 | uint32(cell[4*k+3])<<24); r != 0 {
							got = append(got, r)
						}
					}
					if string(got) != want {
						t.Errorf("train_y.npy[%d] = %q, want %q", i, string(got), want)
					}
				}
			}
		})
	}
	// A trained model whose classes differ from the target's ([0 1] for
	// [3 7]) cannot be scored column by column: exit 2 naming it.
	dir := t.TempDir()
	labels := []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"}
	eval := writeConvCSV(t, dir, "eval.csv", convRows, labels)
	rep, err := runConvSuites(t, dir, "skl_linear_int.onnx", eval, ", range: [-4, 4]", fmt.Sprintf(
		`{poisoning: {susceptibility: {train: {csv: %s, label: label, features: [x0, x1]}, attacks: [{type: label_flip}], rates: [0.2], trainer: command, train_command: "test -s {train_x} && test -s {train_y} && cp '%s' {out_model}"}}}`,
		eval, convModelPath(t, "skl_tree_int.onnx")))
	if code, msg := suiteError(t, rep, err); code != errs.Invalid || !strings.Contains(msg, "the trained model "+filepath.Join(dir, "out", "poisoning_susceptibility", "baseline.onnx")+": class labels [0 1] differ from the target model's [3 7]") {
		t.Errorf("trained model with other classes: exit %d: %s; want exit 2 naming the model", code, msg)
	}
}

// TestConverterInversion runs model inversion on the string-labelled
// linear fixture with reference data whose labels are the model's class
// names (cat, dog; no bird), so the class means must be taken by the
// model's class indices (cat 1, dog 2), not the file's own sorted
// numbering (cat 0, dog 1). The start is zeros, so each class's start_mse
// is the mean square of its reference mean, computed here; bird has no
// reference rows and no mse. The ZipMap model has no gradient rules, so
// gradient auto falls back to NES with the reason recorded.
func TestConverterInversion(t *testing.T) {
	dir := t.TempDir()
	labels := []string{"cat", "cat", "dog", "dog", "cat", "cat", "dog", "cat", "cat", "dog"}
	ref := writeConvCSV(t, dir, "ref.csv", convRows, labels)
	eval := writeConvCSV(t, dir, "eval.csv", convRows, labels)
	rep, err := runConvSuites(t, dir, "skl_linear_str.onnx", eval, ", range: [-4, 4]",
		"{inversion: {steps: 5, init: zeros, reference_data: {csv: "+ref+", label: label, features: [x0, x1]}}}")
	mustPass(t, rep, err, []string{"bird", "cat", "dog"})
	s := suiteOf(t, rep, "inversion")
	want := map[int]float64{}
	for _, name := range []string{"cat", "dog"} {
		var m0, m1, n float64
		for i, r := range convRows {
			if labels[i] == name {
				m0, m1, n = m0+r.x0, m1+r.x1, n+1
			}
		}
		want[map[string]int{"cat": 1, "dog": 2}[name]] = ((m0/n)*(m0/n) + (m1/n)*(m1/n)) / 2
	}
	var rows []map[string]any // as a JSON reader sees them
	if b, err := json.Marshal(s.Details["per_class"]); err != nil || json.Unmarshal(b, &rows) != nil || len(rows) != 3 {
		t.Fatalf("details.per_class = %v, want 3 classes", s.Details["per_class"])
	}
	for _, row := range rows {
		c := int(row["class"].(float64))
		got, ok := row["start_mse"].(float64)
		if w, has := want[c]; has != ok || (ok && math.Abs(got-w) > 1e-6) {
			t.Errorf("class %d start_mse = %v, want %v (by hand; none for bird)", c, row["start_mse"], w)
		}
	}
	if _, ok := s.Metrics["class.0.mse"]; ok || !slices.Contains(s.Undefined, "class.0.mse") {
		t.Errorf("class.0.mse (bird, no reference rows) should be undefined: metrics %v", s.Metrics)
	}
	if r := fmt.Sprint(s.Details["gradient_reason"]); s.Details["gradient"] != "estimated" || !strings.Contains(r, "LinearClassifier") {
		t.Errorf("details.gradient = %v, reason %s; want estimated, naming LinearClassifier", s.Details["gradient"], r)
	}
}

// TestConverterReferenceModelClasses checks that a LiRA reference model
// naming other classes than the target ([0 1] for [3 7]) is exit 2 naming
// it: its score columns are not the target's classes.
func TestConverterReferenceModelClasses(t *testing.T) {
	dir := t.TempDir()
	labels := []string{"7", "3", "3", "3", "7", "3", "3", "7", "3", "7"}
	eval := writeConvCSV(t, dir, "eval.csv", convRows, labels)
	block := "{csv: " + eval + ", label: label, features: [x0, x1]}"
	ref := convModelPath(t, "skl_tree_int.onnx")
	rep, err := runConvSuites(t, dir, "skl_linear_int.onnx", eval, "",
		"{membership: {members: "+block+", nonmembers: "+block+", attacks: [lira], reference_models: ["+ref+"]}}")
	want := "suites.membership.reference_models[0] " + ref + ": class labels [0 1] differ from the target model's [3 7]"
	if code, msg := suiteError(t, rep, err); code != errs.Invalid || !strings.Contains(msg, want) {
		t.Errorf("exit %d: %s\nwant exit 2 containing %s", code, msg, want)
	}
}

package reports

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// pts builds a curve of the "curves" convention from (ε, accuracy) pairs.
func pts(xy ...float64) []any {
	out := make([]any, 0, len(xy)/2)
	for i := 0; i+1 < len(xy); i += 2 {
		out = append(out, map[string]any{"eps": xy[i], "robust_accuracy": xy[i+1]})
	}
	return out
}

// chartSuites returns a report with one suite of each kind these charts
// draw, in the Details shapes the suites write (suites/certify reduce,
// suites/corruption's curves, suites/slices write, suites/drift features,
// suites/extraction's extraction_curve). Sources of the figures:
//   - certify: σ = 0.25 on the shared MNIST CNN, radii 0, 0.25, 0.5 from
//     docs/metrics/certify.md's cross-check table (0.990, 0.955, 0.860);
//     the radius-1 point and σ = 0.5 are made up;
//   - evasion: made up (clean accuracy 0.99, an L2 PGD curve above the
//     certified one, as attacks must be on the same samples, and an L∞
//     curve);
//   - corruption: made up, in the suite's shape (each curve starts with
//     the clean accuracy at severity 0), with severity 5 of "frost" not
//     run;
//   - slices: made up, two accuracy slices and one selection-rate slice;
//   - drift: PSI of num_age 0.0057 from examples/drift.yaml's comment, the
//     other three made up to fall in each band;
//   - extraction: fidelity 0.899, 0.923, 0.946 and transfer 0.318, 0.358,
//     0.441 at 500, 1000, 2000 queries from examples/extraction.yaml's
//     comments; the accuracies are made up.
func chartSuites() []SuiteResult {
	row := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	return []SuiteResult{
		{Name: "evasion", Version: "1", Status: StatusPassed, Metrics: map[string]float64{"clean_accuracy": 0.99}, Details: map[string]any{
			"samples": 200,
			"curves": map[string]any{
				"pgd.l2":   pts(0.5, 0.975, 1, 0.9, 2, 0.41),
				"pgd.linf": pts(0.1, 0.93, 0.3, 0.05),
			}}},
		{Name: "certify", Version: "1", Status: StatusPassed, Metrics: map[string]float64{}, Details: map[string]any{
			"samples": 200, "alpha": 0.001,
			"curves": map[string]any{
				"sigma=0.25.l2": pts(0, 0.99, 0.25, 0.955, 0.5, 0.86, 1, 0.3),
				"sigma=0.5.l2":  pts(0, 0.95, 0.5, 0.8, 1, 0.55, 2, 0.1),
			}}},
		{Name: "corruption", Version: "1", Status: StatusPassed, Metrics: map[string]float64{}, Details: map[string]any{
			"curves": map[string]any{
				"gaussian_noise.severity": pts(0, 0.98, 1, 0.95, 2, 0.9, 3, 0.8, 4, 0.6, 5, 0.4),
				"frost.severity":          pts(0, 0.98, 1, 0.9, 2, 0.7, 3, 0.5, 4, 0.3),
				"brightness.severity":     pts(0, 0.98, 1, 0.97, 2, 0.97, 3, 0.96, 4, 0.96, 5, 0.95),
			}}},
		{Name: "slices", Version: "1", Status: StatusPassed, Metrics: map[string]float64{}, Details: map[string]any{
			"correction": "holm",
			"slices": []any{
				row("metric", "accuracy", "rank", 1, "slice", "sex=Male ∧ age=[0.315, 1]", "size", 180, "value", 0.62, "rest_value", 0.86, "p_adjusted", 3.1e-9),
				row("metric", "accuracy", "rank", 2, "slice", "sex=Male", "size", 674, "value", 0.78, "rest_value", 0.92, "p_adjusted", 2.0e-6),
				row("metric", "selection_rate", "rank", 1, "slice", "race=Black", "size", 105, "value", 0.05, "rest_value", 0.19, "p_adjusted", 0.004),
			}}},
		{Name: "drift", Version: "1", Status: StatusPassed, Metrics: map[string]float64{}, Details: map[string]any{
			"features": []any{
				row("feature", "num_age", "psi", 0.0057),
				row("feature", "num_hours_per_week", "psi", 0.14),
				row("feature", "sex", "psi", 0.31),
				row("feature", "race", "psi", nil),
			}}},
		{Name: "extraction", Version: "1", Status: StatusPassed, Metrics: map[string]float64{}, Details: map[string]any{
			"extraction_curve": []any{
				row("budget", 500, "fidelity", 0.899, "accuracy", 0.80, "transfer", 0.318),
				row("budget", 1000, "fidelity", 0.923, "accuracy", 0.81, "transfer", 0.358),
				row("budget", 2000, "fidelity", 0.946, "accuracy", 0.82, "transfer", 0.441),
			}}},
	}
}

// svgText decodes a figure's SVG.
func svgText(t *testing.T, f figure) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f.Src, "data:image/svg+xml;base64,"))
	if err != nil {
		t.Fatalf("%s: not a base64 SVG data URI: %v", f.Title, err)
	}
	return string(raw)
}

// TestSuiteCharts: each suite of chartSuites gets its charts, titled as
// below, without notes, and each chart's SVG holds the labels that make
// it readable (legend entries, axis names, p-values, thresholds). The
// counts: evasion 2 (L2, L∞), certify 1 (the bounds chart), corruption 1
// (the heat map), slices 2 (accuracy, selection_rate), drift 1,
// extraction 1.
func TestSuiteCharts(t *testing.T) {
	ss := chartSuites()
	want := map[string][]struct {
		title string
		svg   []string
	}{
		"evasion": {{"Robustness curve (l2)", []string{">pgd<"}}, {"Robustness curve (linf)", []string{">pgd<"}}},
		"certify": {{"Robust accuracy: attacks (upper) and certificates (lower), L2", []string{
			">pgd (attack: upper bound)<", ">σ = 0.25 (certified: lower bound)<", ">σ = 0.5 (certified: lower bound)<", "ε = L2 radius"}}},
		"corruption": {{"Accuracy per corruption × severity", []string{">gaussian_noise<", ">frost<", ">brightness<", ">clean<", ">0.98<", ">0.40<", ">0.95<"}}},
		"slices": {
			{"Worst slices: accuracy", []string{">sex=Male ∧ age=[0.315, 1] (p=3.1e-09)<", ">sex=Male (p=2e-06)<", ">the rest<", ">the slice<"}},
			{"Worst slices: selection_rate", []string{">race=Black (p=0.004)<"}},
		},
		"drift":      {{"Drift: PSI per feature", []string{">num_age<", ">num_hours_per_week<", ">sex<", ">PSI &gt; 0.2<", ">0.1 &lt; PSI ≤ 0.2<"}}},
		"extraction": {{"Extraction curve", []string{">fidelity (agreement with the model)<", ">transfer rate of its PGD examples<", ">queries<"}}},
	}
	checked := 0
	for _, s := range ss {
		figs, notes := suiteFigures(s, "", ss...)
		if len(notes) != 0 {
			t.Errorf("%s: notes %q", s.Name, notes)
		}
		w := want[s.Name]
		if len(figs) != len(w) {
			t.Errorf("%s: %d figures, want %d", s.Name, len(figs), len(w))
			continue
		}
		for i, f := range figs {
			if f.Title != w[i].title {
				t.Errorf("%s figure %d: title %q, want %q", s.Name, i, f.Title, w[i].title)
			}
			if s.Name == "slices" && !strings.Contains(f.Caption, "the Holm-adjusted p-value") {
				t.Errorf("slices caption %q does not name the correction (holm)", f.Caption)
			}
			svg := svgText(t, f)
			for _, x := range w[i].svg {
				if !strings.Contains(svg, x) {
					t.Errorf("%s figure %q: SVG lacks %q", s.Name, f.Title, x)
				}
			}
			checked++
		}
	}
	if checked != 8 {
		t.Errorf("checked %d figures, want 8", checked)
	}
}

// TestCertifiedChartAlone: without the evasion suite in the report the
// certify suite's chart is its certified accuracy alone; with an evasion
// suite that has no L2 curve, likewise; and the bounds chart says when
// the two suites ran on different numbers of samples.
func TestCertifiedChartAlone(t *testing.T) {
	ss := chartSuites()
	cert := ss[1]
	for _, others := range [][]SuiteResult{nil, {{Name: "evasion", Details: map[string]any{"curves": map[string]any{"fgsm.linf": pts(0.1, 0.5)}}}}} {
		figs, notes := suiteFigures(cert, "", others...)
		if len(figs) != 1 || len(notes) != 0 || figs[0].Title != "Certified accuracy (L2)" {
			t.Fatalf("%d figures (%v), notes %q; want the certified chart alone", len(figs), figs, notes)
		}
		svg := svgText(t, figs[0])
		if strings.Contains(svg, "attack") || !strings.Contains(svg, ">σ = 0.25 (certified: lower bound)<") {
			t.Errorf("certified-only chart: wrong legend")
		}
		if !strings.Contains(figs[0].Caption, "confidence 0.999") {
			t.Errorf("caption %q lacks the certificates' confidence 1−α = 0.999", figs[0].Caption)
		}
	}
	ev := ss[0]
	ev.Details = map[string]any{"samples": 100, "curves": ev.Details["curves"]}
	figs, _ := suiteFigures(cert, "", ev)
	if len(figs) != 1 || !strings.Contains(figs[0].Caption, "evasion ran on 100 samples, certify on 200 (not the same samples") {
		t.Errorf("bounds chart caption %q does not warn of different samples", figs[0].Caption)
	}
}

// TestSuiteChartsMalformed: malformed rows are named in the notes, not
// drawn, and never fail the report.
func TestSuiteChartsMalformed(t *testing.T) {
	for _, c := range []struct {
		s    SuiteResult
		note string
	}{
		{SuiteResult{Name: "slices", Details: map[string]any{"slices": []any{map[string]any{"metric": "accuracy"}}}}, "slices[0]: want metric, value, rest_value and p_adjusted"},
		{SuiteResult{Name: "drift", Details: map[string]any{"features": []any{map[string]any{"feature": "a", "psi": nil}}}}, "no feature has a PSI"},
		{SuiteResult{Name: "extraction", Details: map[string]any{"extraction_curve": []any{map[string]any{"fidelity": 0.5}}}}, "extraction_curve[0]: no positive budget"},
		{SuiteResult{Name: "certify", Details: map[string]any{"curves": map[string]any{"sigma=0.25.l2": []any{map[string]any{"eps": 0}}}}}, `curve "sigma=0.25.l2" has no {eps, robust_accuracy} points`},
	} {
		figs, notes := suiteFigures(c.s, "")
		if len(figs) != 0 {
			t.Errorf("%s: %d figures from malformed details", c.s.Name, len(figs))
		}
		if len(notes) != 1 || !strings.Contains(notes[0], c.note) {
			t.Errorf("%s: notes %q, want one containing %q", c.s.Name, notes, c.note)
		}
	}
	// A whole report with these suites renders.
	r := fixtureReport()
	r.Suites = chartSuites()
	var buf bytes.Buffer
	if err := (HTMLWriter{}).Write(&buf, r); err != nil {
		t.Fatal(err)
	}
}

// TestChartsGolden: the HTML report of fixtureReport with chartSuites'
// suites renders to the bytes of testdata/charts.golden.html (rewrite
// with -update after an intended change, and look at it in a browser).
func TestChartsGolden(t *testing.T) {
	r := fixtureReport()
	r.Suites = chartSuites()
	r.Gates = nil
	b := render(t, HTMLWriter{}, r)
	if n := bytes.Count(b, []byte(`src="data:image/svg`)); n != 8 {
		t.Errorf("%d SVG charts, want 8", n)
	}
	golden(t, "charts.golden.html", b)
}

// TestWithClean: the attack curve gets the clean accuracy at ε = 0 in
// front, only when the evasion suite reported it and the curve does not
// start at 0 already.
func TestWithClean(t *testing.T) {
	c := plotter.XYs{{X: 0.5, Y: 0.9}, {X: 1, Y: 0.4}}
	if got := withClean(c, 0.99, true); len(got) != 3 || got[0] != (plotter.XY{X: 0, Y: 0.99}) || got[1] != c[0] {
		t.Errorf("withClean: %v", got)
	}
	if got := withClean(c, 0.99, false); len(got) != 2 {
		t.Errorf("without a clean accuracy: %v", got)
	}
	if got := withClean(plotter.XYs{{X: 0, Y: 0.98}}, 0.99, true); len(got) != 1 || got[0].Y != 0.98 {
		t.Errorf("a curve from ε = 0: %v", got)
	}
}

package reports

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestHTMLHistogram: a suite whose details carry the "histograms"
// convention (here the shape the poisoning suite writes for STRIP: bin
// edges, clean and triggered counts, the threshold; the numbers are made
// up for the test) gets one more SVG chart, titled, whose legend names
// both series and the threshold.
func TestHTMLHistogram(t *testing.T) {
	_, cur := richReports()
	cur.Suites = append(cur.Suites, SuiteResult{Name: "poisoning", Version: "1", Status: "pass", Metrics: map[string]float64{},
		Details: map[string]any{"histograms": map[string]any{"strip.entropy": map[string]any{
			"title": "STRIP entropy", "x": "mean entropy over overlays (nats)",
			"edges":     []float64{0, 0.25, 0.5, 0.75, 1},
			"series":    map[string]any{"clean": []int{0, 2, 10, 5}, "triggered": []int{12, 4, 1, 0}},
			"threshold": 0.3125,
		}}}})
	b := render(t, HTMLWriter{}, cur)
	// richReports draws 5 charts (TestHTMLSelfContained); the histogram is the 6th.
	if n := bytes.Count(b, []byte(`src="data:image/svg`)); n != 6 {
		t.Errorf("%d SVG charts, want 6", n)
	}
	if !bytes.Contains(b, []byte("Histogram: STRIP entropy")) {
		t.Fatalf("HTML lacks the histogram's title")
	}
	// The SVG itself (the HTML escapes the data URI's "+"): the figure
	// suiteFigures draws for the suite.
	figs, notes := suiteFigures(cur.Suites[len(cur.Suites)-1], "")
	if len(figs) != 1 || len(notes) != 0 {
		t.Fatalf("%d figures, notes %q; want 1 and none", len(figs), notes)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(figs[0].Src, "data:image/svg+xml;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	svg := string(raw)
	for _, want := range []string{">clean<", ">triggered<", ">threshold 0.312<", "mean entropy over overlays (nats)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("histogram SVG lacks %q", want)
		}
	}
}

// TestHistogramMalformed: a histogram whose counts do not match its bins
// is not drawn and is named in the notes; the report still renders.
func TestHistogramMalformed(t *testing.T) {
	figs, notes := suiteFigures(SuiteResult{Name: "poisoning", Details: map[string]any{"histograms": map[string]any{
		"strip.entropy": map[string]any{"edges": []float64{0, 1, 2}, "series": map[string]any{"clean": []int{1}}}}}}, "")
	if len(figs) != 0 || len(notes) != 1 || !strings.Contains(notes[0], `series "clean": 1 counts for 2 bins`) {
		t.Errorf("figures %d, notes %q; want none and one note naming the series", len(figs), notes)
	}
}

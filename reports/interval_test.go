package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// excludedSuite is a fairness result whose accuracy_difference interval
// lies above its estimate (the numbers of the COMPAS case) with
// the suite's note, and whose other interval contains its estimate.
func excludedSuite() SuiteResult {
	return SuiteResult{Name: "fairness", Status: StatusPassed,
		Metrics: map[string]float64{
			"race.accuracy_difference": 0.086, "race.accuracy_difference.ci_low": 0.099, "race.accuracy_difference.ci_high": 0.571,
			"sex.accuracy_difference": 0.05, "sex.accuracy_difference.ci_low": 0.02, "sex.accuracy_difference.ci_high": 0.08,
			"theil_index": 0.1, "theil_index.ci_low": 0.11, "theil_index.ci_high": 0.12,
		},
		Details: map[string]any{"interval_notes": map[string]string{"race.accuracy_difference": "the percentile interval [0.099, 0.571] does not contain the estimate 0.086: a boundary statistic"}},
	}
}

func TestIntervalNote(t *testing.T) {
	s := excludedSuite()
	note, ex := IntervalNote(s, "race.accuracy_difference")
	if !ex || note != "the percentile interval [0.099, 0.571] does not contain the estimate 0.086: a boundary statistic" {
		t.Errorf("suite's note: %q %v", note, ex)
	}
	if g, ex := IntervalNote(s, "sex.accuracy_difference"); ex || g != "" {
		t.Errorf("contained interval flagged: %q", g)
	}
	// No note from the suite: a sentence with the numbers.
	if g, ex := IntervalNote(s, "theil_index"); !ex || g != "the interval [0.11, 0.12] does not contain the estimate 0.1" {
		t.Errorf("generic note: %q %v", g, ex)
	}
	// Bounds on the edge contain the value; a metric without bounds has
	// nothing to report.
	s.Metrics["x"], s.Metrics["x.ci_low"], s.Metrics["x.ci_high"] = 0.5, 0.5, 0.5
	s.Metrics["y"] = 3
	for _, k := range []string{"x", "y", "absent"} {
		if _, ex := IntervalNote(s, k); ex {
			t.Errorf("%s flagged", k)
		}
	}
	// Read back from JSON, the notes are map[string]any.
	b, err := json.Marshal(excludedSuite())
	if err != nil {
		t.Fatal(err)
	}
	var back SuiteResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if n2, ex := IntervalNote(back, "race.accuracy_difference"); !ex || n2 != note {
		t.Errorf("from JSON: %q %v", n2, ex)
	}
}

// TestIntervalNoteRendered: Markdown marks the interval in the headline,
// HTML in the interval cell with the note as its title; contained
// intervals carry no mark.
func TestIntervalNoteRendered(t *testing.T) {
	r := &Report{Suites: []SuiteResult{excludedSuite()}}
	md := string(render(t, MarkdownWriter{}, r))
	if !strings.Contains(md, `race.accuracy\_difference 0.086 [0.099, 0.571] ⚠ excludes the estimate;`) {
		t.Errorf("markdown lacks the mark:\n%s", md)
	}
	if !strings.Contains(md, `sex.accuracy\_difference 0.05 [0.02, 0.08];`) {
		t.Error("markdown marks a contained interval")
	}
	h := render(t, HTMLWriter{}, r)
	want := `<td class="num" title="the percentile interval [0.099, 0.571] does not contain the estimate 0.086: a boundary statistic">[0.099, 0.571] ⚠ excludes the estimate</td>`
	if !bytes.Contains(h, []byte(want)) {
		t.Errorf("HTML lacks %s", want)
	}
	if got := bytes.Count(h, []byte("⚠ excludes the estimate")); got != 2 { // race and theil
		t.Errorf("%d marks in HTML, want 2", got)
	}
}

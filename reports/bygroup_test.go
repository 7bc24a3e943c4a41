package reports

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// byGroupSuite is an evasion result with one metric by sex, as
// groups.Write records it (figures from the adult run of
// docs/metrics/evasion.md, rounded).
func byGroupSuite() SuiteResult {
	const key = "pgd.linf.eps=0.1.robust_accuracy"
	return SuiteResult{Name: "evasion",
		Metrics: map[string]float64{key: 0.8147, key + ".ci_low": 0.8084, key + ".ci_high": 0.8209},
		Details: map[string]any{"by_group": map[string]any{key: map[string]any{"attributes": map[string]any{
			"sex": map[string]any{"groups": []any{
				map[string]any{"group": "Female", "value": 0.9106, "ci_low": 0.9023, "ci_high": 0.9185, "count": 4913},
				map[string]any{"group": "Male", "value": 0.7683, "ci_low": 0.7600, "ci_high": 0.7765, "count": 10147},
			}},
			"race": map[string]any{"groups": []any{
				map[string]any{"group": "Other", "value": nil, "ci_low": nil, "ci_high": nil, "count": 0},
			}},
		}}}}}
}

// TestByGroupChart: one chart per by-group metric, with the overall bar
// and every group named on the axis; an undefined group is said in the
// caption; the HTML report embeds it.
func TestByGroupChart(t *testing.T) {
	figs, notes := byGroupCharts(byGroupSuite())
	if len(notes) != 0 || len(figs) != 1 {
		t.Fatalf("%d figures, notes %q; want 1 figure, no notes", len(figs), notes)
	}
	f := figs[0]
	if !strings.Contains(f.Caption, "1 undefined group figure") {
		t.Errorf("caption %q does not count the undefined group", f.Caption)
	}
	svg, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(f.Src), "data:image/svg+xml;base64,"))
	if err != nil {
		t.Fatalf("figure source is not a base64 SVG data URI: %v", err)
	}
	for _, want := range []string{"overall", "sex=Female", "sex=Male", "race=Other"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("chart lacks the label %q", want)
		}
	}
	var buf bytes.Buffer
	r := &Report{Suites: []SuiteResult{byGroupSuite()}}
	if err := (HTMLWriter{}).Write(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "By group: pgd.linf.eps=0.1.robust_accuracy") {
		t.Error("the HTML report does not embed the by-group chart")
	}
	// A malformed entry is a note, not a failure.
	bad := byGroupSuite()
	bad.Details["by_group"] = map[string]any{"x": map[string]any{}}
	if figs, notes := byGroupCharts(bad); len(figs) != 0 || len(notes) != 1 {
		t.Errorf("malformed: %d figures, notes %q; want a note", len(figs), notes)
	}
}

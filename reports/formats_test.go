package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"image"
	pngenc "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got, *update)
}

func render(t *testing.T, w Writer, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := w.Write(&buf, r); err != nil {
		t.Fatalf("%s: %v", w.Format(), err)
	}
	// The same report renders to the same bytes: no clock, no map order.
	var again bytes.Buffer
	if err := w.Write(&again, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("%s: two renders of the same report differ", w.Format())
	}
	return buf.Bytes()
}

func TestWritersGolden(t *testing.T) {
	_, cur := richReports()
	for _, tc := range []struct {
		w    Writer
		file string
	}{
		{JSONWriter{}, "rich.golden.json"},
		{JUnitWriter{}, "rich.golden.junit.xml"},
		{SARIFWriter{}, "rich.golden.sarif"},
		{MarkdownWriter{}, "rich.golden.md"},
		{HTMLWriter{}, "rich.golden.html"},
	} {
		t.Run(tc.w.Format(), func(t *testing.T) {
			golden(t, tc.file, render(t, tc.w, cur))
		})
	}
}

func TestRichJSONValidates(t *testing.T) {
	_, cur := richReports()
	b, err := MarshalJSON(cur)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(b); err != nil {
		t.Fatal(err)
	}
	back, err := ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	// Per-sample outcomes survive the trip through JSON.
	ps, ok, err := DecodePerSample(back.Suites[0].Details)
	if err != nil || !ok {
		t.Fatalf("per_sample after JSON: ok %v, %v", ok, err)
	}
	if ps.N != 12 || !ps.Bits("correct").Get(5) || ps.Bits("correct").Get(0) {
		t.Errorf("per_sample after JSON: %+v", ps)
	}
}

func TestSARIFValidates(t *testing.T) {
	_, cur := richReports()
	b := render(t, SARIFWriter{}, cur)
	if err := ValidateSARIF(b); err != nil {
		t.Fatal(err)
	}
	// Results: 2 failed fixture gates + 2 failed rich gates (one waived,
	// one with an expired waiver) + 1 failed regression + 1 suite error +
	// 1 scan finding = 7.
	if n := bytes.Count(b, []byte(`"ruleId"`)); n != 7 {
		t.Errorf("%d results, want 7", n)
	}
	if !bytes.Contains(b, []byte(`"justification": "waived until 2027-01-31: retraining lands in January (JIRA-123)"`)) {
		t.Errorf("the active waiver is not a suppression")
	}
	if !bytes.Contains(b, []byte("waiver expired on 2026-10-31")) {
		t.Errorf("the expired waiver is not mentioned")
	}
	// The validator rejects what the schema forbids.
	bad := bytes.Replace(b, []byte(`"level": "error"`), []byte(`"level": "fatal"`), 1)
	if err := ValidateSARIF(bad); err == nil {
		t.Errorf("a SARIF log with level \"fatal\" validated")
	}
}

// junitDoc mirrors the JUnit XML structure that Jenkins' JUnit plugin and
// GitLab read: testsuites > testsuite > testcase with at most one of
// failure, error, skipped.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Errors    int    `xml:"errors,attr"`
		Skipped   int    `xml:"skipped,attr"`
		Time      string `xml:"time,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Cases     []struct {
			Name      string     `xml:"name,attr"`
			Classname string     `xml:"classname,attr"`
			Failure   []xml.Name `xml:"failure"`
			Error     []xml.Name `xml:"error"`
			Skipped   []xml.Name `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitStructure(t *testing.T) {
	_, cur := richReports()
	b := render(t, JUnitWriter{}, cur)
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var tests, failures, errors, skipped int
	for _, s := range doc.Suites {
		if s.Name == "" || s.Timestamp != "2026-11-22T08:15:00" {
			t.Errorf("testsuite %q: timestamp %q, want the report's started_at", s.Name, s.Timestamp)
		}
		var f, e, sk int
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname == "" {
				t.Errorf("testsuite %s: testcase without name or classname", s.Name)
			}
			if len(c.Failure)+len(c.Error)+len(c.Skipped) > 1 {
				t.Errorf("testcase %s has more than one outcome", c.Name)
			}
			f += len(c.Failure)
			e += len(c.Error)
			sk += len(c.Skipped)
		}
		if s.Tests != len(s.Cases) || s.Failures != f || s.Errors != e || s.Skipped != sk {
			t.Errorf("testsuite %s: counts %d/%d/%d/%d, cases say %d/%d/%d/%d", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), f, e, sk)
		}
		tests, failures, errors, skipped = tests+s.Tests, failures+f, errors+e, skipped+sk
	}
	if doc.Tests != tests || doc.Failures != failures || doc.Errors != errors || doc.Skipped != skipped {
		t.Errorf("testsuites counts %d/%d/%d/%d, suites say %d/%d/%d/%d", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, tests, failures, errors, skipped)
	}
	// From richReports: 5 suites run (5 "run" cases, 1 error: fairness),
	// 5 gates (3 fixture + 2 rich: failures are the evasion gate, the
	// fairness gate and the ece gate with an expired waiver; the accuracy
	// gate is waived → skipped), 2 regression gates (accuracy failed, ece
	// passed).
	if doc.Tests != 12 || doc.Failures != 4 || doc.Errors != 1 || doc.Skipped != 1 {
		t.Errorf("tests/failures/errors/skipped = %d/%d/%d/%d, want 12/4/1/1", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
}

// TestJUnitConsumer reads the JUnit output with github.com/joshdk/go-junit,
// the parser Go CI tools (e.g. test result uploaders) use to ingest JUnit
// XML, and checks it sees the same cases and outcomes as
// TestJUnitStructure.
func TestJUnitConsumer(t *testing.T) {
	_, cur := richReports()
	suites, err := junit.Ingest(render(t, JUnitWriter{}, cur))
	if err != nil {
		t.Fatalf("go-junit cannot read the output: %v", err)
	}
	var n, failed, errored, skipped int
	for _, s := range suites {
		for _, c := range s.Tests {
			n++
			switch c.Status {
			case junit.StatusFailed:
				failed++
			case junit.StatusError:
				errored++
			case junit.StatusSkipped:
				skipped++
			}
		}
	}
	if n != 12 || failed != 4 || errored != 1 || skipped != 1 {
		t.Errorf("go-junit counts %d/%d/%d/%d, want 12/4/1/1 (see TestJUnitStructure)", n, failed, errored, skipped)
	}
}

func TestHTMLSelfContained(t *testing.T) {
	_, cur := richReports()
	cur.Suites[1].Warnings = append(cur.Suites[1].Warnings, "a <b> & c")
	b := render(t, HTMLWriter{}, cur)
	for _, bad := range []string{"<script", `src="http`, `href="http`, "@import", "url(http"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("HTML contains %q: not self-contained", bad)
		}
	}
	// Charts from richReports: robustness curves for 2 norms, one ROC
	// chart, one per-group chart, one reliability diagram.
	if n := bytes.Count(b, []byte(`src="data:image/svg`)); n != 5 {
		t.Errorf("%d SVG charts, want 5", n)
	}
	for _, want := range []string{"McNemar exact p = 0.375", "WAIVED", "waiver expired on 2026-10-31", "a &lt;b&gt; &amp; c"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if bytes.Contains(b, []byte("a <b> & c")) {
		t.Errorf("HTML does not escape report text")
	}
}

func TestCompare(t *testing.T) {
	_, cur := richReports()
	c := cur.Baseline
	if len(c.Suites) != 5 {
		t.Fatalf("%d suites compared, want 5", len(c.Suites))
	}
	acc := c.Suites[0]
	if len(acc.Outcomes) != 1 {
		t.Fatalf("accuracy outcomes: %+v (note %q)", acc.Outcomes, acc.OutcomesNote)
	}
	// Hand count from richReports: broken {0,1,3,4}, fixed {7}, both
	// correct {5,6,8,9,10,11}, both wrong {2}.
	o := acc.Outcomes[0]
	if o.Paired != 12 || o.Broken != 4 || o.Fixed != 1 || o.BothTrue != 6 || o.BothFalse != 1 {
		t.Errorf("table %+v", o)
	}
	if strings.Join(o.NewlyBroken, ",") != "0,1,3,4" {
		t.Errorf("newly broken %v, want 0,1,3,4", o.NewlyBroken)
	}
	if o.PValue != 12.0/32 {
		t.Errorf("p = %v, want 0.375", o.PValue)
	}
	// accuracy dropped 10/12 → 7/12 = −0.25 > 0.02: failed; ece unchanged.
	r := c.Regressions
	if r[0].Status != RegressionFailed || math.Abs(*r[0].Delta+0.25) > 1e-15 || r[0].Waiver != nil {
		t.Errorf("accuracy regression %+v", r[0])
	}
	if r[1].Status != RegressionPassed || *r[1].Delta != 0 {
		t.Errorf("ece regression %+v", r[1])
	}
	if RegressionsPassed(c) {
		t.Errorf("RegressionsPassed with a failed regression gate")
	}
}

func TestCompareVersionBump(t *testing.T) {
	old, cur := richReports()
	old.Suites[0].Version = "0"
	f := 0.02
	c := Compare(old, cur, "old.json", []Regression{{Metric: "accuracy.accuracy", MaxDrop: &f}}, nil)
	if c.Suites[0].Comparable || len(c.Suites[0].Outcomes) != 0 {
		t.Errorf("a version bump left the suite comparable: %+v", c.Suites[0])
	}
	if c.Regressions[0].Status != RegressionSkipped || !strings.Contains(c.Regressions[0].Reason, "suite version changed from 0 to 1") {
		t.Errorf("regression %+v", c.Regressions[0])
	}
	if !RegressionsPassed(c) {
		t.Errorf("a skipped regression gate failed the run")
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "suite accuracy: baseline not comparable: suite version changed from 0 to 1") {
		t.Errorf("warnings %q do not say it plainly", c.Warnings)
	}
}

func TestCompareUnpairable(t *testing.T) {
	old, cur := richReports()
	old.Data[0].SHA256 = strings.Repeat("0", 64)
	c := Compare(old, cur, "old.json", nil, nil)
	if len(c.Suites[0].Outcomes) != 0 || !strings.Contains(c.Suites[0].OutcomesNote, "data differ") {
		t.Errorf("rows of different data were paired: %+v", c.Suites[0])
	}
	if !c.DataChanged {
		t.Errorf("DataChanged false")
	}
}

func TestWaivers(t *testing.T) {
	day := time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC)
	gates := []GateResult{
		{Expr: "a.x >= 1", Metric: "a.x", Op: ">=", Threshold: 1},
		{Expr: "a.y>=0.5", Metric: "a.y", Op: ">=", Threshold: 0.5},
		{Expr: "a.z >= 1", Metric: "a.z", Op: ">=", Threshold: 1, Passed: true},
	}
	ws := []Waiver{
		{Gate: "a.x >= 1", Until: "2027-01-31", Reason: "r1"},
		{Gate: "a.y >= 0.5", Until: "2027-01-30", Reason: "r2"}, // canonical form matches
		{Gate: "a.z >= 1", Until: "2027-01-31", Reason: "r3"},
	}
	if err := ValidateWaivers(ws); err != nil {
		t.Fatal(err)
	}
	ApplyWaivers(gates, ws, day)
	if !gates[0].Waived() {
		t.Errorf("a waiver is active through the last minute of its day: %+v", gates[0].Waiver)
	}
	if gates[1].Waiver == nil || !gates[1].Waiver.Expired || gates[1].Waived() {
		t.Errorf("a waiver past its day applies: %+v", gates[1].Waiver)
	}
	if gates[2].Waiver != nil {
		t.Errorf("a passed gate got a waiver")
	}
	if Passed(gates) {
		t.Errorf("Passed with an expired waiver")
	}
	if !Passed(gates[:1]) {
		t.Errorf("a waived failure failed the run")
	}
	for _, bad := range [][]Waiver{
		{{Gate: "", Until: "2027-01-01", Reason: "r"}},
		{{Gate: "a.x >= 1", Until: "31/01/2027", Reason: "r"}},
		{{Gate: "a.x >= 1", Until: "2027-01-01", Reason: " "}},
		{{Gate: "a.x >= 1", Until: "2027-01-01", Reason: "r"}, {Gate: "a.x >= 1", Until: "2027-02-01", Reason: "r"}},
	} {
		if err := ValidateWaivers(bad); err == nil {
			t.Errorf("ValidateWaivers(%+v) = nil", bad)
		}
	}
	if u := UnusedWaivers(ws, []string{"a.x >= 1", "a.y >= 0.5"}); len(u) != 1 || !strings.Contains(u[0], "a.z >= 1") {
		t.Errorf("UnusedWaivers = %q", u)
	}
}

func TestBits(t *testing.T) {
	b := NewBits(10)
	for _, i := range []int{0, 3, 9} {
		b.Set(i, true)
	}
	// numpy.packbits([1,0,0,1,0,0,0,0, 0,1]) = [0b10010000, 0b01000000] = [144, 64].
	if b[0] != 144 || b[1] != 64 {
		t.Errorf("bits %v, want [144 64]", []byte(b))
	}
	// base64 of bytes 144, 64 is "kEA=".
	if b.String() != "kEA=" {
		t.Errorf("String %q, want kEA=", b.String())
	}
	b.Set(3, false)
	if b.Get(3) || !b.Get(9) {
		t.Errorf("Set false / Get")
	}
	if _, _, err := DecodePerSample(map[string]any{PerSampleKey: map[string]any{"n": 10, "outcomes": map[string]any{"c": "kA=="}}}); err == nil {
		t.Errorf("a 1-byte outcome for n = 10 decoded")
	}
}

func TestValidateRegressions(t *testing.T) {
	f, neg := 0.1, -0.1
	for _, bad := range [][]Regression{
		{{Metric: "accuracy", MaxDrop: &f}},
		{{Metric: "accuracy.accuracy"}},
		{{Metric: "accuracy.accuracy", MaxDrop: &neg}},
	} {
		if err := ValidateRegressions(bad); err == nil {
			t.Errorf("ValidateRegressions(%+v) = nil", bad)
		}
	}
	if err := ValidateRegressions([]Regression{{Metric: "a.b", MaxRise: &f}}); err != nil {
		t.Error(err)
	}
}

func TestHTMLImages(t *testing.T) {
	// A 2×2 PNG, embedded from base64 and from a file; a relative path and
	// a non-PNG file are named in the warnings instead.
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	img.Pix = []byte{0, 255, 255, 0}
	var png bytes.Buffer
	if err := pngenc.Encode(&png, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	grid := filepath.Join(dir, "grid.png")
	os.WriteFile(grid, png.Bytes(), 0o644)
	notPNG := filepath.Join(dir, "x.png")
	os.WriteFile(notPNG, []byte("GIF89a"), 0o644)
	r := fixtureReport()
	r.Suites[0].Details = map[string]any{
		"images": []any{
			map[string]any{"title": "inversion of class 3", "png": base64.StdEncoding.EncodeToString(png.Bytes())},
			map[string]any{"title": "relative", "path": "grid.png"},
			map[string]any{"title": "escaping", "path": "../grid.png"},
			map[string]any{"title": "not a png", "path": notPNG},
		},
		"examples": map[string]any{"files": map[string]any{"grid.png": grid}},
		"files":    map[string]any{"montage": "grid.png"},
	}
	b := render(t, HTMLWriter{}, r)
	// Without the output folder only the base64 picture and the absolute
	// grid are embedded.
	if n := bytes.Count(b, []byte(`src="data:image/png;base64,`)); n != 2 {
		t.Errorf("%d embedded PNGs, want 2 (base64 and the evasion grid)", n)
	}
	for _, want := range []string{"inversion of class 3", "Adversarial examples: a triplet per example", `image &#34;relative&#34; not embedded: path grid.png is relative and the output folder is not known`, "is not a PNG file"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// With it, the relative picture and the inversion montage are too; a
	// path out of the folder is refused.
	b = render(t, HTMLWriter{ArtifactDir: dir}, r)
	if n := bytes.Count(b, []byte(`src="data:image/png;base64,`)); n != 4 {
		t.Errorf("%d embedded PNGs with ArtifactDir, want 4", n)
	}
	for _, want := range []string{"Model inversion: reconstructions", "path ../grid.png leaves the output folder"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestFileURI(t *testing.T) {
	for in, want := range map[string]string{
		"/models/a b.onnx":     "file:///models/a%20b.onnx",
		"examples/digits.onnx": "examples/digits.onnx",
		"":                     "",
	} {
		if got := fileURI(in); got != want {
			t.Errorf("fileURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFormatAgainst checks the value printed beside a threshold in gate
// messages: six significant digits, more when six would print the threshold.
// The expected strings are strconv's 'g' format at the precision named.
func TestFormatAgainst(t *testing.T) {
	for _, c := range []struct {
		v, threshold float64
		want         string
	}{
		{0.18600000000000005, 0.05, "0.186"},             // 6 digits
		{0.36078061003357054, 0.8, "0.360781"},           // 6 digits
		{0.8000004, 0.8, "0.8000004"},                    // 7: 6 would print 0.8
		{0.8, 0.8, "0.8"},                                // equal: 6 digits
		{0.79999999999999993, 0.8, "0.7999999999999999"}, // 16 digits
	} {
		if got := formatAgainst(c.v, c.threshold); got != c.want {
			t.Errorf("formatAgainst(%v, %v) = %q, want %q", c.v, c.threshold, got, c.want)
		}
	}
}

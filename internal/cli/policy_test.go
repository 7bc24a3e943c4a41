package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/reports"
)

func mainArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestScanCommand(t *testing.T) {
	dir := t.TempDir()
	good := testutil.Example(t, "digits_cnn.onnx")
	if code, out, errs := mainArgs(t, "scan", good); code != 0 || !strings.Contains(out, "no findings") {
		t.Errorf("clean model: exit %d\n%s%s", code, out, errs)
	}
	// A custom-domain operator is an error finding: exit 1; SARIF output
	// validates.
	m, err := onnx.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	m.Proto.Graph.Node[0].Domain = proto.String("com.evil")
	bad := filepath.Join(dir, "bad.onnx")
	if err := m.Save(bad); err != nil {
		t.Fatal(err)
	}
	sarif := filepath.Join(dir, "scan.sarif")
	code, _, _ := mainArgs(t, "scan", bad, "--format", "sarif", "--out", sarif)
	if code != errs.GateFailed {
		t.Errorf("custom domain: exit %d, want 1", code)
	}
	b, err := os.ReadFile(sarif)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateSARIF(b); err != nil {
		t.Error(err)
	}
	if !bytes.Contains(b, []byte(`"ruleId": "onnx/custom-domain"`)) {
		t.Errorf("SARIF lacks the finding:\n%s", b)
	}
	// A digest off the allow-list fails; the model's own digest passes.
	if code, _, _ := mainArgs(t, "scan", good, "--allow-sha256", strings.Repeat("0", 64)); code != errs.GateFailed {
		t.Errorf("allow-list: exit %d, want 1", code)
	}
	if code, _, _ := mainArgs(t, "scan", good, "--allow-sha256", "cf3636e82c161c968cc9ae08738bad2379a650e6cf0a5399952d81a814c4a094"); code != 0 {
		t.Errorf("allowed digest: exit %d, want 0", code)
	}
	// Notes do not fail unless --fail-on note.
	m.Proto.Graph.Node[0].Domain = proto.String("com.microsoft")
	m.Save(bad)
	if code, _, _ := mainArgs(t, "scan", bad); code != 0 {
		t.Errorf("note finding: exit %d, want 0", code)
	}
	if code, _, _ := mainArgs(t, "scan", bad, "--fail-on", "note"); code != errs.GateFailed {
		t.Errorf("note finding with --fail-on note: exit %d, want 1", code)
	}
	// Unreadable: exit 2.
	os.WriteFile(filepath.Join(dir, "junk.onnx"), []byte("junk"), 0o644)
	for _, p := range []string{filepath.Join(dir, "junk.onnx"), filepath.Join(dir, "absent.onnx")} {
		if code, _, e := mainArgs(t, "scan", p); code != errs.Invalid || !strings.Contains(e, p) {
			t.Errorf("%s: exit %d (%s), want 2 naming the file", p, code, e)
		}
	}
}

func TestSignVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	rep := filepath.Join(dir, "report.json")
	os.WriteFile(rep, []byte(`{"schema_version": "1", "passed": true}`+"\n"), 0o644)
	prefix := filepath.Join(dir, "k")
	if code, out, e := mainArgs(t, "keygen", prefix); code != 0 {
		t.Fatalf("keygen: %d %s %s", code, out, e)
	}
	if code, _, e := mainArgs(t, "sign", rep, "--key", prefix+".key"); code != 0 {
		t.Fatalf("sign: %d %s", code, e)
	}
	if code, _, e := mainArgs(t, "verify", rep, "--key", prefix+".pub"); code != 0 {
		t.Fatalf("verify: %d %s", code, e)
	}
	// Keys from the environment (base64 works as well as PEM).
	pub, _ := os.ReadFile(prefix + ".pub")
	t.Setenv(VerifyKeyEnv, string(pub))
	if code, _, e := mainArgs(t, "verify", rep); code != 0 {
		t.Fatalf("verify with %s: %d %s", VerifyKeyEnv, code, e)
	}
	// A changed report no longer verifies: exit 1.
	os.WriteFile(rep, []byte(`{"schema_version": "1", "passed": false}`), 0o644)
	if code, _, e := mainArgs(t, "verify", rep, "--key", prefix+".pub"); code != errs.GateFailed || !strings.Contains(e, "changed since it was signed") {
		t.Errorf("tampered: exit %d %s, want 1", code, e)
	}
	// Missing signature or key: exit 2.
	if code, _, _ := mainArgs(t, "verify", rep, "--key", prefix+".pub", "--sig", filepath.Join(dir, "none.sig")); code != errs.Invalid {
		t.Errorf("missing signature: exit %d, want 2", code)
	}
	t.Setenv(SigningKeyEnv, "")
	if code, _, e := mainArgs(t, "sign", rep); code != errs.Invalid || !strings.Contains(e, SigningKeyEnv) {
		t.Errorf("no key: exit %d %s, want 2 naming %s", code, e, SigningKeyEnv)
	}
}

// nightlyNow is the clock of the nightly runs: a fixed day before the
// waiver in examples/nightly/nightly.yaml expires (2027-03-31), so that the
// test does not change its verdict when the calendar passes that date.
var nightlyNow = func() time.Time { return time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC) }

// nightly runs the examples/nightly job on model and returns the exit code
// and the report. It calls Run, as Main does, with an injected clock.
func nightly(t *testing.T, model, out string, baseline ...string) (int, string, *reports.Report) {
	t.Helper()
	o := &RunOptions{Config: testutil.Example(t, "nightly/nightly.yaml"), Sets: []string{"model=" + testutil.Example(t, model)},
		Out: out, ORTLibrary: testutil.ORTLibrary(t), Progress: "none", Now: nightlyNow}
	if len(baseline) > 0 {
		o.Baseline = baseline[0]
	}
	var so, se bytes.Buffer
	err := Run(context.Background(), o, Streams{In: strings.NewReader(""), Out: &so, Err: &se})
	code, stdout, stderr := errs.Code(err, errs.Invalid), so.String(), se.String()
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("exit %d, no report: %v\n%s%s", code, err, stdout, stderr)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Fatal(err)
	}
	r, err := reports.ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	return code, stdout, r
}

// pTol bounds the error of McNemarExact's binomial CDF (gonum's
// regularised incomplete beta) against the exact fraction.
const pTol = 1e-15

// TestNightlyRegression runs examples/nightly end to end: the perturbed
// model passes its absolute gates (one by waiver) but fails the regression
// gate against the shipped model's report, with McNemar's test on the 400
// paired images. Figures from `make nightly` (docs in
// examples/nightly/README.md): accuracy 0.965 → 0.930, 17 newly broken
// and 3 fixed images, p = 2·P(X ≤ 3 | Bin(20, ½)) = 2·1351/2^20.
func TestNightlyRegression(t *testing.T) {
	dir := t.TempDir()
	code, _, before := nightly(t, "digits_cnn.onnx", filepath.Join(dir, "before"))
	if code != 0 || before.Baseline != nil {
		t.Fatalf("before: exit %d, baseline %v", code, before.Baseline)
	}
	if !strings.Contains(strings.Join(before.Warnings, "\n"), "no baseline given") {
		t.Errorf("before: warnings %q do not say the regression gates were not evaluated", before.Warnings)
	}
	code, stdout, after := nightly(t, "nightly/after.onnx", filepath.Join(dir, "after"), filepath.Join(dir, "before", "report.json"))
	if code != errs.GateFailed {
		t.Fatalf("after: exit %d, want 1\n%s", code, stdout)
	}
	if g := after.Gates[1]; g.Passed || !g.Waived() {
		t.Errorf("class 6 gate %+v: want failed and waived", g)
	}
	c := after.Baseline
	if c == nil || len(c.Regressions) != 2 || c.Regressions[0].Status != reports.RegressionFailed || c.Regressions[1].Status != reports.RegressionPassed {
		t.Fatalf("regressions %+v", c)
	}
	o := c.Suites[0].Outcomes[0]
	if o.Paired != 400 || o.Broken != 17 || o.Fixed != 3 || math.Abs(o.PValue-2*1351.0/(1<<20)) > pTol {
		t.Errorf("McNemar table %+v", o)
	}
	if !strings.Contains(stdout, "McNemar (accuracy / correct): exact p = 0.002577") {
		t.Errorf("summary lacks the McNemar line:\n%s", stdout)
	}
	for _, f := range []string{"report.junit.xml", "report.sarif", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, "after", f)); err != nil {
			t.Error(err)
		}
	}
	// The same comparison through gauntlet diff.
	code, out, _ := mainArgs(t, "diff", filepath.Join(dir, "before", "report.json"), filepath.Join(dir, "after", "report.json"), "--max-drop", "accuracy.accuracy=0.02")
	if code != errs.GateFailed || !strings.Contains(out, "17 newly broken, 3 fixed") {
		t.Errorf("diff: exit %d\n%s", code, out)
	}
	if code, _, _ := mainArgs(t, "diff", filepath.Join(dir, "before", "report.json"), filepath.Join(dir, "after", "report.json"), "--max-drop", "accuracy.accuracy=0.05"); code != 0 {
		t.Errorf("diff within bound: exit %d, want 0", code)
	}
	if code, _, _ := mainArgs(t, "diff", filepath.Join(dir, "before", "report.json"), filepath.Join(dir, "none.json")); code != errs.Invalid {
		t.Errorf("diff with a missing report: exit %d, want 2", code)
	}
	// The allow-list: a digest off the list refuses the run (exit 2).
	code, _, e := mainArgs(t, "run", "-c", testutil.Example(t, "nightly/nightly.yaml"), "--out", filepath.Join(dir, "denied"),
		"--ort-library", testutil.ORTLibrary(t), "--progress", "none", "--set", `model_allow_sha256=["`+strings.Repeat("a", 64)+`"]`)
	if code != errs.Invalid || !strings.Contains(e, "not in model_allow_sha256") {
		t.Errorf("allow-list: exit %d %s", code, e)
	}
	// A regression gate on a metric the suite cannot produce is refused
	// before anything runs, with a suggestion.
	code, _, e = mainArgs(t, "run", "-c", testutil.Example(t, "nightly/nightly.yaml"), "--out", filepath.Join(dir, "typo"),
		"--ort-library", testutil.ORTLibrary(t), "--progress", "none", "--set", `regressions=[{metric: accuracy.acurracy, max_drop: 0.1}]`)
	if code != errs.Invalid || !strings.Contains(e, `no metric "acurracy"`) || !strings.Contains(e, `did you mean "accuracy"`) {
		t.Errorf("regression typo: exit %d %s", code, e)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenFile compares got with testdata/<name>, rewriting it under -update.
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got, *update)
}

// TestDiffGolden pins `gauntlet diff` text and JSON on the nightly pair
// (figures as in TestNightlyRegression), with the temporary folder written
// as $DIR. The runs use the injected clock, so times and durations are fixed.
func TestDiffGolden(t *testing.T) {
	dir := t.TempDir()
	nightly(t, "digits_cnn.onnx", filepath.Join(dir, "before"))
	nightly(t, "nightly/after.onnx", filepath.Join(dir, "after"))
	oldP, newP := filepath.Join(dir, "before", "report.json"), filepath.Join(dir, "after", "report.json")
	for _, c := range []struct{ format, file string }{{"text", "diff.golden.txt"}, {"json", "diff.golden.json"}} {
		var out bytes.Buffer
		err := Diff(oldP, newP, &DiffOptions{Format: c.format, MaxDrop: []string{"accuracy.accuracy=0.02"}}, Streams{Out: &out, Err: io.Discard})
		if errs.Code(err, errs.Invalid) != errs.GateFailed {
			t.Fatalf("%s: %v, want the max-drop gate to fail (exit 1)", c.format, err)
		}
		got := bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("$DIR"))
		goldenFile(t, c.file, longFloat.ReplaceAllFunc(got, round9))
	}
}

// longFloat matches numbers printed with more than nine digits after the
// point. Confidence-based figures (ece, mean_confidence) come from ONNX
// Runtime's float32 kernels, whose last bits may differ between CPUs; the
// golden JSON holds them to nine significant digits.
var longFloat = regexp.MustCompile(`-?[0-9]+\.[0-9]{10,}(e-?[0-9]+)?`)

func round9(b []byte) []byte {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return b
	}
	return []byte(strconv.FormatFloat(v, 'g', 9, 64))
}

// TestScanWritersGolden pins the scan's text, JSON and SARIF output on a
// fixed result with one finding of each severity; the SARIF also validates
// against the SARIF 2.1.0 schema.
func TestScanWritersGolden(t *testing.T) {
	r := &reports.ScanResult{Path: "models/m.onnx", SHA256: strings.Repeat("ab", 32), Findings: []reports.Finding{
		{RuleID: "onnx/external-data-escape", Severity: reports.SeverityError, Message: `initializer "w" reads external data from ../../etc/passwd, outside the model's folder`, Location: `initializer "w"`},
		{RuleID: "onnx/opset-range", Severity: reports.SeverityWarning, Message: "default-domain opset 25 is outside the supported range 7–21", Location: "opset_import"},
		{RuleID: "onnx/contrib-domain", Severity: reports.SeverityNote, Message: "node FusedGemm_0 uses operator domain com.microsoft", Location: "node FusedGemm_0"},
	}}
	var text bytes.Buffer
	if err := writeScanText(&text, r); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "scan.golden.txt", text.Bytes())
	js, err := reports.MarshalAny(r)
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "scan.golden.json", js)
	var sarif bytes.Buffer
	if err := reports.WriteScanSARIF(&sarif, r, "v-test"); err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateSARIF(sarif.Bytes()); err != nil {
		t.Errorf("scan SARIF does not validate: %v", err)
	}
	goldenFile(t, "scan.golden.sarif", sarif.Bytes())
}

package reports

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/sign"
)

// FuzzParseReport feeds report JSON to what `gauntlet diff`, `run
// --baseline` and `verify` do with it: ParseReport, the schema check,
// Compare both ways against the rich golden report with a regression gate
// on each side, the Markdown rendering of the comparison, and the
// canonical form a signature covers. No panic; ParseReport's errors carry
// exit code 2. Seeds: the golden reports, another schema version, missing
// fields, huge and non-finite numbers, wrong types, duplicate keys.
func FuzzParseReport(f *testing.F) {
	rich, err := os.ReadFile(filepath.Join("testdata", "rich.golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	plain, err := os.ReadFile(filepath.Join("testdata", "report.golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	base, err := ParseReport(rich)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rich)
	f.Add(plain)
	f.Add(bytes.Replace(plain, []byte(`"schema_version": "1"`), []byte(`"schema_version": "2"`), 1))
	f.Add([]byte(`{"schema_version": "1"}`))
	f.Add([]byte(`{"schema_version": "1", "suites": [{"name": "accuracy", "status": "completed", "metrics": {"accuracy": 1e308, "ece": -1e308}}]}`))
	f.Add([]byte(`{"schema_version": "1", "suites": [{"name": "accuracy", "metrics": {"accuracy": 1e309}}]}`))
	f.Add([]byte(`{"schema_version": "1", "suites": [{"name": "accuracy", "metrics": {"accuracy": "NaN"}}], "seed": 18446744073709551616}`))
	f.Add([]byte(`{"schema_version": "1", "schema_version": "1", "suites": null, "model": [], "baseline": {}}`))
	f.Add([]byte(`{"schema_version": 1}`))
	drop, rise := 0.01, 0.01
	regs := []Regression{{Metric: "accuracy.accuracy", MaxDrop: &drop}, {Metric: "accuracy.ece", MaxRise: &rise}}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ValidateJSON(b)
		_, _ = sign.Canonical(b)
		r, err := ParseReport(b)
		if err != nil {
			if c := errs.Code(err, -1); c != errs.Invalid {
				t.Fatalf("error %v has exit code %d, want %d", err, c, errs.Invalid)
			}
			return
		}
		for _, c := range []*Comparison{Compare(base, r, "old.json", regs, nil), Compare(r, base, "old.json", regs, nil), Compare(r, r, "old.json", regs, nil)} {
			_ = RegressionsPassed(c)
			cur := *r
			cur.Baseline = c
			_ = (MarkdownWriter{}).Write(io.Discard, &cur)
		}
	})
}

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/sign"
)

// TestSignCycloneDX: output.formats [json, cyclonedx] writes
// report.cdx.json beside report.json; `gauntlet sign` signs it and
// `gauntlet verify` accepts it, re-indented too (the canonical form), and
// refuses it, exit 1, once the model digest in it is changed.
func TestSignCycloneDX(t *testing.T) {
	dir := t.TempDir()
	acc := 0.9
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion, Tool: reports.Tool{Name: "gauntlet", Version: "v0.1.0"},
		Status: "completed", StartedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Passed: true, Seed: 1,
		Model: reports.Model{Path: "m.onnx", SHA256: strings.Repeat("a", 64)},
		Data:  []reports.DataFile{{Role: "data.csv", Path: "d.csv", SHA256: strings.Repeat("b", 64), Rows: 10}},
		Suites: []reports.SuiteResult{{Name: "accuracy", Version: "1", Status: reports.StatusPassed,
			Metrics: map[string]float64{"accuracy": acc}}},
		Gates: []reports.GateResult{{Expr: "accuracy.accuracy >= 0.8", Metric: "accuracy.accuracy", Op: ">=", Threshold: 0.8, Value: &acc, Passed: true}},
	}
	cfg := &config.Config{Output: config.Output{Dir: dir, Formats: []string{"json", "cyclonedx"}}}
	paths, err := WriteReports(cfg, rep)
	if err != nil {
		t.Fatal(err)
	}
	bom := filepath.Join(dir, "report.cdx.json")
	if paths["cyclonedx"] != bom {
		t.Fatalf("cyclonedx written to %q; want %s", paths["cyclonedx"], bom)
	}
	priv, pub, err := sign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := Streams{Out: &out, Err: &out}
	noEnv := func(string) string { return "" }
	if err := Sign(bom, &SignOptions{Key: keyFile, Getenv: noEnv}, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bom + ".sig"); err != nil {
		t.Fatal(err)
	}
	if err := Verify(bom, &SignOptions{Key: pubFile, Getenv: noEnv}, s); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(bom)
	if err != nil {
		t.Fatal(err)
	}
	// Re-indented: the canonical form, and so the signature, is the same.
	if err := os.WriteFile(bom, bytes.ReplaceAll(b, []byte("\n  "), []byte("\n\t")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(bom, &SignOptions{Key: pubFile, Getenv: noEnv}, s); err != nil {
		t.Fatalf("verify re-indented: %v", err)
	}
	bad := bytes.Replace(b, []byte(strings.Repeat("a", 64)), []byte(strings.Repeat("c", 64)), 1)
	if bytes.Equal(bad, b) {
		t.Fatal("model digest not found in the BOM")
	}
	if err := os.WriteFile(bom, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(bom, &SignOptions{Key: pubFile, Getenv: noEnv}, s); errs.Code(err, 0) != errs.GateFailed {
		t.Errorf("verify of a changed BOM: %v; want exit 1", err)
	}
}

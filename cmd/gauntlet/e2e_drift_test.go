package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestDriftExampleBOM runs examples/drift.yaml through the binary: exit 0
// (its three gates pass), and its report.cdx.json validates against the
// official CycloneDX 1.6 schema, names the model by the SHA-256 of
// examples/adult/adult_mlp.onnx (computed here from the file) and lists
// the evaluation and reference CSVs with their digests, and its model card
// holds the three gated metrics with the values of report.json.
func TestDriftExampleBOM(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	res := runArgs(t, []string{"run", "-c", testutil.Example(t, "drift.yaml"), "--out", out, "--ort-library", testutil.ORTLibrary(t)}, out)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	rep := readReport(t, out)
	b, err := os.ReadFile(filepath.Join(out, "report.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateCycloneDX(b); err != nil {
		t.Fatal(err)
	}
	var bom struct {
		Components []struct {
			Type, Name string
			Hashes     []struct{ Alg, Content string }
			ModelCard  *struct {
				QuantitativeAnalysis struct {
					PerformanceMetrics []struct{ Type, Value string }
				}
			}
		}
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	want := []struct{ typ, name, sha string }{
		{"machine-learning-model", "adult_mlp.onnx", sha(t, testutil.Example(t, "adult/adult_mlp.onnx"))},
		{"data", "adult_eval.csv", sha(t, testutil.Example(t, "adult/adult_eval.csv"))},
		{"data", "adult_train.csv", sha(t, testutil.Example(t, "adult/adult_train.csv"))},
	}
	if len(bom.Components) != len(want) {
		t.Fatalf("%d components; want %d", len(bom.Components), len(want))
	}
	for i, w := range want {
		c := bom.Components[i]
		if c.Type != w.typ || c.Name != w.name || len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != w.sha {
			t.Errorf("component %d: %+v; want %s %s with SHA-256 %s", i, c, w.typ, w.name, w.sha)
		}
	}
	pm := bom.Components[0].ModelCard.QuantitativeAnalysis.PerformanceMetrics
	metrics := rep.Suites[0].Metrics
	checked := 0
	for i, k := range []string{"max_psi", "shift.worst_accuracy", "shift.worst_selection_rate_gap"} {
		if i >= len(pm) || pm[i].Type != "drift."+k || pm[i].Value != strconv.FormatFloat(metrics[k], 'g', -1, 64) {
			t.Errorf("performance metric %d: %+v; want drift.%s = %v", i, pm, k, metrics[k])
		}
		checked++
	}
	if checked != len(rep.Gates) {
		t.Errorf("checked %d metrics; the example has %d gates", checked, len(rep.Gates))
	}
}

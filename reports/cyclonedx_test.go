package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestCycloneDXValidates: the BOMs of the rich report (gates, waivers,
// scan findings, a suite error), of the plain fixture report and of a
// report with no gates, data or warnings validate against the official
// 1.6 schema; a BOM whose model type is changed to a type the schema does
// not know does not (the check can fail).
func TestCycloneDXValidates(t *testing.T) {
	_, rich := richReports()
	bare := fixtureReport()
	bare.Gates, bare.Data, bare.Warnings, bare.Suites = nil, nil, nil, nil
	for name, r := range map[string]*Report{"rich": rich, "fixture": fixtureReport(), "bare": bare} {
		b := render(t, CycloneDXWriter{}, r)
		if err := ValidateCycloneDX(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	b := render(t, CycloneDXWriter{}, rich)
	bad := bytes.Replace(b, []byte(`"type": "machine-learning-model"`), []byte(`"type": "ml-model"`), 1)
	if bytes.Equal(bad, b) {
		t.Fatal("no model type to replace")
	}
	if err := ValidateCycloneDX(bad); err == nil {
		t.Error("a BOM with component type ml-model validates")
	}
}

// TestCycloneDXGolden pins the rich report's BOM (testdata/rich.golden.cdx.json;
// -update rewrites it). render checks that two renders are byte-identical.
func TestCycloneDXGolden(t *testing.T) {
	_, rich := richReports()
	golden(t, "rich.golden.cdx.json", render(t, CycloneDXWriter{}, rich))
}

// TestCycloneDXContent checks what the BOM says of the rich report, each
// expected value read off the fixture (rich_fixture_test.go).
func TestCycloneDXContent(t *testing.T) {
	_, rich := richReports()
	var bom struct {
		SpecVersion  string
		SerialNumber string
		Metadata     struct {
			Timestamp string
			Tools     struct {
				Components []struct{ Name, Version string }
			}
		}
		Components []struct {
			BOMRef    string `json:"bom-ref"`
			Type      string
			Name      string
			Hashes    []struct{ Alg, Content string }
			Data      []struct{ Type, Name string }
			ModelCard *struct {
				ModelParameters struct {
					Datasets []struct{ Ref string }
				}
				QuantitativeAnalysis struct {
					PerformanceMetrics []struct {
						Type, Value        string
						ConfidenceInterval *struct{ LowerBound, UpperBound string }
					}
				}
				Considerations struct {
					TechnicalLimitations  []string
					EthicalConsiderations []struct{ Name, MitigationStrategy string }
				}
			}
		}
	}
	b := render(t, CycloneDXWriter{}, rich)
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != "1.6" {
		t.Errorf("specVersion %q", bom.SpecVersion)
	}
	// started_at 2026-11-22 08:15:00.123 UTC, to the second.
	if bom.Metadata.Timestamp != "2026-11-22T08:15:00Z" {
		t.Errorf("timestamp %q; want the report's started_at", bom.Metadata.Timestamp)
	}
	tools := map[string]string{}
	for _, c := range bom.Metadata.Tools.Components {
		tools[c.Name] = c.Version
	}
	if tools["gauntlet"] != "v0.1.0" || tools["onnxruntime"] != "1.30.0" || len(tools) != 2 {
		t.Errorf("tools %v; want gauntlet v0.1.0 and onnxruntime 1.30.0", tools)
	}
	if len(bom.Components) != 1+len(rich.Data) {
		t.Fatalf("%d components; want the model and %d data files", len(bom.Components), len(rich.Data))
	}
	m := bom.Components[0]
	if m.Type != "machine-learning-model" || m.Name != "digits.onnx" || len(m.Hashes) != 1 ||
		m.Hashes[0].Alg != "SHA-256" || m.Hashes[0].Content != rich.Model.SHA256 {
		t.Errorf("model component %+v; want machine-learning-model digits.onnx with SHA-256 %s", m, rich.Model.SHA256)
	}
	for i, d := range rich.Data {
		c := bom.Components[1+i]
		if c.Type != "data" || len(c.Hashes) != 1 || c.Hashes[0].Content != d.SHA256 || len(c.Data) != 1 || c.Data[0].Name != d.Role {
			t.Errorf("data component %d: %+v; want %s with SHA-256 %s", i, c, d.Role, d.SHA256)
		}
		if m.ModelCard.ModelParameters.Datasets[i].Ref != c.BOMRef {
			t.Errorf("model card dataset %d refers to %q; want %q", i, m.ModelCard.ModelParameters.Datasets[i].Ref, c.BOMRef)
		}
	}
	// The rich report's gates, in order: accuracy.top1, the evasion and
	// fairness gates of fixtureReport, then accuracy.accuracy and
	// accuracy.ece. accuracy is 7/12 with ci_low 7/12 − 0.05 and ci_high
	// 7/12 + 0.04 (rich_fixture_test.go's mk); fairness errored, so its
	// metric is undefined; top1 is not in the rich accuracy metrics.
	pm := m.ModelCard.QuantitativeAnalysis.PerformanceMetrics
	var types []string
	for _, p := range pm {
		types = append(types, p.Type)
	}
	want := []string{"accuracy.top1", "evasion.pgd.linf.eps=0.03.robust_accuracy", "fairness.sex.dp", "accuracy.accuracy", "accuracy.ece"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("performance metrics %v; want %v", types, want)
	}
	if pm[1].Value != "0.5" || pm[2].Value != "undefined" || pm[4].Value != "0.03" || pm[4].ConfidenceInterval != nil {
		t.Errorf("values %+v", pm)
	}
	acc := 7.0 / 12
	if pm[3].Value != cdxNum(acc) || pm[3].ConfidenceInterval == nil ||
		pm[3].ConfidenceInterval.LowerBound != cdxNum(acc-0.05) || pm[3].ConfidenceInterval.UpperBound != cdxNum(acc+0.04) {
		t.Errorf("accuracy.accuracy %+v; want %v in [%v, %v]", pm[3], acc, acc-0.05, acc+0.04)
	}
	cons := m.ModelCard.Considerations
	limits := strings.Join(cons.TechnicalLimitations, "\n")
	for _, w := range []string{
		"gate failed: evasion.pgd.linf.eps=0.03.robust_accuracy >= 0.6 (value 0.5)",
		"gate failed: accuracy.accuracy >= 0.9 (value 0.5833333333333334) [waived until 2027-01-31]: waiver: retraining lands in January (JIRA-123)",
		"gate failed: accuracy.ece <= 0.01 (value 0.03) [waiver expired 2026-10-31]",
		`suite fairness error: data: column "sex" not found`,
		"warning: suite evasion: 3 samples clipped",
		"warning: execution provider fell back to cpu",
		"model scan note onnx/contrib-domain: node FusedGemm_0 uses operator domain com.microsoft (node FusedGemm_0)",
	} {
		if !strings.Contains(limits, w) {
			t.Errorf("technical limitations lack %q:\n%s", w, limits)
		}
	}
	if len(cons.EthicalConsiderations) != 1 || !strings.HasPrefix(cons.EthicalConsiderations[0].Name, "gate failed: fairness.sex.dp <= 0.1 (suite") {
		t.Errorf("ethical considerations %+v; want the fairness gate", cons.EthicalConsiderations)
	}
	// The serial number is a function of the report's digests: stable,
	// and another model gives another.
	other := *rich
	other.Model.SHA256 = strings.Repeat("1", 64)
	var o struct{ SerialNumber string }
	if err := json.Unmarshal(render(t, CycloneDXWriter{}, &other), &o); err != nil {
		t.Fatal(err)
	}
	if o.SerialNumber == bom.SerialNumber || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("serial numbers %q and %q", bom.SerialNumber, o.SerialNumber)
	}
}

// TestCycloneDXUUID checks the version-5 UUID against Python's
// uuid.uuid5(uuid.UUID("5b8e1c2a-7d43-4f0e-9a61-3cd280176eb4"), "gauntlet")
// (Python 3.11): 'urn:uuid:…' as printed by .urn.
func TestCycloneDXUUID(t *testing.T) {
	if got, want := cdxUUIDv5("gauntlet"), "urn:uuid:ac685003-a40f-5b86-a08b-814de98d94f2"; got != want {
		t.Errorf("cdxUUIDv5(gauntlet) = %s; Python %s", got, want)
	}
}

package reports

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// CycloneDXWriter writes the run as a CycloneDX 1.6 ML-BOM (JSON,
// docs/reports.md): the model as a machine-learning-model component named
// by its SHA-256, each data file the report lists as a data component with
// its SHA-256, Gauntlet and ONNX Runtime as the tools that made the BOM,
// and a modelCard whose quantitativeAnalysis holds the gated metrics (with
// their confidence intervals where the report has <metric>.ci_low and
// .ci_high) and whose considerations list the findings: failed gates,
// suite errors, warnings and scan findings. The timestamp is the report's
// started_at (the engine's injected clock) and the serial number a UUID
// derived from the report's digests, so the same report always gives the
// same bytes. It validates against the official bom-1.6.schema.json
// (reports/schema/cyclonedx, tested) and signs like the JSON report
// (gauntlet sign).
type CycloneDXWriter struct{}

// Format returns "cyclonedx".
func (CycloneDXWriter) Format() string { return "cyclonedx" }

// Write implements Writer.
func (CycloneDXWriter) Write(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("write cyclonedx report: nil report")
	}
	bom := BOM(r)
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("write cyclonedx report: %w", err)
	}
	return nil
}

// BOM refs of the components CycloneDXWriter writes.
const (
	bomRefModel    = "model"
	bomRefGauntlet = "tool:gauntlet"
	bomRefORT      = "tool:onnxruntime"
)

// cdxNamespace is the UUID namespace of the BOMs' serial numbers
// (a random v4 UUID fixed once).
var cdxNamespace = [16]byte{0x5b, 0x8e, 0x1c, 0x2a, 0x7d, 0x43, 0x4f, 0x0e, 0x9a, 0x61, 0x3c, 0xd2, 0x80, 0x17, 0x6e, 0xb4}

// cdxUUIDv5 returns the name-based (SHA-1, version 5, RFC 9562 §5.5) UUID of
// name in cdxNamespace, as urn:uuid:….
func cdxUUIDv5(name string) string {
	h := sha1.New()
	h.Write(cdxNamespace[:])
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// BOM returns the CycloneDX 1.6 ML-BOM of a report (what CycloneDXWriter
// encodes). r is not changed.
func BOM(r *Report) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SerialNumber = cdxUUIDv5(strings.Join([]string{r.Model.SHA256, r.ConfigSHA256,
		r.StartedAt.UTC().Format(time.RFC3339Nano), strconv.FormatUint(r.Seed, 10), r.Status}, "\n"))
	tools := []cdx.Component{
		{BOMRef: bomRefGauntlet, Type: cdx.ComponentTypeApplication, Name: "gauntlet", Version: r.Tool.Version,
			Description: "ML model release gate: security and fairness test suites on the deployed ONNX file"},
		{BOMRef: bomRefORT, Type: cdx.ComponentTypeLibrary, Group: "microsoft", Name: "onnxruntime", Version: r.Environment.ORTVersion,
			Description: "inference runtime the model was run on (execution provider " + r.Environment.ExecutionProvider + ")"},
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: r.StartedAt.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &tools},
		Properties: cdxProps(
			"gauntlet:report:status", r.Status,
			"gauntlet:report:passed", strconv.FormatBool(r.Passed),
			"gauntlet:report:exit_code", strconv.Itoa(r.ExitCode),
			"gauntlet:report:seed", strconv.FormatUint(r.Seed, 10),
			"gauntlet:report:config_sha256", r.ConfigSHA256,
			"gauntlet:report:confidence_level", cdxNum(r.ConfidenceLevel),
			"gauntlet:environment:execution_provider", r.Environment.ExecutionProvider,
			"gauntlet:environment:fallback", r.Environment.Fallback,
			"gauntlet:environment:device", r.Environment.Device,
		),
	}
	model := cdx.Component{
		BOMRef:      bomRefModel,
		Type:        cdx.ComponentTypeMachineLearningModel,
		Name:        filepath.Base(r.Model.Path),
		Description: "ONNX model under test: " + r.Model.Path,
		Hashes:      cdxHashes(r.Model.SHA256),
		Properties: cdxProps(
			"gauntlet:model:path", r.Model.Path,
			"gauntlet:model:opset", strconv.FormatInt(r.Model.Opset, 10),
			"gauntlet:model:output_kind", r.Model.OutputKind,
		),
		ModelCard: cdxModelCard(r),
	}
	comps := []cdx.Component{model}
	refs := cdxDataRefs(r.Data)
	for i, d := range r.Data {
		comps = append(comps, cdx.Component{
			BOMRef: refs[i],
			Type:   cdx.ComponentTypeData,
			Name:   filepath.Base(d.Path),
			Hashes: cdxHashes(d.SHA256),
			Data: &[]cdx.ComponentData{{
				Type:        cdx.ComponentDataTypeDataset,
				Name:        d.Role,
				Description: fmt.Sprintf("%s: %d rows, read by the run as %s", d.Path, d.Rows, d.Role),
			}},
			Properties: cdxProps("gauntlet:data:role", d.Role, "gauntlet:data:path", d.Path, "gauntlet:data:rows", strconv.Itoa(d.Rows)),
		})
	}
	bom.Components = &comps
	deps := []string{bomRefGauntlet}
	bom.Dependencies = &[]cdx.Dependency{{Ref: bomRefModel, Dependencies: &deps}}
	return bom
}

// cdxDataRefs returns the BOM refs of the data files: role and digest,
// with a counter where a pair repeats, so every ref is unique.
func cdxDataRefs(ds []DataFile) []string {
	refs := make([]string, len(ds))
	seen := map[string]int{}
	for i, d := range ds {
		ref := "data:" + d.Role + ":" + d.SHA256
		if n := seen[ref]; n > 0 {
			seen[ref]++
			ref += ":" + strconv.Itoa(n+1)
		} else {
			seen[ref] = 1
		}
		refs[i] = ref
	}
	return refs
}

// cdxHashes returns a SHA-256 hash list, or nil when the digest is not one.
func cdxHashes(sha string) *[]cdx.Hash {
	if len(sha) != 64 {
		return nil
	}
	return &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sha}}
}

// cdxProps returns name/value properties, leaving out empty values.
func cdxProps(kv ...string) *[]cdx.Property {
	var out []cdx.Property
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, cdx.Property{Name: kv[i], Value: kv[i+1]})
		}
	}
	if out == nil {
		return nil
	}
	return &out
}

// cdxNum formats a number as the metric names and reports do.
func cdxNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// cdxModelCard returns the model card of a report: the model's parameters
// (task, inputs, outputs, the data sets), the gated metrics and the
// findings.
func cdxModelCard(r *Report) *cdx.MLModelCard {
	var ins, outs []cdx.MLInputOutputParameters
	for _, t := range r.Model.Inputs {
		ins = append(ins, cdx.MLInputOutputParameters{Format: cdxTensor(t)})
	}
	for _, t := range r.Model.Outputs {
		outs = append(outs, cdx.MLInputOutputParameters{Format: cdxTensor(t)})
	}
	var sets []cdx.MLDatasetChoice
	for _, ref := range cdxDataRefs(r.Data) {
		sets = append(sets, cdx.MLDatasetChoice{Ref: ref})
	}
	mc := &cdx.MLModelCard{
		BOMRef: "model-card",
		ModelParameters: &cdx.MLModelParameters{
			Task:     "classification",
			Datasets: cdxPtr(sets),
			Inputs:   cdxPtr(ins),
			Outputs:  cdxPtr(outs),
		},
	}
	if pm := cdxMetrics(r); len(pm) > 0 {
		mc.QuantitativeAnalysis = &cdx.MLQuantitativeAnalysis{PerformanceMetrics: &pm}
	}
	mc.Considerations = cdxConsiderations(r)
	return mc
}

// cdxPtr returns a pointer to s, or nil when s is empty (the schema wants
// present arrays non-empty where it says minItems, and omitted reads
// better).
func cdxPtr[T any](s []T) *[]T {
	if len(s) == 0 {
		return nil
	}
	return &s
}

// cdxTensor describes a tensor: "input float32 [-1,64]".
func cdxTensor(t Tensor) string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	return fmt.Sprintf("%s %s [%s]", t.Name, t.Type, strings.Join(dims, ","))
}

// cdxMetrics lists each gated metric once, in gate order: a gate
// on <m>.ci_low or <m>.ci_high lists <m>. The type is the metric's dotted
// name as gates write it, the value its figure ("undefined" when the run
// could not compute it), the confidence interval <m>.ci_low and .ci_high
// when the suite reports them, and the slice the group for by-group
// metrics is left empty: the dotted name says it.
func cdxMetrics(r *Report) []cdx.MLPerformanceMetric {
	var out []cdx.MLPerformanceMetric
	seen := map[string]bool{}
	for _, g := range r.Gates {
		m := strings.TrimSuffix(strings.TrimSuffix(g.Metric, ".ci_low"), ".ci_high")
		if seen[m] {
			continue
		}
		seen[m] = true
		suite, key, _ := strings.Cut(m, ".")
		sr := cdxSuite(r, suite)
		pm := cdx.MLPerformanceMetric{Type: m, Value: "undefined"}
		if sr != nil {
			if v, ok := sr.Metrics[key]; ok {
				pm.Value = cdxNum(v)
			}
			lo, okLo := sr.Metrics[key+".ci_low"]
			hi, okHi := sr.Metrics[key+".ci_high"]
			if okLo && okHi {
				pm.ConfidenceInterval = &cdx.MLPerformanceMetricConfidenceInterval{LowerBound: cdxNum(lo), UpperBound: cdxNum(hi)}
			}
		}
		out = append(out, pm)
	}
	return out
}

// cdxSuite returns the result of the suite called name, or nil.
func cdxSuite(r *Report, name string) *SuiteResult {
	for i := range r.Suites {
		if r.Suites[i].Name == name {
			return &r.Suites[i]
		}
	}
	return nil
}

// cdxPrivacySuites are the suites whose failed gates are ethical
// considerations (privacy and fairness harms) rather than technical
// limitations.
var cdxPrivacySuites = []string{"attribute_inference", "fairness", "inversion", "membership"}

// cdxConsiderations lists the report's findings: every failed gate (a waived
// one says so, with the waiver's reason as its mitigation; an expired
// waiver is named but mitigates nothing), as an ethical
// consideration for the privacy and fairness suites and a technical
// limitation otherwise; suite errors and time-outs, the run's and the
// suites' warnings and the model scan's findings as technical
// limitations. Nil when there is nothing to say.
func cdxConsiderations(r *Report) *cdx.MLModelCardConsiderations {
	var limits []string
	var ethical []cdx.MLModelCardEthicalConsideration
	for _, g := range r.Gates {
		if g.Passed {
			continue
		}
		text := "gate failed: " + g.Expr
		switch {
		case g.Value != nil:
			text += " (value " + cdxNum(*g.Value) + ")"
		case g.Reason != "":
			text += " (" + g.Reason + ")"
		}
		var mitigation string
		switch w := g.Waiver; {
		case w != nil && w.Expired:
			text += " [waiver expired " + w.Until + "]"
		case w != nil:
			text += " [waived until " + w.Until + "]"
			mitigation = "waiver: " + w.Reason
		}
		suite, _, _ := strings.Cut(g.Metric, ".")
		if slices.Contains(cdxPrivacySuites, suite) {
			ethical = append(ethical, cdx.MLModelCardEthicalConsideration{Name: text, MitigationStrategy: mitigation})
			continue
		}
		if mitigation != "" {
			text += ": " + mitigation
		}
		limits = append(limits, text)
	}
	for _, s := range r.Suites {
		if s.Error != "" {
			limits = append(limits, fmt.Sprintf("suite %s %s: %s", s.Name, s.Status, s.Error))
		}
		for _, w := range s.Warnings {
			limits = append(limits, "warning: suite "+s.Name+": "+w)
		}
	}
	for _, w := range r.Warnings {
		limits = append(limits, "warning: "+w)
	}
	if r.Scan != nil {
		fs := slices.Clone(r.Scan.Findings)
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].RuleID < fs[j].RuleID })
		for _, f := range fs {
			text := fmt.Sprintf("model scan %s %s: %s", f.Severity, f.RuleID, f.Message)
			if f.Location != "" {
				text += " (" + f.Location + ")"
			}
			limits = append(limits, text)
		}
	}
	if len(limits) == 0 && len(ethical) == 0 {
		return nil
	}
	return &cdx.MLModelCardConsiderations{TechnicalLimitations: cdxPtr(limits), EthicalConsiderations: cdxPtr(ethical)}
}

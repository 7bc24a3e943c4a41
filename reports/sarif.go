package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SARIFSchemaJSON is the SARIF 2.1.0 JSON Schema (OASIS, rtm.5), as shipped
// in the npm package @microsoft/jest-sarif 1.0.0-beta.0 (MIT licence; see
// schema/LICENSE-sarif.md).
//
//go:embed schema/sarif-2.1.0-rtm.5.json
var SARIFSchemaJSON []byte

const sarifSchemaURL = "https://raw.githubusercontent.com/schemastore/schemastore/master/src/schemas/json/sarif-2.1.0-rtm.5.json"

// sarifSchemaURI is the $schema written into SARIF logs.
const sarifSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

// informationURI is the project's home, for SARIF tool and rule help links.
const informationURI = "https://github.com/gauntlet-ml/gauntlet"

var compiledSARIF = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SARIFSchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("sarif schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(sarifSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("sarif schema: %w", err)
	}
	return c.Compile(sarifSchemaURL)
})

// ValidateSARIF validates a SARIF log against the embedded SARIF 2.1.0
// schema.
func ValidateSARIF(b []byte) error {
	sch, err := compiledSARIF()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("sarif: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("sarif does not match the SARIF 2.1.0 schema: %w", err)
	}
	return nil
}

// SARIF log types: the subset of SARIF 2.1.0 gauntlet writes.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool        sarifTool         `json:"tool"`
		Invocations []sarifInvocation `json:"invocations"`
		Artifacts   []sarifArtifact   `json:"artifacts,omitempty"`
		Results     []sarifResult     `json:"results"`
		Properties  map[string]any    `json:"properties,omitempty"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string       `json:"id"`
		Name                 string       `json:"name"`
		ShortDescription     sarifMessage `json:"shortDescription"`
		FullDescription      sarifMessage `json:"fullDescription"`
		Help                 sarifMessage `json:"help"`
		HelpURI              string       `json:"helpUri"`
		DefaultConfiguration struct {
			Level string `json:"level"`
		} `json:"defaultConfiguration"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifInvocation struct {
		ExecutionSuccessful bool   `json:"executionSuccessful"`
		StartTimeUTC        string `json:"startTimeUtc,omitempty"`
		ExitCode            *int   `json:"exitCode,omitempty"`
	}
	sarifArtifact struct {
		Location sarifArtifactLocation `json:"location"`
		Hashes   map[string]string     `json:"hashes,omitempty"`
	}
	sarifArtifactLocation struct {
		URI string `json:"uri"`
	}
	sarifResult struct {
		RuleID              string             `json:"ruleId"`
		RuleIndex           int                `json:"ruleIndex"`
		Level               string             `json:"level"`
		Message             sarifMessage       `json:"message"`
		Locations           []sarifLocation    `json:"locations,omitempty"`
		PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
		Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
		Properties          map[string]any     `json:"properties,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
		LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	}
	sarifLogical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
	}
	sarifSuppression struct {
		Kind          string `json:"kind"`
		Status        string `json:"status"`
		Justification string `json:"justification"`
	}
)

// sarifBuilder collects results and the rules they use.
type sarifBuilder struct {
	rules   []sarifRule
	index   map[string]int
	results []sarifResult
}

func (b *sarifBuilder) rule(id string) int {
	if i, ok := b.index[id]; ok {
		return i
	}
	r, ok := RuleByID(id)
	if !ok {
		r = Rule{ID: id, Name: "Unknown", Short: id, Help: id, Severity: SeverityWarning}
	}
	sr := sarifRule{ID: r.ID, Name: r.Name, ShortDescription: sarifMessage{r.Short},
		FullDescription: sarifMessage{r.Help}, Help: sarifMessage{r.Help},
		HelpURI: informationURI + "/blob/main/docs/" + helpDoc(r.ID)}
	sr.DefaultConfiguration.Level = r.Severity
	if b.index == nil {
		b.index = map[string]int{}
	}
	b.index[id] = len(b.rules)
	b.rules = append(b.rules, sr)
	return len(b.rules) - 1
}

func helpDoc(id string) string {
	if len(id) > 9 && id[:9] == "gauntlet/" {
		return "reports.md"
	}
	return "scan.md"
}

func (b *sarifBuilder) add(ruleID, level, msg, uri, logical, fingerprint string, props map[string]any, sup *sarifSuppression) {
	res := sarifResult{RuleID: ruleID, RuleIndex: b.rule(ruleID), Level: level,
		Message: sarifMessage{msg}, Properties: props,
		PartialFingerprints: map[string]string{"gauntlet/v1": fingerprint}}
	loc := sarifLocation{}
	uri = fileURI(uri)
	if uri != "" {
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifactLocation{URI: uri}}
	}
	if logical != "" {
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: logical}}
	}
	if loc.PhysicalLocation != nil || loc.LogicalLocations != nil {
		res.Locations = []sarifLocation{loc}
	}
	if sup != nil {
		res.Suppressions = []sarifSuppression{*sup}
	}
	b.results = append(b.results, res)
}

func (b *sarifBuilder) addFindings(sr *ScanResult) {
	if sr == nil {
		return
	}
	for _, f := range sr.Findings {
		b.add(f.RuleID, f.Severity, f.Message, sr.Path, f.Location, f.RuleID+"|"+f.Location, nil, nil)
	}
}

func (b *sarifBuilder) log(version, start string, ok bool, exit *int, artifacts []sarifArtifact) sarifLog {
	rules := b.rules
	if rules == nil {
		rules = []sarifRule{}
	}
	results := b.results
	if results == nil {
		results = []sarifResult{}
	}
	return sarifLog{Schema: sarifSchemaURI, Version: "2.1.0", Runs: []sarifRun{{
		Tool:        sarifTool{Driver: sarifDriver{Name: "gauntlet", Version: version, InformationURI: informationURI, Rules: rules}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: ok, StartTimeUTC: start, ExitCode: exit}},
		Artifacts:   artifacts,
		Results:     results,
	}}}
}

// fileURI turns an absolute path into a file: URI (SARIF locations are
// URIs); a relative path stays a relative reference, slash-separated.
func fileURI(p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
	}
	return (&url.URL{Path: filepath.ToSlash(p)}).String()
}

func writeSARIF(w io.Writer, l sarifLog) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("write sarif report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write sarif report: %w", err)
	}
	return nil
}

// SARIFWriter writes the report as a SARIF 2.1.0 log for code-scanning
// dashboards (GitHub code scanning, Azure DevOps, GitLab): one result per
// failed gate (rule gauntlet/gate), per failed regression gate (rule
// gauntlet/regression), per suite error (gauntlet/suite-error), per finding
// a suite put in its details (FindingsKey: gauntlet/weak-slice) and per scan
// finding (the onnx/… and model/… rules). Results point at the model file.
// A failure excused by an active waiver carries an accepted external
// suppression with the waiver's reason, so dashboards show it as
// suppressed; an expired waiver is not a suppression. Every result has a
// partial fingerprint ("gauntlet/v1": rule and metric or location) so that
// dashboards track it across runs.
type SARIFWriter struct{}

// Format returns "sarif".
func (SARIFWriter) Format() string { return "sarif" }

// Write implements Writer.
func (SARIFWriter) Write(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("write sarif report: nil report")
	}
	var b sarifBuilder
	uri := r.Model.Path
	for _, s := range r.Suites {
		if s.Status == StatusError || s.Status == StatusTimedOut {
			b.add("gauntlet/suite-error", SeverityError, fmt.Sprintf("suite %s failed: %s", s.Name, s.Error),
				uri, "suite "+s.Name, "suite-error|"+s.Name, map[string]any{"suite": s.Name, "suite_version": s.Version}, nil)
		}
	}
	for _, s := range r.Suites {
		if fs, ok := s.Details[FindingsKey].([]Finding); ok {
			for _, f := range fs {
				b.add(f.RuleID, f.Severity, f.Message, uri, f.Location, f.RuleID+"|"+f.Location, map[string]any{"suite": s.Name}, nil)
			}
		}
	}
	for _, g := range r.Gates {
		if g.Passed {
			continue
		}
		msg := "gate " + g.Expr + " failed: " + gateFailureText(g)
		var sup *sarifSuppression
		if g.Waiver != nil {
			if g.Waived() {
				sup = &sarifSuppression{Kind: "external", Status: "accepted", Justification: "waived until " + g.Waiver.Until + ": " + g.Waiver.Reason}
			} else {
				msg += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
			}
		}
		props := map[string]any{"metric": g.Metric, "op": g.Op, "threshold": g.Threshold, "value": g.Value}
		b.add("gauntlet/gate", SeverityError, msg, uri, g.Metric, "gate|"+g.Expr, props, sup)
	}
	if r.Baseline != nil {
		for _, g := range r.Baseline.Regressions {
			if g.Status != RegressionFailed {
				continue
			}
			msg := "regression gate " + g.Expr + " failed: " + regressionText(g)
			var sup *sarifSuppression
			if g.Waiver != nil {
				if g.Waived() {
					sup = &sarifSuppression{Kind: "external", Status: "accepted", Justification: "waived until " + g.Waiver.Until + ": " + g.Waiver.Reason}
				} else {
					msg += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
				}
			}
			props := map[string]any{"metric": g.Metric, "old": g.Old, "new": g.New, "delta": g.Delta, "baseline": r.Baseline.Path}
			b.add("gauntlet/regression", SeverityError, msg, uri, g.Metric, "regression|"+g.Expr, props, sup)
		}
	}
	b.addFindings(r.Scan)
	exit := r.ExitCode
	ok := r.ExitCode == 0 || r.ExitCode == 1
	l := b.log(r.Tool.Version, r.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"), ok, &exit,
		[]sarifArtifact{{Location: sarifArtifactLocation{URI: fileURI(uri)}, Hashes: map[string]string{"sha-256": r.Model.SHA256}}})
	return writeSARIF(w, l)
}

// WriteScanSARIF writes a scan result as a SARIF 2.1.0 log.
func WriteScanSARIF(w io.Writer, sr *ScanResult, version string) error {
	var b sarifBuilder
	b.addFindings(sr)
	var arts []sarifArtifact
	if sr != nil {
		a := sarifArtifact{Location: sarifArtifactLocation{URI: fileURI(sr.Path)}}
		if sr.SHA256 != "" {
			a.Hashes = map[string]string{"sha-256": sr.SHA256}
		}
		arts = []sarifArtifact{a}
	}
	return writeSARIF(w, b.log(version, "", true, nil, arts))
}

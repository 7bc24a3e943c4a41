package reports

import (
	"slices"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Finding severities, lowest first. They map to SARIF levels note, warning
// and error.
const (
	SeverityNote    = "note"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Severities lists the severities, lowest first.
var Severities = []string{SeverityNote, SeverityWarning, SeverityError}

// SeverityRank returns the position of s in Severities, or an errs.Invalid
// error naming the known ones.
func SeverityRank(s string) (int, error) {
	i := slices.Index(Severities, s)
	if i < 0 {
		return 0, errs.Invalidf("severity %q: want note, warning or error", s)
	}
	return i, nil
}

// Finding is one problem a static scan of the model file found.
type Finding struct {
	// RuleID is a stable id from ScanRules ("onnx/external-data-escape").
	RuleID   string `json:"rule_id"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Location names where in the model: "node Conv_3", "initializer w",
	// "opset_import ai.onnx". Empty for the file as a whole.
	Location string `json:"location,omitempty"`
}

// ScanResult is the outcome of a static scan of a model file.
type ScanResult struct {
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"`
	Findings []Finding `json:"findings"`
}

// Rule describes a finding or verdict kind for SARIF and the docs.
type Rule struct {
	ID       string
	Name     string // PascalCase, SARIF reportingDescriptor.name
	Short    string // one line
	Help     string // what it means and what to do
	Severity string // default level
}

// ScanRules are the rules of `gauntlet scan`, documented in docs/scan.md.
// Their ids are stable: CI systems track findings by them.
var ScanRules = []Rule{
	{"onnx/external-data-escape", "ExternalDataEscape", "External tensor data points outside the model's folder",
		"An initializer stores its data in an external file whose location is absolute or climbs out of the model's folder (\"..\"). Loading the model would read an arbitrary file on the machine. Keep external data files next to the model and refer to them by plain relative names.", SeverityError},
	{"onnx/external-data-missing", "ExternalDataMissing", "External tensor data file is missing",
		"An initializer's external data file does not exist beside the model, so the model cannot load. Ship the data file with the model.", SeverityError},
	{"onnx/custom-domain", "CustomOpDomain", "Operator from a custom domain",
		"A node uses an operator domain that is neither the standard ONNX domains nor ONNX Runtime's com.microsoft: running it needs a custom-op library, which is native code loaded into the process. Check where the library comes from before registering it.", SeverityError},
	{"onnx/contrib-domain", "ContribOpDomain", "ONNX Runtime contrib operator",
		"A node uses ONNX Runtime's com.microsoft contrib operators. They run in ONNX Runtime but not in other runtimes, and some exist only in some builds or execution providers.", SeverityNote},
	{"onnx/opset-range", "OpsetOutOfRange", "Opset outside the supported range",
		"The model imports an opset version of the default ONNX domain outside the range this build of gauntlet and its ONNX Runtime support. Re-export the model with a supported opset.", SeverityError},
	{"onnx/tensor-size", "AbsurdTensorSize", "Absurd or inconsistent tensor size",
		"A tensor declares negative dimensions, more elements than can exist, or data whose length does not match its shape, or the model's weights exceed the size limit. Such a file is corrupt or crafted to exhaust memory.", SeverityError},
	{"onnx/duplicate-name", "DuplicateName", "Duplicate name in the graph",
		"Two nodes write the same value name, or an initializer, input or node name is repeated. ONNX graphs are in single static assignment form; a repeated name makes which value is used undefined.", SeverityError},
	{"onnx/dangling-name", "DanglingName", "Value used but never defined",
		"A node input or graph output names a value that no node, initializer or graph input defines. The model cannot run as written.", SeverityError},
	{"onnx/graph-cycle", "GraphCycle", "Nodes that depend on their own output",
		"A node reads, directly or through other nodes, a value that it writes itself: the graph is not acyclic, so the nodes on the cycle (and those behind it) can never run. ONNX Runtime refuses such a model; a file shaped like this is corrupt or crafted.", SeverityError},
	{"model/not-allowed", "ModelNotAllowed", "Model digest not on the allow-list",
		"The model file's SHA-256 is not among model_allow_sha256. Only reviewed model files may be tested and released; add the digest after review.", SeverityError},
}

// VerdictRules are the rules of the run report's SARIF results.
var VerdictRules = []Rule{
	{"gauntlet/gate", "GateFailed", "A release gate failed",
		"A gate in the config (gates:) compared a metric with its threshold and the comparison did not hold, or the metric could not be evaluated. The message gives the value and the threshold. Fix the model or, with a reason and an end date, waive the gate (waivers:).", SeverityError},
	{"gauntlet/regression", "RegressionGateFailed", "A metric regressed against the baseline",
		"A regression gate (regressions:) found that a metric moved against its baseline value by more than allowed. The message gives both values and the change; the report's baseline section lists the newly broken samples.", SeverityError},
	{"gauntlet/suite-error", "SuiteError", "A test suite failed to run",
		"A suite stopped with an error, so its metrics and gates are missing. The message gives the error.", SeverityError},
	{"gauntlet/weak-slice", "WeakSlice", "A data slice where the model is significantly worse",
		"The slices suite found a conjunction of feature values on which a metric (accuracy, selection rate, robust accuracy) is significantly lower than on the rest of the data, after a multiple-comparison correction. The message gives both values, the gap and the p-values (docs/metrics/slices.md).", SeverityWarning},
}

// FindingsKey is the key of a suite result's details under which a suite
// puts its findings ([]Finding, rules from VerdictRules); the SARIF writer
// makes each one a result located at the model file.
const FindingsKey = "findings"

// RuleByID returns the rule with id from ScanRules and VerdictRules.
func RuleByID(id string) (Rule, bool) {
	for _, rs := range [][]Rule{ScanRules, VerdictRules} {
		for _, r := range rs {
			if r.ID == id {
				return r, true
			}
		}
	}
	return Rule{}, false
}

package reports

import "time"

// SchemaVersion is the version of the report schema this package writes.
// It changes only when a field is removed or its meaning changes; adding a
// field does not change it.
const SchemaVersion = "1"

// Suite statuses.
const (
	StatusPassed      = "passed"
	StatusFailed      = "failed"
	StatusError       = "error"
	StatusSkipped     = "skipped"
	StatusInterrupted = "interrupted"
	// StatusTimedOut is a suite stopped by runtime.timeout: its figures,
	// if any, are the part it finished.
	StatusTimedOut = "timed_out"
)

// Report is the one type where the engine, presentation and policy meet. The
// engine fills Suites; gates are evaluated over it; writers render it. It is
// documented field by field in docs/report-schema.md and validated against
// reports/schema/report.schema.json.
type Report struct {
	SchemaVersion string    `json:"schema_version"`
	Tool          Tool      `json:"tool"`
	Status        string    `json:"status"` // completed | interrupted | partial
	StartedAt     time.Time `json:"started_at"`
	DurationS     float64   `json:"duration_s"`
	Passed        bool      `json:"passed"`
	ExitCode      int       `json:"exit_code"`
	Seed          uint64    `json:"seed"`
	ConfigSHA256  string    `json:"config_sha256"`
	// ConfidenceLevel is the level of every Clopper-Pearson interval in the
	// report (<metric>.ci_low and .ci_high), from statistics.confidence_level.
	ConfidenceLevel float64       `json:"confidence_level,omitempty"`
	Model           Model         `json:"model"`
	Data            []DataFile    `json:"data"`
	Environment     Environment   `json:"environment"`
	Suites          []SuiteResult `json:"suites"`
	Gates           []GateResult  `json:"gates"`
	// Baseline compares this report with an earlier one (run --baseline):
	// per-metric deltas, regression gates and McNemar tests. Absent when
	// no baseline was given.
	Baseline *Comparison `json:"baseline,omitempty"`
	// Scan is the static scan of the model file that ran before the suites
	// (findings at or above warning are listed). Absent when none ran.
	Scan *ScanResult `json:"scan,omitempty"`
	// Shard is set on a partial report, one shard's part of a sharded run
	// (run --shard i/N, docs/sharding.md); absent otherwise.
	Shard    *ShardInfo `json:"shard,omitempty"`
	Warnings []string   `json:"warnings"`
}

// Tool identifies the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Tensor describes one model input or output. A dynamic dimension is -1;
// DimNames holds symbolic names where the model gives them ("" otherwise).
type Tensor struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Shape    []int64  `json:"shape"`
	DimNames []string `json:"dim_names,omitempty"`
}

// Model is the provenance of the model under test.
type Model struct {
	Path    string   `json:"path"`
	SHA256  string   `json:"sha256"`
	Opset   int64    `json:"opset"`
	Inputs  []Tensor `json:"inputs"`
	Outputs []Tensor `json:"outputs"`
	// OutputKind is "logits" or "probabilities", as detected or configured.
	OutputKind string `json:"output_kind,omitempty"`
	// OutputRead says which tensor the class scores were read from, and
	// how, when that is not a float32 [N, C] graph output read as it is (a
	// ZipMap's input tensor, an output cast to float32).
	OutputRead string `json:"output_read,omitempty"`
	// ClassLabels are the model's own class labels in score-column order,
	// when it declares them (a ZipMap's classlabels); data labels were
	// mapped to these.
	ClassLabels []string `json:"class_labels,omitempty"`
	// IOConversion lists the Cast nodes added at the model's boundary so
	// that it is fed and read in float32.
	IOConversion []string `json:"io_conversion,omitempty"`
	// InputShape is the input shape fed, batch axis first (-1: dynamic),
	// when the model's dynamic non-batch dims were taken from the data.
	InputShape []int64 `json:"input_shape,omitempty"`
}

// DataFile is the provenance of one data file.
type DataFile struct {
	Role   string `json:"role"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows"`
}

// Environment records where the run happened. ExecutionProvider is the
// provider actually used; when it differs from the requested one, Fallback
// says why.
type Environment struct {
	ORTVersion                 string `json:"ort_version"`
	ORTLibrary                 string `json:"ort_library"`
	ExecutionProviderRequested string `json:"execution_provider_requested"`
	ExecutionProvider          string `json:"execution_provider"`
	Fallback                   string `json:"fallback,omitempty"`
	Device                     string `json:"device"`
	GoVersion                  string `json:"go_version"`
	OS                         string `json:"os"`
	CPU                        string `json:"cpu"`
	GPU                        string `json:"gpu"`
	Workers                    int    `json:"workers"`
	IntraOpThreads             int    `json:"intra_op_threads"`
	BatchSize                  int    `json:"batch_size"`
}

// SuiteResult is one suite's outcome. Metric keys are relative to the suite
// (a gate names "<suite>.<key>"). A metric whose value is undefined (0/0) is
// absent from Metrics and listed in Undefined.
type SuiteResult struct {
	Name      string             `json:"name"`
	Version   string             `json:"version"`
	Status    string             `json:"status"`
	DurationS float64            `json:"duration_s"`
	Seed      uint64             `json:"seed"`
	Metrics   map[string]float64 `json:"metrics"`
	Undefined []string           `json:"undefined,omitempty"`
	Details   map[string]any     `json:"details"`
	Warnings  []string           `json:"warnings,omitempty"`
	Error     string             `json:"error,omitempty"`
	// Partial holds the suite's per-unit results in a partial report
	// (docs/sharding.md); its Metrics are then empty.
	Partial *SuitePartial `json:"partial,omitempty"`
}

// GateResult is one evaluated gate.
type GateResult struct {
	Expr      string   `json:"expr"`
	Metric    string   `json:"metric"`
	Op        string   `json:"op"`
	Threshold float64  `json:"threshold"`
	Value     *float64 `json:"value"`
	Passed    bool     `json:"passed"`
	// Reason explains a gate that could not be evaluated (suite error,
	// undefined metric).
	Reason string `json:"reason,omitempty"`
	// Waiver is the waiver naming this failed gate, active or expired.
	// A failure with an active waiver does not fail the run.
	Waiver *WaiverStatus `json:"waiver,omitempty"`
}

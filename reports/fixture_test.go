package reports

import "time"

// fixtureReport is a fully filled report: every field, optional ones
// included, has a value. Its numbers are made up; they exist to be written
// and read back, not to mean anything.
func fixtureReport() *Report {
	v := func(x float64) *float64 { return &x }
	return &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "gauntlet", Version: "v0.1.0"},
		Status:        "completed",
		StartedAt:     time.Date(2026, 11, 22, 8, 15, 0, 123000000, time.UTC),
		DurationS:     12.5,
		Passed:        false,
		ExitCode:      1,
		Seed:          42,
		ConfigSHA256:  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",

		ConfidenceLevel: 0.95,
		Model: Model{
			Path:   "examples/digits.onnx",
			SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			Opset:  17,
			Inputs: []Tensor{{
				Name: "input", Type: "float32", Shape: []int64{-1, 64},
				DimNames: []string{"batch", ""},
			}},
			Outputs:    []Tensor{{Name: "logits", Type: "float32", Shape: []int64{-1, 10}}},
			OutputKind: "logits",
		},
		Data: []DataFile{
			{Role: "test", Path: "examples/digits_test.npz", SHA256: "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Rows: 360},
		},
		Environment: Environment{
			ORTVersion:                 "1.30.0",
			ORTLibrary:                 ".ort/libonnxruntime.so.1",
			ExecutionProviderRequested: "cuda",
			ExecutionProvider:          "cpu",
			Fallback:                   "cuda: libcudart.so.12 not found",
			Device:                     "cpu",
			GoVersion:                  "go1.26.8",
			OS:                         "linux/amd64",
			CPU:                        "AMD EPYC 7B13",
			GPU:                        "",
			Workers:                    2,
			IntraOpThreads:             1,
			BatchSize:                  64,
		},
		Suites: []SuiteResult{
			{
				Name:      "accuracy",
				Version:   "1",
				Status:    StatusPassed,
				DurationS: 0.25,
				Seed:      42,
				Metrics:   map[string]float64{"top1": 0.9611111111111111, "macro_f1": 0.96},
				Details: map[string]any{
					"confusion": []any{[]any{35, 0}, []any{1, 34}},
					"n":         360,
				},
			},
			{
				Name:      "evasion",
				Version:   "1",
				Status:    StatusFailed,
				DurationS: 11.75,
				Seed:      43,
				Metrics: map[string]float64{
					"pgd.linf.eps=0.03.robust_accuracy": 0.5,
					"pgd.linf.eps=0.1.robust_accuracy":  1e-7,
				},
				Undefined: []string{"pgd.linf.eps=0.03.success_rate_on_correct"},
				Details:   map[string]any{"steps": 10, "note": "a <b> & c"},
				Warnings:  []string{"3 samples clipped"},
			},
			{
				Name:    "fairness",
				Version: "1",
				Status:  StatusError,
				Seed:    44,
				Error:   "data: column \"sex\" not found",
			},
		},
		Gates: []GateResult{
			{Expr: "accuracy.top1 >= 0.9", Metric: "accuracy.top1", Op: ">=", Threshold: 0.9, Value: v(0.9611111111111111), Passed: true},
			{Expr: "evasion.pgd.linf.eps=0.03.robust_accuracy >= 0.6", Metric: "evasion.pgd.linf.eps=0.03.robust_accuracy", Op: ">=", Threshold: 0.6, Value: v(0.5), Passed: false},
			{Expr: "fairness.sex.dp <= 0.1", Metric: "fairness.sex.dp", Op: "<=", Threshold: 0.1, Passed: false, Reason: `suite "fairness" errored: data: column "sex" not found`},
		},
		Warnings: []string{"execution provider fell back to cpu"},
	}
}

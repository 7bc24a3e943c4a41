// Package ortexec runs ONNX models held in memory through ONNX Runtime
// (onnxruntime_go) with float32, float64 and int64 tensors. It is the small
// execution helper that autodiff's tests and package grad use until the
// project-wide runtime package offers multi-input, multi-output sessions.
package ortexec

// Package ortexec runs ONNX models held in memory through ONNX Runtime
// (onnxruntime_go) with float32, float64 and int64 tensors, on the CPU or on
// the execution provider asked for (cuda.Configure). It is the small
// execution helper of autodiff's tests and of package grad (gauntlet grad);
// the suites run their gradient graphs through package runtime.
package ortexec

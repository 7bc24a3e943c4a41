// Package benchmarks measures the overhead of Gauntlet's inference harness
// (runtime.Pool + runtime.Runner) against bare ONNX Runtime calls
// (DynamicAdvancedSession.Run on preallocated tensors) on the same model,
// session, batch size and thread split, interleaved in one process. Compare
// does the measuring; the ortratio command prints the result; the
// package's benchmark reports the ratio as a metric.
package benchmarks

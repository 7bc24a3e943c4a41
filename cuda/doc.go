// Package cuda chooses and probes ONNX Runtime execution providers: it parses
// runtime.device (cpu, cuda[:N], tensorrt[:N], auto), appends the TensorRT and
// CUDA providers to session options, and records what was actually used, so a
// fall back from GPU to CPU is never silent.
package cuda

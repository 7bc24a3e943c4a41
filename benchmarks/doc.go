// Package benchmarks measures the overhead of Gauntlet's inference harness
// (runtime.Pool + runtime.Runner) against bare ONNX Runtime calls
// (DynamicAdvancedSession.Run on preallocated tensors) on the same model,
// session, batch size and thread split, interleaved in one process. Compare
// does the measuring; the ortratio command prints the result; the
// package's benchmark reports the ratio as a metric.
//
// It also measures what an input gradient costs: GradSessions times the
// plain forward pass of a classifier and its gradient graph (forward, loss
// and input gradient in one ONNX Runtime call) on the same batch, in
// interleaved repetitions; the gradratio command prints their medians and
// ratio, and `make bench-grad-peer` sets them beside PyTorch's forward and
// forward+backward on ResNet-18 and the zoo's ViT (docs/zoo.md).
//
// The pgdpeer command times the evasion suite's PGD as a user runs it (per
// step and fused); `make bench-peer` (benchmarks/pgdpeer/peer.py) sets it
// beside a plain PyTorch PGD loop on the same weights. ProcessCPU reads the
// process CPU time both use.
package benchmarks

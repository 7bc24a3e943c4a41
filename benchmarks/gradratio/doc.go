// Command gradratio prints the cost of Gauntlet's gradient graph over the
// plain forward pass of an ONNX classifier: the median time of one ONNX
// Runtime forward call and of one call of the gradient graph
// (autodiff.BuildNamed with the ce head: forward, per-sample cross-entropy
// and input gradient), over interleaved repetitions on the same batch, and
// their ratio (see benchmarks.GradSessions). Run from the repository root:
//
//	go run ./benchmarks/gradratio -model out/bench-grad/resnet18.onnx -batch 8,32 -threads 1,2
//
// -x reads the inputs from a float32 .npy file (the first -batch samples);
// without it they are uniform in [0, 1) from -seed. -json prints one JSON
// object per line, for scripts (make bench-grad-peer reads it).
package main

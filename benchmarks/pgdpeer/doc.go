// Command pgdpeer times the evasion suite's PGD as a user runs it, for
// `make bench-peer` (benchmarks/pgdpeer/peer.py sets it beside a plain
// PyTorch PGD loop on the same weights). It opens the model and the first
// -n samples once, then for each value of -fuse runs evasion.Suite.Run
// with one PGD attack (L∞, -eps, -step, -steps, no random start,
// early_stop false unless -early-stop, gradient_mode exact) on one worker with -threads
// intra-op threads and batch -batch, and prints, one JSON object per line,
// the wall-clock and process CPU time of that Run, its robust and clean
// accuracy and the path PGD took (details.fuse.pgd_path).
//
// What the time covers: everything Suite.Run does, that is the clean
// forward pass over the data, writing the gradient graph (and, fused, the
// Loop model) and opening their ONNX Runtime sessions, the attack and the
// final evaluation; not the process start, the ONNX Runtime library load,
// the model session or reading the data. Run from the repository root:
//
//	go run ./benchmarks/pgdpeer -model ../shared/fixtures/vision/mnist_cnn.onnx \
//		-x ../shared/fixtures/vision/mnist_test_x.npy -y ../shared/fixtures/vision/mnist_test_y.npy
package main

// Command ortratio prints the throughput of Gauntlet's inference harness
// over that of bare ONNX Runtime calls on the same model and settings (see
// package benchmarks). Run from the repository root:
//
//	go run ./benchmarks/ortratio -model ../shared/fixtures/vision/mnist_cnn.onnx
package main

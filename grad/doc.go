// Package grad is the logic behind `gauntlet grad`: it loads a model,
// builds its gradient graph with package autodiff, runs it through ONNX
// Runtime in batches and returns per-sample input gradients, which it can
// write as a float32 .npy file and as saliency PNGs.
package grad

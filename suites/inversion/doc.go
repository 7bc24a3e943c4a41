// Package inversion is the `inversion` suite: model inversion by MIFace
// (Fredrikson et al. 2015), as ART's MIFace implements it. For each
// configured class it starts from an image, follows the gradient of the
// class probability (exact, from an ONNX gradient graph of package
// autodiff, or estimated by NES when that graph cannot be built), with
// optional total-variation and L2 penalties, inside data.range. It writes
// the reconstructions (.npy, and PNGs for image inputs) and measures how
// close each is to the mean of that class in a reference data set (MSE
// and SSIM); metric keys are in docs/metrics/inversion.md.
package inversion

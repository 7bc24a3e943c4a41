// Package train is Gauntlet's built-in trainer: small classifiers
// (multinomial logistic regression, a one-hidden-layer ReLU network and a
// one-convolution CNN in front of it)
// fitted with gorgonia on in-memory data and written out as ONNX through
// Gauntlet's own ONNX builder, so that the trained models run through
// ONNX Runtime like any user model. The poisoning suite's susceptibility
// experiments use it.
package train

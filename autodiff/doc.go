// Package autodiff writes white-box gradient graphs for ONNX classifiers.
//
// Build takes a model and a Spec (which input, which output, which loss
// head) and returns a new ONNX model that computes the forward pass, a
// per-sample loss [N] and the gradient of each sample's own loss with
// respect to that sample's input, using only standard ai.onnx operators in
// the model's own opset. ONNX Runtime inference builds have no gradient
// kernels; the generated model runs in an ordinary session on any
// execution provider.
//
// The reverse pass walks the graph's topological order backwards and
// applies a vector-Jacobian rule per operator (rules.go). Only nodes on a
// path from the input to the loss are differentiated: weights get no
// gradient. Shape-only subgraphs (Shape, Gather on shapes, Constant, ...)
// and tensors of integer or bool type carry no gradient. Unsupported lists
// the operators without a rule.
//
// The model Build returns can be extended after the gradient (Extend), for
// example with an L∞ FGSM step (AddFGSMStep), so that whole attack steps run
// inside one ONNX Runtime call.
package autodiff

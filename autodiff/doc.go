// Package autodiff writes white-box gradient graphs for ONNX classifiers.
//
// Build takes a model and a Spec (which input, which output, which loss
// head) and returns a new ONNX model that computes the forward pass, a
// per-sample loss [N] and the gradient of each sample's own loss with
// respect to that sample's input, using only standard ai.onnx operators in
// the model's own opset (11 to 21). ONNX Runtime inference builds have no
// gradient kernels; the generated model runs in an ordinary session on any
// execution provider.
//
// The reverse pass walks the graph's topological order backwards and
// applies a vector-Jacobian rule per operator (rules.go). Only nodes on a
// path from the input to the loss are differentiated: weights get no
// gradient. Shape-only subgraphs (Shape, Gather on shapes, Constant, ...)
// and tensors of integer or bool type carry no gradient. Broadcasting is
// undone by summing over broadcast axes, statically where the shapes tell,
// at run time otherwise (opset 13+). Unsupported lists the operators
// without a rule; SupportedOps lists those with one.
//
// Choices that decide numbers:
//
//   - MaxPool routes each window's gradient through its Indices output
//     (MaxUnpool, or ScatterElements with reduction=add for overlapping
//     windows, opset 16+), so exact ties go to the first maximal element in
//     row-major order, as in PyTorch.
//   - The cross-entropy head seeds ∂CE/∂z = p − e_y with the y entry
//     computed as −Σ_{j≠y} p_j, free of the cancellation that makes float32
//     gradients of confident samples rounding noise.
//   - Relu passes the gradient where its output is > 0 (PyTorch's
//     convention at 0); Clip where lo ≤ x ≤ hi; ThresholdedRelu where
//     x > alpha.
//   - Max, Min, ReduceMax and ReduceMin split the gradient evenly among
//     exact ties (PyTorch's torch.maximum and amax); GlobalMaxPool gives
//     it to the first maximal element in row-major order, as MaxPool
//     (PyTorch's adaptive_max_pool2d).
//   - Gather scatters the gradient back with a one-hot matrix of the
//     indices (OneHot, MatMul), so repeated indices sum their gradients
//     and negative ones count from the end; Where routes it by the
//     condition. Neither differentiates its integer or boolean input.
//   - ConvTranspose's data gradient is the Conv with the same weights;
//     auto_pad SAME_* and output_shape are not supported.
//
// The model Build returns can be extended after the gradient (Extend), for
// example with an L∞ FGSM step (FGSMStep) or a PGD step (PGDStep), so that
// whole attack steps run inside one ORT call; BuildPGD puts the gradient
// graph and the step in the body of an ONNX Loop, so that a whole L∞ PGD
// attack is one call. Package autodiff/ortexec runs such models.
package autodiff

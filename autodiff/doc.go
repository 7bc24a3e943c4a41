// Package autodiff writes white-box gradient graphs for ONNX classifiers.
//
// Build takes a model and a Spec (which input, which output, which loss
// head) and returns a new ONNX model that computes the forward pass, a
// per-sample loss [N] and the gradient of each sample's own loss with
// respect to that sample's input, using only standard ai.onnx operators in
// the model's own opset (11 to 21; models at opsets 7 to 10 are converted
// to opset 11 in memory first, onnx.UpgradeOpset). ONNX Runtime inference builds have no
// gradient kernels; the generated model runs in an ordinary session on any
// execution provider.
//
// The reverse pass walks the graph's topological order backwards and
// applies a vector-Jacobian rule per operator (the table in rules.go; the
// rules live in files by operator family: rules_activation.go,
// rules_conv.go, rules_elementwise.go, rules_index.go, rules_linalg.go,
// rules_norm.go, rules_pool.go, rules_quant.go, rules_reduce.go,
// rules_shape.go; rules
// that differentiate several nodes at once in rules_fuse.go). Only nodes on a
// path from the input to the loss are differentiated: weights get no
// gradient. Shape-only subgraphs (Shape, Gather on shapes, Constant, ...)
// and tensors of integer or bool type carry no gradient. Broadcasting is
// undone by summing over broadcast axes, statically where the shapes tell,
// at run time otherwise (opset 13+). Unsupported lists the operators
// without a rule; SupportedOps lists those with one.
//
// Choices that decide numbers:
//
//   - MaxPool routes each window's gradient through its Indices output,
//     so exact ties go where ONNX Runtime's forward put the maximum (the
//     first maximal element in row-major order, as in PyTorch):
//     non-overlapping windows by MaxUnpool; overlapping windows, padding
//     and ceil_mode windows by ScatterElements with reduction=add from
//     opset 16, and below it by kernel offsets (for each offset, the
//     windows whose Indices point at the element it reads keep their
//     gradient; one grouped ConvTranspose with one-hot kernels adds the
//     offsets into place). Windows sharing a maximum add their gradients.
//   - A Conv whose output only feeds an inference BatchNormalization
//     with constant scale and variance gets its input gradient from one
//     Conv (or ConvTranspose) with the weights scaled by
//     scale/√(var+ε) per output channel, computed at build time
//     (rules_fuse.go); the BatchNorm's Mul on the gradient is gone.
//     Gradients differ from the per-node rules by float32 rounding only.
//   - AveragePool (pads, count_include_pad, ceil_mode, dilations,
//     auto_pad) spreads g/divisor over each window with a grouped
//     ConvTranspose of ones, where the divisor is ONNX Runtime's own: the
//     same AveragePool of a constant of ones (folded at load) gives
//     valid/divisor per window. This needs static channel and spatial
//     sizes; with dynamic ones ceil_mode is refused.
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
//   - Slice with steps other than 1 (negative ones too), and Slice on axes
//     of dynamic size, scatter the gradient as Gather does, with the index
//     list start, start+step, … (a constant for a static axis size, Range
//     of the run-time-clamped bounds otherwise); step-1 slices of static
//     axes pad it back.
//   - MatMul takes 1-D operands as numpy does ([K] as [1, K] on the left,
//     [K, 1] on the right).
//   - ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSumExp and ReduceProd
//     take axes as an attribute or input and honour keepdims and
//     noop_with_empty_axes (where ONNX Runtime still applies x², |x|,
//     √(x²)); ReduceL1 uses sign(x), 0 at 0; ReduceL2 passes 0 where the
//     norm is 0; ReduceProd is exact with zeros (the product of the other
//     elements). LpNormalization supports p = 1 and 2.
//   - GatherElements and TopK add the gradient at the positions read
//     (ScatterElements with reduction=add from opset 16, OneHot before);
//     TopK's indices output decides which of tied elements gets it (ONNX
//     Runtime: the lower index). DepthToSpace (DCR, CRD) and SpaceToDepth
//     apply the inverse permutation (CRD needs a static channel count);
//     CumSum is a cumulative sum in the other direction.
//   - Einsum's gradient for each operand is another Einsum of the output
//     gradient and the other operands, broadcast along indices summed in
//     that operand alone; an ellipsis is supported where its axes do not
//     broadcast. An index repeated within one operand (a diagonal or
//     trace, "ii->i") is not supported.
//   - Resize is supported in nearest and linear (bilinear, trilinear)
//     modes with constant scales or sizes and static sizes on the resized
//     axes: per axis, a Gather whose index list (nearest) or a matrix
//     whose two taps per output (linear) are computed as ONNX Runtime
//     computes them; its gradient sums each element's copies or applies
//     the transposed matrix. A size copied from Shape(x) on a dynamic axis
//     (F.interpolate's export) leaves that axis as it is. Cubic mode,
//     antialias, tf_crop_and_resize, half_pixel_symmetric and
//     keep_aspect_ratio_policy other than stretch are refused.
//   - Pad in constant mode slices the gradient back; in reflect, edge and
//     wrap modes every padded element is a copy whose gradient is added to
//     its source.
//   - Values computed from Shape (x.chunk bounds, Reshape targets, Expand
//     shapes, Pad amounts) are constants wherever they do not depend on a
//     dynamic batch axis (onnx.Model.Infer folds them). Where a rule needs
//     one that does, BuildForBatch builds the graph for one batch size;
//     grad.OpenTargetGraph then keeps one such graph per batch size in use
//     (runtime.OpenGraphPerBatch), and the evasion report says so
//     (details.gradient.per_batch_size).
//   - QuantizeLinear and DequantizeLinear (INT8 QDQ models, package
//     quantize's variants) get straight-through gradients, an
//     approximation (Bengio et al. 2013; BPDA, Athalye et al. 2018):
//     DequantizeLinear multiplies by its scale (per-axis along axis),
//     QuantizeLinear divides by it where the unrounded x/scale + zero
//     point lies inside the integer range of its output type and gives 0
//     where it saturates; the integer tensor between them carries a float
//     gradient, and scales and zero points get none. Blocked quantisation
//     (block_size) and float8 outputs are refused. StraightThroughOps lists
//     the operators of a model this applies to, so reports can say so.
//   - Build never panics: a model too malformed for a rule is an error
//     naming the node. Inspect runs Build, so `gauntlet inspect` says
//     white_box true exactly when the graph builds, and the reason when
//     it does not.
//   - Not supported (reported by Unsupported, refused by Build): Upsample
//     at opset 10 and later (deprecated; earlier it becomes Resize), Scatter*, GatherND, the recurrent
//     operators (LSTM, GRU, RNN), Loop, If, Scan, and the operators of
//     other domains.
//
// The model Build returns can be extended after the gradient (Extend), for
// example with an L∞ FGSM step (FGSMStep) or a PGD step (PGDStep), so that
// whole attack steps run inside one ORT call; BuildPGD puts the gradient
// graph and the step in the body of an ONNX Loop, so that a whole L∞ PGD
// attack is one call. Package autodiff/ortexec runs such models.
package autodiff

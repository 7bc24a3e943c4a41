// Package onnx loads, checks, edits and saves ONNX models through the
// generated protobuf types in onnxpb. It knows nothing about ONNX Runtime.
//
// Model.Infer works out element types, static shapes and the values of
// small integer tensors (shape sub-graphs) without running the model. Its
// per-operator rules form one sorted table, inferRules in infer.go, like
// autodiff's gradient rules: each entry names the operator's shape rule
// and, for the operators of shape sub-graphs, its value fold (values
// known in part, partial.go). The rules live in files by operator family:
// infer_conv.go (convolutions and pools), infer_elementwise.go (one
// tensor's type through, broadcasting arithmetic, comparisons, Cast),
// infer_index.go (Gather, GatherElements, NonZero, OneHot, TopK, Where),
// infer_linalg.go (Gemm, MatMul, Einsum), infer_reduce.go (reductions,
// ArgMax/ArgMin) and infer_shape.go (layout, Shape, Size and constants).
// An operator without an entry gives its outputs the first input's
// element type and an unknown shape. Supporting another operator is one
// rule in its family's file and one entry in the table.
package onnx

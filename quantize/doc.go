// Package quantize writes the variants of a model that the differential
// suite compares with it, with Gauntlet's own ONNX code (package onnx):
//
//   - Static: INT8 QDQ quantisation. The weight of every Conv, Gemm and
//     MatMul whose weight is an initializer is stored as int8, symmetric
//     and per output channel (scale max|w|/127, zero point 0; per tensor
//     below opset 13, which has no axis attribute), behind a
//     DequantizeLinear; its bias becomes int32 with scale s_x·s_w (zero
//     point 0). The activation entering each such operator and the one it
//     produces (unless it is a graph output: logits stay float) get a
//     QuantizeLinear/DequantizeLinear pair, uint8 asymmetric, with the
//     min-max range measured on calibration data (CalibrationModel). ONNX
//     Runtime fuses these pairs into its integer kernels (QLinearConv,
//     QGemm, QLinearMatMul) at its default optimisation level.
//   - WeightsOnly: the dynamic INT8 variant: the same int8 weights behind
//     DequantizeLinear, activations left in float (no calibration). This
//     is the weight rounding of onnxruntime's quantize_dynamic without its
//     run-time activation quantisation (DynamicQuantizeLinear/
//     MatMulInteger); docs/metrics/differential.md says why.
//   - FP16: every float32 tensor and initializer in float16, with the
//     model's float32 inputs and outputs kept (Casts at the boundaries) and
//     the operators named in keep left in float32 between Casts (the
//     caller finds them by running the model: ONNX Runtime's CPU provider
//     lacks float16 kernels for some).
//
// The functions never change their argument; they return a new model and
// a Report of what they did.
package quantize

// Package differential is the differential suite: the run's evaluation
// data through the model and through one or more variants of it (another
// ONNX file, another execution provider or graph-optimisation level, or
// an INT8 or FP16 model Gauntlet writes itself with package quantize),
// with per-variant decision agreement, accuracy delta and McNemar test,
// probability deltas, the samples whose decision flips (CSV), and, with an
// evasion block, the robust-accuracy delta under the same attack and the
// transfer rate of adversarial examples crafted on the model. Metric keys:
// docs/metrics/differential.md.
package differential

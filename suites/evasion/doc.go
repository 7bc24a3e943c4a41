// Package evasion is the evasion suite: white-box (FGSM, PGD, APGD-CE,
// APGD-DLR, APGD-T, FAB, FAB-T) and score-based black-box (Square) attacks
// under L∞ and L2 budgets, the AutoAttack ensemble (versions standard,
// plus and rand), the minimal-perturbation attacks DeepFool and FMN (L∞,
// L2, L1, L0: each sample's smallest adversarial eps) and the
// decision-based HopSkipJump and Sign-OPT (the predicted label alone),
// run on the deployed ONNX model through ONNX Runtime.
//
// Gradients come from an ONNX gradient graph written by package autodiff
// (gradient_mode exact) or from NES estimates made of forward passes only
// (estimated). gradient_mode auto builds the exact graphs and falls back to
// NES when they cannot be built or run (the builder's error, naming the
// node, is the reason in details.gradient), or when the input is not
// float32 or has a fixed batch size. NES differentiates a loss that does
// not saturate on confident models (the log-odds of a wrong class, in
// float64, for the cross-entropy); when an estimated-gradient attack still
// finds no signal on most samples, Square runs on them and the attack's
// figures are the worst case of both. All samples of a batch advance
// together, one ONNX Runtime call per step; a sample leaves the batch once the attack succeeds on it.
// Batches run on the worker pool with per-batch random streams, so the
// results do not depend on the number of workers.
//
// Every adversarial point lies inside data.range and within eps of the
// clean point in the attack's norm, checked in float64 on the float32
// values. Metric keys are documented in docs/metrics/evasion.md. Every
// attack shards (shard.go; docs/sharding.md lists what a sharded run
// refuses).
//
// Files: suite.go runs the suite (config, metrics, the attack loop over
// batches); runners.go decides the gradient mode and opens the graphs and
// each worker's runners; attacks.go, square_l2.go, autoattack.go, dlrt.go
// targeted.go (APGD-T, target drawing), fab.go, deepfool.go, fmn.go,
// hsj.go and signopt.go are the attack algorithms; decision.go reads the
// label for the decision-based attacks; fused.go the fused PGD loop;
// oracle.go the exact and NES gradient oracles; fallback.go Square on
// samples without a gradient signal; geom.go the norm-ball geometry;
// summary.go the metrics and sanity checks; examples.go the saved
// adversarial examples; shard.go the units of a sharded run.
package evasion

// Package learn holds the learners and scores shared by the suites that
// train attack classifiers (membership, attribute_inference): tie-aware
// ROC curves with AUC, advantage and TPR at a fixed FPR, stable
// per-sample scores from logits, a small L2-regularised softmax-regression
// and MLP attack classifier (L-BFGS) with stratified k-fold
// cross-validation. It is not a suite; the suites live under suites/.
package learn

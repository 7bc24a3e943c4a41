// Package privacy holds the numerics shared by the privacy suites
// (membership, attribute_inference): tie-aware ROC curves with AUC,
// advantage and TPR at a fixed FPR, stable per-sample scores from logits,
// and a small L2-regularised softmax-regression attack classifier with
// stratified k-fold cross-validation.
package privacy

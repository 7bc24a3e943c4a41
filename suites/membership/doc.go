// Package membership is the `membership` suite: membership-inference
// attacks against the model on a set of known training samples (members)
// and known unseen samples (nonmembers). Threshold attacks on the loss
// (Yeom et al. 2018), the max softmax confidence, the entropy and the
// modified entropy (Song & Mittal 2021); offline LiRA with user-supplied
// reference models (Carlini et al. 2022); and a learned attack classifier,
// k-fold cross-validated; and the label-only attacks: the gap attack (ART's
// LabelOnlyGapAttack) and the boundary-distance attack (Choquette-Choo et
// al. 2021, boundary.go). Each attack reports the ROC AUC, the membership
// advantage, the balanced accuracy at the best threshold and the TPR at
// low FPRs with Clopper-Pearson intervals, TensorFlow Privacy's
// differential-privacy ε lower bound and its figures per slice (class,
// confidence decile, group) with the worst slice; metric keys are documented in
// docs/metrics/membership.md.
package membership

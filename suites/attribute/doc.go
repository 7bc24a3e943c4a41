// Package attribute is the `attribute_inference` suite: can an attacker
// who sees the model's outputs for a record (and, optionally, the record's
// other features) infer a sensitive attribute of it? An attack classifier
// is trained on (log-probability outputs[, non-sensitive features]) to
// predict a sensitive CSV column, k-fold cross-validated, and compared with
// the majority-class baseline and with the same classifier on the
// features alone. Metric keys are documented in
// docs/metrics/attribute_inference.md.
package attribute

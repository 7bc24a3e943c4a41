// Package drift implements the drift suite: the evaluation data against
// reference data (the training rows, last month's traffic). Per feature it
// reports the population stability index (PSI) on bins cut at the
// reference's quantiles, the two-sample Kolmogorov-Smirnov test for
// numeric features and Pearson's χ² test of homogeneity for categorical
// ones; and, for images (samples with more than one axis, which have no
// per-feature tests) as for tables, a kernel two-sample test, the maximum
// mean discrepancy (MMD, RBF kernel, median-heuristic bandwidth, seeded
// permutation p-value) on the model's penultimate activations, or its
// outputs when it has no linear head. It also reports
// the model's accuracy, and a fairness rate when sensitive columns are
// given, under simulated covariate shift: the evaluation rows re-weighted
// so that those in a feature's top quantile count k times. The metrics and
// the thresholds' sources are in docs/metrics/drift.md.
package drift

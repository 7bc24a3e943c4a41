// Package fairness implements the fairness suite: per-group rates of the
// model's own predictions (Fairlearn's MetricFrame, AIF360's classification
// metrics, Aequitas' group table), disparities between groups of each
// sensitive attribute and of their intersection, bootstrap confidence
// intervals that resample counts, significance tests of every group against
// a reference group, and a counterfactual flip test for sensitive attributes
// that are model inputs.
//
// Everything is computed from counts: one pass over the predictions tallies
// a small table per group, and the bootstrap resamples those tables
// (multinomially, within each group), which is exactly a stratified row
// bootstrap for metrics that are functions of the counts.
package fairness

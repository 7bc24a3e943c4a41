// Package slices implements the slices suite: it searches the conjunctions
// of feature values (numeric columns binned by quantiles of the evaluation
// data, categorical columns by value; depth up to max_depth) where a
// per-sample metric (accuracy, the selection rate over the sensitive
// columns, robust accuracy under the evasion suite's attacks) is
// significantly worse than on the rest of the data, with a
// multiple-comparison correction over every slice tested, and ranks the
// significant slices by effect size (docs/metrics/slices.md).
package slices

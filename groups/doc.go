// Package groups holds what every suite that reports figures by group
// shares: the partition of rows by one or more grouping columns (fairness's
// sensitive columns, the `by:` key of accuracy, evasion and membership),
// the minimum-group-size rule, per-group figures with their confidence
// bounds, and the worst group and the largest gap between groups.
//
// The fairness suite computes its disparities from the same Partition; the
// per-sample suites call Columns to read their `by` columns, Proportions
// (or their own per-group statistic) and Write to record the figures.
package groups

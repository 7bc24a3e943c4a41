// Package groups holds what every suite that reports figures by group
// shares: the partition of rows by one or more grouping columns (fairness's
// sensitive columns, the `by:` key of accuracy, evasion, membership and
// differential), the minimum-group-size rule, per-group figures with their
// confidence bounds, and the worst group and the largest gap between
// groups, with bootstrap intervals on the gaps of proportions.
//
// The fairness suite computes its disparities from the same Partition. A
// suite that works per sample adopts `by` in five steps (accuracy is the
// smallest example, suites/accuracy/groups.go):
//
//  1. embed By in its Config with `mapstructure:",squash"` and call
//     By.Validate in Decode;
//  2. append By.Keys(<metric>, isProportion) to Metrics for every headline
//     metric;
//  3. implement suite.ColumnUser with By.DataColumns and suite.DataChecker
//     with By.Check, so the engine keeps the columns and a missing one is
//     exit 2 before any suite runs (data the suite loads itself: add the
//     columns to the spec's Also and let By.Partition check them);
//  4. after its per-sample outcomes are known, call By.Partition on the
//     data, Proportions (or its own statistic per group, as membership's
//     advantage) and By.Write for each metric;
//  5. document the keys in docs/metrics/<suite>.md (docs/config.md has the
//     shared rules).
//
// The HTML report draws every metric of details.by_group beside its
// overall figure.
package groups

// Package stats holds the statistics that several suites and the reports
// share, one place each: quantiles and the median (quantile.go), confidence
// intervals — Clopper-Pearson, the bootstrap percentile and BCa intervals
// and the jackknife acceleration (interval.go), hypothesis tests — McNemar exact, Fisher exact and the
// two-proportion z-test (tests.go), seeded samplers for the bootstrap
// (sample.go) and the arg max of a row of scores (argmax.go). Functions are
// pure; randomness comes through an explicit source.
package stats

// Package stats holds the small statistical routines that several suites
// share: exact binomial (Clopper-Pearson) intervals and friends. Functions
// are pure; randomness, where needed, comes through an explicit source.
package stats

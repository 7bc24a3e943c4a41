// Package registry is the one table of Gauntlet's suites. Suites are listed
// explicitly and sorted by name; a run executes them in this order.
package registry

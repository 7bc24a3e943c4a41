// Package errs carries Gauntlet's process exit codes on errors, so that the
// code deciding an outcome (a config loader, a gate, a suite runner) and the
// code that exits (cmd/gauntlet) never need to share anything but an error.
package errs

// Package testutil finds what tests need from outside the repository: the
// ONNX Runtime library and the shared reference fixtures.
package testutil

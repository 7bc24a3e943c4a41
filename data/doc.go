// Package data loads evaluation data (.npy, .npz, CSV) into a Dataset of
// float32 samples with optional integer labels and extra string columns, and
// checks it against a model's input: shapes, NaN/Inf, label ranges. Every
// error names the file and, where it applies, the column, row or key.
package data

// Package data loads evaluation data (.npy, .npz, CSV) into a Dataset of
// float32 samples with optional integer labels and extra string columns, and
// checks it against a model's input: shapes, NaN/Inf, label ranges.
//
// Load reads the files a Spec (the config's data: block) names; Dataset.Fit
// (or FitInput) adapts the sample shape to a model input; Dataset.Validate
// and Dataset.CheckRange check values and labels. Every error carries exit
// code errs.Invalid and names the file and, where it applies, the array,
// column, line or sample.
package data

package data

// Dataset is a set of samples in row-major float32, ready to be batched.
type Dataset struct {
	// X holds N samples of prod(SampleShape) values each, sample-major.
	X []float32
	// N is the number of samples.
	N int
	// SampleShape is the shape of one sample (without the batch axis).
	SampleShape []int
	// Y holds N integer labels, or is nil when the data has none.
	Y []int64
	// Features names the columns of X for CSV data (nil for NumPy data).
	Features []string
	// Columns holds the CSV columns that are neither features nor the
	// label, by header name, as strings (for grouping).
	Columns map[string][]string
	// Files records where the data came from, for provenance.
	Files []File
}

// File is the provenance of one file a Dataset was read from.
type File struct {
	Role   string // "x", "y" or "csv"
	Path   string
	SHA256 string
	Rows   int
}

// SampleSize returns the number of float32 values in one sample.
func (d *Dataset) SampleSize() int {
	n := 1
	for _, s := range d.SampleShape {
		n *= s
	}
	return n
}

// Sample returns sample i as a sub-slice of X (no copy).
func (d *Dataset) Sample(i int) []float32 {
	s := d.SampleSize()
	return d.X[i*s : (i+1)*s]
}

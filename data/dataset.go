package data

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

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
	// Columns holds the CSV columns listed in Spec.Keep (which may also be
	// features), by header name, as strings (for grouping).
	Columns map[string][]string
	// Files records where the data came from, for provenance.
	Files []File
	// LabelNames maps class ids to names when a CSV label column held
	// strings: class i is LabelNames[i] (sorted). Nil for integer labels.
	// After MapClassLabels it holds the model's class labels instead.
	LabelNames []string

	name  string // the data file as configured, for messages
	lines []int  // CSV only: the 1-based line number of each sample
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

// source names the data in messages: the file as configured, or "data".
func (d *Dataset) source() string {
	if d.name != "" {
		return "data " + d.name
	}
	return "data"
}

// labelSource names the labels in messages: the y file when there is one.
func (d *Dataset) labelSource() string {
	for _, f := range d.Files {
		if f.Role == "y" {
			return "data " + f.Path
		}
	}
	return d.source()
}

// row names sample i in messages: its CSV line when known.
func (d *Dataset) row(i int) string {
	if i < len(d.lines) {
		return fmt.Sprintf("sample %d (line %d)", i, d.lines[i])
	}
	return fmt.Sprintf("sample %d", i)
}

// position names flat position p within a sample in messages, with its
// feature name for CSV data or its index for multi-axis samples.
func (d *Dataset) position(p int) string {
	if p < len(d.Features) {
		return fmt.Sprintf("position %d (column %q)", p, d.Features[p])
	}
	if len(d.SampleShape) > 1 {
		idx := make([]int, len(d.SampleShape))
		for k, q := len(idx)-1, p; k >= 0; k-- {
			if s := d.SampleShape[k]; s > 0 {
				idx[k], q = q%s, q/s
			}
		}
		return fmt.Sprintf("position %d (index %v)", p, idx)
	}
	return fmt.Sprintf("position %d", p)
}

// Fit checks the sample shape against a model input shape whose first
// dimension is the batch axis (negative dimensions are dynamic) and adapts
// it. A sample shape equal to the model's per-sample shape (dynamic
// dimensions match anything) is kept; one with the same number of elements
// as a fully known per-sample shape is reshaped to it (e.g. [784] for
// [-1,1,28,28]). A fixed batch dimension is accepted here; batching pads.
func (d *Dataset) Fit(inputShape []int64) error {
	return d.FitInput("", inputShape)
}

// FitInput is Fit with the model input's name, for messages.
func (d *Dataset) FitInput(name string, inputShape []int64) error {
	what := "model input"
	if name != "" {
		what = fmt.Sprintf("model input %q", name)
	}
	shape := fmtShape(inputShape)
	if len(inputShape) == 0 {
		return errs.Invalidf("%s: %s %s has no batch axis", d.source(), what, shape)
	}
	per := inputShape[1:]
	match := len(per) == len(d.SampleShape)
	known := true
	elems := int64(1)
	for i, s := range per {
		if s < 0 {
			known = false
			continue
		}
		if s == 0 {
			return errs.Invalidf("%s: %s %s has a zero dimension", d.source(), what, shape)
		}
		elems *= s
		if match && int64(d.SampleShape[i]) != s {
			match = false
		}
	}
	if match {
		return nil
	}
	if known && elems == int64(d.SampleSize()) {
		d.SampleShape = make([]int, len(per))
		for i, s := range per {
			d.SampleShape[i] = int(s)
		}
		return nil
	}
	return errs.Invalidf("%s: sample shape %v does not fit %s %s", d.source(), d.SampleShape, what, shape)
}

// fmtShape writes a shape as [a,b,c].
func fmtShape(s []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// expMask selects the exponent bits of a float32; all ones means NaN or Inf.
const expMask = 0x7f800000

// Validate checks that X holds only finite values and, when numClasses > 0,
// that every label is in [0, numClasses). Errors name the first offender
// (sample and flat position within it, or row and value) and the count.
func (d *Dataset) Validate(numClasses int) error {
	bad, first := 0, -1
	for i, v := range d.X {
		if math.Float32bits(v)&expMask == expMask {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		s := max(d.SampleSize(), 1)
		return errs.Invalidf("%s: %d non-finite value(s) in x; first: %v at %s, %s",
			d.source(), bad, d.X[first], d.row(first/s), d.position(first%s))
	}
	if numClasses <= 0 {
		return nil
	}
	bad, first = 0, -1
	for i, y := range d.Y {
		if y < 0 || y >= int64(numClasses) {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		name := ""
		if y := d.Y[first]; y >= 0 && y < int64(len(d.LabelNames)) {
			name = fmt.Sprintf(" (%q)", d.LabelNames[y])
		}
		return errs.Invalidf("%s: %d label(s) outside [0,%d) (the model has %d classes); first: label %d%s at %s",
			d.labelSource(), bad, numClasses, numClasses, d.Y[first], name, d.row(first))
	}
	return nil
}

// CheckRange returns an error if any value of X lies outside [lo, hi] (NaN
// counts as outside), naming the first offender and the count.
func (d *Dataset) CheckRange(lo, hi float64) error {
	if !(lo <= hi) {
		return errs.Invalidf("%s: invalid range [%v, %v]", d.source(), lo, hi)
	}
	bad, first := 0, -1
	for i, v := range d.X {
		if f := float64(v); !(f >= lo && f <= hi) {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		s := max(d.SampleSize(), 1)
		return errs.Invalidf("%s: %d value(s) outside the input range [%v, %v]; first: %v at %s, %s",
			d.source(), bad, lo, hi, d.X[first], d.row(first/s), d.position(first%s))
	}
	return nil
}

// MapClassLabels renumbers the labels to the class indices of a model that
// names its classes (a scikit-learn converter's ZipMap): class index i is
// ints[i] or strs[i]; exactly one of the two is non-nil. With ints, label
// value v becomes the index of v in ints (it is not assumed to equal it).
// With strs, a label named s (a CSV label name, or an integer label written
// in decimal) becomes the index of s in strs. Afterwards LabelNames holds
// the model's labels (strs, or ints in decimal), except when ints are
// 0..k-1 in order and the labels were integers: then nothing changes. A
// label the model does not know is an errs.Invalid error naming the first
// such row and value and the count.
func (d *Dataset) MapClassLabels(ints []int64, strs []string) error {
	if d.Y == nil || (ints == nil && strs == nil) {
		return nil
	}
	if strs == nil && d.LabelNames == nil {
		identity := true
		for i, v := range ints {
			identity = identity && v == int64(i)
		}
		if identity {
			return nil
		}
	}
	names := strs
	if names == nil {
		names = make([]string, len(ints))
		for i, v := range ints {
			names[i] = strconv.FormatInt(v, 10)
		}
	}
	index := make(map[string]int64, len(names))
	for i, n := range names {
		if _, dup := index[n]; !dup {
			index[n] = int64(i)
		}
	}
	label := func(y int64) string {
		if d.LabelNames != nil && y >= 0 && y < int64(len(d.LabelNames)) {
			return d.LabelNames[y]
		}
		return strconv.FormatInt(y, 10)
	}
	mapped := make([]int64, len(d.Y))
	bad, first := 0, -1
	for i, y := range d.Y {
		c, ok := index[label(y)]
		if !ok {
			if bad == 0 {
				first = i
			}
			bad++
			continue
		}
		mapped[i] = c
	}
	if bad > 0 {
		return errs.Invalidf("%s: %d label(s) that are not classes of the model (its classes, in score order: %s); first: label %q at %s",
			d.labelSource(), bad, strings.Join(names, ", "), label(d.Y[first]), d.row(first))
	}
	d.Y = mapped
	d.LabelNames = append([]string(nil), names...)
	return nil
}

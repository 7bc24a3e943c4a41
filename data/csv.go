package data

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// loadCSVFile reads the CSV file at path (spec.CSV resolved) and records
// its provenance.
func loadCSVFile(spec Spec, path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errs.Invalidf("data csv %s: %w", spec.CSV, err)
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), chunkBytes)
	d, err := readCSV(br, spec.CSV, spec)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, errs.Invalidf("data csv %s: %w", spec.CSV, err)
	}
	d.Files = append(d.Files, File{Role: "csv", Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Rows: d.N})
	return d, nil
}

// readCSV parses CSV data from r; name is the file as configured, for
// messages. Row numbers in errors are 1-based line numbers of the file.
func readCSV(r io.Reader, name string, spec Spec) (*Dataset, error) {
	fail := func(format string, args ...any) error {
		return errs.Invalidf("data csv %s: "+format, append([]any{name}, args...)...)
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, fail("empty file: a header row is required")
	}
	if err != nil {
		return nil, fail("%w", err)
	}
	header := make([]string, len(rec))
	col := make(map[string]int, len(rec))
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		header[i] = h
		if j, dup := col[h]; dup {
			return nil, fail("header: column %q appears twice (columns %d and %d)", h, j+1, i+1)
		}
		col[h] = i
	}
	find := func(field, c string) (int, error) {
		i, ok := col[c]
		if !ok {
			return 0, fail("data.%s: no column %q; the header has %d columns: %s", field, c, len(header), strings.Join(header, ", "))
		}
		return i, nil
	}

	label := -1
	if spec.Label != "" {
		if label, err = find("label", spec.Label); err != nil {
			return nil, err
		}
	}
	keep := make([]int, len(spec.Keep))
	for k, c := range spec.Keep {
		if keep[k], err = find("keep", c); err != nil {
			return nil, err
		}
	}
	// columns suites name: kept as if listed in keep
	keptNames := append([]string{}, spec.Keep...)
	var also []int
	for _, c := range spec.Also {
		if i, ok := col[c]; ok && !slices.Contains(keptNames, c) {
			also = append(also, i)
			keptNames = append(keptNames, c)
		}
	}
	if len(spec.Features) > 0 && len(spec.Exclude) > 0 {
		return nil, fail("data.features and data.exclude are exclusive: set one")
	}
	var feat []int
	if len(spec.Features) > 0 {
		seen := make(map[string]bool, len(spec.Features))
		for _, c := range spec.Features {
			i, err := find("features", c)
			if err != nil {
				return nil, err
			}
			if i == label {
				return nil, fail("data.features: %q is the label column", c)
			}
			if seen[c] {
				return nil, fail("data.features: %q is listed twice", c)
			}
			seen[c] = true
			feat = append(feat, i)
		}
	} else {
		skip := make([]bool, len(header))
		if label >= 0 {
			skip[label] = true
		}
		for _, i := range keep {
			skip[i] = true
		}
		for _, i := range also {
			skip[i] = true
		}
		for _, c := range spec.Exclude {
			i, err := find("exclude", c)
			if err != nil {
				return nil, err
			}
			skip[i] = true
		}
		for i := range header {
			if !skip[i] {
				feat = append(feat, i)
			}
		}
		if len(feat) == 0 {
			return nil, fail("no feature columns left after label, keep and exclude; the header has: %s", strings.Join(header, ", "))
		}
	}

	scale := spec.Scale
	if scale == 0 {
		scale = 1
	}
	d := &Dataset{name: name, SampleShape: []int{len(feat)}}
	d.Features = make([]string, len(feat))
	for k, i := range feat {
		d.Features[k] = header[i]
	}
	if len(keep)+len(also) > 0 {
		d.Columns = make(map[string][]string, len(keep)+len(also))
	}
	var labels []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fail("line %d: %w", pe.Line, pe.Err)
			}
			return nil, fail("%w", err)
		}
		line, _ := cr.FieldPos(0)
		for _, i := range feat {
			cell := strings.TrimSpace(rec[i])
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				if cell == "" {
					return nil, fail("line %d, column %q: empty cell", line, header[i])
				}
				return nil, fail("line %d, column %q: cannot parse %q as a number", line, header[i], cell)
			}
			v *= scale
			f := float32(v)
			if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
				return nil, fail("line %d, column %q: %s is out of float32 range", line, header[i], cell)
			}
			d.X = append(d.X, f)
		}
		if label >= 0 {
			cell := strings.TrimSpace(rec[label])
			if cell == "" {
				return nil, fail("line %d, column %q: empty label", line, header[label])
			}
			labels = append(labels, cell)
		}
		for k, i := range keep {
			d.Columns[spec.Keep[k]] = append(d.Columns[spec.Keep[k]], strings.TrimSpace(rec[i]))
		}
		for k, i := range also {
			name := keptNames[len(spec.Keep)+k]
			d.Columns[name] = append(d.Columns[name], strings.TrimSpace(rec[i]))
		}
		d.lines = append(d.lines, line)
		d.N++
	}
	if d.N == 0 {
		return nil, fail("no data rows after the header")
	}
	if label >= 0 {
		d.Y, d.LabelNames = encodeLabels(labels)
	}
	return d, nil
}

// encodeLabels turns label cells into class ids: integers (or integral
// decimals such as "1.0") as they are, otherwise the sorted unique strings
// numbered 0..k-1, whose names it returns.
func encodeLabels(cells []string) ([]int64, []string) {
	y := make([]int64, len(cells))
	numeric := true
	for i, c := range cells {
		if v, err := strconv.ParseInt(c, 10, 64); err == nil {
			y[i] = v
			continue
		}
		v, err := strconv.ParseFloat(c, 64)
		if err != nil || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			numeric = false
			break
		}
		y[i] = int64(v)
	}
	if numeric {
		return y, nil
	}
	names := slices.Clone(cells)
	sort.Strings(names)
	names = slices.Compact(names)
	for i, c := range cells {
		j, _ := slices.BinarySearch(names, c)
		y[i] = int64(j)
	}
	return y, names
}

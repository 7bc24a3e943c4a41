package evasion

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// validateFeatures checks the features key at config load: names or
// indices, none empty or listed twice.
func validateFeatures(fs []string) error {
	seen := map[string]bool{}
	for i, f := range fs {
		switch {
		case strings.TrimSpace(f) == "":
			return errs.Invalidf("config suites.evasion.features[%d]: empty; name a feature column or give its index", i)
		case seen[f]:
			return errs.Invalidf("config suites.evasion.features[%d]: %q is listed twice", i, f)
		}
		seen[f] = true
	}
	return nil
}

// featureMask resolves cfg.Features against the data: each entry is a
// feature column name of CSV data (data.Dataset.Features) or a 0-based
// index into the flattened sample. It returns, per input value, whether
// the attacks must keep it at its clean value (true), or nil when every
// value may be perturbed (features unset). Errors are errs.Invalid naming
// the entry.
func featureMask(cfg Config, ds *data.Dataset) ([]bool, error) {
	if len(cfg.Features) == 0 {
		return nil, nil
	}
	dim := ds.SampleSize()
	fixed := make([]bool, dim)
	for p := range fixed {
		fixed[p] = true
	}
	for i, f := range cfg.Features {
		p := slices.Index(ds.Features, f)
		if p < 0 {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				if ds.Features == nil {
					return nil, errs.Invalidf("config suites.evasion.features[%d]: %q is not an index (NumPy data has no column names; give indices 0..%d)", i, f, dim-1)
				}
				return nil, errs.Invalidf("config suites.evasion.features[%d]: %q is not a feature column of the data nor an index (features: %s)", i, f, strings.Join(ds.Features, ", "))
			}
			if v < 0 || v >= dim {
				return nil, errs.Invalidf("config suites.evasion.features[%d]: index %d is outside 0..%d (samples have %d values)", i, v, dim-1, dim)
			}
			p = v
		}
		if !fixed[p] {
			return nil, errs.Invalidf("config suites.evasion.features[%d]: %q names input value %d, already listed", i, f, p)
		}
		fixed[p] = false
	}
	return fixed, nil
}

// featureNames lists the perturbed values for the report: column names
// when the data has them, else indices.
func featureNames(fixed []bool, ds *data.Dataset) []string {
	var out []string
	for p, f := range fixed {
		if f {
			continue
		}
		if p < len(ds.Features) {
			out = append(out, ds.Features[p])
		} else {
			out = append(out, strconv.Itoa(p))
		}
	}
	return out
}

// fixBox pins the values the attacks must not perturb to the clean sample
// x0 in the box [lo, hi] of one sample: every attack clamps into that box,
// so they stay at x0 under every norm.
func (w *work) fixBox(lo, hi, x0 []float32) {
	if w.fixed == nil {
		return
	}
	for p, f := range w.fixed {
		if f {
			lo[p], hi[p] = x0[p], x0[p]
		}
	}
}

// maskGrad zeroes the gradient of the pinned values in the first rows rows
// of g, so that L2 steps spend their length on the free values and an
// all-zero gradient means no signal on them.
func (w *work) maskGrad(g []float32, rows int) {
	if w.fixed == nil || len(g) < rows*w.d {
		return
	}
	for r := range rows {
		row := g[r*w.d : (r+1)*w.d]
		for p, f := range w.fixed {
			if f {
				row[p] = 0
			}
		}
	}
}

// restrict pins the values outside cfg.Features in every worker's boxes
// and gradients.
func (rt *runners) restrict(cfg Config, ds *data.Dataset) error {
	fixed, err := featureMask(cfg, ds)
	if err != nil {
		return err
	}
	for _, w := range rt.works {
		w.fixed = fixed
	}
	return nil
}

package corruption

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// tableCorrupter corrupts table rows. Continuous columns (any column that
// is not in a categorical group) get Gaussian noise and missing values;
// categorical groups (one-hot groups, or single 0/1 columns) get swaps.
type tableCorrupter struct {
	cont   []int     // continuous column indices
	std    []float64 // their standard deviations over the corrupted rows
	groups [][]int   // categorical groups: one-hot columns, or one 0/1 column
	lo, hi float64   // data.range, when set (noise is clipped to it)
	clip   bool
}

func newTableCorrupter(d *data.Dataset, oneHot [][]string, rng [2]float64) (*tableCorrupter, error) {
	f := d.SampleSize()
	names := d.Features
	if len(names) != f {
		names = make([]string, f)
		for j := range names {
			names[j] = fmt.Sprintf("column %d", j)
		}
	}
	binary := make([]bool, f)
	for j := 0; j < f; j++ {
		binary[j] = true
		for i := 0; i < d.N && binary[j]; i++ {
			v := d.X[i*f+j]
			binary[j] = v == 0 || v == 1
		}
	}
	tc := &tableCorrupter{lo: rng[0], hi: rng[1], clip: rng[1] > rng[0]}
	inGroup := make([]bool, f)
	if len(oneHot) > 0 {
		for gi, g := range oneHot {
			var idx []int
			for _, name := range g {
				j := slices.Index(names, name)
				if j < 0 {
					return nil, errs.Invalidf("config suites.corruption.one_hot[%d]: column %q is not a feature of the data", gi, name)
				}
				if !binary[j] {
					return nil, errs.Invalidf("config suites.corruption.one_hot[%d]: column %q holds values other than 0 and 1", gi, name)
				}
				if inGroup[j] {
					return nil, errs.Invalidf("config suites.corruption.one_hot[%d]: column %q is in two groups", gi, name)
				}
				inGroup[j] = true
				idx = append(idx, j)
			}
			tc.groups = append(tc.groups, idx)
		}
	} else {
		// <column>_<value> names with a common prefix, 0/1 values and at
		// most one 1 per row form a one-hot group.
		byPrefix := map[string][]int{}
		var prefixes []string
		for j, name := range names {
			if !binary[j] {
				continue
			}
			k := strings.LastIndexByte(name, '_')
			if k <= 0 {
				continue
			}
			p := name[:k]
			if byPrefix[p] == nil {
				prefixes = append(prefixes, p)
			}
			byPrefix[p] = append(byPrefix[p], j)
		}
		for _, p := range prefixes {
			idx := byPrefix[p]
			if len(idx) < 2 || !atMostOneHot(d, idx) {
				continue
			}
			for _, j := range idx {
				inGroup[j] = true
			}
			tc.groups = append(tc.groups, idx)
		}
	}
	for j := 0; j < f; j++ {
		switch {
		case inGroup[j]:
		case binary[j]:
			tc.groups = append(tc.groups, []int{j})
		default:
			tc.cont = append(tc.cont, j)
		}
	}
	tc.std = make([]float64, len(tc.cont))
	for k, j := range tc.cont {
		var m, sq float64
		for i := 0; i < d.N; i++ {
			m += float64(d.X[i*f+j])
		}
		m /= float64(d.N)
		for i := 0; i < d.N; i++ {
			v := float64(d.X[i*f+j]) - m
			sq += v * v
		}
		tc.std[k] = math.Sqrt(sq / float64(d.N))
	}
	return tc, nil
}

func atMostOneHot(d *data.Dataset, idx []int) bool {
	f := d.SampleSize()
	for i := 0; i < d.N; i++ {
		s := float32(0)
		for _, j := range idx {
			s += d.X[i*f+j]
		}
		if s > 1 {
			return false
		}
	}
	return true
}

func (tc *tableCorrupter) continuousNames(names []string) []string {
	var out []string
	for _, j := range tc.cont {
		if j < len(names) {
			out = append(out, names[j])
		}
	}
	return out
}

func (tc *tableCorrupter) groupNames(names []string) [][]string {
	var out [][]string
	for _, g := range tc.groups {
		var gn []string
		for _, j := range g {
			if j < len(names) {
				gn = append(gn, names[j])
			}
		}
		out = append(out, gn)
	}
	return out
}

func (tc *tableCorrupter) corrupt(_ *scratch, dst []float32, d *data.Dataset, i int, family string, sev int, r *rand.Rand) error {
	copy(dst, d.Sample(i))
	switch family {
	case "gaussian_noise":
		s := TableNoise[sev-1]
		for k, j := range tc.cont {
			v := float64(dst[j]) + s*tc.std[k]*r.NormFloat64()
			if tc.clip {
				v = min(max(v, tc.lo), tc.hi)
			}
			dst[j] = float32(v)
		}
	case "category_swap":
		p := TableRate[sev-1]
		for _, g := range tc.groups {
			if r.Float64() >= p {
				continue
			}
			if len(g) == 1 {
				dst[g[0]] = 1 - dst[g[0]]
				continue
			}
			// The current category (−1: none set), replaced by another
			// column of the group drawn uniformly.
			cur := -1
			for k, j := range g {
				if dst[j] == 1 {
					cur = k
				}
			}
			nk := r.IntN(len(g) - 1)
			if cur >= 0 && nk >= cur {
				nk++
			}
			if cur < 0 {
				nk = r.IntN(len(g))
			}
			for _, j := range g {
				dst[j] = 0
			}
			dst[g[nk]] = 1
		}
	case "missing_values":
		p := TableRate[sev-1]
		for _, j := range tc.cont {
			if r.Float64() < p {
				dst[j] = float32(math.NaN())
			}
		}
	default:
		return fmt.Errorf("corruption: unknown table family %q", family)
	}
	return nil
}

// probeMissing runs the model on the first row with its continuous
// columns missing (NaN) and returns why missing values do not apply: no
// continuous column, an error from the model, or a non-finite output.
func probeMissing(ctx context.Context, t *suite.Target, d *data.Dataset, tc *tableCorrupter) (string, error) {
	if len(tc.cont) == 0 {
		return "no continuous columns", nil
	}
	r, err := t.Session.NewRunner(1)
	if err != nil {
		return "", fmt.Errorf("create runner: %w", err)
	}
	defer r.Close()
	x := append([]float32(nil), d.Sample(0)...)
	for _, j := range tc.cont {
		x[j] = float32(math.NaN())
	}
	out, err := r.Run(ctx, x, 1)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return fmt.Sprintf("the model rejects missing values (NaN): %v", err), nil
	}
	for _, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return "the model does not handle missing values: a row with NaN inputs gives non-finite outputs", nil
		}
	}
	return "", nil
}

package fairness

import (
	"context"
	"fmt"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// encoding writes an attribute value into a sample: one-hot columns or a
// numeric column, at flat positions within the sample.
type encoding struct {
	pos    []int     // one_hot: a position per value; column: one position
	codes  []float64 // column only: the code of each value
	oneHot bool
}

// set writes value v's encoding into sample x.
func (e *encoding) set(x []float32, v int) {
	if e.oneHot {
		for j, p := range e.pos {
			x[p] = 0
			if j == v {
				x[p] = 1
			}
		}
		return
	}
	x[e.pos[0]] = float32(e.codes[v])
}

// is reports whether sample x holds value v's encoding.
func (e *encoding) is(x []float32, v int) bool {
	if e.oneHot {
		for j, p := range e.pos {
			want := float32(0)
			if j == v {
				want = 1
			}
			if x[p] != want {
				return false
			}
		}
		return true
	}
	return x[e.pos[0]] == float32(e.codes[v])
}

// counterfactual runs the flip test of config entry i: for every value v
// of the attribute, the rows of the other values get v's encoding and are
// run through the model; a row flips when any of its counterfactual
// predictions differs from its prediction. It writes
// <attr>.counterfactual_flip_rate (with Clopper-Pearson bounds) into res
// and returns the details and warnings (flipDetails, which a sharded run's
// merge calls with the same predictions).
func counterfactual(ctx context.Context, t *suite.Target, i int, cf Counterfactual, dec decider, pred []int32, res *suite.Result) (map[string]any, []string, error) {
	d := t.Data
	s, err := setupCounterfactual(d, i, cf)
	if err != nil {
		return nil, nil, err
	}
	mismatch := 0
	for _, m := range s.mismatch {
		if m {
			mismatch++
		}
	}
	size := d.SampleSize()
	k := dec.k
	cfPred := make([][]int32, len(cf.Values))
	for v := range cf.Values {
		idx := others(s.group, v)
		if len(idx) == 0 {
			continue
		}
		x := make([]float32, len(idx)*size)
		for j, r := range idx {
			row := x[j*size : (j+1)*size]
			copy(row, d.Sample(r))
			s.enc.set(row, v)
		}
		cd := &data.Dataset{X: x, N: len(idx), SampleShape: d.SampleShape}
		p := make([]int32, len(idx))
		err := suite.ForEachBatch(ctx, t, cd, func(_, lo, hi int, out []float32) error {
			for j := lo; j < hi; j++ {
				p[j], _ = dec.decide(out[(j-lo)*k : (j-lo+1)*k])
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("counterfactual %s=%s: %w", cf.Attribute, cf.Values[v], err)
		}
		cfPred[v] = p
	}
	det, warn := flipDetails(cf, s.group, mismatch, pred, cfPred, t.ConfidenceLevel, res)
	return det, warn, nil
}

// cfSetup is counterfactual entry i's encoding, each row's value index
// and whether its encoding matches, checked as counterfactual checks them.
type cfSetup struct {
	enc      encoding
	cols     []string
	group    []int
	mismatch []bool
}

// setupCounterfactual checks counterfactual entry i against the data, with
// counterfactual's messages.
func setupCounterfactual(d *data.Dataset, i int, cf Counterfactual) (*cfSetup, error) {
	at := fmt.Sprintf("config suites.fairness.counterfactual[%d]", i)
	if d.Features == nil {
		return nil, errs.Invalidf("%s: the flip test needs CSV data with named feature columns", at)
	}
	feat := map[string]int{}
	for p, f := range d.Features {
		feat[f] = p
	}
	s := &cfSetup{enc: encoding{oneHot: len(cf.OneHot) > 0, codes: cf.Codes}, cols: cf.OneHot}
	if !s.enc.oneHot {
		s.cols = []string{cf.Column}
	}
	for _, c := range s.cols {
		p, ok := feat[c]
		if !ok {
			return nil, errs.Invalidf("%s: column %q is not a model feature (data.features)", at, c)
		}
		s.enc.pos = append(s.enc.pos, p)
	}
	valIdx := map[string]int{}
	for j, v := range cf.Values {
		valIdx[v] = j
	}
	col := d.Columns[cf.Attribute]
	s.group = make([]int, d.N)
	s.mismatch = make([]bool, d.N)
	for r, v := range col {
		j, ok := valIdx[v]
		if !ok {
			return nil, errs.Invalidf("%s.values: value %q of column %q (sample %d) is not listed (values: %s)", at, v, cf.Attribute, r, strings.Join(cf.Values, ", "))
		}
		s.group[r] = j
		s.mismatch[r] = !s.enc.is(d.Sample(r), j)
	}
	return s, nil
}

// others returns the rows whose value index is not v, in order.
func others(group []int, v int) []int {
	var idx []int
	for r, g := range group {
		if g != v {
			idx = append(idx, r)
		}
	}
	return idx
}

// flipDetails is counterfactual's reduction: from each row's value index
// (group), its prediction and the predictions of the other values' rows
// with value v's encoding (cfPred[v], rows in order), it writes
// <attr>.counterfactual_flip_rate and returns the details and warnings.
func flipDetails(cf Counterfactual, group []int, mismatch int, pred []int32, cfPred [][]int32, level float64, res *suite.Result) (map[string]any, []string) {
	n := len(group)
	nv := len(cf.Values)
	flipped := make([]bool, n)
	rows := make([]int64, nv)
	flipsTo := make([]int64, nv*nv) // [from][to]
	for _, g := range group {
		rows[g]++
	}
	var pairs, pairFlips int64
	for v := range nv {
		idx := others(group, v)
		for j, r := range idx {
			pairs++
			if cfPred[v][j] != pred[r] {
				pairFlips++
				flipped[r] = true
				flipsTo[group[r]*nv+v]++
			}
		}
	}
	var total int64
	flipsFrom := make([]int64, nv)
	for r, f := range flipped {
		if f {
			total++
			flipsFrom[group[r]]++
		}
	}
	res.SetProportion(cf.Attribute+".counterfactual_flip_rate", int(total), n, level)

	byGroup := make([]any, nv)
	for g := range nv {
		to := map[string]any{}
		for v := range nv {
			if v != g {
				to[cf.Values[v]] = num(ratio(flipsTo[g*nv+v], rows[g]))
			}
		}
		byGroup[g] = map[string]any{"group": cf.Values[g], "count": rows[g], "flipped": flipsFrom[g],
			"flip_rate": num(ratio(flipsFrom[g], rows[g])), "flip_rate_to": to}
	}
	oneHot := len(cf.OneHot) > 0
	kind, cols := "column", []string{cf.Column}
	if oneHot {
		kind, cols = "one_hot", cf.OneHot
	}
	det := map[string]any{
		"encoding": kind, "columns": cols, "values": cf.Values,
		"rows": n, "flipped": total, "flip_rate": num(ratio(total, int64(n))),
		"pairs": pairs, "pair_flip_rate": num(ratio(pairFlips, pairs)),
		"rows_with_mismatched_encoding": mismatch, "by_group": byGroup,
	}
	if !oneHot {
		det["codes"] = cf.Codes
	}
	var warn []string
	if mismatch > 0 {
		warn = append(warn, fmt.Sprintf("counterfactual %s: %d of %d rows have an encoding in %s that does not match their %s value", cf.Attribute, mismatch, n, strings.Join(cols, ", "), cf.Attribute))
	}
	return det, warn
}

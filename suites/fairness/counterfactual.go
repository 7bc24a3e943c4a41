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
// and returns the details and warnings.
func counterfactual(ctx context.Context, t *suite.Target, i int, cf Counterfactual, dec decider, pred []int32, res *suite.Result) (map[string]any, []string, error) {
	d := t.Data
	at := fmt.Sprintf("config suites.fairness.counterfactual[%d]", i)
	if d.Features == nil {
		return nil, nil, errs.Invalidf("%s: the flip test needs CSV data with named feature columns", at)
	}
	feat := map[string]int{}
	for p, f := range d.Features {
		feat[f] = p
	}
	enc := encoding{oneHot: len(cf.OneHot) > 0, codes: cf.Codes}
	cols := cf.OneHot
	if !enc.oneHot {
		cols = []string{cf.Column}
	}
	for _, c := range cols {
		p, ok := feat[c]
		if !ok {
			return nil, nil, errs.Invalidf("%s: column %q is not a model feature (data.features)", at, c)
		}
		enc.pos = append(enc.pos, p)
	}
	valIdx := map[string]int{}
	for j, v := range cf.Values {
		valIdx[v] = j
	}
	col := d.Columns[cf.Attribute]
	group := make([]int, d.N)
	mismatch := 0
	for r, v := range col {
		j, ok := valIdx[v]
		if !ok {
			return nil, nil, errs.Invalidf("%s.values: value %q of column %q (sample %d) is not listed (values: %s)", at, v, cf.Attribute, r, strings.Join(cf.Values, ", "))
		}
		group[r] = j
		if !enc.is(d.Sample(r), j) {
			mismatch++
		}
	}

	nv := len(cf.Values)
	size := d.SampleSize()
	k := dec.k
	flipped := make([]bool, d.N)
	rows := make([]int64, nv)
	flipsTo := make([]int64, nv*nv) // [from][to]
	for _, g := range group {
		rows[g]++
	}
	var pairs, pairFlips int64
	for v := range nv {
		var idx []int
		for r, g := range group {
			if g != v {
				idx = append(idx, r)
			}
		}
		if len(idx) == 0 {
			continue
		}
		x := make([]float32, len(idx)*size)
		for j, r := range idx {
			s := x[j*size : (j+1)*size]
			copy(s, d.Sample(r))
			enc.set(s, v)
		}
		cd := &data.Dataset{X: x, N: len(idx), SampleShape: d.SampleShape}
		changed := make([]bool, len(idx))
		err := suite.ForEachBatch(ctx, t, cd, func(_, lo, hi int, out []float32) error {
			for j := lo; j < hi; j++ {
				p, _ := dec.decide(out[(j-lo)*k : (j-lo+1)*k])
				changed[j] = p != pred[idx[j]]
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("counterfactual %s=%s: %w", cf.Attribute, cf.Values[v], err)
		}
		for j, r := range idx {
			pairs++
			if changed[j] {
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
	res.SetProportion(cf.Attribute+".counterfactual_flip_rate", int(total), d.N, t.ConfidenceLevel)

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
	kind := "column"
	if enc.oneHot {
		kind = "one_hot"
	}
	det := map[string]any{
		"encoding": kind, "columns": cols, "values": cf.Values,
		"rows": d.N, "flipped": total, "flip_rate": num(ratio(total, int64(d.N))),
		"pairs": pairs, "pair_flip_rate": num(ratio(pairFlips, pairs)),
		"rows_with_mismatched_encoding": mismatch, "by_group": byGroup,
	}
	if !enc.oneHot {
		det["codes"] = cf.Codes
	}
	var warn []string
	if mismatch > 0 {
		warn = append(warn, fmt.Sprintf("counterfactual %s: %d of %d rows have an encoding in %s that does not match their %s value", cf.Attribute, mismatch, d.N, strings.Join(cols, ", "), cf.Attribute))
	}
	return det, warn, nil
}

package groups

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// DetailsKey is the key of a result's details under which Write records the
// per-group figures: details.by_group.<metric>.<attribute>.
const DetailsKey = "by_group"

// noun names by columns in the partition's errors.
const noun = "by column"

// By is the `by` block of a suite that reports figures by group; suites
// embed it in their Config with `mapstructure:",squash"`, so its keys sit
// directly in the suite's block (docs/config.md):
//
//	by: [sex, race]        # CSV columns (kept as strings, like fairness's sensitive)
//	min_group_size: 30     # smaller groups are reported but left out of worst and gap
type By struct {
	// Columns are the grouping columns: each is one attribute, its
	// values the groups.
	Columns []string `mapstructure:"by"`
	// MinGroupSize: groups with fewer rows are reported and flagged but
	// left out of the worst group and the gap (fairness's rule).
	MinGroupSize int `mapstructure:"min_group_size"`
}

// Enabled reports whether any by column is configured.
func (b By) Enabled() bool { return len(b.Columns) > 0 }

// Validate checks the block at config load; suite is the suite's config
// key. Errors are errs.Invalid and name the key.
func (b By) Validate(suite string) error {
	field := "config suites." + suite + "."
	seen := map[string]bool{}
	for i, c := range b.Columns {
		switch {
		case strings.TrimSpace(c) == "":
			return errs.Invalidf(field+"by[%d]: empty column name", i)
		case strings.Contains(c, IntersectionSep):
			return errs.Invalidf(field+"by[%d]: %q contains %q, which names intersections", i, c, IntersectionSep)
		case seen[c]:
			return errs.Invalidf(field+"by[%d]: %q is listed twice", i, c)
		}
		seen[c] = true
	}
	if b.MinGroupSize < 0 {
		return errs.Invalidf(field+"min_group_size: %d is negative", b.MinGroupSize)
	}
	return nil
}

// DataColumns returns the by columns (for suite.ColumnUser).
func (b By) DataColumns() []string { return slices.Clone(b.Columns) }

// Check reports whether every by column is among the kept CSV columns of
// d, the data set the suite reads under the name set ("data",
// "suites.membership.members"). Errors are errs.Invalid and name the
// config key and the column.
func (b By) Check(suite, set string, d *data.Dataset) error {
	if !b.Enabled() {
		return nil
	}
	if d.Features == nil && d.Columns == nil {
		return errs.Invalidf("config suites.%s.by: needs CSV data with the columns %s; %s is NumPy data, which has no columns", suite, strings.Join(b.Columns, ", "), set)
	}
	for i, name := range b.Columns {
		col, ok := d.Columns[name]
		if !ok {
			kept := make([]string, 0, len(d.Columns))
			for c := range d.Columns {
				kept = append(kept, c)
			}
			slices.Sort(kept)
			return errs.Invalidf("config suites.%s.by[%d]: column %q is not in the CSV data of %s (columns kept as strings: [%s])", suite, i, name, set, strings.Join(kept, ", "))
		}
		if len(col) != d.N {
			return errs.Invalidf("config suites.%s.by[%d]: column %q has %d values for %d samples of %s", suite, i, name, len(col), d.N, set)
		}
	}
	return nil
}

// Partition checks the by columns of the data sets sets (named names, in
// messages), then partitions their rows, concatenated in order, by them.
func (b By) Partition(suite string, names []string, sets ...*data.Dataset) (*Partition, error) {
	cols := make([][]string, len(b.Columns))
	for si, d := range sets {
		if err := b.Check(suite, names[si], d); err != nil {
			return nil, err
		}
		for j, c := range b.Columns {
			cols[j] = append(cols[j], d.Columns[c]...)
		}
	}
	p, err := NewPartition(noun, b.Columns, cols, false)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.%s.by: %w", suite, err))
	}
	return p, nil
}

// Keys returns the metric keys Write records for metric key: key.gap and
// key.worst_group over every attribute, and the same per attribute
// (key.<column>.gap, key.<column>.worst_group); with ci, each worst_group
// has ci_low and ci_high bounds. None when no by column is configured.
func (b By) Keys(key string, ci bool) []string {
	if !b.Enabled() {
		return nil
	}
	var keys []string
	add := func(prefix string) {
		if ci {
			keys = append(keys, suite.ProportionKeys(prefix+".worst_group")...)
		} else {
			keys = append(keys, prefix+".worst_group")
		}
		keys = append(keys, prefix+".gap")
	}
	add(key)
	for _, c := range b.Columns {
		add(key + "." + c)
	}
	return keys
}

// Figure is one group's value of a metric: NaN when undefined (no rows,
// a 0/0 rate), with its confidence bounds (NaN when it has none).
type Figure struct {
	Value, Lo, Hi float64
	// Count is the number of rows of the group.
	Count int
	// Extra holds further per-group details a suite records beside the
	// figure (membership's members and nonmembers counts); nil: none.
	Extra map[string]any
}

// Proportions returns, per attribute of p and per group, the share of the
// group's rows where hit is true, with its exact (Clopper-Pearson) bounds
// at level: the per-group form of suite.Result.SetProportion.
func Proportions(p *Partition, hit []bool, level float64) [][]Figure {
	out := make([][]Figure, len(p.Attrs))
	for a, at := range p.Attrs {
		k := make([]int, len(at.Groups))
		n := make([]int, len(at.Groups))
		for i, h := range hit {
			g := p.Group(a, i)
			n[g]++
			if h {
				k[g]++
			}
		}
		figs := make([]Figure, len(at.Groups))
		for g := range figs {
			figs[g] = Proportion(k[g], n[g], level)
		}
		out[a] = figs
	}
	return out
}

// Proportion returns the figure k/n with its Clopper-Pearson bounds at
// level; all NaN when n is 0.
func Proportion(k, n int, level float64) Figure {
	lo, hi, ok := stats.ClopperPearson(k, n, level)
	if !ok {
		return Figure{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Count: n}
	}
	return Figure{Value: float64(k) / float64(n), Lo: lo, Hi: hi, Count: n}
}

// Counts returns, per attribute of p and per group, the number of rows.
func Counts(p *Partition) [][]int {
	out := make([][]int, len(p.Attrs))
	for a, at := range p.Attrs {
		out[a] = make([]int, len(at.Groups))
		for _, c := range p.Cell {
			out[a][at.Of[c]]++
		}
	}
	return out
}

// Direction says which end of a metric is the worst group's.
type Direction int

// Directions of Write.
const (
	// LowerIsWorse: accuracy, robust accuracy.
	LowerIsWorse Direction = iota
	// HigherIsWorse: attack success, membership advantage and AUC.
	HigherIsWorse
)

// Write records the worst group and the largest gap of metric key from
// figs (Proportions' layout: per attribute of p, per group) in res, and
// the per-group figures in res.Details[DetailsKey][key]. Groups with fewer
// than b.MinGroupSize rows, or with an undefined figure, are reported in
// details but take no part in worst and gap. The worst group is the lowest
// (or highest, per dir) figure over the eligible groups of the scope (all
// attributes, or one), the first in attribute then sorted group order on
// ties; its ci_low and ci_high are its own bounds when ci. The gap is the
// largest max − min over the eligible groups of one attribute, undefined
// when no attribute has two. Undefined metrics are named in res.Undefined;
// a warning lists the groups under min_group_size.
func (b By) Write(res *suite.Result, key string, p *Partition, figs [][]Figure, dir Direction, ci bool) {
	worse := func(x, y float64) bool {
		if dir == HigherIsWorse {
			return x > y
		}
		return x < y
	}
	type pick struct {
		a, g int
	}
	none := pick{-1, -1}
	all, bestGap, gapAttr := none, math.NaN(), -1
	attrs := map[string]any{}
	var small []string
	for a, at := range p.Attrs {
		worst := none
		lo, hi := math.Inf(1), math.Inf(-1)
		elig := 0
		var excluded []string
		rows := make([]any, len(at.Groups))
		for g, f := range figs[a] {
			ok := f.Count >= b.MinGroupSize && !math.IsNaN(f.Value)
			rows[g] = map[string]any{"group": at.Groups[g], "count": f.Count, "value": num(f.Value),
				"ci_low": num(f.Lo), "ci_high": num(f.Hi), "eligible": ok, "small_group": f.Count < b.MinGroupSize}
			for k, v := range f.Extra {
				rows[g].(map[string]any)[k] = v
			}
			if !ok {
				excluded = append(excluded, at.Groups[g])
				if f.Count < b.MinGroupSize {
					small = append(small, at.Name+"="+at.Groups[g])
				}
				continue
			}
			elig++
			lo, hi = math.Min(lo, f.Value), math.Max(hi, f.Value)
			if worst == none || worse(f.Value, figs[a][worst.g].Value) {
				worst = pick{a, g}
			}
			if all == none || worse(f.Value, figs[all.a][all.g].Value) {
				all = pick{a, g}
			}
		}
		gap := math.NaN()
		if elig >= 2 {
			gap = hi - lo
			if math.IsNaN(bestGap) || gap > bestGap {
				bestGap, gapAttr = gap, a
			}
		}
		ad := map[string]any{"groups": rows, "min_group_size": b.MinGroupSize, "gap": num(gap),
			"worst_group": nil, "excluded_groups": nonNil(excluded)}
		if worst != none {
			ad["worst_group"] = at.Groups[worst.g]
		}
		attrs[at.Name] = ad
		b.set(res, key+"."+at.Name, figs, worst.a, worst.g, gap, ci)
	}
	b.set(res, key, figs, all.a, all.g, bestGap, ci)
	det := map[string]any{"attributes": attrs, "worst_group": nil, "gap_attribute": nil}
	if all != none {
		det["worst_group"] = map[string]any{"attribute": p.Attrs[all.a].Name, "group": p.Attrs[all.a].Groups[all.g]}
	}
	if gapAttr >= 0 {
		det["gap_attribute"] = p.Attrs[gapAttr].Name
	}
	bg, _ := res.Details[DetailsKey].(map[string]any)
	if bg == nil {
		bg = map[string]any{}
		res.Details[DetailsKey] = bg
	}
	bg[key] = det
	if len(small) > 0 && !slices.Contains(res.Warnings, smallWarning(b.MinGroupSize, small)) {
		res.Warnings = append(res.Warnings, smallWarning(b.MinGroupSize, small))
	}
}

// smallWarning is the warning naming the groups under min_group_size.
func smallWarning(min int, small []string) string {
	return fmt.Sprintf("by group: %d group(s) under min_group_size %d left out of the worst group and the gap: %s", len(small), min, strings.Join(small, ", "))
}

// set writes prefix.worst_group (and its bounds) and prefix.gap.
func (b By) set(res *suite.Result, prefix string, figs [][]Figure, a, g int, gap float64, ci bool) {
	w := Figure{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if a >= 0 {
		w = figs[a][g]
	}
	res.Set(prefix+".worst_group", w.Value, !math.IsNaN(w.Value))
	if ci {
		res.Set(prefix+".worst_group.ci_low", w.Lo, !math.IsNaN(w.Lo))
		res.Set(prefix+".worst_group.ci_high", w.Hi, !math.IsNaN(w.Hi))
	}
	res.Set(prefix+".gap", gap, !math.IsNaN(gap))
}

// num returns v for JSON, nil when undefined (NaN) or infinite.
func num(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// nonNil keeps empty lists as [] in JSON.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

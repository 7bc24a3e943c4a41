package groups

import (
	"fmt"
	"math"
	"math/rand/v2"
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
	// NBoot is the number of bootstrap rounds of the gaps' intervals
	// (proportions only); nil means DefaultNBoot, 0 no intervals.
	NBoot *int `mapstructure:"n_boot"`
	// Intersections adds the intersection of all by columns (named
	// "sex&race", groups "Female&Black") as one more attribute, as the
	// fairness suite's intersections does.
	Intersections bool `mapstructure:"intersections"`
}

// DefaultNBoot is the default number of bootstrap rounds of a gap's
// interval, the fairness suite's default.
const DefaultNBoot = 1000

// Rounds returns the configured bootstrap rounds (n_boot, DefaultNBoot
// when unset), for suites that bootstrap their own statistic.
func (b By) Rounds() int { return b.nboot() }

// MaxNBoot bounds n_boot, as in the fairness suite.
const MaxNBoot = 1_000_000

// nboot returns the configured bootstrap rounds.
func (b By) nboot() int {
	if b.NBoot == nil {
		return DefaultNBoot
	}
	return *b.NBoot
}

// Enabled reports whether any by column is configured.
func (b By) Enabled() bool { return len(b.Columns) > 0 }

// ValidateColumns checks a list of grouping column names at config load
// (fairness's sensitive, the by key): none empty, none holding
// IntersectionSep, none listed twice. key is the full config key
// ("config suites.fairness.sensitive"); errors are errs.Invalid naming
// key[i].
func ValidateColumns(key string, cols []string) error {
	seen := map[string]bool{}
	for i, c := range cols {
		switch {
		case strings.TrimSpace(c) == "":
			return errs.Invalidf("%s[%d]: empty column name", key, i)
		case strings.Contains(c, IntersectionSep):
			return errs.Invalidf("%s[%d]: %q contains %q, which names intersections", key, i, c, IntersectionSep)
		case seen[c]:
			return errs.Invalidf("%s[%d]: %q is listed twice", key, i, c)
		}
		seen[c] = true
	}
	return nil
}

// CheckColumns reports whether every column of cols is among the kept CSV
// columns of d with one value per sample. key is the full config key
// naming cols ("config suites.fairness.sensitive"), of what follows "the
// CSV data" in the message ("" or " of suites.membership.members").
// Errors are errs.Invalid naming key[i] and the column.
func CheckColumns(key string, cols []string, of string, d *data.Dataset) error {
	for i, name := range cols {
		col, ok := d.Columns[name]
		if !ok {
			kept := make([]string, 0, len(d.Columns))
			for c := range d.Columns {
				kept = append(kept, c)
			}
			slices.Sort(kept)
			return errs.Invalidf("%s[%d]: column %q is not in the CSV data%s (columns kept as strings: [%s])", key, i, name, of, strings.Join(kept, ", "))
		}
		if len(col) != d.N {
			return errs.Invalidf("%s[%d]: column %q has %d values for %d samples%s", key, i, name, len(col), d.N, of)
		}
	}
	return nil
}

// Validate checks the block at config load; suite is the suite's config
// key. Errors are errs.Invalid and name the key.
func (b By) Validate(suite string) error {
	field := "config suites." + suite + "."
	if err := ValidateColumns(field+"by", b.Columns); err != nil {
		return err
	}
	if b.MinGroupSize < 0 {
		return errs.Invalidf(field+"min_group_size: %d is negative", b.MinGroupSize)
	}
	if n := b.nboot(); n < 0 || n > MaxNBoot {
		return errs.Invalidf(field+"n_boot: %d is outside 0..%d", n, MaxNBoot)
	}
	if b.Intersections && len(b.Columns) < 2 {
		return errs.Invalidf(field+"intersections: needs at least two by columns, have %d", len(b.Columns))
	}
	return nil
}

// attributes returns the attribute names: the by columns, then their
// intersection when configured (NewPartition's order).
func (b By) attributes() []string {
	a := slices.Clone(b.Columns)
	if b.Intersections && len(b.Columns) > 1 {
		a = append(a, strings.Join(b.Columns, IntersectionSep))
	}
	return a
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
	return CheckColumns("config suites."+suite+".by", b.Columns, " of "+set, d)
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
	p, err := NewPartition(noun, b.Columns, cols, b.Intersections)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.%s.by: %w", suite, err))
	}
	return p, nil
}

// Keys returns the metric keys Write records for metric key: key.gap and
// key.worst_group over every attribute, and the same per attribute
// (key.<column>.gap, key.<column>.worst_group); for proportions (ci), each
// worst_group has ci_low and ci_high bounds, and so does each gap unless
// n_boot is 0. None when no by column is configured.
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
		if ci && b.nboot() > 0 {
			keys = append(keys, suite.ProportionKeys(prefix+".gap")...)
		} else {
			keys = append(keys, prefix+".gap")
		}
	}
	add(key)
	for _, c := range b.attributes() {
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
	// hits is k of a Proportion k/n (bootstrapped for the gap's interval);
	// 0 for other figures, which have no gap interval.
	hits int
	// Reps are the figure's bootstrap replicates, for a statistic the
	// suite bootstraps itself (membership's advantage): round r of every
	// group of an attribute must come from the same round, so that the
	// gap's replicate r is their spread. Nil for proportions, which Write
	// bootstraps itself.
	Reps []float64
}

// Options are Write's settings: Bounds says the figures carry bounds (Lo,
// Hi: Clopper-Pearson for Proportions, bootstrap percentiles for a suite's
// own statistic), which the worst group reports, and that the gaps get
// bootstrap intervals at Level (n_boot > 0): from the figures' Reps when
// they have them, else by redrawing proportions from Seed (the suite's
// seed; each metric and column derives its own stream).
type Options struct {
	Bounds bool
	Seed   uint64
	Level  float64
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
		return Figure{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Count: n, hits: -1}
	}
	return Figure{Value: float64(k) / float64(n), Lo: lo, Hi: hi, Count: n, hits: k}
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
// ties; its ci_low and ci_high are its own bounds with opt.Bounds. The gap
// is the largest max − min over the eligible groups of one attribute,
// undefined when no attribute has two. With opt.Bounds and n_boot > 0, an
// attribute's gap gets a percentile bootstrap interval: each eligible
// group's count of hits is redrawn Binomial(n_g, k_g/n_g), group sizes
// fixed (the stratified row bootstrap fairness uses, exact for
// proportions); the overall gap takes the interval of the attribute it
// comes from. Undefined metrics are named in res.Undefined; a warning lists
// the groups under min_group_size.
func (b By) Write(res *suite.Result, key string, p *Partition, figs [][]Figure, dir Direction, opt Options) {
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
	nan := [2]float64{math.NaN(), math.NaN()}
	bestCI := nan
	boot := opt.Bounds && b.nboot() > 0
	attrs := map[string]any{}
	var small []string
	for a, at := range p.Attrs {
		worst := none
		lo, hi := math.Inf(1), math.Inf(-1)
		elig := 0
		var eligible []int
		var excludedNames []string
		rows := make([]any, len(at.Groups))
		for g, f := range figs[a] {
			ok := f.Count >= b.MinGroupSize && !math.IsNaN(f.Value)
			rows[g] = map[string]any{"group": at.Groups[g], "count": f.Count, "value": num(f.Value),
				"ci_low": num(f.Lo), "ci_high": num(f.Hi), "eligible": ok, "small_group": f.Count < b.MinGroupSize}
			for k, v := range f.Extra {
				rows[g].(map[string]any)[k] = v
			}
			if !ok {
				excludedNames = append(excludedNames, at.Groups[g])
				if f.Count < b.MinGroupSize {
					small = append(small, at.Name+"="+at.Groups[g])
				}
				continue
			}
			elig++
			eligible = append(eligible, g)
			lo, hi = math.Min(lo, f.Value), math.Max(hi, f.Value)
			if worst == none || worse(f.Value, figs[a][worst.g].Value) {
				worst = pick{a, g}
			}
			if all == none || worse(f.Value, figs[all.a][all.g].Value) {
				all = pick{a, g}
			}
		}
		gap, ci := math.NaN(), nan
		if elig >= 2 {
			gap = hi - lo
			if boot {
				ci = b.gapInterval(figs[a], eligible, suite.DeriveSeed(opt.Seed, "by_group/"+key+"/"+at.Name), opt.Level)
			}
			if math.IsNaN(bestGap) || gap > bestGap {
				bestGap, gapAttr, bestCI = gap, a, ci
			}
		}
		ad := map[string]any{"groups": rows, "min_group_size": b.MinGroupSize, "gap": num(gap),
			"worst_group": nil, "excluded_groups": nonNil(excludedNames)}
		if boot {
			ad["gap_ci_low"], ad["gap_ci_high"] = num(ci[0]), num(ci[1])
		}
		if worst != none {
			ad["worst_group"] = at.Groups[worst.g]
		}
		attrs[at.Name] = ad
		b.set(res, key+"."+at.Name, figs, worst.a, worst.g, gap, ci, opt.Bounds, boot)
	}
	b.set(res, key, figs, all.a, all.g, bestGap, bestCI, opt.Bounds, boot)
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

// set writes prefix.worst_group (and its bounds with bounds) and
// prefix.gap (and its interval ci with boot).
func (b By) set(res *suite.Result, prefix string, figs [][]Figure, a, g int, gap float64, ci [2]float64, bounds, boot bool) {
	w := Figure{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if a >= 0 {
		w = figs[a][g]
	}
	res.Set(prefix+".worst_group", w.Value, !math.IsNaN(w.Value))
	if bounds {
		res.Set(prefix+".worst_group.ci_low", w.Lo, !math.IsNaN(w.Lo))
		res.Set(prefix+".worst_group.ci_high", w.Hi, !math.IsNaN(w.Hi))
	}
	res.Set(prefix+".gap", gap, !math.IsNaN(gap))
	if boot {
		res.Set(prefix+".gap.ci_low", ci[0], !math.IsNaN(ci[0]))
		res.Set(prefix+".gap.ci_high", ci[1], !math.IsNaN(ci[1]))
	}
}

// gapInterval returns the percentile bootstrap interval at level of the
// gap max − min over the eligible groups elig of figs: the spread of each
// round of the figures' Reps when they have n_boot of them (a round where
// a group is undefined is left out), else (proportions) each round redraws
// every group's hits Binomial(n_g, k_g/n_g) from one stream seeded with
// seed, in group order.
func (b By) gapInterval(figs []Figure, elig []int, seed uint64, level float64) [2]float64 {
	reps := make([]float64, b.nboot())
	if own := len(figs[elig[0]].Reps) == len(reps); own {
		// The suite's replicates: the spread of each round.
		for r := range reps {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, g := range elig {
				v := math.NaN()
				if len(figs[g].Reps) == len(reps) {
					v = figs[g].Reps[r]
				}
				if math.IsNaN(v) {
					lo = math.NaN()
					break
				}
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			reps[r] = hi - lo
		}
		l, h, _ := stats.PercentileCI(reps, level)
		return [2]float64{l, h}
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	for r := range reps {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, g := range elig {
			f := figs[g]
			n := int64(f.Count)
			v := float64(stats.Binomial(rng, n, float64(f.hits)/float64(n))) / float64(n)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		reps[r] = hi - lo
	}
	l, h, _ := stats.PercentileCI(reps, level)
	return [2]float64{l, h}
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

package differential

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// byKeys lists the by-group keys of cfg: per variant, agreement (a
// proportion) and accuracy_delta, and with an evasion block every
// attack's robust_accuracy_delta and transfer_rate (a proportion), each
// by group (groups.By.Keys). None without by columns.
func byKeys(cfg Config) []string {
	if !cfg.By.Enabled() {
		return nil
	}
	var keys []string
	for _, v := range cfg.Variants {
		n := v.Name + "."
		keys = append(keys, cfg.By.Keys(n+"agreement", true)...)
		keys = append(keys, cfg.By.Keys(n+"accuracy_delta", false)...)
		for _, p := range cfg.prefixes() {
			keys = append(keys, cfg.By.Keys(n+p+".robust_accuracy_delta", false)...)
			keys = append(keys, cfg.By.Keys(n+p+".transfer_rate", true)...)
		}
	}
	return keys
}

// DataColumns implements suite.ColumnUser: the by columns.
func (Suite) DataColumns(cfgAny any) []string { return cfgAny.(Config).By.DataColumns() }

// CheckData implements suite.DataChecker: every by column is a CSV column
// of the evaluation data (errs.Invalid naming it otherwise).
func (s Suite) CheckData(cfgAny any, d *data.Dataset, _ int) error {
	return cfgAny.(Config).By.Check(s.Name(), "data", d)
}

// partition returns the partition of the evaluation data by the by
// columns, nil when none is configured.
func partition(cfg Config, d *data.Dataset) (*groups.Partition, error) {
	if !cfg.By.Enabled() {
		return nil, nil
	}
	return cfg.By.Partition("differential", []string{"data"}, d)
}

// byGroup writes a variant's agreement and accuracy delta by group
// (<v>.agreement.worst_group, <v>.agreement.gap, …, per column;
// details.by_group.<v>.agreement): the worst group of agreement is its
// lowest, of accuracy_delta its most negative. p is nil without by.
func byGroup(r *suite.Result, t *suite.Target, cfg Config, p *groups.Partition, prefix string, o *Outcomes) {
	if p == nil {
		return
	}
	level := t.ConfidenceLevel
	agree := make([]bool, len(o.Reference))
	for i := range agree {
		agree[i] = o.Reference[i] == o.Variant[i]
	}
	cfg.By.Write(r, prefix+"agreement", p, groups.Proportions(p, agree, level), groups.LowerIsWorse, groups.Options{Bounds: true, Seed: t.Seed, Level: level})
	cfg.By.Write(r, prefix+"accuracy_delta", p, deltas(p, o.Label, o.Variant, o.Reference), groups.LowerIsWorse, groups.Options{})
}

// byGroupAttack writes, for one attack prefix key ("int8.pgd.linf.eps=0.1"),
// the robust-accuracy delta by group (variant robust − model robust, over
// the group's rows; lowest is worst) and the transfer rate by group (over
// the group's rows where the attack on the model succeeded and the variant
// is right on the clean sample; highest is worst, its count is that
// denominator and the group's rows are details' rows).
func byGroupAttack(r *suite.Result, t *suite.Target, cfg Config, p *groups.Partition, key string, robustVar, robustRef, eligible, fooled []bool) {
	if p == nil {
		return
	}
	level := t.ConfidenceLevel
	figs := make([][]groups.Figure, len(p.Attrs))
	rates := make([][]groups.Figure, len(p.Attrs))
	for a, at := range p.Attrs {
		ng := len(at.Groups)
		rows, diff, n, k := make([]int, ng), make([]int, ng), make([]int, ng), make([]int, ng)
		for i := range robustVar {
			g := p.Group(a, i)
			rows[g]++
			if robustVar[i] {
				diff[g]++
			}
			if robustRef[i] {
				diff[g]--
			}
			if eligible[i] {
				n[g]++
				if fooled[i] {
					k[g]++
				}
			}
		}
		figs[a] = make([]groups.Figure, ng)
		rates[a] = make([]groups.Figure, ng)
		for g := range ng {
			figs[a][g] = delta(diff[g], rows[g])
			rates[a][g] = groups.Proportion(k[g], n[g], level)
			rates[a][g].Extra = map[string]any{"rows": rows[g]}
		}
	}
	cfg.By.Write(r, key+".robust_accuracy_delta", p, figs, groups.LowerIsWorse, groups.Options{})
	cfg.By.Write(r, key+".transfer_rate", p, rates, groups.HigherIsWorse, groups.Options{Bounds: true, Seed: t.Seed, Level: level})
}

// deltas returns, per attribute of p and per group, the variant's accuracy
// minus the model's over the group's rows.
func deltas(p *groups.Partition, label []int64, variant, ref []int32) [][]groups.Figure {
	out := make([][]groups.Figure, len(p.Attrs))
	for a, at := range p.Attrs {
		rows, diff := make([]int, len(at.Groups)), make([]int, len(at.Groups))
		for i, y := range label {
			g := p.Group(a, i)
			rows[g]++
			if int64(variant[i]) == y {
				diff[g]++
			}
			if int64(ref[i]) == y {
				diff[g]--
			}
		}
		out[a] = make([]groups.Figure, len(at.Groups))
		for g := range out[a] {
			out[a][g] = delta(diff[g], rows[g])
		}
	}
	return out
}

// delta is the figure diff/n without bounds; NaN when n is 0.
func delta(diff, n int) groups.Figure {
	v := math.NaN()
	if n > 0 {
		v = float64(diff) / float64(n)
	}
	return groups.Figure{Value: v, Lo: math.NaN(), Hi: math.NaN(), Count: n}
}

package slices

import (
	"context"
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"

	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// RuleID is the SARIF rule of a reported slice (reports.VerdictRules).
const RuleID = "gauntlet/weak-slice"

// BinRule says in the report how numeric columns are binned.
const BinRule = "numeric columns with more than `bins` distinct values: edges at the type-7 (numpy default) quantiles k/bins, k = 1..bins-1, of the evaluation data, duplicates and an edge at the maximum dropped; bins (-inf, e1], (e1, e2], ..., (e_last, inf); other columns: one slice per value"

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	if err := s.CheckData(cfg, d, t.Classes); err != nil {
		return nil, err
	}
	if err := checkRange(cfg, t); err != nil {
		return nil, err
	}
	n, k := d.N, t.Classes
	pred := make([]int, n)
	err := suite.ForEachBatch(ctx, t, d, func(_, lo, hi int, out []float32) error {
		for i := lo; i < hi; i++ {
			pred[i] = stats.Argmax(out[(i-lo)*k : (i-lo+1)*k])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	feats, searches, minSize, correct, err := prepare(cfg, d, pred)
	if err != nil {
		return nil, err
	}
	r := suite.NewResult()
	if cfg.evasion != nil {
		crafted, mode, err := evasion.Craft(ctx, t, *cfg.evasion)
		if err != nil {
			err = fmt.Errorf("slices: evasion: %w", err)
			if !suite.TimedOut(ctx, err) {
				return nil, err
			}
			// Stopped by runtime.timeout in the attacks: the searches
			// that finished (accuracy, selection rate), as a run
			// without the evasion block. A deadline in the model pass
			// leaves no figures.
			write(r, cfg, searches, feats, minSize, n)
			done := make([]string, len(searches))
			for i, s := range searches {
				done[i] = s.Metric
			}
			r.SetTimedOut(n, n, map[string]any{"metrics_finished": done, "stopped_in": RobustAccuracy})
			return r, err
		}
		robust := make([]bool, n)
		copy(robust, correct)
		var attacks []string
		for _, c := range crafted {
			attacks = append(attacks, c.Prefix)
			for i := range robust {
				robust[i] = robust[i] && c.Robust[i]
			}
		}
		r.Details["robust_attacks"] = attacks
		r.Details["gradient_mode"] = mode
		searches = append(searches, search(RobustAccuracy, feats, robust, cfg.MaxDepth, minSize, cfg.Alpha, cfg.Correction))
	}
	write(r, cfg, searches, feats, minSize, n)
	return r, nil
}

// prepare runs the accuracy search and, with sensitive columns, the
// selection-rate search over every sample's prediction: Run's and Merge's
// reduction (d supplies the labels and the feature and sensitive
// columns). It returns the encoded features, the searches, the minimum
// slice size and each sample's correctness.
func prepare(cfg Config, d *data.Dataset, pred []int) ([]column, []*Search, int, []bool, error) {
	n := d.N
	correct := make([]bool, n)
	for i := range n {
		correct[i] = int64(pred[i]) == d.Y[i]
	}
	minSize := cfg.MinSize
	if minSize == 0 {
		minSize = max(MinSizeFloor, int(math.Ceil(MinSizeShare*float64(n))))
	}
	feats, err := encodeAll(field+"features", cfg.Features, d, cfg.Bins)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	var searches []*Search
	searches = append(searches, search(Accuracy, feats, correct, cfg.MaxDepth, minSize, cfg.Alpha, cfg.Correction))
	if len(cfg.Sensitive) > 0 {
		sens, err := encodeAll(field+"sensitive", cfg.Sensitive, d, cfg.Bins)
		if err != nil {
			return nil, nil, 0, nil, err
		}
		selected := make([]bool, n)
		for i, p := range pred {
			selected[i] = p == cfg.PositiveLabel
		}
		searches = append(searches, search(SelectionRate, sens, selected, cfg.MaxDepth, minSize, cfg.Alpha, cfg.Correction))
	}
	return feats, searches, minSize, correct, nil
}

func encodeAll(key string, names []string, d *data.Dataset, bins int) ([]column, error) {
	out := make([]column, len(names))
	for i, name := range names {
		at := fmt.Sprintf("%s[%d]", key, i)
		vals, err := values(d, name)
		if err != nil {
			return nil, errs.Invalidf("%s: %v", at, err)
		}
		c, err := encode(at, name, vals, bins)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// write records the metrics, details and findings of the searches.
func write(r *suite.Result, cfg Config, searches []*Search, feats []column, minSize, n int) {
	count, tested := 0, 0
	worstGap := 0.0
	var rows []map[string]any
	var findings []reports.Finding
	perMetric := map[string]any{}
	for _, s := range searches {
		count += len(s.Found)
		tested += s.Tested
		r.Set(s.Metric+".count_significant", float64(len(s.Found)), true)
		r.Set(s.Metric+".tested", float64(s.Tested), true)
		perMetric[s.Metric] = map[string]any{"value": s.Rate, "tested": s.Tested, "candidates": len(s.All), "significant": len(s.Found)}
		if len(s.Found) > 0 {
			w := s.Found[0]
			r.Set("worst."+s.Metric, w.Rate, true)
			r.Set("worst."+s.Metric+".gap", w.Gap, true)
			r.Set("worst."+s.Metric+".p_adjusted", w.PAdj, true)
			worstGap = max(worstGap, w.Gap)
		} else {
			// No slice is significantly worse: the worst is the whole.
			r.Set("worst."+s.Metric, s.Rate, n > 0)
			r.Set("worst."+s.Metric+".gap", 0, true)
			r.Set("worst."+s.Metric+".p_adjusted", 1, true)
		}
		for rank, x := range s.Found {
			conds := make([]map[string]any, len(x.Cols))
			for j, c := range x.Cols {
				conds[j] = map[string]any{"column": s.cols[c].Name, "condition": s.cols[c].Labels[x.Vals[j]]}
			}
			rows = append(rows, map[string]any{
				"metric": s.Metric, "rank": rank + 1, "slice": x.Name, "depth": len(x.Cols),
				"conditions": conds, "size": x.N, "hits": x.Hits, "value": x.Rate,
				"rest_size": x.RestN, "rest_value": x.RestRate, "gap": x.Gap,
				"test": x.Test, "p_value": x.P, "p_adjusted": x.PAdj,
			})
			findings = append(findings, reports.Finding{RuleID: RuleID, Severity: reports.SeverityWarning,
				Message: fmt.Sprintf("slices: %s on %s is %.4f (%d rows) against %.4f on the other %d rows (gap %.4f, %s p = %.3g, %s-adjusted %.3g)",
					s.Metric, x.Name, x.Rate, x.N, x.RestRate, x.RestN, x.Gap, x.Test, x.P, cfg.Correction, x.PAdj),
				Location: "slices." + s.Metric + " " + x.Name})
		}
	}
	r.Set("count_significant", float64(count), true)
	r.Set("tested", float64(tested), true)
	r.Set("worst.gap", worstGap, true)
	bins := map[string]any{}
	for _, f := range feats {
		if f.Numeric {
			bins[f.Name] = f.Edges
		}
	}
	if rows == nil {
		rows = []map[string]any{}
	}
	r.Details["slices"] = rows
	r.Details["per_metric"] = perMetric
	r.Details["min_size"] = minSize
	r.Details["min_size_default"] = cfg.MinSize == 0
	r.Details["max_depth"] = cfg.MaxDepth
	r.Details["alpha"] = cfg.Alpha
	r.Details["correction"] = cfg.Correction
	r.Details["test"] = "two-sided two-proportion test, slice against the rest: pooled z, or Fisher's exact when an expected cell is below 5 (stats.TwoProportionTest)"
	r.Details["bin_rule"] = BinRule
	r.Details["bin_edges"] = bins
	r.Details["samples"] = n
	if len(findings) > 0 {
		r.Details[reports.FindingsKey] = findings
	}
}

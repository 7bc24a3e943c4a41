package membership

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// Slicing features (TensorFlow Privacy's SlicingSpec): by true class, by
// decile of the model's confidence or of the loss, and by whether the model
// classifies the sample correctly. The by columns add one slice per group.
const (
	SliceClass       = "class"
	SliceConfidence  = "confidence"
	SliceLoss        = "loss"
	SliceCorrectness = "correctness"
)

var knownSlicings = []string{SliceClass, SliceConfidence, SliceLoss, SliceCorrectness}

// DefaultSlices are the slicing features when slices is absent.
var DefaultSlices = []string{SliceClass, SliceConfidence}

// DefaultMinSliceSize is the smallest slice (members + nonmembers) that
// takes part in the worst-slice metrics.
const DefaultMinSliceSize = 20

// slice is one subset of the members and nonmembers (rows in run order:
// members first).
type slice struct {
	feature, value string
	lo, hi         float64 // percentile slices: the feature's bounds
	rows           []int
	members        int
}

// name is the slice's label in details and warnings: "class=3",
// "confidence=90-100", "race=Other".
func (s *slice) name() string { return s.feature + "=" + s.value }

// buildSlices returns the configured slices of r's rows: per class, per
// decile of the confidence or loss over the members and nonmembers pooled
// (TF Privacy's _slice_by_percentiles: numpy's linear percentiles, both
// bounds inclusive, so a row on a bound lies in both slices), per
// correctness, and per group of every by attribute (p; nil without by).
func (r *run) buildSlices(p *groups.Partition) []*slice {
	n := len(r.scores)
	var out []*slice
	add := func(s *slice) {
		for _, i := range s.rows {
			if r.member[i] {
				s.members++
			}
		}
		out = append(out, s)
	}
	for _, f := range r.cfg.Slices {
		switch f {
		case SliceClass:
			byClass := make([][]int, r.t.Classes)
			for i, y := range r.labels {
				byClass[y] = append(byClass[y], i)
			}
			for c, rows := range byClass {
				add(&slice{feature: f, value: strconv.Itoa(c), rows: rows})
			}
		case SliceConfidence, SliceLoss:
			v := make([]float64, n)
			for i, s := range r.scores {
				if f == SliceConfidence {
					v[i] = s.LogConf
				} else {
					v[i] = -s.LogPY
				}
			}
			sorted := slices.Sorted(slices.Values(v))
			for d := 0; d < 10; d++ {
				lo, hi := stats.Quantile(sorted, float64(d)/10), stats.Quantile(sorted, float64(d+1)/10)
				s := &slice{feature: f, value: fmt.Sprintf("%d-%d", 10*d, 10*(d+1)), lo: lo, hi: hi}
				for i, x := range v {
					if lo <= x && x <= hi {
						s.rows = append(s.rows, i)
					}
				}
				if f == SliceConfidence { // bounds as probabilities
					s.lo, s.hi = math.Exp(lo), math.Exp(hi)
				}
				add(s)
			}
		case SliceCorrectness:
			var right, wrong []int
			for i, s := range r.scores {
				if s.Correct {
					right = append(right, i)
				} else {
					wrong = append(wrong, i)
				}
			}
			add(&slice{feature: f, value: "correct", rows: right})
			add(&slice{feature: f, value: "misclassified", rows: wrong})
		}
	}
	if p != nil {
		for ai, at := range p.Attrs {
			rows := make([][]int, len(at.Groups))
			for i := 0; i < n; i++ {
				g := p.Group(ai, i)
				rows[g] = append(rows[g], i)
			}
			for g, name := range at.Groups {
				add(&slice{feature: at.Name, value: name, rows: rows[g]})
			}
		}
	}
	return out
}

// sliced writes every attack's worst-slice AUC and advantage and returns
// the slices' details: each slice's counts and, per attack, its AUC and
// advantage over its own rows (null without members or nonmembers). A
// slice takes part in the worst-slice figures with at least one member,
// one nonmember and min_slice_size rows.
func (r *run) sliced(set func(string, float64, bool), attackScores map[string][]float64, sl []*slice) map[string]any {
	type worst struct {
		value float64
		slice string
	}
	rows := make([]map[string]any, len(sl))
	worstAUC, worstAdv := map[string]*worst{}, map[string]*worst{}
	idx := make([]int, len(r.scores))
	for k, s := range sl {
		nm := s.members
		nn := len(s.rows) - nm
		eligible := nm > 0 && nn > 0 && len(s.rows) >= r.cfg.MinSliceSize
		row := map[string]any{"feature": s.feature, "value": s.value, "members": nm, "nonmembers": nn, "eligible": eligible}
		if s.feature == SliceConfidence || s.feature == SliceLoss {
			row["low"], row["high"] = s.lo, s.hi
		}
		auc, adv := map[string]any{}, map[string]any{}
		sub := make([]float64, len(s.rows))
		lab := make([]bool, len(s.rows))
		for _, a := range r.cfg.Attacks {
			sc, ok := attackScores[a]
			if !ok {
				continue // not run: runtime.timeout stopped the suite before it
			}
			if nm == 0 || nn == 0 {
				auc[a], adv[a] = nil, nil
				continue
			}
			for j, i := range s.rows {
				sub[j], lab[j] = sc[i], r.member[i]
			}
			roc := learn.NewROC(sub, lab, idx)
			u := roc.AUC()
			v, _ := roc.Advantage()
			auc[a], adv[a] = u, v
			if !eligible {
				continue
			}
			if w := worstAUC[a]; w == nil || u > w.value {
				worstAUC[a] = &worst{u, s.name()}
			}
			if w := worstAdv[a]; w == nil || v > w.value {
				worstAdv[a] = &worst{v, s.name()}
			}
		}
		row["auc"], row["advantage"] = auc, adv
		rows[k] = row
	}
	worstDet := map[string]any{}
	for _, a := range r.cfg.Attacks {
		if _, ok := attackScores[a]; !ok {
			continue
		}
		wu, wv := worstAUC[a], worstAdv[a]
		if wu == nil { // no eligible slice (wv is nil too)
			set(a+".worst_slice_auc", 0, false)
			set(a+".worst_slice_advantage", 0, false)
			continue
		}
		set(a+".worst_slice_auc", wu.value, true)
		set(a+".worst_slice_advantage", wv.value, true)
		worstDet[a] = map[string]any{"auc": map[string]any{"slice": wu.slice, "value": wu.value},
			"advantage": map[string]any{"slice": wv.slice, "value": wv.value}}
	}
	var features []string
	for _, s := range sl {
		if !slices.Contains(features, s.feature) {
			features = append(features, s.feature)
		}
	}
	return map[string]any{"features": features, "min_slice_size": r.cfg.MinSliceSize, "slices": rows, "worst": worstDet}
}

// sliceKeys lists attack a's worst-slice keys.
func sliceKeys(cfg Config, a string) []string {
	if len(cfg.Slices) == 0 && !cfg.By.Enabled() {
		return nil
	}
	return []string{a + ".worst_slice_auc", a + ".worst_slice_advantage"}
}

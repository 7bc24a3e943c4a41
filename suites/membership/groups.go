package membership

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// byKeys lists attack a's by-group keys: its advantage and AUC by group,
// with bootstrap bounds unless n_boot is 0.
func byKeys(cfg Config, a string) []string {
	ci := cfg.By.Rounds() > 0
	return append(cfg.By.Keys(a+".advantage", ci), cfg.By.Keys(a+".auc", ci)...)
}

// withBy returns spec with the by columns kept (data.Spec.Also), so that
// members and nonmembers CSVs carry them without listing them in keep.
func withBy(spec data.Spec, b groups.By) data.Spec {
	if b.Enabled() {
		spec.Also = append(append([]string(nil), spec.Also...), b.Columns...)
	}
	return spec
}

// byGroup writes every attack's advantage and AUC by group of the members
// and nonmembers together: each group's ROC is built from its own rows
// (as per_class does per true class), so its advantage is the attack's
// best TPR − FPR within the group. A group without members or without
// nonmembers has undefined figures and takes no part in worst and gap.
// Each group's details record its members and nonmembers counts. With
// n_boot > 0, each group's figures get percentile bootstrap bounds and the
// gaps intervals (groups.Figure.Reps): every round redraws, within each
// group, its members and its nonmembers with replacement (sizes fixed, the
// stratified bootstrap fairness uses), the attack scores kept.
func (r *run) byGroup(res *suite.Result, p *groups.Partition, attackScores map[string][]float64) {
	b := r.cfg.By
	nboot, level := b.Rounds(), r.t.ConfidenceLevel
	opt := groups.Options{Bounds: nboot > 0, Seed: r.t.Seed, Level: level}
	for _, a := range r.cfg.Attacks {
		sc := attackScores[a]
		adv := make([][]groups.Figure, len(p.Attrs))
		auc := make([][]groups.Figure, len(p.Attrs))
		for ai, at := range p.Attrs {
			rows := make([][]int, len(at.Groups))
			for i := range r.member {
				g := p.Group(ai, i)
				rows[g] = append(rows[g], i)
			}
			adv[ai] = make([]groups.Figure, len(at.Groups))
			auc[ai] = make([]groups.Figure, len(at.Groups))
			rng := rand.New(rand.NewPCG(suite.DeriveSeed(r.t.Seed, "by_group/"+a+"/"+at.Name), 0))
			for g, idx := range rows {
				nm := 0
				sub := make([]float64, len(idx))
				lab := make([]bool, len(idx))
				for j, i := range idx {
					sub[j], lab[j] = sc[i], r.member[i]
					if lab[j] {
						nm++
					}
				}
				extra := map[string]any{"members": nm, "nonmembers": len(idx) - nm}
				fa := groups.Figure{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Count: len(idx), Extra: extra}
				fu := fa
				if nm > 0 && nm < len(idx) {
					roc := learn.NewROC(sub, lab, nil)
					fa.Value, _ = roc.Advantage()
					fu.Value = roc.AUC()
					if nboot > 0 {
						fa.Reps, fu.Reps = make([]float64, nboot), make([]float64, nboot)
						bs := newRocBoot(sub, lab)
						for k := range nboot {
							fa.Reps[k], fu.Reps[k] = bs.round(rng)
						}
						fa.Lo, fa.Hi = percentile(fa.Reps, level)
						fu.Lo, fu.Hi = percentile(fu.Reps, level)
					}
				}
				adv[ai][g], auc[ai][g] = fa, fu
			}
		}
		b.Write(res, a+".advantage", p, adv, groups.HigherIsWorse, opt)
		b.Write(res, a+".auc", p, auc, groups.HigherIsWorse, opt)
	}
}

// percentile returns stats.PercentileCI of a copy of reps (which must keep
// its round order for the gap).
func percentile(reps []float64, level float64) (float64, float64) {
	lo, hi, _ := stats.PercentileCI(slices.Clone(reps), level)
	return lo, hi
}

// rocBoot resamples one group's ROC: its rows sorted once into the ROC's
// points (one per distinct score, highest first), each round draws the
// members and the nonmembers with replacement and rebuilds the cumulative
// counts over those points, O(rows) per round with no sort.
type rocBoot struct {
	mem, non []int32 // the ROC point (1-based) of each member, nonmember row
	dtp, dfp []int   // draws per point
	roc      learn.ROC
}

// newRocBoot prepares the bootstrap of the ROC of scores against labels
// (true = member), with learn.NewROC's points.
func newRocBoot(scores []float64, labels []bool) *rocBoot {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	point := make([]int32, len(scores))
	pts := 0
	for k, i := range idx {
		if k == 0 || scores[i] != scores[idx[k-1]] {
			pts++
		}
		point[i] = int32(pts)
	}
	bs := &rocBoot{dtp: make([]int, pts+1), dfp: make([]int, pts+1)}
	for i, l := range labels {
		if l {
			bs.mem = append(bs.mem, point[i])
		} else {
			bs.non = append(bs.non, point[i])
		}
	}
	bs.roc = learn.ROC{P: len(bs.mem), N: len(bs.non), TP: make([]int, pts+1), FP: make([]int, pts+1)}
	return bs
}

// round draws one bootstrap sample and returns its advantage and AUC
// (learn.ROC's definitions on the resampled rows).
func (bs *rocBoot) round(rng *rand.Rand) (adv, auc float64) {
	clear(bs.dtp)
	clear(bs.dfp)
	for range bs.mem {
		bs.dtp[bs.mem[rng.IntN(len(bs.mem))]]++
	}
	for range bs.non {
		bs.dfp[bs.non[rng.IntN(len(bs.non))]]++
	}
	return bs.eval()
}

// eval returns the advantage and AUC of the rows counted in dtp and dfp.
func (bs *rocBoot) eval() (adv, auc float64) {
	tp, fp := 0, 0
	for k := range bs.dtp {
		tp += bs.dtp[k]
		fp += bs.dfp[k]
		bs.roc.TP[k], bs.roc.FP[k] = tp, fp
	}
	adv, _ = bs.roc.Advantage()
	return adv, bs.roc.AUC()
}

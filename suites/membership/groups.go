package membership

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// byKeys lists attack a's by-group keys: its advantage and AUC by group.
func byKeys(cfg Config, a string) []string {
	return append(cfg.By.Keys(a+".advantage", false), cfg.By.Keys(a+".auc", false)...)
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
// Each group's details record its members and nonmembers counts.
func (r *run) byGroup(res *suite.Result, attackScores map[string][]float64) error {
	b := r.cfg.By
	if !b.Enabled() {
		return nil
	}
	p, err := b.Partition("membership", []string{"suites.membership.members", "suites.membership.nonmembers"}, r.mem, r.non)
	if err != nil {
		return err
	}
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
				}
				adv[ai][g], auc[ai][g] = fa, fu
			}
		}
		b.Write(res, a+".advantage", p, adv, groups.HigherIsWorse, groups.Options{})
		b.Write(res, a+".auc", p, auc, groups.HigherIsWorse, groups.Options{})
	}
	return nil
}

package evasion

import (
	"fmt"
	"sort"

	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// summarise computes the metrics and details.
func summarise(t *suite.Target, cfg Config, outs []*outcome, correct []bool, nCorrect int) *suite.Result {
	r := suite.NewResult()
	ds := t.Data
	n, k := ds.N, t.Classes
	level := t.ConfidenceLevel
	r.SetProportion("clean_accuracy", nCorrect, n, level)
	// Per-sample outcomes in the reports.PerSampleKey convention, so that
	// baselines can run McNemar tests on clean and robust correctness.
	outcomes := map[string]reports.Bits{"clean_correct": packBits(correct)}

	type worstAcc struct {
		norm   string
		eps    float64
		robust []bool
	}
	var worstOrder []string
	worst := map[string]*worstAcc{}
	var attacks []map[string]any
	modes := map[string]string{}
	curves := map[string][]map[string]any{}
	for _, o := range outs {
		a := o.a
		p := Prefix(a.Key(), a.Norm, o.eps)
		nRobust, nSucc := 0, 0
		var perts []float64
		var q int64
		nq := 0
		for i := 0; i < n; i++ {
			if o.robust[i] {
				nRobust++
			}
			if o.success[i] {
				nSucc++
				perts = append(perts, o.pert[i])
			}
			if correct[i] {
				q += int64(o.queries[i])
				nq++
			}
		}
		r.SetProportion(p+".robust_accuracy", nRobust, n, level)
		r.SetProportion(p+".attack_success_rate", nSucc, nCorrect, level)
		outcomes[p+".robust"] = packBits(o.robust)
		mean, median := meanMedian(perts)
		r.Set(p+".mean_perturbation", mean, len(perts) > 0)
		r.Set(p+".median_perturbation", median, len(perts) > 0)
		r.Set(p+".queries", float64(q)/float64(nq), nq > 0)
		if a.whiteBox() {
			r.Set(p+".zero_gradient_share", float64(o.zeroGrad)/float64(max(o.gradSeen, 1)), o.gradSeen > 0)
		}

		wk := Prefix("worst", a.Norm, o.eps)
		wa := worst[wk]
		if wa == nil {
			wa = &worstAcc{norm: a.Norm, eps: o.eps, robust: append([]bool(nil), correct...)}
			worst[wk] = wa
			worstOrder = append(worstOrder, wk)
		}
		for i, v := range o.robust {
			wa.robust[i] = wa.robust[i] && v
		}

		perClass := make([]any, k)
		sup := make([]int, k)
		rob := make([]int, k)
		for i := 0; i < n; i++ {
			sup[ds.Y[i]]++
			if o.robust[i] {
				rob[ds.Y[i]]++
			}
		}
		for c := range perClass {
			if sup[c] > 0 {
				perClass[c] = float64(rob[c]) / float64(sup[c])
			}
		}
		modes[a.Key()] = o.mode
		entry := map[string]any{
			"attack": a.Key(), "name": a.Name, "norm": a.Norm, "eps": o.eps, "gradient_mode": o.mode,
			"params":                    params(a),
			"robust_accuracy":           float64(nRobust) / float64(n),
			"successes":                 nSucc,
			"per_class_robust_accuracy": perClass,
			"robust":                    bits(o.robust),
		}
		if o.gradSeen > 0 {
			entry["zero_gradient_share"] = float64(o.zeroGrad) / float64(o.gradSeen)
		}
		if fb := o.fallback; fb != nil {
			entry["square_fallback"] = map[string]any{"samples": fb.samples, "broken": fb.broken, "norm": fb.norm, "eps": fb.eps,
				"queries": DefaultQueries, "p_init": DefaultPInit}
		}
		if o.brokenBy != nil {
			entry["parts"], entry["broken_by"] = autoAttackSummary(r, o, ds.SampleShape, correct, nCorrect, level)
		}
		attacks = append(attacks, entry)
		ck := a.Key() + "." + a.Norm
		curves[ck] = append(curves[ck], map[string]any{"eps": o.eps, "robust_accuracy": float64(nRobust) / float64(n)})
	}
	var worstDetails []map[string]any
	for _, wk := range worstOrder {
		wa := worst[wk]
		nr := 0
		for _, v := range wa.robust {
			if v {
				nr++
			}
		}
		r.SetProportion(wk+".robust_accuracy", nr, n, level)
		outcomes[wk+".robust"] = packBits(wa.robust)
		worstDetails = append(worstDetails, map[string]any{"norm": wa.norm, "eps": wa.eps,
			"robust_accuracy": float64(nr) / float64(n), "robust": bits(wa.robust)})
	}
	for ck, c := range curves {
		// Every curve starts at ε = 0, where robust accuracy is the clean
		// accuracy.
		hasZero := false
		for _, pt := range c {
			hasZero = hasZero || pt["eps"].(float64) == 0
		}
		if !hasZero {
			c = append(c, map[string]any{"eps": 0.0, "robust_accuracy": float64(nCorrect) / float64(n)})
		}
		sort.SliceStable(c, func(i, j int) bool { return c[i]["eps"].(float64) < c[j]["eps"].(float64) })
		curves[ck] = c
	}
	r.Details["samples"] = n
	r.Details[reports.PerSampleKey] = reports.PerSampleDetails(n, nil, outcomes)
	r.Details["clean_correct"] = bits(correct)
	r.Details["gradient_mode"] = modes
	r.Details["attacks"] = attacks
	r.Details["curves"] = curves
	r.Details["worst"] = worstDetails
	return r
}

// params lists an attack's effective parameters for the report.
func params(a AttackConfig) map[string]any {
	p := map[string]any{}
	switch a.Name {
	case PGD:
		p["step_size"], p["steps"], p["random_start"], p["restarts"] = "2.5·eps/steps", a.Steps, a.RandomStart, a.Restarts
		if a.StepSize != nil {
			p["step_size"] = *a.StepSize
		}
	case APGD:
		p["loss"], p["steps"], p["restarts"] = a.Loss, a.Steps, a.Restarts
		if a.Targeted {
			p["target_classes"] = a.TargetClasses
		}
	case Square:
		p["queries"], p["p_init"] = a.Queries, a.PInit
	case AutoAttack:
		p["steps"], p["restarts"], p["target_classes"], p["queries"], p["p_init"] = a.Steps, a.Restarts, a.TargetClasses, a.Queries, a.PInit
		p["version"], p["parts"] = a.version(), a.parts()
	case DeepFool:
		p["steps"], p["overshoot"], p["nb_grads"] = a.Steps, *a.Overshoot, a.NBGrads
	case FMN:
		p["steps"], p["gamma"], p["gamma_final"], p["alpha_init"], p["alpha_final"] = a.Steps, *a.Gamma, fmnGammaFinal, *a.AlphaInit, *a.AlphaFinal
	case FAB:
		p["steps"], p["restarts"] = a.Steps, a.Restarts
		if a.Targeted {
			p["target_classes"] = a.TargetClasses
		}
	}
	if a.Name != APGD && a.Name != AutoAttack && a.Name != FAB && !a.epsStar() {
		p["early_stop"] = a.earlyStop()
	}
	if a.Targeted {
		p["targeted"] = true
		if a.Target != nil {
			p["target"] = *a.Target
		} else if a.Name != APGD && a.Name != FAB {
			p["target"] = "random"
		}
	}
	return p
}

// packBits packs flags into the reports.Bits of the per-sample convention.
func packBits(v []bool) reports.Bits {
	b := reports.NewBits(len(v))
	for i, f := range v {
		b.Set(i, f)
	}
	return b
}

// bits writes flags compactly: one '1' or '0' per sample.
func bits(v []bool) string {
	b := make([]byte, len(v))
	for i, f := range v {
		b[i] = '0'
		if f {
			b[i] = '1'
		}
	}
	return string(b)
}

func meanMedian(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return sum / float64(len(s)), stats.Median(s)
}

// sanity adds AutoAttack-style warnings, each with its figure.
func sanity(t *suite.Target, r *suite.Result, outs []*outcome, clean []float32) {
	sanityHow(t, r, outs, clean, probsHow(t))
}

// probsHow says, for the probability_outputs flag, how the gradient graph
// treats a model with probability outputs (it reads t.Model and
// t.Session, which a merge has not).
func probsHow(t *suite.Target) string {
	if t.OutputKind != runtime.Probabilities {
		return ""
	}
	if t.Model != nil && t.Model.LastOp(t.Session.Output().Name) == "Softmax" {
		return "the gradient graph reads the logits before the final Softmax"
	}
	return "the gradient graph differentiates −log p directly"
}

// sanityHow is sanity with probsHow's text given (shard.go's Merge).
func sanityHow(t *suite.Target, r *suite.Result, outs []*outcome, clean []float32, how string) {
	var flags []map[string]any
	warn := func(kind, msg string, v float64) {
		r.Warnings = append(r.Warnings, "evasion: "+msg)
		flags = append(flags, map[string]any{"flag": kind, "message": msg, "value": v})
	}
	for _, o := range outs {
		if o.gradSeen == 0 {
			continue
		}
		share := float64(o.zeroGrad) / float64(o.gradSeen)
		if share >= zeroGradWarn {
			warn("zero_gradients", fmt.Sprintf("%s: %.1f%% of attacked samples (%d of %d) had an all-zero gradient at their first point; gradient-based results may overstate robustness (gradient masking)",
				Prefix(o.a.Key(), o.a.Norm, o.eps), 100*share, o.zeroGrad, o.gradSeen), share)
		}
	}
	for _, o := range outs {
		fb := o.fallback
		if fb == nil {
			continue
		}
		share := float64(o.zeroGrad) / float64(o.gradSeen)
		sq := "Square"
		if fb.norm != o.a.Norm {
			sq = fmt.Sprintf("Square L∞ at eps/√d = %.4g (inside the L2 ball; Square L2 needs image inputs)", fb.eps)
		}
		warn("square_fallback", fmt.Sprintf("%s: no gradient signal: the estimated gradient was all zero at the first point of %.1f%% of attacked samples (%d of %d); %s (gradient-free, %d queries) was run on the %d of them the attack left robust and broke %d: the robust accuracy is the worst case of both",
			Prefix(o.a.Key(), o.a.Norm, o.eps), 100*share, o.zeroGrad, o.gradSeen, sq, DefaultQueries, fb.samples, fb.broken), float64(fb.broken))
	}
	// within the autoattack preset: Square breaking what both APGD parts
	// missed
	for _, o := range outs {
		autoAttackSanity(o, warn)
	}
	// black-box beating white-box at the same norm and eps
	type group struct{ white, black []*outcome }
	groups := map[string]*group{}
	var order []string
	for _, o := range outs {
		if o.a.Targeted {
			continue
		}
		key := o.a.Norm + "/" + FormatEps(o.eps)
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		if o.a.Name == Square {
			g.black = append(g.black, o)
		} else if o.a.Name != AutoAttack {
			g.white = append(g.white, o)
		}
	}
	for _, key := range order {
		g := groups[key]
		// the strongest iterative white-box attack (FGSM is a single step
		// and is expected to lose to a query-based attack)
		var strong *outcome
		for _, wo := range g.white {
			if wo.a.Name != FGSM && (strong == nil || share(wo.robust) < share(strong.robust)) {
				strong = wo
			}
		}
		if strong == nil {
			continue
		}
		for _, b := range g.black {
			broke := 0
			for i := range b.robust {
				allWhite := true
				for _, wo := range g.white {
					allWhite = allWhite && wo.robust[i]
				}
				if !b.robust[i] && allWhite {
					broke++
				}
			}
			rb, rw := share(b.robust), share(strong.robust)
			if rb < rw {
				warn("black_box_beats_white_box", fmt.Sprintf("%s robust accuracy %.4g is below the strongest white-box attack %s's %.4g (%d samples fall to the black-box attack only); the gradients may be masked or the white-box attacks too weak",
					Prefix(b.a.Key(), b.a.Norm, b.eps), rb, Prefix(strong.a.Key(), strong.a.Norm, strong.eps), rw, broke), rw-rb)
			}
		}
	}
	scores := false // a label-only attack reads no probabilities
	for _, o := range outs {
		scores = scores || !o.a.decision()
	}
	if t.OutputKind == runtime.Probabilities && scores {
		k := t.Classes
		sat := 0
		n := len(clean) / k
		for i := 0; i < n; i++ {
			row := clean[i*k : (i+1)*k]
			if float64(row[stats.Argmax(row)]) >= saturatedProb {
				sat++
			}
		}
		sh := float64(sat) / float64(max(n, 1))
		warn("probability_outputs", fmt.Sprintf("the model outputs probabilities: %.1f%% of clean samples (%d of %d) have a top probability ≥ 1−1e-6, where softmax saturation flattens gradients and margins (%s)",
			100*sh, sat, n, how), sh)
	}
	if flags != nil {
		r.Details["sanity"] = flags
	}
}

func share(v []bool) float64 {
	c := 0
	for _, f := range v {
		if f {
			c++
		}
	}
	return float64(c) / float64(max(len(v), 1))
}

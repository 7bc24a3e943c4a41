package fairness

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// minDefinedShare is the share of bootstrap rounds below which an
// interval built from the rounds where its metric is defined gets a
// warning.
const minDefinedShare = 0.9

// maxNotedKeys is how many keys the warning about intervals that exclude
// their estimate names (details.interval_notes has them all).
const maxNotedKeys = 5

// Options are Compute's settings (the suite config, resolved).
type Options struct {
	// MinGroupSize: smaller groups are left out of disparities.
	MinGroupSize int
	// NBoot bootstrap rounds (0: no intervals).
	NBoot int
	// Bins of the expected calibration error.
	Bins int
	// Seed of the bootstrap (the suite seed); each attribute derives its
	// own source with suite.DeriveSeed.
	Seed uint64
	// Level of the confidence intervals and 1 − the significance level of
	// the group tests.
	Level float64
	// Interval is the bootstrap interval: IntervalBCa (also when empty) or
	// IntervalPercentile.
	Interval string
	// Reference maps attribute names to configured reference groups.
	Reference map[string]string
}

// rateDef is a group rate num/den from a confusion table.
type rateDef struct {
	name     string
	num, den func(c conf) int64
}

// rateDefs are the per-group rates, in details and in the Aequitas-style
// comparisons against the reference group.
var rateDefs = []rateDef{
	{"base_rate", func(c conf) int64 { return c.tp + c.fn }, func(c conf) int64 { return c.n }},
	{"selection_rate", func(c conf) int64 { return c.tp + c.fp }, func(c conf) int64 { return c.n }},
	{"accuracy", func(c conf) int64 { return c.hit }, func(c conf) int64 { return c.n }},
	{"true_positive_rate", func(c conf) int64 { return c.tp }, func(c conf) int64 { return c.tp + c.fn }},
	{"false_positive_rate", func(c conf) int64 { return c.fp }, func(c conf) int64 { return c.fp + c.tn }},
	{"false_negative_rate", func(c conf) int64 { return c.fn }, func(c conf) int64 { return c.tp + c.fn }},
	{"true_negative_rate", func(c conf) int64 { return c.tn }, func(c conf) int64 { return c.fp + c.tn }},
	{"positive_predictive_value", func(c conf) int64 { return c.tp }, func(c conf) int64 { return c.tp + c.fp }},
	{"negative_predictive_value", func(c conf) int64 { return c.tn }, func(c conf) int64 { return c.tn + c.fn }},
	{"false_discovery_rate", func(c conf) int64 { return c.fp }, func(c conf) int64 { return c.tp + c.fp }},
	{"false_omission_rate", func(c conf) int64 { return c.fn }, func(c conf) int64 { return c.tn + c.fn }},
}

// num returns v for JSON, nil when undefined (NaN) or infinite.
func num(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// set records v under key, undefined when NaN.
func set(r *suite.Result, key string, v float64) {
	r.Set(key, v, !math.IsNaN(v))
}

// Compute tallies in (one pass over the rows, grouped by p) and writes every
// metric and detail of the suite except the counterfactual flip test.
func Compute(in *Input, p *Partition, opt Options) (*suite.Result, error) {
	if in.Classes < 2 || in.Positive < 0 || in.Positive >= in.Classes {
		return nil, errs.Invalidf("fairness: positive class %d is not a class of a %d-class model", in.Positive, in.Classes)
	}
	tb := NewTable(p.NCells, in.Classes, opt.Bins)
	if err := tb.Add(in, p.Cell); err != nil {
		return nil, err
	}
	return summarise(tb, p, in.Positive, opt)
}

// summarise computes the metrics from the finest table tb.
func summarise(tb *Table, p *Partition, pos int, opt Options) (*suite.Result, error) {
	res := suite.NewResult()
	k := tb.K
	w := k * nKinds
	overall := tb.Collapse(make([]int32, tb.Cells), 1)
	oc := binary(overall.Conf, k, pos)
	alpha := 1 - opt.Level
	method := opt.Interval
	if method == "" {
		method = IntervalPercentile
	}
	reasons := map[string]string{}
	notes := map[string]string{} // intervals that do not contain their estimate
	attrs := map[string]any{}
	names := metricNames(k)
	vec := make([]float64, len(names))

	for _, a := range p.Attrs {
		gt := tb.Collapse(a.Of, len(a.Groups))
		ng := len(a.Groups)
		confs := make([]conf, ng)
		var elig []int
		var excluded []string
		for g := range ng {
			confs[g] = binary(gt.Conf[g*w:(g+1)*w], k, pos)
			if confs[g].n >= int64(opt.MinGroupSize) {
				elig = append(elig, g)
			} else {
				excluded = append(excluded, a.Groups[g])
			}
		}
		if len(excluded) > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %d group(s) under min_group_size %d left out of the disparities: %s (details.attributes.%s.excluded_groups)",
				a.Name, len(excluded), opt.MinGroupSize, strings.Join(excluded, ", "), a.Name))
		}
		ref, rule, err := reference(a, confs, elig, opt)
		if err != nil {
			return nil, err
		}
		disparities(vec, gt.Conf, k, pos, elig, ref)
		var reps, accel []float64
		if opt.NBoot > 0 {
			rng := rand.New(rand.NewPCG(suite.DeriveSeed(opt.Seed, "bootstrap/"+a.Name), 0))
			reps = bootstrapReps(gt, confs, elig, ref, pos, opt.NBoot, rng)
			if method == IntervalBCa {
				accel = jackknife(gt, elig, ref, pos)
			}
		}
		definedRounds := map[string]any{}
		z0s, accels := map[string]any{}, map[string]any{}
		sparse := 0 // intervals from fewer than minDefinedShare of the rounds
		for m, name := range names {
			key := a.Name + "." + name
			set(res, key, vec[m])
			if math.IsNaN(vec[m]) {
				reasons[key] = undefinedReason(m, a, confs, elig, ref, k, opt.MinGroupSize)
			}
			if opt.NBoot > 0 {
				var am float64
				if accel != nil {
					am = accel[m]
				}
				c := interval(method, reps[m*opt.NBoot:(m+1)*opt.NBoot], vec[m], am, opt.Level)
				l, h := c.lo, c.hi
				if math.IsNaN(vec[m]) {
					l, h = math.NaN(), math.NaN()
				} else if math.IsNaN(l) {
					reasons[key+".ci_low"] = "undefined in every bootstrap round"
					reasons[key+".ci_high"] = reasons[key+".ci_low"]
				}
				set(res, key+".ci_low", l)
				set(res, key+".ci_high", h)
				definedRounds[name] = c.valid
				if method == IntervalBCa {
					z0s[name], accels[name] = num(c.z0), num(c.accel)
				}
				if !math.IsNaN(l) && float64(c.valid) < minDefinedShare*float64(opt.NBoot) {
					sparse++
				}
				if n := intervalNote(method, c, vec[m], opt.NBoot, boundary(m)); n != "" {
					notes[key] = n
				}
			}
		}
		if sparse > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("bootstrap: %d interval(s) of %s rest on fewer than %g%% of the %d rounds, the others being undefined (small groups); details.attributes.%s.bootstrap.defined_rounds has the counts",
				sparse, a.Name, 100*minDefinedShare, opt.NBoot, a.Name))
		}
		ff := a.Name + ".four_fifths_passed"
		if r := vec[dpRatio]; math.IsNaN(r) {
			res.Set(ff, 0, false)
			reasons[ff] = reasons[a.Name+".demographic_parity_ratio"]
		} else {
			res.Set(ff, b2f(r >= FourFifths), true)
		}

		groups := make([]any, ng)
		for g := range ng {
			gd := groupDetails(gt, g, confs[g], pos)
			gd["group"] = a.Groups[g]
			gd["share"] = num(ratio(confs[g].n, oc.n))
			// Aequitas' ppr: the group's share of all positive predictions.
			gd["predicted_positive_share"] = num(ratio(confs[g].tp+confs[g].fp, oc.tp+oc.fp))
			vals := map[string]any{}
			for j, part := range a.Parts {
				vals[part] = a.Values[g][j]
			}
			gd["values"] = vals
			gd["eligible"] = confs[g].n >= int64(opt.MinGroupSize)
			gd["small_group"] = confs[g].n < int64(opt.MinGroupSize)
			gd["reference"] = g == ref
			if g != ref {
				gd["disparity"] = compareGroups(confs[g], confs[ref], alpha)
			}
			groups[g] = gd
		}
		var u conf
		var unpriv []string
		for _, g := range elig {
			if g != ref {
				u.add(confs[g])
				unpriv = append(unpriv, a.Groups[g])
			}
		}
		r := confs[ref]
		ad := map[string]any{
			"columns":         a.Parts,
			"groups":          groups,
			"reference_group": a.Groups[ref],
			"reference_rule":  rule,
			"min_group_size":  opt.MinGroupSize,
			"excluded_groups": nonNil(excluded),
			"unprivileged": map[string]any{
				"groups":              nonNil(unpriv),
				"count":               u.n,
				"selection_rate":      num(u.selectionRate()),
				"true_positive_rate":  num(u.tpr()),
				"false_positive_rate": num(u.fpr()),
			},
			// AIF360's ClassificationMetric with the reference group
			// privileged and every other eligible group unprivileged.
			"aif360": map[string]any{
				"disparate_impact":              num(vec[dispImpact]),
				"statistical_parity_difference": num(vec[spDiff]),
				"average_odds_difference":       num(vec[aoDiff]),
				"equal_opportunity_difference":  num(u.tpr() - r.tpr()),
			},
		}
		if len(elig) < 2 {
			ad["unprivileged"], ad["aif360"] = nil, nil
		}
		if opt.NBoot > 0 {
			b := map[string]any{"n_boot": opt.NBoot, "interval": method, "defined_rounds": definedRounds}
			if method == IntervalBCa {
				b["bca"] = map[string]any{"z0": z0s, "acceleration": accels}
			}
			ad["bootstrap"] = b
		}
		attrs[a.Name] = ad
	}

	// Theil index over all rows, with a bootstrap of the overall table.
	th := theil(oc.fn, oc.fp, oc.n)
	set(res, "theil_index", th)
	if math.IsNaN(th) {
		reasons["theil_index"] = "every row is a false negative (mean benefit 0)"
	}
	if opt.NBoot > 0 {
		rng := rand.New(rand.NewPCG(suite.DeriveSeed(opt.Seed, "bootstrap/theil_index"), 0))
		cells := []int64{oc.fn, oc.fp, oc.n - oc.fn - oc.fp}
		draw := make([]int64, 3)
		reps := make([]float64, opt.NBoot)
		for i := range reps {
			stats.Multinomial(draw, rng, oc.n, cells)
			reps[i] = theil(draw[0], draw[1], oc.n)
		}
		var am float64
		if method == IntervalBCa {
			am = theilAcceleration(oc.fn, oc.fp, oc.n)
		}
		c := interval(method, reps, th, am, opt.Level)
		l, h := c.lo, c.hi
		if math.IsNaN(th) {
			l, h = math.NaN(), math.NaN()
		}
		set(res, "theil_index.ci_low", l)
		set(res, "theil_index.ci_high", h)
		if n := intervalNote(method, c, th, opt.NBoot, false); n != "" {
			notes["theil_index"] = n
		}
		res.Details["interval"] = method
	}
	if len(notes) > 0 {
		res.Details["interval_notes"] = notes
		keys := make([]string, 0, len(notes))
		for k := range notes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > maxNotedKeys {
			keys = append(keys[:maxNotedKeys], fmt.Sprintf("… %d more", len(notes)-maxNotedKeys))
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("bootstrap: %d interval(s) do not contain their estimate (%s); details.interval_notes says why",
			len(notes), strings.Join(keys, ", ")))
	}

	od := groupDetails(overall, 0, oc, pos)
	res.Details["samples"] = oc.n
	res.Details["overall"] = od
	res.Details["attributes"] = attrs
	if len(reasons) > 0 {
		res.Details["undefined_reasons"] = reasons
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d metric(s) are undefined (0/0); details.undefined_reasons says why", len(reasons)))
	}
	return res, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// nonNil keeps empty lists as [] in JSON.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// reference picks the attribute's reference group: the configured one, or
// the largest eligible group (the first in sorted order on ties; the
// largest group when none is eligible).
func reference(a Attribute, confs []conf, elig []int, opt Options) (int, string, error) {
	if want, ok := opt.Reference[a.Name]; ok {
		for g, name := range a.Groups {
			if name == want {
				if confs[g].n < int64(opt.MinGroupSize) {
					return 0, "", errs.Invalidf("config suites.fairness.reference_groups.%s: group %q has %d rows, fewer than min_group_size %d", a.Name, want, confs[g].n, opt.MinGroupSize)
				}
				return g, "configured", nil
			}
		}
		return 0, "", errs.Invalidf("config suites.fairness.reference_groups.%s: %q is not a value of %s (values: %s)", a.Name, want, a.Name, strings.Join(a.Groups, ", "))
	}
	cands := elig
	if len(cands) == 0 {
		cands = make([]int, len(confs))
		for g := range cands {
			cands[g] = g
		}
	}
	best := cands[0]
	for _, g := range cands[1:] {
		if confs[g].n > confs[best].n {
			best = g
		}
	}
	return best, "largest group", nil
}

// groupDetails returns the rates of group g of table t (confusion c).
func groupDetails(t *Table, g int, c conf, pos int) map[string]any {
	k, nb := t.K, t.Bins
	d := map[string]any{
		"count":     c.n,
		"confusion": map[string]any{"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn},
	}
	for _, r := range rateDefs {
		d[r.name] = num(ratio(r.num(c), r.den(c)))
	}
	// Balanced accuracy: mean recall over the classes present in the
	// group's labels (scikit-learn's balanced_accuracy_score).
	var rec float64
	var present int
	for y := range k {
		if n := t.Label[g*k+y]; n > 0 {
			rec += float64(t.Hit[g*k+y]) / float64(n)
			present++
		}
	}
	d["balanced_accuracy"] = num(rec / float64(present))
	d["mean_score"] = num(t.Score[g] / float64(c.n))
	// Expected calibration error of the positive-class probability against
	// the positive-label frequency, over equal-width score bins.
	var ece float64
	for b := range nb {
		if m := t.BinN[g*nb+b]; m > 0 {
			mf := float64(m)
			ece += mf / float64(c.n) * math.Abs(float64(t.BinPos[g*nb+b])/mf-t.BinScore[g*nb+b]/mf)
		}
	}
	d["ece"] = num(ece)
	if c.n == 0 {
		d["ece"] = nil
	}
	if k > 2 {
		w := k * nKinds
		sel := make([]any, k)
		for cl := range k {
			i := g*w + cl*nKinds
			sel[cl] = num(ratio(t.Conf[i+kindPos]+t.Conf[i+kindHit]+t.Conf[i+kindOther], c.n))
		}
		d["selection_rate_by_class"] = sel
	}
	return d
}

// compareGroups returns the Aequitas-style disparity of a group against
// the reference group for every rate: the ratio and difference of the
// rates and a two-sided test of their equality at significance alpha.
func compareGroups(c, ref conf, alpha float64) map[string]any {
	out := map[string]any{}
	for _, r := range rateDefs {
		kg, ng := r.num(c), r.den(c)
		kr, nr := r.num(ref), r.den(ref)
		vg, vr := ratio(kg, ng), ratio(kr, nr)
		e := map[string]any{"ratio": nil, "difference": num(vg - vr), "test": nil, "p_value": nil, "significant": nil}
		if vr != 0 {
			e["ratio"] = num(vg / vr)
		}
		if name, p, ok := stats.TwoProportionTest(kg, ng, kr, nr); ok {
			e["test"], e["p_value"], e["significant"] = name, p, p < alpha
		}
		out[r.name] = e
	}
	return out
}

// bootstrapReps resamples each eligible group's K×3 counts multinomially
// (group sizes fixed: a stratified row bootstrap, exact because every
// disparity is a function of these counts) nboot times and returns the
// replicates of every disparity metric, metric-major (metric m's rounds
// are reps[m·nboot:(m+1)·nboot]), NaN where undefined.
func bootstrapReps(gt *Table, confs []conf, elig []int, ref, pos, nboot int, rng *rand.Rand) []float64 {
	k := gt.K
	w := k * nKinds
	nm := len(metricNames(k))
	reps := make([]float64, nm*nboot)
	draw := make([]int64, len(gt.Conf))
	vec := make([]float64, nm)
	for r := range nboot {
		for _, g := range elig {
			stats.Multinomial(draw[g*w:(g+1)*w], rng, confs[g].n, gt.Conf[g*w:(g+1)*w])
		}
		disparities(vec, draw, k, pos, elig, ref)
		for m, v := range vec {
			reps[m*nboot+r] = v
		}
	}
	return reps
}

// undefinedReason says why disparity metric m of attribute a is undefined.
func undefinedReason(m int, a Attribute, confs []conf, elig []int, ref, k, minSize int) string {
	if len(elig) < 2 {
		return fmt.Sprintf("fewer than two groups of %s have at least min_group_size (%d) rows", a.Name, minSize)
	}
	list := func(f func(c conf) float64) string {
		var gs []string
		for _, g := range elig {
			if math.IsNaN(f(confs[g])) {
				gs = append(gs, strconv.Quote(a.Groups[g]))
			}
		}
		return strings.Join(gs, ", ")
	}
	noPos := list(conf.tpr)
	noNeg := list(conf.fpr)
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p != "" {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return "the largest group rate is 0 (0/0 ratio)"
		}
		return strings.Join(out, "; ")
	}
	tprWhy := ""
	if noPos != "" {
		tprWhy = "true positive rate is 0/0 (no positive labels) in group(s) " + noPos
	}
	fprWhy := ""
	if noNeg != "" {
		fprWhy = "false positive rate is 0/0 (no negative labels) in group(s) " + noNeg
	}
	switch m {
	case dpRatio:
		return "every group's selection rate is 0 (0/0 ratio)"
	case eoddsDiff, eoddsRatio:
		return join(tprWhy, fprWhy)
	case eoppDiff, eoppRatio:
		return join(tprWhy)
	case ppDiff:
		return "positive predictive value is 0/0 (no positive predictions) in group(s) " + list(conf.ppv)
	case dispImpact:
		return fmt.Sprintf("the reference group %q has selection rate 0", a.Groups[ref])
	case aoDiff:
		return "the reference group or the pooled other groups have no positive or no negative labels (TPR or FPR 0/0)"
	}
	if m >= nBase {
		return fmt.Sprintf("no group is ever predicted class %d (0/0 ratio)", (m-nBase)/2)
	}
	return "a rate it is built from is 0/0"
}

package fairness

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// Interval methods of the bootstrap (suites.fairness.interval).
const (
	// IntervalBCa is Efron's bias-corrected and accelerated interval
	// (stats.BCaCI).
	IntervalBCa = "bca"
	// IntervalPercentile is the percentile interval (stats.PercentileCI),
	// the default: its ci_high of a between-groups difference and ci_low
	// of a ratio are conservative, which gates on them need
	// (docs/metrics/fairness.md, "How the two intervals cover").
	IntervalPercentile = "percentile"
)

// intervalMethods are the values suites.fairness.interval takes.
var intervalMethods = []string{IntervalBCa, IntervalPercentile}

// ci is one metric's bootstrap interval and what its note needs.
type ci struct {
	lo, hi float64
	// valid rounds had the metric defined; below and at of them were
	// below and equal to the estimate.
	valid, below, at int
	// z0 and accel are BCa's bias correction and acceleration.
	z0, accel float64
	// fallback: BCa was asked for but has no bias correction (every round
	// on one side of the estimate), so lo and hi are the percentile bounds.
	fallback bool
}

// interval returns the method's interval at level for the estimate est
// from the bootstrap replicates reps (reordered in place); accel is the
// BCa acceleration (unused by the percentile method).
func interval(method string, reps []float64, est, accel, level float64) ci {
	var c ci
	if method == IntervalPercentile {
		c.lo, c.hi, c.valid = stats.PercentileCI(reps, level)
		c.z0, c.accel = math.NaN(), math.NaN()
	} else {
		c.accel = accel
		c.lo, c.hi, c.z0, c.valid = stats.BCaCI(reps, est, accel, level)
		if math.IsInf(c.z0, 0) {
			c.fallback = true
			c.lo, c.hi, c.valid = stats.PercentileCI(reps, level)
		}
	}
	// Both functions leave the defined values sorted at the front.
	s := reps[:c.valid]
	c.below, _ = slices.BinarySearch(s, est)
	for i := c.below; i < len(s) && s[i] == est; i++ {
		c.at++
	}
	return c
}

// boundary reports whether disparity metric m is a max − min or min / max
// of group rates: a statistic at the edge of its resampling distribution
// when groups are close, since resampling noise only spreads the group
// rates apart (Fairlearn's between_groups difference and ratio).
func boundary(m int) bool {
	switch m {
	case dpDiff, dpRatio, eoddsDiff, eoddsRatio, eoppDiff, eoppRatio, ppDiff, accDiff:
		return true
	}
	return m >= nBase
}

// intervalNote explains an interval that does not contain its estimate
// est, "" when it does: where the rounds fell, and why — too few rounds
// with the metric defined (a small group without the rows a rate needs), a
// boundary statistic, or a shifted bootstrap distribution — and, for BCa,
// how the bias correction moved the interval.
func intervalNote(method string, c ci, est float64, nboot int, isBoundary bool) string {
	if math.IsNaN(c.lo) || math.IsNaN(est) || (c.lo <= est && est <= c.hi) {
		return ""
	}
	above := c.valid - c.below - c.at
	pct := func(n int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(c.valid)) }
	var why []string
	if float64(c.valid) < minDefinedShare*float64(nboot) {
		why = append(why, fmt.Sprintf("too few rounds: the metric is defined in %d of %d (a small group lacks, in the others, the rows one of its rates needs)", c.valid, nboot))
	}
	if isBoundary {
		why = append(why, "a boundary statistic: a max − min (or min / max) of group rates, which resampling noise pushes away from the estimate, most with small or close groups")
	} else {
		why = append(why, "the bootstrap distribution is shifted away from the estimate (a biased or skewed statistic)")
	}
	switch {
	case c.fallback:
		why = append(why, fmt.Sprintf("every defined round lies on one side of the estimate, so BCa has no bias correction (z0 = %v) and the interval is the percentile one", c.z0))
	case method != IntervalPercentile:
		side := "above"
		if c.hi < est {
			side = "below"
		}
		why = append(why, fmt.Sprintf("BCa corrects for the shift (z0 = %.3f, acceleration %.3f) by moving the interval against it, and it lies %s the estimate", c.z0, c.accel, side))
	}
	name := "BCa"
	if method == IntervalPercentile || c.fallback {
		name = "percentile"
	}
	return fmt.Sprintf("the %s interval [%.4g, %.4g] does not contain the estimate %.4g: of the %d rounds where the metric is defined, %s lie below it, %s at it and %s above; %s",
		name, c.lo, c.hi, est, c.valid, pct(c.below), pct(c.at), pct(above), strings.Join(why, "; "))
}

// jackknife returns the BCa acceleration of every disparity metric of one
// attribute (disparity-vector order), from the jackknife that matches the
// bootstrap of bootstrapReps.
//
// Derivation. The bootstrap resamples each eligible group g on its own:
// n_g rows drawn with replacement from the group's rows, which is a
// multinomial draw over the group's K×3 cells (group sizes fixed, groups
// outside elig not resampled and not in any disparity). The jackknife of
// that design deletes one row of one eligible group. Deleting a row lowers
// its cell's count by one and nothing else, so every row of a cell gives
// the same leave-one-out table: group g's n_g jackknife values are the
// disparities of at most 3K tables, each with one cell of g decremented,
// counted as many times as that cell has rows. Because the resampling
// keeps each group's size, groups are strata: a row's influence is
// estimated as (n_g − 1)(mean of g's jackknife values − its value),
// centred within its group, and the acceleration is the stratified
// skewness form of stats.Acceleration. Leave-one-out tables in which a
// metric is undefined (a group left without the rows a rate needs) are
// dropped, as the bootstrap drops the rounds where it is undefined. Cost:
// at most 3K·G evaluations of disparities, independent of the row count.
func jackknife(gt *Table, elig []int, ref, pos int) []float64 {
	k := gt.K
	w := k * nKinds
	nm := len(metricNames(k))
	cells := slices.Clone(gt.Conf)
	vec := make([]float64, nm)
	jack := make([][]stats.JackknifeValue, nm)
	for s, g := range elig {
		for c := g * w; c < (g+1)*w; c++ {
			n := cells[c]
			if n == 0 {
				continue
			}
			cells[c]--
			disparities(vec, cells, k, pos, elig, ref)
			cells[c]++
			for m, v := range vec {
				jack[m] = append(jack[m], stats.JackknifeValue{Stratum: s, Value: v, Count: n})
			}
		}
	}
	acc := make([]float64, nm)
	for m := range acc {
		acc[m] = stats.Acceleration(jack[m])
	}
	return acc
}

// theilAcceleration is the BCa acceleration of the Theil index, whose
// bootstrap resamples all rows over the (FN, FP, other) cells: one stratum,
// three leave-one-out values (the derivation of jackknife).
func theilAcceleration(fn, fp, n int64) float64 {
	var jack []stats.JackknifeValue
	for _, c := range []struct{ fn, fp, count int64 }{{fn - 1, fp, fn}, {fn, fp - 1, fp}, {fn, fp, n - fn - fp}} {
		if c.count > 0 {
			jack = append(jack, stats.JackknifeValue{Value: theil(c.fn, c.fp, n-1), Count: c.count})
		}
	}
	return stats.Acceleration(jack)
}

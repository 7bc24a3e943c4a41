package fairness

import "math"

// span tracks the smallest and largest value of a rate over groups, and
// whether the rate was undefined in any of them.
type span struct {
	lo, hi float64
	undef  bool
}

func newSpan() span { return span{lo: math.Inf(1), hi: math.Inf(-1)} }

func (s *span) add(v float64) {
	if math.IsNaN(v) {
		s.undef = true
		return
	}
	s.lo = math.Min(s.lo, v)
	s.hi = math.Max(s.hi, v)
}

// diff is Fairlearn's between_groups difference, max − min.
func (s span) diff() float64 {
	if s.undef {
		return math.NaN()
	}
	return s.hi - s.lo
}

// ratio is Fairlearn's between_groups ratio, min / max; undefined when the
// maximum is 0.
func (s span) ratio() float64 {
	if s.undef || s.hi == 0 {
		return math.NaN()
	}
	return s.lo / s.hi
}

// nanMin is min(a, b), NaN when either is NaN.
func nanMin(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}

// nanMax is max(a, b), NaN when either is NaN.
func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
}

// disparities writes one attribute's disparity vector (metricNames order)
// into dst. cells holds each group's K×3 counts (Table.Conf of the
// attribute's groups); elig lists the groups taking part (at least
// min_group_size rows) and ref, one of them, is the reference group. The
// pooled unprivileged group is every other eligible group. Undefined
// values are NaN. It does not allocate.
func disparities(dst []float64, cells []int64, k, pos int, elig []int, ref int) {
	for i := range dst {
		dst[i] = math.NaN()
	}
	if len(elig) < 2 {
		return
	}
	w := k * nKinds
	sr, tpr, fpr, ppv, acc := newSpan(), newSpan(), newSpan(), newSpan(), newSpan()
	var u, r conf
	for _, g := range elig {
		c := binary(cells[g*w:(g+1)*w], k, pos)
		if g == ref {
			r = c
		} else {
			u.add(c)
		}
		sr.add(c.selectionRate())
		tpr.add(c.tpr())
		fpr.add(c.fpr())
		ppv.add(c.ppv())
		acc.add(c.accuracy())
	}
	dst[dpDiff] = sr.diff()
	dst[dpRatio] = sr.ratio()
	dst[eoddsDiff] = nanMax(tpr.diff(), fpr.diff())
	dst[eoddsRatio] = nanMin(tpr.ratio(), fpr.ratio())
	dst[eoppDiff] = tpr.diff()
	dst[eoppRatio] = tpr.ratio()
	dst[ppDiff] = ppv.diff()
	dst[accDiff] = acc.diff()
	srU, srR := u.selectionRate(), r.selectionRate()
	if srR != 0 {
		dst[dispImpact] = srU / srR
	}
	dst[spDiff] = srU - srR
	dst[aoDiff] = 0.5 * ((u.fpr() - r.fpr()) + (u.tpr() - r.tpr()))
	if k <= 2 {
		return
	}
	for cl := range k {
		s := newSpan()
		for _, g := range elig {
			gc := cells[g*w : (g+1)*w]
			var n int64
			for _, v := range gc {
				n += v
			}
			sel := gc[cl*nKinds+kindPos] + gc[cl*nKinds+kindHit] + gc[cl*nKinds+kindOther]
			s.add(ratio(sel, n))
		}
		dst[nBase+2*cl] = s.diff()
		dst[nBase+2*cl+1] = s.ratio()
	}
}

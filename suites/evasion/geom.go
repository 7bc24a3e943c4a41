package evasion

import (
	"math"
	"math/rand/v2"
)

// l2Tol is the relative shrink applied when float32 rounding leaves an L2
// projection a hair outside the ball; projections are re-checked in
// float64 until the perturbation's norm is ≤ eps exactly.
const l2Tol = 1e-7

// down32 returns the largest float32 ≤ v, up32 the smallest ≥ v.
func down32(v float64) float32 {
	f := float32(v)
	if float64(f) > v {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

func up32(v float64) float32 {
	f := float32(v)
	if float64(f) < v {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// setBox writes into lo and hi the per-value bounds of a perturbation of
// x0: the input range [rlo, rhi], intersected for L∞ with the eps box,
// rounded inward so that every float32 between them is within eps of x0.
func setBox(lo, hi, x0 []float32, eps float64, rlo, rhi float32, linf bool) {
	for p, v := range x0 {
		l, h := rlo, rhi
		if linf {
			l = max(l, up32(float64(v)-eps))
			h = min(h, down32(float64(v)+eps))
		}
		// a clean value outside the range (CheckRange forbids it) or
		// rounding must never give an empty box: keep x0 inside.
		lo[p], hi[p] = min(l, v), max(h, v)
	}
}

// clampBox clamps x into [lo, hi] element-wise.
func clampBox(x, lo, hi []float32) {
	for p := range x {
		x[p] = min(max(x[p], lo[p]), hi[p])
	}
}

// stepSign moves x by alpha·sign(dir·g) and clamps it into [lo, hi] (the
// L∞ ascent step of FGSM and PGD). sign(0) is 0.
func stepSign(x, g, lo, hi []float32, alpha, dir float32) {
	for p, gv := range g {
		v := x[p]
		switch {
		case gv*dir > 0:
			v += alpha
		case gv*dir < 0:
			v -= alpha
		}
		x[p] = min(max(v, lo[p]), hi[p])
	}
}

// norm2 returns the Euclidean norm of v in float64.
func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// stepL2 moves x by alpha·dir·g/‖g‖₂ (nothing when g is zero), clamps it
// into [lo, hi] and projects it onto the eps ball around x0.
func stepL2(x, x0, g, lo, hi []float32, alpha, eps float64, dir float32) {
	n := norm2(g)
	if n > 0 {
		f := float32(alpha / n)
		for p, gv := range g {
			x[p] += f * dir * gv
		}
	}
	clampBox(x, lo, hi)
	projectL2(x, x0, eps)
}

// distL2 returns ‖x − x0‖₂ in float64.
func distL2(x, x0 []float32) float64 {
	var s float64
	for p := range x {
		d := float64(x[p]) - float64(x0[p])
		s += d * d
	}
	return math.Sqrt(s)
}

// distLinf returns max |x − x0| in float64.
func distLinf(x, x0 []float32) float64 {
	var m float64
	for p := range x {
		m = max(m, math.Abs(float64(x[p])-float64(x0[p])))
	}
	return m
}

// projectL2 scales x − x0 onto the L2 ball of radius eps. Scaling toward
// x0 keeps x inside any box that holds both x0 and x.
func projectL2(x, x0 []float32, eps float64) {
	for try := 0; try < 8; try++ {
		n := distL2(x, x0)
		if n <= eps {
			return
		}
		f := eps / n * (1 - l2Tol*float64(try))
		for p := range x {
			x[p] = x0[p] + float32((float64(x[p])-float64(x0[p]))*f)
		}
	}
	// Unreachable in practice; fall back to x0, which is always feasible.
	copy(x, x0)
}

// randomStart draws x uniformly from the L∞ box [lo, hi] around x0 (linf),
// or from the L2 ball of radius eps (direction Gaussian, radius eps·U^(1/d)),
// clamped into [lo, hi].
func randomStart(x, x0, lo, hi []float32, eps float64, linf bool, rng *rand.Rand) {
	if linf {
		for p := range x {
			x[p] = x0[p] + float32(eps*(2*rng.Float64()-1))
		}
		clampBox(x, lo, hi)
		return
	}
	var s float64
	for p := range x {
		v := rng.NormFloat64()
		x[p] = float32(v)
		s += v * v
	}
	r := eps * math.Pow(rng.Float64(), 1/float64(len(x)))
	f := r / math.Sqrt(s)
	for p := range x {
		x[p] = x0[p] + float32(float64(x[p])*f)
	}
	clampBox(x, lo, hi)
	projectL2(x, x0, eps)
}

// apgdStart is APGD's random start (reference code): L∞, x0 + eps·t/max|t|
// with t uniform in [−1, 1]^d (one coordinate at ±eps); L2, x0 + eps·t/‖t‖₂
// with t Gaussian (on the sphere); both clamped into [lo, hi].
func apgdStart(x, x0, lo, hi []float32, eps float64, linf bool, rng *rand.Rand) {
	var m float64
	for p := range x {
		var v float64
		if linf {
			v = 2*rng.Float64() - 1
			m = max(m, math.Abs(v))
		} else {
			v = rng.NormFloat64()
			m += v * v
		}
		x[p] = float32(v)
	}
	if !linf {
		m = math.Sqrt(m)
	}
	f := 0.0
	if m > 0 {
		f = eps / m
	}
	for p := range x {
		x[p] = x0[p] + float32(float64(x[p])*f)
	}
	clampBox(x, lo, hi)
	if !linf {
		projectL2(x, x0, eps)
	}
}

package evasion

import (
	"context"
	"math"
	"math/rand/v2"
)

// squareStabiliser is the 1e-12 the reference code adds to norms before
// dividing by them.
const squareStabiliser = 1e-12

// etaRectangles writes the x×y block of nested rectangles of weight
// 1/(k+1)² around the centre used by the L2 Square attack, normalised to
// unit L2 norm (Andriushchenko et al. 2020, reference code).
func etaRectangles(dst []float64, x, y int) {
	clear(dst[:x*y])
	xc, yc := x/2+1, y/2+1
	c0, c1 := xc-1, yc-1
	for k := 0; k < max(xc, yc); k++ {
		w := 1 / float64((k+1)*(k+1))
		for a := max(c0, 0); a < min(c0+2*k+1, x); a++ {
			for b := max(c1, 0); b < min(c1+2*k+1, y); b++ {
				dst[a*y+b] += w
			}
		}
		c0--
		c1--
	}
	var s float64
	for _, v := range dst[:x*y] {
		s += v * v
	}
	if s > 0 {
		s = math.Sqrt(s)
		for i := range dst[:x*y] {
			dst[i] /= s
		}
	}
}

// pseudoGaussian returns the s×s "meta pseudo-Gaussian" perturbation of
// the L2 Square attack: +rectangles on the top half, −rectangles on the
// bottom half, unit L2 norm; transposed when the caller asks.
func pseudoGaussian(s int) (plain, transposed []float32) {
	top := make([]float64, s*s)
	bot := make([]float64, s*s)
	h1 := s / 2
	etaRectangles(top, h1, s)
	etaRectangles(bot, s-h1, s)
	d := make([]float64, s*s)
	copy(d, top[:h1*s])
	for i := 0; i < (s-h1)*s; i++ {
		d[h1*s+i] = -bot[i]
	}
	var n float64
	for _, v := range d {
		n += v * v
	}
	n = math.Sqrt(n)
	plain, transposed = make([]float32, s*s), make([]float32, s*s)
	for a := 0; a < s; a++ {
		for b := 0; b < s; b++ {
			plain[a*s+b] = float32(d[a*s+b] / n)
			transposed[b*s+a] = float32(d[a*s+b] / n)
		}
	}
	return plain, transposed
}

// pert returns the cached pseudo-Gaussian of size s, transposed at random.
func (w *work) pert(s int, rng *rand.Rand) []float32 {
	if w.perts == nil {
		w.perts = map[int][2][]float32{}
	}
	p, ok := w.perts[s]
	if !ok {
		a, b := pseudoGaussian(s)
		p = [2][]float32{a, b}
		w.perts[s] = p
	}
	if rng.Float64() > 0.5 {
		return p[1]
	}
	return p[0]
}

// squareL2 runs the L2 Square attack (Andriushchenko et al. 2020): from a
// grid of pseudo-Gaussian blocks with random signs scaled to norm eps, each
// query redistributes the perturbation of one window (and clears a second
// window) with a fresh pseudo-Gaussian block, keeping the total norm eps;
// a candidate is kept when the margin loss drops.
func (w *work) squareL2(ctx context.Context, j *job, p squareParams, rng *rand.Rand) error {
	w.activate(j, p.targeted)
	if len(w.act) == 0 {
		return nil
	}
	in := w.fwdIn()
	d := w.d
	hw := p.h * p.w
	// initial point: a grid of s0×s0 blocks, s0 = h/5
	s0 := max(p.h/5, 1)
	sp := (p.h - s0*5) / 2
	if sp < 0 {
		sp = 0
	}
	for _, i := range w.act {
		delta := w.row(w.gcur, i)
		clear(delta)
		for vh := sp; vh+s0 <= p.h; vh += s0 {
			for vw := sp; vw+s0 <= p.w; vw += s0 {
				blk := w.pert(s0, rng)
				for c := 0; c < p.c; c++ {
					sg := float32(1)
					if rng.IntN(2) == 0 {
						sg = -1
					}
					for a := 0; a < s0; a++ {
						for b := 0; b < s0; b++ {
							delta[c*hw+(vh+a)*p.w+vw+b] += sg * blk[a*s0+b]
						}
					}
				}
			}
		}
		w.applyL2(w.row(w.x, i), j.x0[i*d:(i+1)*d], delta, w.row(w.lo, i), w.row(w.hi, i), j.eps)
	}
	if err := w.squareFirst(ctx, j, in, p.targeted); err != nil {
		return err
	}
	side := min(p.h, p.w)
	for it := 1; it < p.queries && len(w.act) > 0; it++ {
		pp := pSelection(p.pInit, it, p.queries)
		s := max(int(math.Round(math.Sqrt(pp*float64(hw)))), 3)
		if s%2 == 0 {
			s++
		}
		s = min(s, side)
		for r, i := range w.act {
			x0 := j.x0[i*d : (i+1)*d]
			x := w.row(w.x, i)
			delta := w.row(w.gcur, i)
			for q := range delta {
				delta[q] = x[q] - x0[q]
			}
			vh, vw := rng.IntN(p.h-s+1), rng.IntN(p.w-s+1)
			vh2, vw2 := rng.IntN(p.h-s+1), rng.IntN(p.w-s+1)
			in1 := func(a, b int) bool { return a >= vh && a < vh+s && b >= vw && b < vw+s }
			in2 := func(a, b int) bool { return a >= vh2 && a < vh2+s && b >= vw2 && b < vw2+s }
			var normImg, normWin float64
			for c := 0; c < p.c; c++ {
				for a := 0; a < p.h; a++ {
					for b := 0; b < p.w; b++ {
						v := float64(delta[c*hw+a*p.w+b])
						normImg += v * v
						if in1(a, b) || in2(a, b) {
							normWin += v * v
						}
					}
				}
			}
			budget := math.Sqrt(max(j.eps*j.eps-normImg, 0)/float64(p.c) + normWin)
			blk := w.pert(s, rng)
			nw := w.gbest[:s*s] // scratch: the new window of one channel
			for c := 0; c < p.c; c++ {
				var n1 float64
				for a := 0; a < s; a++ {
					for b := 0; b < s; b++ {
						v := float64(delta[c*hw+(vh+a)*p.w+vw+b])
						n1 += v * v
					}
				}
				n1 = math.Sqrt(n1)
				sg := float32(1)
				if rng.IntN(2) == 0 {
					sg = -1
				}
				var nn float64
				for a := 0; a < s; a++ {
					for b := 0; b < s; b++ {
						v := sg*blk[a*s+b] + float32(float64(delta[c*hw+(vh+a)*p.w+vw+b])/(squareStabiliser+n1))
						nw[a*s+b] = v
						nn += float64(v) * float64(v)
					}
				}
				f := float32(budget / (math.Sqrt(nn) + squareStabiliser))
				for a := 0; a < p.h; a++ {
					for b := 0; b < p.w; b++ {
						if in2(a, b) {
							delta[c*hw+a*p.w+b] = 0
						}
					}
				}
				for a := 0; a < s; a++ {
					for b := 0; b < s; b++ {
						delta[c*hw+(vh+a)*p.w+vw+b] = nw[a*s+b] * f
					}
				}
			}
			w.applyL2(in[r*d:(r+1)*d], x0, delta, w.row(w.lo, i), w.row(w.hi, i), j.eps)
		}
		if err := w.squareStep(ctx, j, in, p.targeted); err != nil {
			return err
		}
	}
	return nil
}

// applyL2 writes x = clamp(x0 + eps·δ/‖δ‖₂) into dst and projects it onto
// the eps ball (float rounding).
func (w *work) applyL2(dst, x0, delta, lo, hi []float32, eps float64) {
	n := norm2(delta)
	f := float32(eps / (n + squareStabiliser))
	for q := range dst {
		dst[q] = x0[q] + f*delta[q]
	}
	clampBox(dst, lo, hi)
	projectL2(dst, x0, eps)
}

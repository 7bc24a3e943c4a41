package inversion

import "math"

// SSIM constants of Wang et al. 2004: C1 = (K1·L)², C2 = (K2·L)².
const (
	ssimK1 = 0.01
	ssimK2 = 0.03
)

// GlobalSSIM returns the single-window SSIM of a and b (Wang et al. 2004,
// eq. 13, over the whole vector, population variances) for dynamic range
// l: the comparison the ART MIFace reference in ../shared uses for 8×8
// images, which are too small for the usual 7×7 sliding window.
func GlobalSSIM(a, b []float32, l float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= n
	mb /= n
	var va, vb, cov float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		va += da * da
		vb += db * db
		cov += da * db
	}
	va /= n
	vb /= n
	cov /= n
	c1, c2 := (ssimK1*l)*(ssimK1*l), (ssimK2*l)*(ssimK2*l)
	return (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
}

// ImageSSIM is the mean over channels of GlobalSSIM of each channel plane
// (c planes of equal size; c = 1 for a flat vector).
func ImageSSIM(a, b []float32, c int, l float64) float64 {
	per := len(a) / c
	var s float64
	for k := 0; k < c; k++ {
		s += GlobalSSIM(a[k*per:(k+1)*per], b[k*per:(k+1)*per], l)
	}
	return s / float64(c)
}

// MSE returns the mean squared difference of a and b.
func MSE(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

// tvGrad adds w times a subgradient of the anisotropic total variation
// Σ |x[h+1,w] − x[h,w]| + |x[h,w+1] − x[h,w]| of each c×h×w image in x
// to g.
func tvGrad(g, x []float32, c, h, wd int, w float32) {
	if w == 0 {
		return
	}
	sign := func(v float32) float32 {
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return 0
	}
	for k := 0; k < c; k++ {
		p := x[k*h*wd : (k+1)*h*wd]
		q := g[k*h*wd : (k+1)*h*wd]
		for i := 0; i < h; i++ {
			for j := 0; j < wd; j++ {
				at := i*wd + j
				if i+1 < h {
					s := w * sign(p[at+wd]-p[at])
					q[at+wd] += s
					q[at] -= s
				}
				if j+1 < wd {
					s := w * sign(p[at+1]-p[at])
					q[at+1] += s
					q[at] -= s
				}
			}
		}
	}
}

// TV returns the anisotropic total variation of the c×h×w images in x.
func TV(x []float32, c, h, wd int) float64 {
	var s float64
	for k := 0; k < c; k++ {
		p := x[k*h*wd : (k+1)*h*wd]
		for i := 0; i < h; i++ {
			for j := 0; j < wd; j++ {
				if i+1 < h {
					s += math.Abs(float64(p[(i+1)*wd+j] - p[i*wd+j]))
				}
				if j+1 < wd {
					s += math.Abs(float64(p[i*wd+j+1] - p[i*wd+j]))
				}
			}
		}
	}
	return s
}

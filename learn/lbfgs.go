package learn

import "math"

// lbfgsMemory is the number of correction pairs L-BFGS keeps.
const lbfgsMemory = 10

// lbfgs minimises a smooth convex f from x0 with limited-memory BFGS
// (Nocedal & Wright 2006, algorithm 7.4) and a backtracking Armijo line
// search. f(grad, x) returns f(x) and, when grad is not nil, writes ∇f(x).
// It returns the last iterate; it is deterministic.
func lbfgs(f func(grad, x []float64) float64, x0 []float64, maxIter int, tol float64) []float64 {
	n := len(x0)
	x := append([]float64(nil), x0...)
	g := make([]float64, n)
	fx := f(g, x)
	s := make([][]float64, 0, lbfgsMemory)
	y := make([][]float64, 0, lbfgsMemory)
	rho := make([]float64, 0, lbfgsMemory)
	alpha := make([]float64, lbfgsMemory)
	dir := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	for it := 0; it < maxIter; it++ {
		if maxAbs(g) < tol {
			break
		}
		// Two-loop recursion: dir = −H·g.
		copy(dir, g)
		for i := len(s) - 1; i >= 0; i-- {
			alpha[i] = rho[i] * dot(s[i], dir)
			axpy(dir, -alpha[i], y[i])
		}
		gamma := 1.0
		if m := len(s); m > 0 {
			gamma = dot(s[m-1], y[m-1]) / dot(y[m-1], y[m-1])
		} else {
			gamma = 1 / math.Max(1, math.Sqrt(dot(g, g)))
		}
		for i := range dir {
			dir[i] *= gamma
		}
		for i := range s {
			b := rho[i] * dot(y[i], dir)
			axpy(dir, alpha[i]-b, s[i])
		}
		for i := range dir {
			dir[i] = -dir[i]
		}
		slope := dot(g, dir)
		if slope >= 0 { // not a descent direction: restart on −g
			s, y, rho = s[:0], y[:0], rho[:0]
			for i := range dir {
				dir[i] = -g[i]
			}
			slope = -dot(g, g)
		}
		step, fn := 1.0, 0.0
		ok := false
		for ls := 0; ls < 50; ls++ {
			for i := range xn {
				xn[i] = x[i] + step*dir[i]
			}
			fn = f(gn, xn)
			if fn <= fx+1e-4*step*slope {
				ok = true
				break
			}
			step /= 2
		}
		if !ok {
			break
		}
		var sk, yk []float64
		if len(s) == lbfgsMemory {
			sk, yk = s[0], y[0]
			s, y, rho = s[1:], y[1:], rho[1:]
		} else {
			sk, yk = make([]float64, n), make([]float64, n)
		}
		for i := range sk {
			sk[i] = xn[i] - x[i]
			yk[i] = gn[i] - g[i]
		}
		if sy := dot(sk, yk); sy > 1e-12 {
			s, y, rho = append(s, sk), append(y, yk), append(rho, 1/sy)
		}
		decrease := fx - fn
		copy(x, xn)
		copy(g, gn)
		fx = fn
		if decrease <= 1e-15*math.Max(1, math.Abs(fx)) {
			break
		}
	}
	return x
}

func axpy(dst []float64, a float64, x []float64) {
	for i, v := range x {
		dst[i] += a * v
	}
}

func maxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

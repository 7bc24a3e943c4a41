package stats

import (
	"cmp"
	"slices"
)

// Names of the multiple-comparison corrections of AdjustP.
const (
	BenjaminiHochberg = "bh"
	Holm              = "holm"
)

// AdjustP writes into dst the adjusted p-values of p under the correction
// method (BenjaminiHochberg: the false discovery rate step-up adjustment of
// Benjamini & Hochberg 1995; Holm: Holm's 1979 step-down adjustment of the
// family-wise error rate), as R's p.adjust computes them: a hypothesis is
// rejected at level α when its adjusted p-value is at most α. dst and p
// have the same length (the family: every test done); adjusted values are
// capped at 1. It returns dst. An unknown method leaves dst equal to p.
func AdjustP(dst, p []float64, method string) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	switch method {
	case BenjaminiHochberg:
		// adj(i) = min over j ≥ i of m/j · p(j), ranks j from 1.
		run := 1.0
		for r := m - 1; r >= 0; r-- {
			run = min(run, float64(m)/float64(r+1)*p[order[r]])
			dst[order[r]] = run
		}
	case Holm:
		// adj(i) = max over j ≤ i of (m − j + 1) · p(j).
		run := 0.0
		for r := 0; r < m; r++ {
			run = max(run, min(1, float64(m-r)*p[order[r]]))
			dst[order[r]] = run
		}
	default:
		copy(dst, p)
	}
	return dst
}

package learn

import (
	"cmp"
	"math"
	"slices"
)

// ROC is the receiver operating characteristic of a scoring rule: one point
// per distinct score (thresholds "score >= t", highest first), after the
// starting point (0, 0). It is the curve scikit-learn's
// roc_curve(drop_intermediate=False) returns.
type ROC struct {
	// P and N are the numbers of positives and negatives.
	P, N int
	// TP and FP are the cumulative counts at each point; TP[0] = FP[0] = 0.
	TP, FP []int
	// Threshold[i] is the score of point i (+Inf for the starting point).
	Threshold []float64
}

// NewROC builds the ROC of scores against labels (true = positive).
// Equal scores form one point, so ties count 1/2 in the AUC. idx is
// scratch of len(scores) (nil: allocated). Scores must not be NaN.
func NewROC(scores []float64, labels []bool, idx []int) *ROC {
	n := len(scores)
	if len(idx) < n {
		idx = make([]int, n)
	}
	idx = idx[:n]
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	r := &ROC{TP: []int{0}, FP: []int{0}, Threshold: []float64{math.Inf(1)}}
	tp, fp := 0, 0
	for i := 0; i < n; {
		s := scores[idx[i]]
		for ; i < n && scores[idx[i]] == s; i++ {
			if labels[idx[i]] {
				tp++
			} else {
				fp++
			}
		}
		r.TP = append(r.TP, tp)
		r.FP = append(r.FP, fp)
		r.Threshold = append(r.Threshold, s)
	}
	r.P, r.N = tp, fp
	return r
}

// Defined reports whether both classes are present, so rates are defined.
func (r *ROC) Defined() bool { return r.P > 0 && r.N > 0 }

// AUC returns the area under the curve: the probability that a random
// positive scores above a random negative, ties counting 1/2 (the
// Mann-Whitney statistic, scikit-learn's roc_auc_score). It sums exact
// integer products, so it does not depend on summation order.
func (r *ROC) AUC() float64 {
	var s float64 // Σ over groups: fp_g · (tp_before + tp_g/2), times 2
	for i := 1; i < len(r.TP); i++ {
		dfp := r.FP[i] - r.FP[i-1]
		s += float64(dfp) * float64(r.TP[i-1]+r.TP[i])
	}
	return s / (2 * float64(r.P) * float64(r.N))
}

// Advantage returns max over the points of TPR − FPR (the membership
// advantage of Yeom et al. 2018 at the best threshold) and that point.
func (r *ROC) Advantage() (adv float64, point int) {
	for i := range r.TP {
		if a := r.tpr(i) - r.fpr(i); a > adv || i == 0 {
			adv, point = a, i
		}
	}
	return adv, point
}

// TPRAt returns the point with the largest TPR among those with
// FPR <= fpr (the starting point at worst): TP counts TP[point] of P.
func (r *ROC) TPRAt(fpr float64) (point int) {
	// FP/N <= fpr in float64, as scikit-learn's fpr array is compared.
	for i := range r.FP {
		if r.fpr(i) <= fpr {
			point = i
		}
	}
	return point
}

func (r *ROC) tpr(i int) float64 { return float64(r.TP[i]) / float64(r.P) }
func (r *ROC) fpr(i int) float64 { return float64(r.FP[i]) / float64(r.N) }

// Point is one (FPR, TPR) point of a downsampled ROC curve, with its
// threshold (null for the starting point's +Inf).
type Point struct {
	FPR       float64  `json:"fpr"`
	TPR       float64  `json:"tpr"`
	Threshold *float64 `json:"threshold"`
}

// Downsample returns at most about 2·n points of the curve: for each FPR
// grid value (n log-spaced values from 1/N to 1 and n evenly spaced ones)
// the point with the highest TPR at or below it, plus both ends. The
// log-spaced half keeps the low-FPR region that privacy audits read.
func (r *ROC) Downsample(n int) []Point {
	if !r.Defined() || n < 2 {
		return nil
	}
	keep := map[int]bool{0: true, len(r.TP) - 1: true}
	lo := math.Log(1 / float64(r.N))
	for k := 0; k < n; k++ {
		f := float64(k) / float64(n-1)
		keep[r.TPRAt(math.Exp(lo*(1-f)))] = true
		keep[r.TPRAt(f)] = true
	}
	pts := make([]Point, 0, len(keep))
	for i := range r.TP {
		if !keep[i] {
			continue
		}
		p := Point{FPR: r.fpr(i), TPR: r.tpr(i)}
		if t := r.Threshold[i]; !math.IsInf(t, 0) {
			p.Threshold = &t
		}
		pts = append(pts, p)
	}
	return pts
}

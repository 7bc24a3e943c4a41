package learn

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// Scores are the per-sample quantities the threshold attacks rank on, all
// oriented so that higher means "more likely a member", computed in
// float64 from one row of float32 logits without cancellation: with
// d = z − max z and s = Σ_{j≠argmax} exp(d_j), log p_c = d_c − log1p(s), so
// the tiny losses of very confident rows stay distinct instead of tying.
type Scores struct {
	// LogPY is log p_y: minus the cross-entropy loss (Yeom et al. 2018).
	LogPY float64
	// LogConf is log max_c p_c = −log1p(s): rank-equivalent to the max
	// softmax confidence, label-free.
	LogConf float64
	// NegEntropy is Σ_c p_c log p_c = −H(p), label-free.
	NegEntropy float64
	// NegMEntropy is minus the modified entropy of Song & Mittal 2021:
	// (1 − p_y) log p_y + Σ_{c≠y} p_c log(1 − p_c).
	NegMEntropy float64
	// Phi is the LiRA logit-scaled confidence log p_y − log(1 − p_y) =
	// z_y − logsumexp_{j≠y} z_j (Carlini et al. 2022).
	Phi float64
	// Correct reports whether argmax z = y (ties to the lowest index).
	Correct bool
}

// Logits converts one output row to logits in dst (len(row)): a copy when
// probs is false, log p otherwise, with p floored at the smallest normal
// float32 so that log stays finite (softmax of log p is p again).
func Logits(dst []float64, row []float32, probs bool) {
	for j, v := range row {
		if probs {
			dst[j] = math.Log(max(float64(v), 0x1p-126))
		} else {
			dst[j] = float64(v)
		}
	}
}

// Compute fills s from the logits z (len C ≥ 2) and the label y. It
// allocates nothing.
func (s *Scores) Compute(z []float64, y int) {
	c := len(z)
	a := stats.Argmax(z)
	var sum float64 // Σ_{j≠a} exp(z_j − z_a)
	for j := 0; j < c; j++ {
		if j != a {
			sum += math.Exp(z[j] - z[a])
		}
	}
	l1p := math.Log1p(sum)
	s.Correct = a == y
	s.LogPY = z[y] - z[a] - l1p
	s.LogConf = -l1p
	var ent, ment float64
	for j := 0; j < c; j++ {
		lp := z[j] - z[a] - l1p
		p := math.Exp(lp)
		ent += p * lp
		if j != y {
			// log(1 − p_j): for the top class, log Σ_{i≠a} e^{z_i−z_a} −
			// log1p(s), the sum shifted by its own maximum so that it
			// never underflows; for any other class p_j ≤ ½
			// and log1p(−p_j) keeps it exact when p_j is tiny (a plain
			// log(1 + …) − log1p(s) rounds it to 0 on confident rows).
			var l1mp float64
			if j == a {
				l1mp = logSumExpExcept(z, a) - z[a] - l1p
			} else {
				l1mp = math.Log1p(-p)
			}
			ment += p * l1mp
		}
	}
	s.NegEntropy = ent
	// (1 − p_y) log p_y with 1 − p_y = −expm1(log p_y), exact when p_y
	// rounds to 1.
	s.NegMEntropy = -math.Expm1(s.LogPY)*s.LogPY + ment
	s.Phi = z[y] - logSumExpExcept(z, y)
}

// logSumExpExcept returns log Σ_{j≠skip} exp(z_j), shifted by its own
// maximum so it never underflows to −Inf.
func logSumExpExcept(z []float64, skip int) float64 {
	m := math.Inf(-1)
	for j, v := range z {
		if j != skip && v > m {
			m = v
		}
	}
	var sum float64
	for j, v := range z {
		if j != skip {
			sum += math.Exp(v - m)
		}
	}
	return m + math.Log(sum)
}

// Softmax writes the softmax of the logits z into dst (len(z)).
func Softmax(dst, z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	var s float64
	for j, v := range z {
		dst[j] = math.Exp(v - m)
		s += dst[j]
	}
	for j := range dst[:len(z)] {
		dst[j] /= s
	}
}

// LogSoftmax writes log softmax(z) into dst (len(z)), as d − log1p(s).
func LogSoftmax(dst, z []float64) {
	a := stats.Argmax(z)
	var s float64
	for j, v := range z {
		if j != a {
			s += math.Exp(v - z[a])
		}
	}
	l := math.Log1p(s)
	for j, v := range z {
		dst[j] = v - z[a] - l
	}
}

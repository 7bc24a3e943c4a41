package learn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// DefaultL2 is the default L2 penalty of the attack classifier, on the
// mean cross-entropy over standardised features (scikit-learn's
// LogisticRegression default C = 1 on n samples is λ = 1/n; a fixed small
// λ keeps folds of different sizes comparable).
const DefaultL2 = 1e-3

// maxIter bounds the L-BFGS iterations of one fit.
const maxIter = 500

// gradTol stops L-BFGS when the gradient's max norm falls below it.
const gradTol = 1e-7

// Classifier is an L2-regularised multinomial logistic regression
// (softmax regression) on standardised features: the stopgap attack model
// of the membership `learned` attack and of attribute inference.
type Classifier struct {
	K, D      int
	W         []float64 // K×(D+1), row k = weights of class k, bias last
	Mean, Std []float64 // feature standardisation fitted on the training rows
}

// Fit trains a classifier on the rows of x (n×d, row-major) listed in rows,
// with labels y in [0, k). It is deterministic: it starts from zero weights
// and runs L-BFGS on a convex objective.
func Fit(x []float64, d int, y []int, k int, rows []int, l2 float64) (*Classifier, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("attack classifier: no training rows")
	}
	c := &Classifier{K: k, D: d}
	c.Mean, c.Std = standardisation(x, d, rows)
	xs := make([]float64, len(rows)*(d+1)) // standardised, with a 1 for the bias
	for r, i := range rows {
		for j := 0; j < d; j++ {
			xs[r*(d+1)+j] = (x[i*d+j] - c.Mean[j]) / c.Std[j]
		}
		xs[r*(d+1)+d] = 1
	}
	n := float64(len(rows))
	p := make([]float64, k)
	obj := func(grad, w []float64) float64 {
		if grad != nil {
			clear(grad)
		}
		var loss float64
		for r, i := range rows {
			xr := xs[r*(d+1) : (r+1)*(d+1)]
			m := math.Inf(-1)
			for kk := 0; kk < k; kk++ {
				p[kk] = dot(w[kk*(d+1):(kk+1)*(d+1)], xr)
				m = max(m, p[kk])
			}
			var s float64
			for kk := range p {
				p[kk] = math.Exp(p[kk] - m)
				s += p[kk]
			}
			loss -= math.Log(p[y[i]] / s)
			if grad == nil {
				continue
			}
			for kk := range p {
				g := p[kk] / s
				if kk == y[i] {
					g--
				}
				gk := grad[kk*(d+1) : (kk+1)*(d+1)]
				for j, v := range xr {
					gk[j] += g * v
				}
			}
		}
		loss /= n
		for kk := 0; kk < k; kk++ {
			for j := 0; j < d; j++ { // no penalty on the bias
				v := w[kk*(d+1)+j]
				loss += 0.5 * l2 * v * v
			}
		}
		if grad != nil {
			for kk := 0; kk < k; kk++ {
				for j := 0; j <= d; j++ {
					grad[kk*(d+1)+j] /= n
					if j < d {
						grad[kk*(d+1)+j] += l2 * w[kk*(d+1)+j]
					}
				}
			}
		}
		return loss
	}
	c.W = lbfgs(obj, make([]float64, k*(d+1)), maxIter, gradTol)
	return c, nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// Prob writes the class probabilities of one row x (len D) into dst (len K).
func (c *Classifier) Prob(dst, x []float64) {
	d := c.D
	m := math.Inf(-1)
	for k := 0; k < c.K; k++ {
		w := c.W[k*(d+1) : (k+1)*(d+1)]
		s := w[d]
		for j := 0; j < d; j++ {
			s += w[j] * (x[j] - c.Mean[j]) / c.Std[j]
		}
		dst[k] = s
		m = max(m, s)
	}
	var s float64
	for k := range dst[:c.K] {
		dst[k] = math.Exp(dst[k] - m)
		s += dst[k]
	}
	for k := range dst[:c.K] {
		dst[k] /= s
	}
}

// Folds assigns each of the len(y) samples to one of k folds, stratified by
// label: each class's samples are shuffled with rng and dealt round-robin,
// continuing where the previous class stopped, so fold sizes differ by at
// most one.
func Folds(y []int, classes, k int, rng *rand.Rand) []int {
	fold := make([]int, len(y))
	byClass := make([][]int, classes)
	for i, v := range y {
		byClass[v] = append(byClass[v], i)
	}
	next := 0
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			fold[i] = next % k
			next++
		}
	}
	return fold
}

// Model is a trained attack classifier.
type Model interface {
	// Prob writes the class probabilities of one row x (len D) into dst.
	Prob(dst, x []float64)
}

// Trainer fits an attack classifier on the rows of x (n×d) listed in rows,
// labels y in [0, k). seed feeds any randomness the trainer needs.
type Trainer func(x []float64, d int, y []int, k int, rows []int, seed uint64) (Model, error)

// Logistic returns a Trainer for Fit with L2 penalty l2 (it needs no seed).
func Logistic(l2 float64) Trainer {
	return func(x []float64, d int, y []int, k int, rows []int, _ uint64) (Model, error) {
		return Fit(x, d, y, k, rows, l2)
	}
}

// CrossValidate returns out-of-fold class probabilities (n×classes): each
// sample is scored by the classifier trained on the other folds. Fold f
// trains with seed seeds(f).
// It stops between folds when ctx is cancelled.
func CrossValidate(ctx context.Context, x []float64, d int, y []int, classes int, fold []int, k int, train Trainer, seed uint64) ([]float64, error) {
	n := len(y)
	out := make([]float64, n*classes)
	for f := 0; f < k; f++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var tr, test []int
		for i := 0; i < n; i++ {
			if fold[i] == f {
				test = append(test, i)
			} else {
				tr = append(tr, i)
			}
		}
		if len(test) == 0 {
			continue
		}
		c, err := train(x, d, y, classes, tr, seed+uint64(f))
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f, err)
		}
		for _, i := range test {
			c.Prob(out[i*classes:(i+1)*classes], x[i*d:(i+1)*d])
		}
	}
	return out, nil
}

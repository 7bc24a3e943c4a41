// Package certify implements the certify suite: randomized smoothing for the
// L2 norm (Cohen, Rosenfeld & Kolter 2019). The smoothed classifier
// g(x) = argmax_c P(f(x+δ) = c), δ ~ N(0, σ²I), is certified at each
// evaluation sample by Monte Carlo: n₀ noisy copies select the top class,
// n more estimate a one-sided Clopper-Pearson lower bound pA on its
// probability at confidence 1−α, and the sample is certified at L2 radius
// σ·Φ⁻¹(pA) when pA ≥ 1/2 (it abstains otherwise). The noisy copies run
// through the model as it is, as batch rows; no retraining.
package certify

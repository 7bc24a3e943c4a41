#!/usr/bin/env python3
"""Reference figures for stats.BCaCI and stats.Acceleration (interval_test.go).

Standard library only (statistics.NormalDist for the normal CDF and its
inverse): run `python3 stats/testdata/bca_reference.py` and compare with the
constants in stats/interval_test.go.

Formulas: Efron, "Better bootstrap confidence intervals", JASA 82 (1987);
Efron & Tibshirani, An Introduction to the Bootstrap (1993), §14.3:
  z0 = Φ⁻¹(p0), p0 = (#{θ* < θ̂} + ½ #{θ* = θ̂}) / B   (mid-rank, as scipy.stats.bootstrap)
  αj = Φ(z0 + (z0 + zj) / (1 − a (z0 + zj)))
  interval = quantiles αj of the replicates (linear interpolation, numpy's default)
  a = Σ d³ / (6 (Σ d²)^{3/2}), d = mean of the jackknife values − each value.
The acceleration is computed here by brute force: every row is deleted in
turn from the expanded sample (no grouping by equal rows), and for several
strata from the influence form
  a = (1/6) Σ_s n_s⁻³ Σ_j l_j³ / (Σ_s n_s⁻² Σ_j l_j²)^{3/2},  l_j = (n_s − 1)(mean_s − θ̂_(−j)).
"""
from statistics import NormalDist

N = NormalDist()


def quantile(sorted_vals, q):
    """numpy.percentile's linear interpolation (Hyndman & Fan type 7)."""
    h = (len(sorted_vals) - 1) * q
    lo = int(h // 1)
    if lo >= len(sorted_vals) - 1:
        return sorted_vals[-1]
    return sorted_vals[lo] + (h - lo) * (sorted_vals[lo + 1] - sorted_vals[lo])


def bca(reps, est, a, level):
    s = sorted(reps)
    below = sum(1 for v in s if v < est)
    at_or_below = sum(1 for v in s if v <= est)
    p0 = (below + at_or_below) / (2 * len(s))
    z0 = N.inv_cdf(p0)

    def level_of(z):
        w = z0 + z
        return N.cdf(z0 + w / (1 - a * w))

    a1 = level_of(N.inv_cdf((1 - level) / 2))
    a2 = level_of(N.inv_cdf((1 + level) / 2))
    return z0, a1, a2, quantile(s, a1), quantile(s, a2)


def plugin_variance(xs):
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


def accel_one_sample(rows, stat):
    loo = [stat(rows[:i] + rows[i + 1:]) for i in range(len(rows))]
    m = sum(loo) / len(loo)
    d = [m - v for v in loo]
    return sum(x ** 3 for x in d) / (6 * sum(x ** 2 for x in d) ** 1.5)


def accel_strata(strata, stat):
    """stat takes the list of strata (lists of rows)."""
    num = den = 0.0
    for s, rows in enumerate(strata):
        n = len(rows)
        loo = []
        for i in range(n):
            cut = [list(r) for r in strata]
            cut[s] = rows[:i] + rows[i + 1:]
            loo.append(stat(cut))
        m = sum(loo) / n
        ls = [(n - 1) * (m - v) for v in loo]
        num += sum(l ** 3 for l in ls) / n ** 3
        den += sum(l ** 2 for l in ls) / n ** 2
    return num / (6 * den ** 1.5)


def main():
    # BCaCI: 20 replicates, estimate 0.30 (two replicates tie with it),
    # acceleration 0.05, level 0.90.
    reps = [0.31, 0.45, 0.22, 0.38, 0.30, 0.52, 0.41, 0.36, 0.29, 0.47,
            0.33, 0.30, 0.58, 0.44, 0.27, 0.39, 0.35, 0.61, 0.42, 0.34]
    z0, a1, a2, lo, hi = bca(reps, 0.30, 0.05, 0.90)
    print(f"bca: z0 {z0!r} alpha1 {a1!r} alpha2 {a2!r} lo {lo!r} hi {hi!r}")
    # Negative acceleration, 95 %.
    z0, a1, a2, lo, hi = bca(reps, 0.40, -0.08, 0.95)
    print(f"bca(est .40, a -.08, .95): z0 {z0!r} alpha1 {a1!r} alpha2 {a2!r} lo {lo!r} hi {hi!r}")

    # Acceleration, one stratum: the plug-in variance of 8 rows, three of
    # which are 7 (Go passes the distinct values with their counts).
    rows = [1.0, 2.0, 2.0, 3.0, 7.0, 7.0, 7.0, 10.0]
    print(f"accel variance: {accel_one_sample(rows, plugin_variance)!r}")

    # Acceleration, two strata: the difference of proportions p1 − p2 with
    # stratum 1 = 2 ones in 5 rows, stratum 2 = 7 ones in 8 rows. For a
    # difference of means the jackknife influence values are exact
    # (l = x − p), so a equals the closed form skewness/6 of p̂1 − p̂2:
    # κ3 = p1q1(1−2p1)/n1² − p2q2(1−2p2)/n2², κ2 = p1q1/n1 + p2q2/n2.
    s1 = [1, 1, 0, 0, 0]
    s2 = [1, 1, 1, 1, 1, 1, 1, 0]
    diff = lambda st: sum(st[0]) / len(st[0]) - sum(st[1]) / len(st[1])
    p1, n1, p2, n2 = 2 / 5, 5, 7 / 8, 8
    k3 = p1 * (1 - p1) * (1 - 2 * p1) / n1 ** 2 - p2 * (1 - p2) * (1 - 2 * p2) / n2 ** 2
    k2 = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    print(f"accel two strata: brute force {accel_strata([s1, s2], diff)!r} closed form {k3 / (6 * k2 ** 1.5)!r}")


if __name__ == "__main__":
    main()

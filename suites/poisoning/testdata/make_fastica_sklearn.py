#!/usr/bin/env python3
"""make_fastica_sklearn writes scikit-learn FastICA results for poisoning's FastICA test.

The data are scikit-learn's blind source separation demo
(examples/decomposition/plot_ica_blind_source_separation.py) at 500 samples
instead of 2000: np.random.seed(0), t = linspace(0, 8, 500), sources
sin(2t), sign(sin(3t)) and sawtooth(2*pi*t) plus 0.2*N(0, 1) noise, each
scaled to unit standard deviation, mixed by A = [[1, 1, 1], [0.5, 2, 1],
[1.5, 1, 2]]. FastICA(algorithm="parallel", fun="logcosh",
whiten="unit-variance", whiten_solver="svd", tol=1e-4, max_iter=200) runs
with n_components 3 and 2, its w_init drawn by np.random.default_rng(1).
A second set stands in for one class's activations: 200 rows of 8
standard normal values from np.random.default_rng(2), every 20th row
shifted by 3 (a poisoned sub-cluster), reduced to 4 components (w_init from
the same generator); it takes more iterations.

  fastica_x.npy      float64 [500, 3]  the mixtures
  fastica_w3.npy     float64 [3, 3]    w_init, n_components=3
  fastica_s3.npy     float64 [500, 3]  fit_transform, n_components=3
  fastica_w2.npy     float64 [2, 2]    w_init, n_components=2
  fastica_s2.npy     float64 [500, 2]  fit_transform, n_components=2
  fastica_act.npy    float64 [200, 8]  the activation stand-in
  fastica_act_w.npy  float64 [4, 4]    its w_init
  fastica_act_s.npy  float64 [200, 4]  its fit_transform, n_components=4
  fastica_iter.npy   int64   [3]       n_iter_ for 3 and 2 components and the activations

Run from the repository root: /usr/bin/python3 suites/poisoning/testdata/make_fastica_sklearn.py
(Debian's python3-sklearn, scikit-learn 1.2.1, numpy 1.24.2, scipy 1.10.1).
"""
import os

import numpy as np
from scipy import signal
from sklearn.decomposition import FastICA

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    np.random.seed(0)
    n = 500
    t = np.linspace(0, 8, n)
    s = np.c_[np.sin(2 * t), np.sign(np.sin(3 * t)), signal.sawtooth(2 * np.pi * t)]
    s += 0.2 * np.random.normal(size=s.shape)
    s /= s.std(axis=0)
    a = np.array([[1, 1, 1], [0.5, 2, 1.0], [1.5, 1.0, 2.0]])
    x = np.dot(s, a.T)
    np.save(os.path.join(HERE, "fastica_x.npy"), x)
    rng = np.random.default_rng(1)
    iters = []
    for k in (3, 2):
        w = rng.normal(size=(k, k))
        ica = FastICA(n_components=k, algorithm="parallel", fun="logcosh", whiten="unit-variance",
                      whiten_solver="svd", tol=1e-4, max_iter=200, w_init=w)
        out = ica.fit_transform(x)
        np.save(os.path.join(HERE, "fastica_w%d.npy" % k), w)
        np.save(os.path.join(HERE, "fastica_s%d.npy" % k), out)
        iters.append(ica.n_iter_)
        print("n_components %d: n_iter_ %d" % (k, ica.n_iter_))
    rng = np.random.default_rng(2)
    act = rng.standard_normal((200, 8))
    act[::20] += 3
    w = rng.normal(size=(4, 4))
    ica = FastICA(n_components=4, algorithm="parallel", fun="logcosh", whiten="unit-variance",
                  whiten_solver="svd", tol=1e-4, max_iter=200, w_init=w)
    out = ica.fit_transform(act)
    np.save(os.path.join(HERE, "fastica_act.npy"), act)
    np.save(os.path.join(HERE, "fastica_act_w.npy"), w)
    np.save(os.path.join(HERE, "fastica_act_s.npy"), out)
    iters.append(ica.n_iter_)
    print("activations, n_components 4: n_iter_ %d" % ica.n_iter_)
    np.save(os.path.join(HERE, "fastica_iter.npy"), np.array(iters, dtype=np.int64))


if __name__ == "__main__":
    main()

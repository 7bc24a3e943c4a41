#!/usr/bin/python3
"""Reference figures of Sign-OPT for TestSignOPTART.

ART 1.18.2's SignOPTAttack (art/attacks/evasion/sign_opt.py at tag 1.18.2,
commit 902148575d9593120629371d3be40d2a42838bb9, MIT licence: the notice is
below) is copied here, as ART is not installed: the untargeted paths of
_fine_grained_binary_search (lines 231-282), _fine_grained_binary_search_local
(284-342), _is_label (344-356), _sign_grad (370-408) and _attack (410-584)
with its defaults (k 200, alpha 0.2, beta 0.001, epsilon 0.001, num_trial
100), unchanged but for the lines marked "peer:", which record, after every
improvement of the initial direction and after every iteration, the queries
spent on the sample and the distance of its point clip(x0 + g·θ) to x0.
The estimator, query counting, budgets, cases and the interleaved gauntlet
runs are those of peer_hopskipjump.py (imported from beside this file); N
and SEEDS are below. Per budget B and sample, best@B is the distance of the best point
within B queries: Gauntlet's median_norm@B. Writes peer_signopt.json.

  go build -o bin/gauntlet ./cmd/gauntlet
  ONNXRUNTIME_SHARED_LIBRARY_PATH=.ort/libonnxruntime.so.1 \\
    /usr/bin/python3 suites/evasion/testdata/peer_signopt.py

MIT License

Copyright (C) The Adversarial Robustness Toolbox (ART) Authors 2022

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_hopskipjump as hsj  # noqa: E402

# N and SEEDS are smaller than HopSkipJump's by time: ART's Sign-OPT predicts
# one point per call (its k = 200 direction queries too), several times
# HopSkipJump's CPU time per digit on the machine this ran on.
N = int(os.environ.get("PEER_N", "20"))
SEEDS = [0, 1]
BUDGETS, CASES, MODELS = hsj.BUDGETS, hsj.CASES, hsj.MODELS


class SignOPT:
    """ART 1.18.2's SignOPTAttack, untargeted, clip_values (0, 1)."""

    def __init__(self, estimator, epsilon=0.001, num_trial=100, max_iter=1000, query_limit=20000, k=200,
                 alpha=0.2, beta=0.001, batch_size=64):
        self.estimator = estimator
        self.targeted = False
        self.epsilon, self.num_trial, self.max_iter, self.query_limit = epsilon, num_trial, max_iter, query_limit
        self.k, self.alpha, self.beta, self.batch_size = k, alpha, beta, batch_size
        self.clip_min, self.clip_max = estimator.clip_values
        self.enable_clipped = True
        self.record = None  # peer: record(theta, g) after each improvement

    def _fine_grained_binary_search(self, x_0, y_0, theta, initial_lbd, current_best, target=None):
        tolerate = 1e-3
        nquery = 0
        if initial_lbd > current_best:
            if self._is_label(x_0 + current_best * theta, y_0):
                nquery += 1
                return float("inf"), nquery
            lbd = current_best
        else:
            lbd = initial_lbd
        lbd_hi = lbd
        lbd_lo = 0.0
        while (lbd_hi - lbd_lo) > tolerate:
            lbd_mid = (lbd_lo + lbd_hi) / 2.0
            nquery += 1
            if not self._is_label(x_0 + lbd_mid * theta, y_0):
                lbd_hi = lbd_mid
            else:
                lbd_lo = lbd_mid
        return lbd_hi, nquery

    def _fine_grained_binary_search_local(self, x_0, y_0, theta, target=None, initial_lbd=1.0, tol=1e-5):
        nquery = 0
        lbd = initial_lbd
        if self._is_label(x_0 + lbd * theta, y_0):
            lbd_lo = lbd
            lbd_hi = lbd * 1.01
            nquery += 1
            while self._is_label(x_0 + lbd_hi * theta, y_0):
                lbd_hi = lbd_hi * 1.01
                nquery += 1
                if lbd_hi > 20:
                    return float("inf"), nquery
        else:
            lbd_hi = lbd
            lbd_lo = lbd * 0.99
            nquery += 1
            while not self._is_label(x_0 + lbd_lo * theta, y_0):
                lbd_lo = lbd_lo * 0.99
                nquery += 1
        while (lbd_hi - lbd_lo) > tol:
            lbd_mid = (lbd_lo + lbd_hi) / 2.0
            nquery += 1
            if not self._is_label(x_0 + lbd_mid * theta, y_0):
                lbd_hi = lbd_mid
            else:
                lbd_lo = lbd_mid
        return lbd_hi, nquery

    def _is_label(self, x_0, label):
        if self.enable_clipped:
            x_0 = np.clip(x_0, self.clip_min, self.clip_max)
        pred = self.estimator.predict(np.expand_dims(x_0, axis=0), batch_size=self.batch_size)
        pred_y0 = np.argmax(pred)
        return pred_y0 == label

    def _sign_grad(self, x_0, y_0, epsilon, theta, initial_lbd, target):
        sign_grad = np.zeros(theta.shape).astype(np.float32)
        queries = 0
        for _ in range(self.k):
            u_g = np.random.randn(*theta.shape).astype(np.float32)
            u_g /= np.linalg.norm(u_g)
            new_theta = theta + epsilon * u_g
            new_theta /= np.linalg.norm(new_theta)
            sign = 1
            if not self._is_label(x_0 + initial_lbd * new_theta, y_0):
                sign = -1
            queries += 1
            sign_grad += u_g * sign
        sign_grad /= self.k
        return sign_grad, queries

    def _attack(self, x_0, y_0, target=None, x_init=None, distortion=None):
        query_count = 0
        ls_total = 0
        num_directions = self.num_trial
        best_theta, g_theta = np.zeros((0, 0)), float("inf")
        for i in range(num_directions):
            query_count += 1
            theta = np.random.randn(*x_0.shape).astype(np.float32)
            if not self._is_label(x_0 + theta, y_0):
                initial_lbd = np.linalg.norm(theta).item()
                theta /= initial_lbd
                lbd, count = self._fine_grained_binary_search(x_0, y_0, theta, initial_lbd, g_theta)
                query_count += count
                if lbd < g_theta:
                    best_theta, g_theta = theta, lbd
                    self.record(best_theta, g_theta)  # peer
        if g_theta == float("inf"):
            return x_0, np.zeros((0, 0)), False
        query_limit = self.query_limit
        alpha = self.alpha
        beta = self.beta
        x_g, g_g = best_theta, g_theta
        distortions = [g_g]
        iterations = self.max_iter
        for i in range(iterations):
            sign_gradient, grad_queries = self._sign_grad(x_0, y_0, self.epsilon, x_g, g_g, target)
            ls_count = 0
            min_theta = x_g
            min_g2 = g_g
            for _ in range(15):
                new_theta = x_g - alpha * sign_gradient
                new_theta /= np.linalg.norm(new_theta)
                new_g2, count = self._fine_grained_binary_search_local(
                    x_0, y_0, new_theta, target, initial_lbd=min_g2, tol=beta / 500)
                ls_count += count
                alpha = alpha * 2
                if new_g2 < min_g2:
                    min_theta = new_theta
                    min_g2 = new_g2
                else:
                    break
            if min_g2 >= g_g:
                for _ in range(15):
                    alpha = alpha * 0.25
                    new_theta = x_g - alpha * sign_gradient
                    new_theta /= np.linalg.norm(new_theta)
                    new_g2, count = self._fine_grained_binary_search_local(
                        x_0, y_0, new_theta, target, initial_lbd=min_g2, tol=beta / 500)
                    ls_count += count
                    if new_g2 < g_g:
                        min_theta = new_theta
                        min_g2 = new_g2
                        break
            if alpha < 1e-4:
                alpha = 1.0
                beta = beta * 0.1
                if beta < 1e-8:
                    break
            x_g, g_g = min_theta, min_g2
            self.record(x_g, g_g)  # peer
            query_count += grad_queries + ls_count
            ls_total += ls_count
            distortions.append(g_g)
            if query_count > query_limit:
                break
        return np.clip(x_0 + g_g * x_g, self.clip_min, self.clip_max), g_g * x_g, True


def attack_one(est, x, y):
    est.queries, est.limit = 0, BUDGETS[-1]
    y_p = int(np.argmax(est.predict(x[None]), axis=1)[0])  # generate's clean prediction: one query
    if y_p != y:
        return None
    best = [float("inf")] * len(BUDGETS)
    so = SignOPT(est)

    def record(theta, g):
        d = float(np.linalg.norm((np.clip(x + g * theta, 0, 1) - x).ravel()))
        for b, B in enumerate(BUDGETS):
            if est.queries <= B:
                best[b] = min(best[b], d)
    so.record = record
    try:
        so._attack(x, y_p)
    except hsj.OutOfBudget:
        pass
    return best, est.queries


def main():
    import torch
    from peer import rebuild
    torch.set_num_threads(1)
    x = np.load(os.path.join(hsj.VISION, "mnist_test_x.npy"))[:N].astype(np.float32)
    y = np.load(os.path.join(hsj.VISION, "mnist_test_y.npy"))[:N]
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    out = {"n": N, "budgets": BUDGETS, "seeds": SEEDS, "art": "1.18.2 (902148575d9593120629371d3be40d2a42838bb9)",
           "threads": 1, "cases": {}}
    for name, norm in CASES:
        model = rebuild(MODELS[name]).eval()
        est = hsj.Estimator(model, (1, 28, 28), 10)
        key = f"{name}_l2"
        case = {"runs": []}
        for seed in SEEDS:
            np.random.seed(seed)
            c0, w0 = time.process_time(), time.time()
            best, queries = [[] for _ in BUDGETS], []
            for i in range(N):
                r = attack_one(est, x[i], int(y[i]))
                if r is None:
                    continue
                for b in range(len(BUDGETS)):
                    best[b].append(r[0][b])
                queries.append(r[1])
            run = {"seed": seed, "attacked": len(queries), "cpu_seconds": round(time.process_time() - c0, 2),
                   "wall_seconds": round(time.time() - w0, 2), "mean_queries": float(np.mean(queries))}
            for b, B in enumerate(BUDGETS):
                run[f"best_median@{B}"] = hsj.median(best[b])
            print(key, run, flush=True)
            case["runs"].append(run)
            g = hsj.gauntlet_time(tmp, name, 2, attack="signopt", n=N)
            print(key, "gauntlet", g, flush=True)
            case.setdefault("gauntlet_runs", []).append(g)
        for B in BUDGETS:
            v = [r[f"best_median@{B}"] for r in case["runs"]]
            case[f"best_median@{B}"] = float(np.mean(v))
            case[f"best_spread@{B}"] = (max(v) - min(v)) / float(np.mean(v))
        art = [r["cpu_seconds"] for r in case["runs"]]
        gau = [r["cpu_seconds"] for r in case["gauntlet_runs"]]
        case["cpu_ratio_art_over_gauntlet"] = [round(a / g, 2) for a, g in zip(art, gau)]
        out["cases"][key] = case
        with open(os.path.join(HERE, "peer_signopt.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()

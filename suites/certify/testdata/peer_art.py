#!/usr/bin/python3
"""ART 1.18.2's randomized-smoothing certification, ported, on the models of
certify's cross-check tests: writes peer_art.json beside this file.

The port is RandomizedSmoothingMixin.certify of ART 1.18.2
(art/estimators/certification/randomized_smoothing/randomized_smoothing.py):
for each sample, sample_size (n0) noisy copies x + N(0, scale²) (numpy's
np.random.normal, float32, not clipped) select class_select = argmax of the
arg-max counts; n more copies count that class; its lower bound is
proportion_confint(count, n, alpha=2·alpha, method="beta")[0], which is
scipy.stats.beta.ppf(alpha, count, n − count + 1) (statsmodels is not in
Debian's python3 here; the two are the same formula); prob < 0.5 abstains
(prediction −1, radius 0), else radius = scale·norm.ppf(prob). Certified
accuracy at r is the share of samples with prediction == label and radius
≥ r (Cohen et al.'s analyze). The classifier is PyTorch's: the ONNX model
rebuilt from its initializers by benchmarks/pgdpeer/peer.py's rebuild
(checked there against ONNX Runtime), run in batches of 100.

Cases: the shared MNIST CNN and benchmarks/pgdpeer's residual CNN on the
first 200 test images (σ 0.25, n0 100, n 1000, α 0.001, radii 0, 0.25, 0.5),
the repository's Adult MLP on the first 500 evaluation rows (σ 0.1, radii
0, 0.1, 0.2). Each case runs with SEEDS numpy seeds (three for the residual
CNN; np.random.seed(s) before the run);
"runs" holds every seed's figures and "spread" the largest difference
between two seeds per radius. certify_test.go compares Gauntlet's run
(another RNG) with the mean over seeds and sizes the tolerance by the
seeds' standard deviation: the sampling spread of the Monte Carlo
certificate.

  /usr/bin/python3 suites/certify/testdata/peer_art.py [case …]
(all cases by default; named cases are recomputed and merged into the
existing peer_art.json; mnist_cnn takes about 10 CPU minutes)
"""

import csv
import json
import os
import sys

import numpy as np
import torch
from scipy.stats import beta, norm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))
from peer import rebuild  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
BATCH = 100


def lower_confidence_bound(k, n, alpha):
    # proportion_confint(k, n, alpha=2*alpha, method="beta")[0]
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def prediction_counts(model, x, n, scale, k):
    xs = np.repeat(x[None], n, axis=0)
    xs = xs + np.random.normal(scale=scale, size=xs.shape).astype(np.float32)
    counts = np.zeros(k)
    with torch.no_grad():
        for lo in range(0, n, BATCH):
            idx = model(torch.from_numpy(xs[lo:lo + BATCH].astype(np.float32))).numpy().argmax(-1)
            np.add.at(counts, idx, 1)
    return counts


def certify(model, x, k, scale, n0, n, alpha):
    pred, rad = [], []
    for xi in x:
        c0 = prediction_counts(model, xi, n0, scale, k)
        cls = int(np.argmax(c0))
        c = prediction_counts(model, xi, n, scale, k)
        p = lower_confidence_bound(int(c[cls]), n, alpha)
        if p < 0.5:
            pred.append(-1)
            rad.append(0.0)
        else:
            pred.append(cls)
            rad.append(scale * norm.ppf(p))
    return np.array(pred), np.array(rad)


def case(name, model_path, x, y, k, scale, n0, n, alpha, radii, seeds):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = rebuild(model_path)
    runs = []
    for s in seeds:
        np.random.seed(s)
        pred, rad = certify(model, x, k, scale, n0, n, alpha)
        ok = pred == y
        runs.append({"seed": s,
                     "certified_accuracy": {repr(r): float(np.mean(ok & (rad >= r))) for r in radii},
                     "abstain_rate": float(np.mean(pred < 0)),
                     "average_certified_radius": float(np.mean(np.where(ok, rad, 0.0)))})
        print(name, runs[-1], flush=True)
    spread = {repr(r): max(u["certified_accuracy"][repr(r)] for u in runs) -
              min(u["certified_accuracy"][repr(r)] for u in runs) for r in radii}
    return {"model": os.path.relpath(model_path, ROOT), "samples": len(x), "sigma": scale, "n0": n0, "n": n,
            "alpha": alpha, "radii": radii, "runs": runs, "spread": spread,
            "certified_accuracy": runs[0]["certified_accuracy"]}


def cases():
    """name → thunk computing the case (the shared MNIST cases need ../shared)."""
    vision = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
    out = {}
    if os.path.isdir(vision):
        def mnist(name, path, seeds):
            def run():
                x = np.load(os.path.join(vision, "mnist_test_x.npy"))[:200]
                y = np.load(os.path.join(vision, "mnist_test_y.npy"))[:200]
                return case(name, path, x, y, 10, 0.25, 100, 1000, 0.001, [0.0, 0.25, 0.5], seeds)
            return run
        out["mnist_cnn"] = mnist("mnist_cnn", os.path.join(vision, "mnist_cnn.onnx"), SEEDS)
        # The residual CNN of benchmarks/pgdpeer (BatchNorm, skip connections),
        # three seeds: a seed costs about 4 CPU minutes here.
        out["res_cnn"] = mnist("res_cnn", os.path.join(ROOT, "benchmarks", "pgdpeer", "res_cnn.onnx"), SEEDS[:3])

    def adult():
        with open(os.path.join(ROOT, "examples", "adult", "adult_eval.csv")) as f:
            rows = list(csv.DictReader(f))
        feats = [c for c in rows[0] if c.startswith(("num_", "cat_"))]
        x = np.array([[float(r[c]) for c in feats] for r in rows[:500]], dtype=np.float32)
        y = np.array([int(r["label"]) for r in rows[:500]])
        return case("adult_mlp", os.path.join(ROOT, "examples", "adult", "adult_mlp.onnx"), x, y, 2,
                    0.1, 100, 1000, 0.001, [0.0, 0.1, 0.2], SEEDS)
    out["adult_mlp"] = adult
    return out


def main():
    """Runs the cases named on the command line (all by default) and
    merges them into peer_art.json."""
    path = os.path.join(HERE, "peer_art.json")
    out = {"peer": "ART 1.18.2 RandomizedSmoothingMixin.certify, ported (this script)",
           "torch": torch.__version__, "numpy": np.__version__, "cases": {}}
    todo = cases()
    done = {name: todo[name]() for name in sys.argv[1:] or list(todo)}
    if os.path.exists(path):  # read after the runs: another run may have written meanwhile
        with open(path) as f:
            out["cases"] = json.load(f).get("cases", {})
    out["cases"].update(done)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

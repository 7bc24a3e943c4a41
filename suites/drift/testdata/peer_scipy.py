#!/usr/bin/python3
"""Peer figures of the drift suite's per-feature tests (TestPeerScipy).

Run from the repository root:  /usr/bin/python3 suites/drift/testdata/peer_scipy.py
It writes suites/drift/testdata/peer_scipy.json. Needs numpy and scipy
(Debian python3-numpy, python3-scipy; scipy 1.10.1 here).

Data: ../shared/fixtures/tabular/adult_test.csv (15,060 rows). The reference
is the even rows (0, 2, ...), "halves" the odd rows as they are, "shifted"
the odd rows with num_age + 0.5 (the standardised age, about +6.6 years;
written with 6 decimals, as the Go test writes it) and every second Female
row (in file order) of the raw sex column turned Male. Features are read as
float32, as Gauntlet reads them.

PSI: bins cut at numpy.quantile(reference, j/10), j = 1..9 (linear
interpolation), duplicate edges dropped, numpy.digitize(right=True);
proportions of an empty bin taken as 1e-4; sum of (c - r) * ln(c / r).
KS: scipy.stats.ks_2samp statistic; p the Kolmogorov limit
scipy.stats.kstwobign.sf(sqrt(n*m/(n+m)) * D), and ks_2samp's own p
(method auto) for information. Chi-square: scipy.stats.chi2_contingency on
the 2 x K table, correction=False.

Shift ("shift" in the JSON, on the halves set): the model
../shared/fixtures/tabular/adult_mlp.onnx evaluated in float64 numpy from
its initializers (Gemm, Relu, Gemm, Relu, Gemm), prediction the arg max;
accuracy, then accuracy with the rows whose num_age is at or above its
numpy.quantile 0.75 counted 3 times; the selection rate (share predicted
1) of each sex group with the same weights and its gap (max - min).
"""
import csv
import json
import math
import os

import numpy as np
import onnx
import onnx.numpy_helper
import scipy
from scipy import stats

ROOT = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(ROOT, "..", "..", "..", "..", "shared", "fixtures", "tabular", "adult_test.csv")
BINS, EPS = 10, 1e-4
CATEGORICAL = ["sex", "cat_race_White"]

with open(CSV, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
features = header[: header.index("label")]
assert len(features) == 48
ref_rows, cur_rows = body[0::2], body[1::2]


def shifted(rows):
    age, sex = header.index("num_age"), header.index("sex")
    out, females = [], 0
    for r in rows:
        r = list(r)
        r[age] = "%.6f" % (float(r[age]) + 0.5)
        if r[sex] == "Female":
            females += 1
            if females % 2 == 0:
                r[sex] = "Male"
        out.append(r)
    return out


def num(rows, name):
    j = header.index(name)
    return np.array([float(r[j]) for r in rows], dtype=np.float32).astype(np.float64)


def psi(rc, cc):
    r = rc / rc.sum()
    c = cc / cc.sum()
    r = np.where(r == 0, EPS, r)
    c = np.where(c == 0, EPS, c)
    return float(np.sum((c - r) * np.log(c / r)))


def compare(cur_rows):
    out = {}
    for name in features + ["sex"]:
        if name in CATEGORICAL:
            j = header.index(name)
            a = [r[j] for r in ref_rows] if name == "sex" else [repr(float(np.float32(r[j]))) for r in ref_rows]
            b = [r[j] for r in cur_rows] if name == "sex" else [repr(float(np.float32(r[j]))) for r in cur_rows]
            cats = sorted(set(a) | set(b))
            rc = np.array([a.count(c) for c in cats], dtype=float)
            cc = np.array([b.count(c) for c in cats], dtype=float)
            chi2, p, dof, _ = stats.chi2_contingency(np.array([rc, cc]), correction=False)
            out[name] = {"kind": "categorical", "psi": psi(rc, cc), "chi2": float(chi2), "p": float(p), "dof": int(dof)}
            continue
        a, b = num(ref_rows, name), num(cur_rows, name)
        edges = np.unique(np.quantile(a, [j / BINS for j in range(1, BINS)]))
        rc = np.bincount(np.digitize(a, edges, right=True), minlength=len(edges) + 1).astype(float)
        cc = np.bincount(np.digitize(b, edges, right=True), minlength=len(edges) + 1).astype(float)
        ks = stats.ks_2samp(a, b)
        en = len(a) * len(b) / (len(a) + len(b))
        out[name] = {
            "kind": "numeric",
            "psi": psi(rc, cc),
            "ks": float(ks.statistic),
            "p": float(stats.kstwobign.sf(math.sqrt(en) * ks.statistic)),
            "ks_2samp_p": float(ks.pvalue),
        }
    return out


def shift(rows):
    model = onnx.load(os.path.join(os.path.dirname(CSV), "adult_mlp.onnx"))
    w = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    x = np.stack([num(rows, f) for f in features], axis=1)
    h = x
    for node in model.graph.node:
        if node.op_type == "Gemm":
            h = h @ w[node.input[1]].T + w[node.input[2]]
        else:
            h = np.maximum(h, 0)
    pred = np.argmax(h, axis=1)
    y = np.array([int(r[header.index("label")]) for r in rows])
    sex = np.array([r[header.index("sex")] for r in rows])
    age = num(rows, "num_age")
    wt = np.where(age >= np.quantile(age, 0.75), 3.0, 1.0)
    out = {"accuracy": float(np.mean(pred == y)),
           "shift_accuracy": float(np.sum(wt * (pred == y)) / np.sum(wt)),
           "upweighted": int(np.sum(wt > 1))}
    for name, ww in [("selection_rate_gap", np.ones_like(wt)), ("shift_selection_rate_gap", wt)]:
        rates = [np.sum(ww[sex == g] * (pred[sex == g] == 1)) / np.sum(ww[sex == g]) for g in sorted(set(sex))]
        out[name] = float(max(rates) - min(rates))
    return out


res = {
    "shift": shift(cur_rows),
    "tool": "numpy %s, scipy %s" % (np.__version__, scipy.__version__),
    "reference_rows": len(ref_rows),
    "halves": compare(cur_rows),
    "shifted": compare(shifted(cur_rows)),
}
with open(os.path.join(ROOT, "peer_scipy.json"), "w") as f:
    json.dump(res, f, indent=1, sort_keys=True)
    f.write("\n")

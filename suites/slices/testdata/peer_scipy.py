#!/usr/bin/python3
"""Peer figures of the slices suite, from scipy 1.10.1 (Debian python3-scipy), written to peer_scipy.json.

Run from this folder with /usr/bin/python3 (the shared Adult case needs ../../../../shared).
An independent re-implementation of the suite's search in numpy, with scipy's tests:
  predictions  the model's arg max, computed in float32 numpy from the ONNX initializers
               (Gemm / Relu chains only: both fixture models);
  bins         numeric columns (all values numbers, more than `bins` distinct): edges
               numpy.quantile(values, k/bins) (linear = Hyndman & Fan type 7), k = 1..bins-1,
               duplicates and an edge at the maximum dropped; bins (-inf, e1], ..., (e_last, inf);
  slices       every conjunction of up to max_depth conditions on distinct columns with at
               least min_size rows, and a complement of at least min_size rows (tested);
  test         two-sided: scipy.stats.chi2_contingency(correction=False) (the pooled z-test's
               p-value) when every expected cell is >= 5, else scipy.stats.fisher_exact;
  correction   Benjamini-Hochberg step-up over all tested slices, in numpy (scipy 1.10 has
               no false_discovery_control);
               (planted_holm_depth3: Holm's step-down, max_depth 3);
  selection    adult only: the same search over sex and race of "prediction = 1";
  reported     adjusted p <= 0.05, rate below the rest's and below each parent's; ranked by
               gap (rest - slice), then adjusted p, then name.
"""
import itertools
import json
import math

import numpy as np
import onnx
from onnx import numpy_helper
from scipy import stats


def predict(model_path, X):
    m = onnx.load(model_path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    h = X.astype(np.float32)
    for n in m.graph.node:
        if n.op_type == "Gemm":
            a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
            W = init[n.input[1]].astype(np.float32)
            if a.get("transB", 0):
                W = W.T
            h = np.float32(a.get("alpha", 1.0)) * (h @ W) + np.float32(a.get("beta", 1.0)) * init[n.input[2]].astype(np.float32)
        elif n.op_type == "Relu":
            h = np.maximum(h, np.float32(0))
        else:
            raise SystemExit(f"unsupported op {n.op_type}")
    return np.argmax(h, axis=1)


def read_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    return {h: [r[j] for r in rows] for j, h in enumerate(header)}


def g6(x):
    return f"{x:.6g}"


def encode(name, vals, bins):
    try:
        nums = np.array([float(v) for v in vals])
        numeric = bool(np.all(np.isfinite(nums)))
    except ValueError:
        numeric = False
    if numeric and len(set(vals)) > bins:
        edges = []
        for k in range(1, bins):
            e = float(np.quantile(nums, k / bins))
            if not edges or e > edges[-1]:
                edges.append(e)
        if edges[-1] >= nums.max():
            edges.pop()
        codes = np.searchsorted(np.array(edges), nums, side="left")
        labels = [f"{name}<={g6(edges[0])}"]
        labels += [f"{g6(edges[j - 1])}<{name}<={g6(edges[j])}" for j in range(1, len(edges))]
        labels.append(f"{name}>{g6(edges[-1])}")
        return codes, labels, edges
    keys = sorted(set(vals))
    idx = {v: j for j, v in enumerate(keys)}
    return np.array([idx[v] for v in vals]), [f"{name}={v}" for v in keys], None


def two_prop(k1, n1, k2, n2):
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    n, k = n1 + n2, k1 + k2
    min_exp = min(n1 * k, n2 * k, n1 * (n - k), n2 * (n - k)) / n
    if min_exp < 5:
        return "fisher_exact", float(stats.fisher_exact(table)[1])
    return "two_proportion_z", float(stats.chi2_contingency(table, correction=False)[1])


def bh(p):
    p = np.asarray(p)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    run = 1.0
    for r in range(m - 1, -1, -1):
        run = min(run, m / (r + 1) * p[order[r]])
        adj[order[r]] = run
    return adj


def holm(p):
    p = np.asarray(p)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    run = 0.0
    for r in range(m):
        run = max(run, min(1.0, (m - r) * p[order[r]]))
        adj[order[r]] = run
    return adj


def search(cols, hit, depth, min_size, alpha=0.05, correction="bh"):
    n, total = len(hit), int(hit.sum())
    allsl = {}
    for d in range(1, depth + 1):
        for combo in itertools.combinations(range(len(cols)), d):
            codes = [cols[c][0] for c in combo]
            for vals in itertools.product(*[range(len(cols[c][1])) for c in combo]):
                mask = np.ones(n, bool)
                for cc, v in zip(codes, vals):
                    mask &= cc == v
                ns = int(mask.sum())
                if ns < min_size:
                    continue
                ks = int(hit[mask].sum())
                name = " & ".join(cols[c][1][v] for c, v in zip(combo, vals))
                s = dict(name=name, key=tuple(zip(combo, vals)), size=ns, hits=ks, rest_size=n - ns,
                         rest_hits=total - ks, rate=ks / ns, rest_rate=(total - ks) / (n - ns) if n > ns else 0.0)
                s["gap"] = s["rest_rate"] - s["rate"]
                if n - ns >= min_size:
                    s["test"], s["p"] = two_prop(ks, ns, total - ks, n - ns)
                allsl[s["key"]] = s
    tested = [s for s in allsl.values() if "p" in s]
    adjust = holm if correction == "holm" else bh
    for s, a in zip(tested, adjust([s["p"] for s in tested])):
        s["p_adj"] = float(a)
    found = []
    for s in tested:
        worse = all(s["rate"] < allsl[p]["rate"] for p in itertools.combinations(s["key"], len(s["key"]) - 1) if p and p in allsl)
        if s["p_adj"] <= alpha and s["gap"] > 0 and worse:
            found.append(s)
    found.sort(key=lambda s: (-s["gap"], s["p_adj"], s["name"]))
    keep = ("name", "size", "hits", "rest_size", "rest_hits", "test", "p", "p_adj", "gap")
    return dict(tested=len(tested), rate=total / n,
                slices={s["name"]: {k: s[k] for k in keep} for s in tested},
                found=[s["name"] for s in found])


def case(csv, model, features, label, slice_cols, bins=4, depth=2, correction="bh", sensitive=None):
    c = read_csv(csv)
    X = np.array([[float(v) for v in c[f]] for f in features]).T
    y = np.array([int(v) for v in c[label]])
    pred = predict(model, X)
    n = len(y)
    min_size = max(30, math.ceil(0.01 * n))
    cols = [encode(s, c[s], bins) for s in slice_cols]
    out = search(cols, pred == y, depth, min_size, correction=correction)
    if sensitive:
        out["selection_rate"] = search([encode(s, c[s], bins) for s in sensitive], pred == 1, depth, min_size, correction=correction)
    out.update(min_size=min_size, rows=n, correct=int((pred == y).sum()),
               bin_edges={s: e for s, (_, _, e) in zip(slice_cols, cols) if e is not None})
    return out


fixture = ["f_age", "f_female", "x1", "x2"]
result = {
    "source": "peer_scipy.py, scipy " + __import__("scipy").__version__ + ", numpy " + np.__version__,
    "planted": case("planted.csv", "logistic.onnx", fixture, "label", ["age", "sex", "region"]),
    "planted_holm_depth3": case("planted.csv", "logistic.onnx", fixture, "label", ["age", "sex", "region"], depth=3, correction="holm"),
    "null": case("null.csv", "logistic.onnx", fixture, "label", ["age", "sex", "region"]),
}
try:
    shared = "../../../../shared/fixtures/tabular/"
    header = open(shared + "adult_test.csv").readline().strip().split(",")
    feats = [h for h in header if h.startswith(("num_", "cat_"))]
    result["adult"] = case(shared + "adult_test.csv", shared + "adult_mlp.onnx", feats, "label", ["age", "sex", "race"], sensitive=["sex", "race"])
except FileNotFoundError as e:
    print("no shared adult fixture:", e)
with open("peer_scipy.json", "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)
for k in ("planted", "planted_holm_depth3", "null", "adult"):
    if k in result:
        r = result[k]
        print(k, "tested", r["tested"], "correct", r["correct"], "found", r["found"][:5],
              [(r["slices"][s]["p"], r["slices"][s]["p_adj"]) for s in r["found"][:1]])

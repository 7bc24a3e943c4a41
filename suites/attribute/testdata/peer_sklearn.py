#!/usr/bin/python3
"""Peer figures for suites/attribute/attribute_test.go (TestAdultSexPeer).

ART's black-box attribute inference rule (AttributeInferenceBlackBox.fit and
.infer, art/attacks/inference/attribute_inference/black_box.py at commit
00a73f1c709696b3b2273d32225c51805beedc4f: x_train =
np.concatenate((np.delete(x, self.attack_feature, 1), predictions), axis=1),
then attack_model.fit(x_train, y) and predict on the same layout) on the same
model and data as Gauntlet's suite: the shared Adult MLP
(../shared/fixtures/tabular/adult_mlp.onnx, run here in numpy from its
Gemm/Relu initializers), all 15,060 rows of adult_test.csv, attacked feature
sex (the two cat_sex_ one-hot columns deleted), predictions = the model's
two log-probabilities (Gauntlet's attack input; ART 1.18 passes the arg max
class, which carries less), attack model = scikit-learn's L2 logistic
regression on standardised inputs, C = 1/(λ·n_train) with Gauntlet's
λ = 1e-3 on the mean cross-entropy (learn/logreg.go). Out-of-fold
predictions from a stratified 5-fold split, repeated over 10 split seeds:
the file records each figure's mean and standard deviation over the seeds
(Gauntlet draws its own split, so it is one more draw of the same spread).

Run: /usr/bin/python3 suites/attribute/testdata/peer_sklearn.py > suites/attribute/testdata/peer_sklearn.json
(Debian python3-sklearn 1.2.1, python3-onnx, python3-numpy.)
"""
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures", "tabular"))
L2 = 1e-3
SEEDS = range(10)


def forward(path, x):
    """Runs a Gemm/Relu ONNX graph in float64 numpy."""
    m = onnx.load(path)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    v = {m.graph.input[0].name: x}
    for n in m.graph.node:
        if n.op_type == "Gemm":
            a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
            A, B = v[n.input[0]], w[n.input[1]]
            if a.get("transB", 0):
                B = B.T
            out = a.get("alpha", 1.0) * A @ B
            if len(n.input) > 2:
                out = out + a.get("beta", 1.0) * w[n.input[2]]
            v[n.output[0]] = out
        elif n.op_type == "Relu":
            v[n.output[0]] = np.maximum(v[n.input[0]], 0)
        else:
            raise SystemExit("unsupported op " + n.op_type)
    return v[m.graph.output[0].name]


def main():
    ref = json.load(open(os.path.join(SHARED, "REFERENCE.json")))["models"]["adult_mlp"]
    cols = ref["feature_columns"]
    with open(os.path.join(SHARED, "adult_test.csv")) as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float32).astype(np.float64)
    sex = np.array([1 if r["sex"] == "Male" else 0 for r in rows])
    logits = forward(os.path.join(SHARED, "adult_mlp.onnx"), x)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    keep = [j for j, c in enumerate(cols) if not c.startswith("cat_sex_")]
    feats = x[:, keep]
    n = len(sex)
    baseline = max(sex.mean(), 1 - sex.mean())

    def oof(z, seed):
        p = np.zeros(n)
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, sex):
            sc = StandardScaler().fit(z[tr])
            clf = LogisticRegression(C=1 / (L2 * len(tr)), max_iter=2000, tol=1e-10)
            clf.fit(sc.transform(z[tr]), sex[tr])
            p[te] = clf.predict_proba(sc.transform(z[te]))[:, 1]
        return p

    runs = {k: [] for k in ["accuracy", "advantage", "auc", "features_only.accuracy", "features_only.auc", "output_gain",
                            "outputs_only.accuracy", "outputs_only.auc"]}
    for seed in SEEDS:
        pa = oof(np.hstack([logp, feats]), seed)  # ART's layout is features then predictions; the order does not matter to the fit
        pf = oof(feats, seed)
        po = oof(logp, seed)
        acc, facc, oacc = ((pa > 0.5) == sex).mean(), ((pf > 0.5) == sex).mean(), ((po > 0.5) == sex).mean()
        runs["accuracy"].append(acc)
        runs["advantage"].append(acc - baseline)
        runs["auc"].append(roc_auc_score(sex, pa))
        runs["features_only.accuracy"].append(facc)
        runs["features_only.auc"].append(roc_auc_score(sex, pf))
        runs["output_gain"].append(acc - facc)
        runs["outputs_only.accuracy"].append(oacc)
        runs["outputs_only.auc"].append(roc_auc_score(sex, po))
    out = {
        "generated_by": "suites/attribute/testdata/peer_sklearn.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scikit-learn": sklearn.__version__, "onnx": onnx.__version__},
        "rows": n, "baseline": baseline, "seeds": len(SEEDS), "l2": L2,
        "figures": {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "min": float(np.min(v)), "max": float(np.max(v))} for k, v in runs.items()},
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

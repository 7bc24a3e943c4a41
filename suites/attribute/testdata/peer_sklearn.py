#!/usr/bin/python3
"""Peer figures for suites/attribute/attribute_test.go (TestAdultSex, TestAdultSexPeer).

ART's black-box attribute inference rule (AttributeInferenceBlackBox.fit and
.infer, art/attacks/inference/attribute_inference/black_box.py at commit
00a73f1c709696b3b2273d32225c51805beedc4f: x_train =
np.concatenate((np.delete(x, self.attack_feature, 1), predictions), axis=1),
then attack_model.fit(x_train, y) and predict on the same layout) on the same
model and data as Gauntlet's suite: the shared Adult MLP
(../shared/fixtures/tabular/adult_mlp.onnx, run here in numpy from its
Gemm/Relu initializers), all 15,060 rows of adult_test.csv, attacked column
sex (2 categories) or race (5), the columns the suite withholds deleted
(attribute.derived: the column's name or a _-separated token of it, so
cat_sex_* or cat_race_*), predictions = the model's two log-probabilities
(Gauntlet's attack input; ART 1.18 passes the arg max class, which carries
less). Categories are numbered in sorted order, predictions are the arg max
of the attack's probabilities (first on ties), as in attribute.evaluate.
Out-of-fold predictions from a stratified 5-fold split, repeated over 10
split seeds: the file records each figure's mean and standard deviation
over the seeds (Gauntlet draws its own split, so it is one more draw of the
same spread).

Attack models, each on StandardScaler'd inputs:
* logistic (attack_model: logistic): learn.Fit, softmax regression with
  λ = 1e-3 times half the squared weights (biases free) added to the mean
  cross-entropy (learn/logreg.go). For 5 categories this is scikit-learn's
  multinomial LogisticRegression with C = 1/(λ·n_train). For 2 categories
  scikit-learn fits one logit β where learn.Fit fits two weight rows
  w0, w1 (β = w1 − w0); the penalty's optimum splits β as ±β/2, so its
  ‖w0‖² + ‖w1‖² is ‖β‖²/2 and C = 2/(λ·n_train) is the same objective.
  (The first version of this script used C = 1/(λ·n_train) for sex too: that
  doubled penalty was the 0.0044 accuracy gap TestAdultSexPeer noted.)
* mlp (attack_model: mlp, the default): learn.DefaultMLP is one hidden layer
  of 32 ReLU units, softmax outputs, Glorot-uniform init, Adam (lr 0.01,
  β 0.9/0.999, ε 1e-8) on the mean cross-entropy of mini-batches of
  max(128, n_train/16) = 753 rows (n_train = 12,048: 16 steps an epoch),
  30 epochs, gorgonia's L2 of 1e-4 added to the gradient (g += λw).
  Mapped to MLPClassifier(hidden_layer_sizes=(32,), activation="relu",
  solver="adam", learning_rate_init=0.01, batch_size=753, max_iter=30,
  alpha=λ·753): scikit-learn adds 0.5·alpha·‖W‖²/batch to the batch's mean
  loss, so alpha = λ·batch gives the same gradient term. Where it does not
  map: for 2 categories scikit-learn has one logistic output unit (Gauntlet
  two softmax units: the same model family with twice the output weights);
  scikit-learn does not penalise biases (gorgonia does); it draws its own
  initial weights and shuffles (random_state = the split seed); early
  stopping is off (tol=0, n_iter_no_change > max_iter) so both run exactly
  30 epochs. 12,048 rows are 16 full batches, so no short last batch.

Run: /usr/bin/python3 suites/attribute/testdata/peer_sklearn.py > suites/attribute/testdata/peer_sklearn.json
(Debian python3-sklearn 1.2.1, python3-onnx, python3-numpy; about 5 minutes
on 2 loaded cores.)
"""
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import warnings

import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures", "tabular"))
L2 = 1e-3          # learn.DefaultL2, the suite's l2 default
MLP_L2 = 1e-4      # learn.DefaultMLP.L2
MLP_BATCH = 753    # max(learn.DefaultMLP.Batch, 12048/learn.DefaultMLP.MaxSteps)
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


def derived(f, s):
    """attribute.derived: is feature f derived from the sensitive column s?"""
    return f == s or f.startswith(s + "_") or s in f.split("_") or ("_" + s + "_") in f


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ref = json.load(open(os.path.join(SHARED, "REFERENCE.json")))["models"]["adult_mlp"]
    cols = ref["feature_columns"]
    with open(os.path.join(SHARED, "adult_test.csv")) as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float32).astype(np.float64)
    logits = forward(os.path.join(SHARED, "adult_mlp.onnx"), x)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    n = len(rows)

    def oof(z, y, k, seed, kind):
        p = np.zeros((n, k))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y):
            sc = StandardScaler().fit(z[tr])
            if kind == "mlp":
                clf = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", solver="adam", alpha=MLP_L2 * MLP_BATCH,
                                    batch_size=MLP_BATCH, learning_rate_init=0.01, max_iter=30, shuffle=True,
                                    tol=0.0, n_iter_no_change=1000, random_state=seed)
            else:
                c = (2 if k == 2 else 1) / (L2 * len(tr))
                clf = LogisticRegression(C=c, max_iter=5000, tol=1e-10)
            clf.fit(sc.transform(z[tr]), y[tr])
            p[te] = clf.predict_proba(sc.transform(z[te]))
        return p

    def scores(p, y, k):
        pred = p.argmax(1)  # first maximum on ties, as stats.Argmax
        acc = (pred == y).mean()
        bal = np.mean([(pred[y == j] == j).mean() for j in range(k)])
        auc = roc_auc_score(y, p[:, 1]) if k == 2 else None
        return acc, bal, auc

    out = {
        "generated_by": "suites/attribute/testdata/peer_sklearn.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scikit-learn": sklearn.__version__, "onnx": onnx.__version__},
        "rows": n, "seeds": len(SEEDS), "l2": L2, "mlp": {"hidden": 32, "l2": MLP_L2, "batch": MLP_BATCH, "alpha": MLP_L2 * MLP_BATCH,
                                                          "epochs": 30, "learning_rate": 0.01},
        "runs": {},
    }
    runs_wanted = [("sex", "logistic", True), ("sex", "mlp", True), ("race", "logistic", False)]
    for sens, kind, outputs_only in runs_wanted:
        cats = sorted({r[sens] for r in rows})
        y = np.array([cats.index(r[sens]) for r in rows])
        k = len(cats)
        counts = np.bincount(y, minlength=k)
        baseline = counts.max() / n
        keep = [j for j, c in enumerate(cols) if not derived(c, sens)]
        feats = x[:, keep]
        runs = {}

        def add(key, v):
            runs.setdefault(key, []).append(v)

        for seed in SEEDS:
            acc, bal, auc = scores(oof(np.hstack([logp, feats]), y, k, seed, kind), y, k)  # ART's layout is features then predictions; the order does not matter to the fit
            facc, _, fauc = scores(oof(feats, y, k, seed, kind), y, k)
            add("accuracy", acc)
            add("advantage", acc - baseline)
            add("balanced_accuracy", bal)
            add("features_only.accuracy", facc)
            add("output_gain", acc - facc)
            if k == 2:
                add("auc", auc)
                add("features_only.auc", fauc)
            if outputs_only:
                oacc, obal, oauc = scores(oof(logp, y, k, seed, kind), y, k)
                add("outputs_only.accuracy", oacc)
                add("outputs_only.advantage", oacc - baseline)
                if k == 2:
                    add("outputs_only.auc", oauc)
        out["runs"][sens + "/" + kind] = {
            "baseline": baseline, "categories": dict(zip(cats, map(int, counts))), "withheld": [c for c in cols if derived(c, sens)],
            "figures": {kk: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "min": float(np.min(v)), "max": float(np.max(v))}
                        for kk, v in runs.items()},
        }
        print(sens, kind, "done", file=sys.stderr)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

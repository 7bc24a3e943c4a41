#!/usr/bin/python3
"""Peer figures for suites/membership/membership_test.go (TestLearnedPeer).

The membership suite's `learned` attack (suites/membership/membership.go,
run.learned) on the same models and rows, with scikit-learn's classifiers in
place of learn/'s:

* Models and rows: ../shared/fixtures/vision/mnist_overfit_mlp.onnx on
  mnist_members_x/y.npy (500) and mnist_nonmembers_x/y.npy (500);
  ../shared/fixtures/tabular/digits_{overfit,regularised}_mlp.onnx on
  digits_members (898) and digits_nonmembers (899). Logits from a float64
  numpy forward pass of the ONNX Flatten/Gemm/Relu initializers, rounded to
  float32 as ONNX Runtime returns them.
* Features, per sample, as perSample and learn.Scores.Compute build them:
  log p_y, log max_c p_c, Σ_c p_c log p_c (log-softmax as d − log1p(Σ_{j≠argmax}
  exp d_j)), then the min(C, 10) largest softmax probabilities in decreasing
  order: 13 columns for these 10-class models. Label 1 = member.
* Folds: stratified 5-fold, out-of-fold membership probability (learn.Folds,
  learn.CrossValidate); here scikit-learn's StratifiedKFold(5, shuffle=True,
  random_state=seed).
* mlp (the default attack_model): learn.DefaultMLP is one hidden layer of 32
  ReLU units, softmax over 2 outputs, Glorot-uniform init, Adam (lr 0.01,
  β 0.9/0.999, ε 1e-8) on the mean cross-entropy of mini-batches of
  max(128, n/16) = 128 rows, 30 epochs, on standardised features, with
  gorgonia's L2 of 1e-4 added to the gradient (g += λw: the objective's
  0.5·λ·‖w‖²). Mapped to MLPClassifier(hidden_layer_sizes=(32,),
  activation="relu", solver="adam", learning_rate_init=0.01, batch_size=128,
  max_iter=30, alpha=λ·128) after StandardScaler: scikit-learn adds
  0.5·alpha·‖W‖²/batch to the batch's mean loss, so alpha = λ·batch gives the
  same gradient term. Where it does not map: scikit-learn has one logistic
  output unit (Gauntlet two softmax units, the same model family with twice
  the output weights), does not penalise biases (gorgonia does), keeps the
  short last batch of each epoch (Gauntlet leaves it for the next shuffle:
  6 full steps of 800 or 1437 rows, not 7 or 12), and draws its own init and
  shuffles; early stopping is turned off (tol=0, n_iter_no_change > max_iter)
  so both run exactly 30 epochs.
* logistic (attack_model: logistic): learn.Fit's L2 logistic regression with
  λ = 1e-3 on the mean cross-entropy of standardised features (bias not
  penalised): LogisticRegression(C = 1/(λ·n_train)), lbfgs to tol 1e-10. The
  two-class softmax of learn.Fit has twice the weights of scikit-learn's
  single logit; with the penalty on both rows the optimum is the same
  logistic model with the penalty on the difference halved, i.e. C doubled.
  C = 2/(λ·n_train) is what matches.

Each (model, classifier) is repeated over SEEDS split (and init) seeds; the
file records the mean, sample standard deviation, min and max of each figure
(AUC, and advantage = max over thresholds of TPR − FPR) over the seeds.
Gauntlet draws its own split and init, so its figure is one more draw from
the same spread plus the implementation differences above.

Run: /usr/bin/python3 suites/membership/testdata/peer_learned.py > suites/membership/testdata/peer_learned.json
(Debian python3-sklearn 1.2.1, python3-onnx 1.12, python3-numpy.)
"""
import json
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures"))
SEEDS = range(20)
FOLDS = 5
MLP_L2 = 1e-4       # learn.DefaultMLP.L2
MLP_BATCH = 128     # max(learn.DefaultMLP.Batch, n/learn.DefaultMLP.MaxSteps) for n = 800 and 1437
LOGISTIC_L2 = 1e-3  # learn.DefaultL2
TOP = 10            # maxSortedProbs

SETS = {
    "mnist_overfit_mlp": ("vision", "mnist_members", "mnist_nonmembers"),
    "digits_overfit_mlp": ("tabular", "digits_members", "digits_nonmembers"),
    "digits_regularised_mlp": ("tabular", "digits_members", "digits_nonmembers"),
}


def forward(path, x):
    """Runs a Flatten/Gemm/Relu ONNX graph in float64 numpy."""
    m = onnx.load(path)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    v = {m.graph.input[0].name: x}
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        if n.op_type == "Gemm":
            A, B = v[n.input[0]], w[n.input[1]]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            out = a.get("alpha", 1.0) * A @ B
            if len(n.input) > 2:
                out = out + a.get("beta", 1.0) * w[n.input[2]]
            v[n.output[0]] = out
        elif n.op_type == "Relu":
            v[n.output[0]] = np.maximum(v[n.input[0]], 0)
        elif n.op_type == "Flatten" and a.get("axis", 1) == 1:
            v[n.output[0]] = v[n.input[0]].reshape(len(x), -1)
        else:
            raise SystemExit("unsupported op " + n.op_type)
    return v[m.graph.output[0].name]


def features(z, y):
    """learn.Scores.Compute's LogPY, LogConf, NegEntropy and the sorted top probabilities."""
    a = z.argmax(1)
    d = z - z[np.arange(len(z)), a][:, None]
    s = np.exp(d).sum(1) - 1  # Σ_{j≠argmax} exp d_j
    logp = d - np.log1p(s)[:, None]
    p = np.exp(logp)
    top = -np.sort(-p, axis=1)[:, :min(z.shape[1], TOP)]
    return np.hstack([logp[np.arange(len(z)), y][:, None], -np.log1p(s)[:, None], (p * logp).sum(1)[:, None], top])


def advantage(y, p):
    fpr, tpr, _ = roc_curve(y, p)
    return float((tpr - fpr).max())


def oof(x, y, seed, kind):
    p = np.zeros(len(y))
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        sc = StandardScaler().fit(x[tr])
        if kind == "mlp":
            clf = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", solver="adam", alpha=MLP_L2 * MLP_BATCH,
                                batch_size=MLP_BATCH, learning_rate_init=0.01, max_iter=30, shuffle=True,
                                tol=0.0, n_iter_no_change=1000, random_state=seed)
        else:
            clf = LogisticRegression(C=2 / (LOGISTIC_L2 * len(tr)), max_iter=5000, tol=1e-10)
        clf.fit(sc.transform(x[tr]), y[tr])
        p[te] = clf.predict_proba(sc.transform(x[te]))[:, 1]
    return p


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    out = {
        "generated_by": "suites/membership/testdata/peer_learned.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scikit-learn": sklearn.__version__, "onnx": onnx.__version__},
        "seeds": len(SEEDS), "folds": FOLDS, "mlp": {"hidden": 32, "l2": MLP_L2, "batch": MLP_BATCH, "alpha": MLP_L2 * MLP_BATCH,
                                                       "epochs": 30, "learning_rate": 0.01},
        "logistic": {"l2": LOGISTIC_L2}, "models": {},
    }
    for model, (sub, mem, non) in SETS.items():
        d = os.path.join(SHARED, sub)
        xs, ys = [], []
        for name in (mem, non):
            xs.append(np.load(os.path.join(d, name + "_x.npy")).astype(np.float64))
            ys.append(np.load(os.path.join(d, name + "_y.npy")))
        x, lab = np.concatenate(xs), np.concatenate(ys)
        member = np.concatenate([np.ones(len(ys[0]), int), np.zeros(len(ys[1]), int)])
        z = forward(os.path.join(d, model + ".onnx"), x).astype(np.float32).astype(np.float64)
        f = features(z, lab)
        res = {"members": len(ys[0]), "nonmembers": len(ys[1]), "features": f.shape[1]}
        for kind in ("mlp", "logistic"):
            runs = {"auc": [], "advantage": []}
            for seed in SEEDS:
                p = oof(f, member, seed, kind)
                runs["auc"].append(roc_auc_score(member, p))
                runs["advantage"].append(advantage(member, p))
            res[kind] = {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "min": float(np.min(v)), "max": float(np.max(v))}
                         for k, v in runs.items()}
        out["models"][model] = res
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

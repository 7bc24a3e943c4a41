#!/usr/bin/python3
# Portions of this file follow two projects' code, under their licences:
#
# ART's rule-based membership attack (art/attacks/inference/membership_inference/
# black_box_rule_based.py, MembershipInferenceBlackBoxRuleBased.infer, lines 70-95 at
# Trusted-AI/adversarial-robustness-toolbox 23539e2c; label_only_gap_attack.py line 31 makes
# LabelOnlyGapAttack that same class):
#
#   MIT License
#   Copyright (C) The Adversarial Robustness Toolbox (ART) Authors 2020
#   Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
#   associated documentation files (the "Software"), to deal in the Software without restriction,
#   including without limitation the rights to use, copy, modify, merge, publish, distribute,
#   sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
#   furnished to do so, subject to the following conditions:
#   The above copyright notice and this permission notice shall be included in all copies or
#   substantial portions of the Software.
#   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
#   NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
#   NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
#   OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
#   CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
#
# TensorFlow Privacy's epsilon lower bound (tensorflow_privacy/privacy/privacy_tests/
# epsilon_lower_bound.py at tensorflow/privacy 03035d5d: _get_tp_fp_for_thresholds lines 30-61,
# EpsilonLowerBound.__init__ lines 137-151 and compute_epsilon_lower_bound lines 166-173,
# RatioBound._bound_clopper_pearson lines 359-368; the defaults alpha = 0.05 and k = 5 of
# membership_inference_attack/data_structures.py lines 39-40):
#
#   Copyright 2022, The TensorFlow Authors.
#   Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except
#   in compliance with the License. You may obtain a copy of the License at
#       https://www.apache.org/licenses/LICENSE-2.0
#   Unless required by applicable law or agreed to in writing, software distributed under the License
#   is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express
#   or implied. See the License for the specific language governing permissions and limitations
#   under the License.
"""Peer figures for suites/membership/label_only_test.go (TestGapPeer).

Rebuilds nothing but the two references' rules in numpy/scipy, on the shared
membership fixtures:

* ../shared/fixtures/vision/mnist_overfit_mlp.onnx on mnist_members_x/y.npy
  (500) and mnist_nonmembers_x/y.npy (500); ../shared/fixtures/tabular/
  digits_{overfit,regularised}_mlp.onnx on digits_members (898) and
  digits_nonmembers (899): every row of both files (the suite's sets), not
  REFERENCE.json's balanced first 898.
* Logits: peer_learned.py's float64 numpy forward pass of the ONNX
  Flatten/Gemm/Relu initializers, rounded to float32 (the fixture READMEs
  report no argmax disagreement with ONNX Runtime).
* gap: ART's rule, member iff argmax(one-hot y) == argmax(prediction)
  (first maximum on ties, numpy's), labels one-hot with nb_classes =
  len(unique(y)) as ART does (every class occurs in these sets). Recorded:
  how many members and nonmembers it calls members, its accuracy on the two
  sets as given, and, for the 0/1 score, scikit-learn's roc_auc_score and
  max(tpr − fpr) over roc_curve(drop_intermediate=False).
* epsilon: TF Privacy's EpsilonLowerBound(pos=member scores, neg=nonmember
  scores, alpha=0.05, two_sided_threshold=True) with the Clopper-Pearson
  method, top k=5, for the gap score and for the loss score (log p_y,
  cancellation-free as the suite). statsmodels is not installed: its
  proportion_confint(method="beta") is written out with scipy
  (beta.ppf(α/2, k, n−k+1), beta.isf(α/2, k+1, n−k); 0 at k = 0, 1 at k = n,
  statsmodels' own special cases).
* per-class slices: roc_auc_score of the gap and loss scores within each
  true class (TF Privacy's SlicingSpec(by_class=True)).

(Debian python3-numpy, python3-scipy 1.10.1, python3-sklearn 1.2.1, python3-onnx 1.12.)
Run from outside the repository root (its onnx/ folder shadows the onnx module):
  cd /tmp && /usr/bin/python3 <repo>/suites/membership/testdata/peer_label_only.py > <repo>/suites/membership/testdata/peer_label_only.json
"""
import json
import os
import sys

import numpy as np
import onnx
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.metrics._ranking import _binary_clf_curve

from peer_learned import SETS, SHARED, forward  # the same models, rows and numpy forward pass

ALPHA = 0.05  # TF Privacy EPSILON_ALPHA
K = 5         # TF Privacy EPSILON_K


def art_rule(y, y_pred):
    """MembershipInferenceBlackBoxRuleBased.infer (ART), probabilities=False."""
    nb = len(np.unique(y))
    onehot = np.eye(nb)[y]  # check_and_transform_label_format(y, nb_classes=len(np.unique(y)), return_one_hot=True)
    return (np.argmax(onehot, axis=1) == np.argmax(y_pred, axis=1)).astype(int)


def proportion_confint_beta(count, nobs, alpha):
    """statsmodels.stats.proportion.proportion_confint(count, nobs, alpha, method='beta')."""
    count = np.asarray(count, dtype=float)
    q = count / nobs
    with np.errstate(invalid="ignore"):
        lo = scipy.stats.beta.ppf(alpha / 2, count, nobs - count + 1)
        hi = scipy.stats.beta.isf(alpha / 2, count + 1, nobs - count)
    lo = np.where(q == 0, 0.0, lo)
    hi = np.where(q == 1, 1.0, hi)
    return lo, hi


def cp_ratio(tp, fp, pos, neg, alpha):
    """RatioBound(tp, fp, pos, neg, alpha)._bound_clopper_pearson()."""
    p1, _ = proportion_confint_beta(tp, pos, alpha)
    _, p0 = proportion_confint_beta(fp, neg, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.logical_or(p1 <= 0, p0 >= 1), 0, p1 / p0)


def epsilon_lower_bound(pos_scores, neg_scores, alpha=ALPHA, k=K):
    """EpsilonLowerBound(pos, neg, alpha, two_sided_threshold=True).compute_epsilon_lower_bound(CLOPPER_PEARSON, k)."""
    y_true = np.concatenate([np.ones_like(pos_scores, dtype=int), np.zeros_like(neg_scores, dtype=int)])
    y_score = np.concatenate([pos_scores, neg_scores])
    fp, tp, _ = _binary_clf_curve(y_true=y_true, y_score=y_score)
    pos, neg = pos_scores.size, neg_scores.size
    fn, tn = pos - tp, neg - fp
    ratios = np.concatenate([cp_ratio(tp, fp, pos, neg, alpha), cp_ratio(tn, fn, neg, pos, alpha),
                             cp_ratio(fp, tp, neg, pos, alpha), cp_ratio(fn, tn, pos, neg, alpha)])
    bounds = np.sort(np.log(ratios[ratios > 0]))[::-1]
    return bounds[:k]


def log_py(z, y):
    """learn.Scores.Compute's log p_y: d − log1p(Σ_{j≠argmax} exp d_j)."""
    a = z.argmax(1)
    d = z - z[np.arange(len(z)), a][:, None]
    s = np.exp(d).sum(1) - 1
    return d[np.arange(len(z)), y] - np.log1p(s)


def main():
    out = {
        "generated_by": "suites/membership/testdata/peer_label_only.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__, "onnx": onnx.__version__},
        "alpha": ALPHA, "k": K, "models": {},
    }
    for model, (sub, mem, non) in SETS.items():
        d = os.path.join(SHARED, sub)
        xs, ys = [], []
        for name in (mem, non):
            xs.append(np.load(os.path.join(d, name + "_x.npy")).astype(np.float64))
            ys.append(np.load(os.path.join(d, name + "_y.npy")))
        x, lab = np.concatenate(xs), np.concatenate(ys)
        nm, nn = len(ys[0]), len(ys[1])
        member = np.concatenate([np.ones(nm, int), np.zeros(nn, int)])
        z = forward(os.path.join(d, model + ".onnx"), x).astype(np.float32).astype(np.float64)
        # ART infers on the members and on the nonmembers separately.
        inf_m, inf_n = art_rule(ys[0], z[:nm]), art_rule(ys[1], z[nm:])
        gap = np.concatenate([inf_m, inf_n]).astype(float)
        fpr, tpr, _ = roc_curve(member, gap, drop_intermediate=False)
        loss = log_py(z, lab)
        res = {
            "members": nm, "nonmembers": nn,
            "gap": {
                "predicted_members_members": int(inf_m.sum()), "predicted_members_nonmembers": int(inf_n.sum()),
                "art_accuracy": float((inf_m.sum() + (nn - inf_n.sum())) / (nm + nn)),
                "auc": float(roc_auc_score(member, gap)), "advantage": float((tpr - fpr).max()),
                "epsilon_top": [float(v) for v in epsilon_lower_bound(gap[:nm], gap[nm:])],
            },
            "loss": {"epsilon_top": [float(v) for v in epsilon_lower_bound(loss[:nm], loss[nm:])]},
            "class_auc": {"gap": [], "loss": []},
        }
        for c in range(z.shape[1]):
            sel = lab == c
            res["class_auc"]["gap"].append(float(roc_auc_score(member[sel], gap[sel])))
            res["class_auc"]["loss"].append(float(roc_auc_score(member[sel], loss[sel])))
        out["models"][model] = res
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

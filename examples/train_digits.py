#!/usr/bin/python3
"""train_digits.py builds Gauntlet's demo model and evaluation data.

It trains a small CNN on the UCI 8x8 handwritten digits (Alpaydin & Kaynak 1998,
doi:10.24432/C50P49, CC BY 4.0; the copy bundled with scikit-learn 1.2.1) and
writes, next to this script:

  digits_cnn.onnx          the classifier, input "input" [N,1,8,8] float32,
                           output "logits" [N,10] (raw logits), opset 13
  digits_cnn_softmax.onnx  the same weights with a Softmax appended,
                           output "probabilities" [N,10]
  digits_eval_x.npy        eval images, float32 [400,1,8,8], pixel/16 in [0,1]
  digits_eval_y.npy        eval labels, int64 [400]
  digits_eval.csv          the same eval split as CSV: header p0..p63,label
  REFERENCE.json           reference figures on the eval split (see its
                           "definitions" key)

Run from the repository root (Debian's python3-torch 1.13 and python3-onnx):

  /usr/bin/python3 examples/train_digits.py [--data PATH]

Everything is seeded (SEED below) and runs on one CPU thread with
deterministic algorithms, so a rerun with the same torch build reproduces the
same weights and figures.
"""

import argparse
import gzip
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

SEED = 20260101
EVAL_PER_CLASS = 40  # 10 classes x 40 = 400 eval samples, stratified
EPOCHS = 40
BATCH = 64
LR = 3e-3
WEIGHT_DECAY = 1e-4
OPSET = 13
ECE_BINS = 15

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "datasets", "digits", "digits.csv.gz")


class DigitsCNN(nn.Module):
    """Conv(1->8)-ReLU-MaxPool2-Conv(8->16)-ReLU-MaxPool2-Linear(64->32)-ReLU-Linear(32->10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


class WithSoftmax(nn.Module):
    """WithSoftmax appends a Softmax over the class axis to a logits model."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.softmax(self.inner(x), dim=1)


def load_digits(path):
    """load_digits returns the raw 0-16 pixels as int64 [n,64] and labels int64 [n]."""
    rows = []
    with gzip.open(path, "rt") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(",")
            if len(fields) != 65:
                sys.exit(f"{path}: line {lineno}: {len(fields)} fields, want 65")
            vals = [float(v) for v in fields]
            if any(v != int(v) for v in vals):
                sys.exit(f"{path}: line {lineno}: non-integer value")
            rows.append([int(v) for v in vals])
    a = np.asarray(rows, dtype=np.int64)
    if a.shape != (1797, 65):
        sys.exit(f"{path}: shape {a.shape}, want (1797, 65)")
    pix, y = a[:, :64], a[:, 64]
    if pix.min() < 0 or pix.max() > 16 or y.min() < 0 or y.max() > 9:
        sys.exit(f"{path}: pixel or label out of range")
    return pix, y


def stratified_split(y, rng):
    """stratified_split takes EVAL_PER_CLASS random rows of each class for eval.

    Both index arrays are returned in a random (class-mixed) order.
    """
    ev, tr = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        ev.append(idx[:EVAL_PER_CLASS])
        tr.append(idx[EVAL_PER_CLASS:])
    ev = np.concatenate(ev)
    tr = np.concatenate(tr)
    return tr[rng.permutation(len(tr))], ev[rng.permutation(len(ev))]


def train(x, y):
    """train fits DigitsCNN on x [n,1,8,8] float32, y [n] int64 and returns it in eval mode."""
    torch.manual_seed(SEED)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = len(yt)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, BATCH):
            b = perm[i : i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xt[b]), yt[b])
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  train loss {total / n:.4f}")
    model.eval()
    return model


def export(model, path, output_name):
    """export writes model as ONNX (opset 13, dynamic batch axis) and checks it."""
    dummy = torch.zeros(1, 1, 8, 8, dtype=torch.float32)
    torch.onnx.export(
        model,
        dummy,
        path,
        input_names=["input"],
        output_names=[output_name],
        dynamic_axes={"input": {0: "N"}, output_name: {0: "N"}},
        opset_version=OPSET,
        do_constant_folding=True,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def ece_bin(conf):
    """ece_bin returns k such that k/15 < conf <= (k+1)/15 (bounds computed as float64 k/15)."""
    for k in range(ECE_BINS):
        lo, hi = k / ECE_BINS, (k + 1) / ECE_BINS
        if lo < conf <= hi:
            return k
    raise ValueError(f"confidence {conf!r} outside (0,1]")


def reference(logits32, y):
    """reference computes the REFERENCE.json figures in float64 from float32 logits."""
    z = logits32.astype(np.float64)
    n = len(y)
    zs = z - z.max(axis=1, keepdims=True)
    p = np.exp(zs)
    p /= p.sum(axis=1, keepdims=True)
    pred = z.argmax(axis=1)  # first index on ties, as numpy
    conf = p.max(axis=1)
    correct = pred == y

    cm = np.zeros((10, 10), dtype=np.int64)
    for t, q in zip(y, pred):
        cm[t, q] += 1
    precision, recall = [], []
    for c in range(10):
        npred = int(cm[:, c].sum())
        ntrue = int(cm[c, :].sum())
        precision.append(None if npred == 0 else float(cm[c, c]) / npred)
        recall.append(None if ntrue == 0 else float(cm[c, c]) / ntrue)

    bins = []
    ece = 0.0
    members = np.array([ece_bin(float(c)) for c in conf])
    for k in range(ECE_BINS):
        m = members == k
        cnt = int(m.sum())
        b = {"lower": k / ECE_BINS, "upper": (k + 1) / ECE_BINS, "count": cnt,
             "accuracy": None, "confidence": None}
        if cnt:
            acc_b = float(correct[m].mean())
            conf_b = float(conf[m].mean())
            b["accuracy"], b["confidence"] = acc_b, conf_b
            ece += cnt / n * abs(acc_b - conf_b)
        bins.append(b)

    # Robustness figures, so consumers can pick tolerances: how close the top two
    # logits and the confidences come to a tie or to an ECE bin edge.
    top2 = np.sort(z, axis=1)[:, -2:]
    edges = np.arange(1, ECE_BINS) / ECE_BINS  # interior edges; 0 and 1 cannot move a sample
    edge_dist = np.abs(conf[:, None] - edges[None, :]).min(axis=1)

    return {
        "n": n,
        "accuracy": float(correct.mean()),
        "correct": int(correct.sum()),
        "precision": precision,
        "recall": recall,
        "confusion_matrix": cm.tolist(),
        "mean_confidence": float(conf.mean()),
        "ece": ece,
        "ece_bins": bins,
        "predicted": pred.tolist(),
        "logits_first5": [[float(v) for v in row] for row in logits32[:5]],
        "probabilities_first5": [[float(v) for v in row] for row in p[:5]],
        "min_top2_logit_margin": float((top2[:, 1] - top2[:, 0]).min()),
        "min_confidence_to_bin_edge": float(edge_dist.min()),
    }


DEFINITIONS = {
    "source": "logits from the float32 model digits_cnn.onnx (computed by torch in float32 on CPU), "
    "cast to float64; every figure below is computed from them in float64 with numpy",
    "softmax": "p_ic = exp(z_ic - max_c z_ic) / sum_c exp(z_ic - max_c z_ic)",
    "predicted": "argmax_c z_ic (lowest class index on ties)",
    "accuracy": "fraction of eval samples with predicted == label",
    "precision": "precision[c] = confusion[c][c] / sum_t confusion[t][c]; null when class c is never predicted",
    "recall": "recall[c] = confusion[c][c] / sum_p confusion[c][p]; null when class c never occurs",
    "confusion_matrix": "confusion[t][p] = number of samples with true label t predicted as p "
    "(rows = true class, columns = predicted class)",
    "mean_confidence": "mean over samples of max_c p_ic",
    "ece": "expected calibration error, 15 equal-width bins over (0,1] on confidence = max_c p_ic; "
    "sample i is in bin k when k/15 < conf_i <= (k+1)/15 (bounds as float64 k/15); "
    "ECE = sum_k |B_k|/N * |acc(B_k) - conf(B_k)|, empty bins contribute 0; "
    "acc(B_k) = fraction correct in bin k, conf(B_k) = mean confidence in bin k",
    "ece_bins": "per-bin lower/upper bound, count, accuracy and mean confidence (null when empty)",
    "logits_first5": "raw float32 logits of eval samples 0..4, written as float64 decimals",
    "probabilities_first5": "float64 softmax of logits_first5",
    "min_top2_logit_margin": "smallest gap between the largest and second-largest logit over the eval split",
    "min_confidence_to_bin_edge": "smallest |conf_i - k/15| over samples and the interior bin edges k = 1..14",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="digits.csv.gz (default: %(default)s)")
    ap.add_argument("--out", default=HERE, help="output folder (default: this script's folder)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    pix, y = load_digits(args.data)
    rng = np.random.default_rng(SEED)
    tr, ev = stratified_split(y, rng)
    x = (pix.astype(np.float64) / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    print(f"train {len(tr)}  eval {len(ev)}")

    model = train(x[tr], y[tr])

    out = args.out
    os.makedirs(out, exist_ok=True)
    p_onnx = os.path.join(out, "digits_cnn.onnx")
    p_soft = os.path.join(out, "digits_cnn_softmax.onnx")
    export(model, p_onnx, "logits")
    export(WithSoftmax(model), p_soft, "probabilities")

    xe, ye = np.ascontiguousarray(x[ev]), np.ascontiguousarray(y[ev]).astype(np.int64)
    np.save(os.path.join(out, "digits_eval_x.npy"), xe)
    np.save(os.path.join(out, "digits_eval_y.npy"), ye)
    with open(os.path.join(out, "digits_eval.csv"), "w", newline="\n") as f:
        f.write(",".join([f"p{i}" for i in range(64)] + ["label"]) + "\n")
        for i in ev:
            f.write(",".join([repr(int(v) / 16) for v in pix[i]] + [str(int(y[i]))]) + "\n")

    with torch.no_grad():
        logits = model(torch.from_numpy(xe)).numpy()
        probs = WithSoftmax(model)(torch.from_numpy(xe)).numpy()
        train_logits = model(torch.from_numpy(x[tr])).numpy()
    ref = reference(logits, ye)
    ref_soft_pred = probs.astype(np.float64).argmax(axis=1)
    if not np.array_equal(ref_soft_pred, np.asarray(ref["predicted"])):
        sys.exit("softmax model predicts differently from the logits model")

    doc = {
        "description": "Reference figures for examples/digits_cnn.onnx on the eval split "
        "examples/digits_eval_x.npy / digits_eval_y.npy (same rows and order as digits_eval.csv), "
        "written by examples/train_digits.py",
        "seed": SEED,
        "train_samples": int(len(tr)),
        "train_accuracy": float((train_logits.argmax(axis=1) == y[tr]).mean()),
        "environment": {"torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                        "python": sys.version.split()[0]},
        "data_sha256": sha256(args.data),
        "definitions": DEFINITIONS,
        **ref,
    }
    with open(os.path.join(out, "REFERENCE.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    print(f"eval accuracy {ref['accuracy']:.4f}  mean confidence {ref['mean_confidence']:.4f}  "
          f"ECE {ref['ece']:.4f}")
    for name in ("digits_cnn.onnx", "digits_cnn_softmax.onnx", "digits_eval_x.npy",
                 "digits_eval_y.npy", "digits_eval.csv", "REFERENCE.json"):
        p = os.path.join(out, name)
        print(f"{sha256(p)}  {name}  ({os.path.getsize(p)} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""make_adult.py builds the tabular half of Gauntlet's demo: a small income MLP
on the UCI Adult census data, with sex and race kept for the fairness suite.

Data: UCI Adult (Becker & Kohavi 1996, doi:10.24432/C5XW20, CC BY 4.0), read
from ../shared/datasets/adult (adult.data, adult.test; see the README there).
Writes, next to this script:

  adult_mlp.onnx    the classifier: input "input" float32 [N,47] (dynamic
                    batch axis N), output "logits" float32 [N,2]
                    (class 1 = income >50K), opset 13
  adult_train.csv   the 2,000 training rows (sampled from adult.data): the
                    members of the membership suite and the training set the
                    poisoning scan reads
  adult_eval.csv    1,000 rows sampled from adult.test, never trained on: the
                    evaluation data and the nonmembers
  REFERENCE.json    accuracy, confusion counts and group rates on both splits,
                    computed in float64 from the model's float32 logits

CSV columns: the 47 features in model-input order (num_* scaled to [0,1],
cat_* one-hot 0/1), then sex and race as strings (for grouping), then label
(0/1). Every value lies in [0,1], so the evasion suite's data.range is [0,1].

Run from the repository root with Debian's python3-torch 1.13 and
python3-onnx:

  /usr/bin/python3 examples/adult/make_adult.py [--data DIR] [--out DIR]

Seeded (SEED), one CPU thread, deterministic algorithms: a rerun with the same
torch build writes the same files.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

SEED = 20260115
N_TRAIN = 2000
N_EVAL = 1000
EPOCHS = 150
BATCH = 64
LR = 3e-3
OPSET = 13

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "..", "shared", "datasets", "adult")

COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
           "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
           "hours-per-week", "native-country", "income"]

# Numeric features, each scaled to [0,1] with fixed bounds (the ranges of
# adult.data), capital gains and losses on a log scale.
NUMERIC = [
    ("num_age", lambda r: (float(r["age"]) - 17) / (90 - 17)),
    ("num_education_num", lambda r: (float(r["education-num"]) - 1) / (16 - 1)),
    ("num_capital_gain", lambda r: np.log1p(float(r["capital-gain"])) / np.log1p(99999)),
    ("num_capital_loss", lambda r: np.log1p(float(r["capital-loss"])) / np.log1p(4356)),
    ("num_hours_per_week", lambda r: (float(r["hours-per-week"]) - 1) / (99 - 1)),
]

# One-hot features: every value of adult.data except "?" (missing values
# get all zeros). sex and race are model inputs, so the fairness suite's
# counterfactual flip test applies.
CATEGORIES = {
    "workclass": ["Federal-gov", "Local-gov", "Never-worked", "Private", "Self-emp-inc",
                  "Self-emp-not-inc", "State-gov", "Without-pay"],
    "marital-status": ["Divorced", "Married-AF-spouse", "Married-civ-spouse",
                       "Married-spouse-absent", "Never-married", "Separated", "Widowed"],
    "occupation": ["Adm-clerical", "Armed-Forces", "Craft-repair", "Exec-managerial",
                   "Farming-fishing", "Handlers-cleaners", "Machine-op-inspct", "Other-service",
                   "Priv-house-serv", "Prof-specialty", "Protective-serv", "Sales", "Tech-support",
                   "Transport-moving"],
    "relationship": ["Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife"],
    "race": ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"],
    "sex": ["Female", "Male"],
}


def feature_names():
    names = [n for n, _ in NUMERIC]
    for col, values in CATEGORIES.items():
        names += ["cat_%s_%s" % (col.replace("-", "_"), v) for v in values]
    return names


def read_adult(path):
    """read_adult returns the rows of adult.data or adult.test as dicts."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("|"):
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != len(COLUMNS):
                sys.exit(f"{path}: {len(parts)} fields in {line[:40]!r}")
            rows.append(dict(zip(COLUMNS, parts)))
    return rows


def encode(r):
    """encode returns one CSV row's cells: features, sex, race, label."""
    cells = []
    for _, f in NUMERIC:
        cells.append("%.4f" % min(max(f(r), 0.0), 1.0))
    for col, values in CATEGORIES.items():
        cells += ["1" if r[col] == v else "0" for v in values]
    label = 1 if r["income"].rstrip(".") == ">50K" else 0
    return cells + [r["sex"], r["race"], str(label)]


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write(",".join(feature_names() + ["sex", "race", "label"]) + "\n")
        for r in rows:
            f.write(",".join(encode(r)) + "\n")


def read_csv(path):
    """read_csv reads a written CSV back: the model trains on exactly the
    float32 values Gauntlet parses from the text."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        nf = len(feature_names())
        x, y, sex, race = [], [], [], []
        for line in f:
            c = line.strip().split(",")
            x.append([float(v) for v in c[:nf]])
            sex.append(c[header.index("sex")])
            race.append(c[header.index("race")])
            y.append(int(c[header.index("label")]))
    return np.array(x, dtype=np.float32), np.array(y, dtype=np.int64), sex, race


class AdultMLP(nn.Module):
    """Linear(47->64)-ReLU-Linear(64->32)-ReLU-Linear(32->2)."""

    def __init__(self, n):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                                 nn.Linear(32, 2))

    def forward(self, x):
        return self.net(x)


def train(x, y):
    torch.manual_seed(SEED)
    model = AdultMLP(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def export(model, path, n):
    torch.onnx.export(model, torch.zeros(1, n), path, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def figures(logits, y, sex, race):
    """figures returns accuracy, confusion counts and per-group rates
    (float64 from the float32 logits; prediction = arg max, ties to 0)."""
    pred = np.argmax(logits, axis=1)
    out = {
        "rows": int(len(y)),
        "accuracy": float(np.mean(pred == y)),
        "positive_rate": float(np.mean(pred == 1)),
        "base_rate": float(np.mean(y == 1)),
        "confusion": [[int(np.sum((y == a) & (pred == b))) for b in (0, 1)] for a in (0, 1)],
        "groups": {},
    }
    for name, col in (("sex", sex), ("race", race)):
        col = np.array(col)
        out["groups"][name] = {
            g: {"rows": int(np.sum(col == g)),
                "selection_rate": float(np.mean(pred[col == g] == 1)),
                "accuracy": float(np.mean(pred[col == g] == y[col == g]))}
            for g in sorted(set(col))}
    return out


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder holding adult.data and adult.test")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(SEED)
    train_rows = read_adult(os.path.join(args.data, "adult.data"))
    test_rows = read_adult(os.path.join(args.data, "adult.test"))
    train_rows = [train_rows[i] for i in sorted(rng.choice(len(train_rows), N_TRAIN, replace=False))]
    test_rows = [test_rows[i] for i in sorted(rng.choice(len(test_rows), N_EVAL, replace=False))]

    p_train = os.path.join(args.out, "adult_train.csv")
    p_eval = os.path.join(args.out, "adult_eval.csv")
    write_csv(p_train, train_rows)
    write_csv(p_eval, test_rows)
    xtr, ytr, sextr, racetr = read_csv(p_train)
    xev, yev, sexev, raceev = read_csv(p_eval)

    model = train(xtr, ytr)
    p_onnx = os.path.join(args.out, "adult_mlp.onnx")
    export(model, p_onnx, xtr.shape[1])

    with torch.no_grad():
        ltr = model(torch.from_numpy(xtr)).numpy().astype(np.float64)
        lev = model(torch.from_numpy(xev)).numpy().astype(np.float64)
    ref = {
        "features": feature_names(),
        "train": figures(ltr, ytr, sextr, racetr),
        "eval": figures(lev, yev, sexev, raceev),
        "data_sha256": {n: sha256(os.path.join(args.data, n)) for n in ("adult.data", "adult.test")},
        "seed": SEED,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
    }
    with open(os.path.join(args.out, "REFERENCE.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print("train accuracy %.4f, eval accuracy %.4f" % (ref["train"]["accuracy"], ref["eval"]["accuracy"]))
    for name in ("make_adult.py", "adult_mlp.onnx", "adult_train.csv", "adult_eval.csv", "REFERENCE.json"):
        p = os.path.join(HERE if name == "make_adult.py" else args.out, name)
        print(f"{sha256(p)}  {name}  ({os.path.getsize(p)} bytes)")


if __name__ == "__main__":
    main()

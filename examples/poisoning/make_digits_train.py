#!/usr/bin/env python3
"""make_digits_train writes the training split of the 8x8 digits demo data.

examples/train_digits.py splits the UCI digits (scikit-learn's copy) into 400
eval rows (committed as examples/digits_eval_*.npy) and 1,397 training rows,
which it does not save. This script repeats that split (same seed, same
function) and writes the training rows, for the poisoning suite's
susceptibility experiment:

  digits_train_x.npy  float32 [1397,1,8,8], raw pixel (0-16) / 16
  digits_train_y.npy  int64   [1397]

Run from the repository root: /usr/bin/python3 examples/poisoning/make_digits_train.py
(needs numpy and ../shared/datasets/digits/digits.csv.gz; torch is imported by
train_digits.py but not used here). Licence and citation: examples/README.md
(CC BY 4.0, Alpaydin & Kaynak 1998).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import train_digits as td  # noqa: E402


def main():
    pix, y = td.load_digits(td.DEFAULT_DATA)
    rng = np.random.default_rng(td.SEED)
    tr, ev = td.stratified_split(y, rng)
    x = (pix.astype(np.float64) / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    ref = np.load(os.path.join(HERE, "..", "digits_eval_x.npy"))
    if not np.array_equal(ref, x[ev]):
        sys.exit("the eval split does not match examples/digits_eval_x.npy")
    np.save(os.path.join(HERE, "digits_train_x.npy"), np.ascontiguousarray(x[tr]))
    np.save(os.path.join(HERE, "digits_train_y.npy"), np.ascontiguousarray(y[tr]).astype(np.int64))
    print(f"train {len(tr)} rows, class counts {np.bincount(y[tr]).tolist()}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""make_families.py builds the poisoning suite's trigger-family fixtures.

For each trigger family below it poisons the committed 8x8 digits training
split (examples/poisoning/digits_train_*.npy, 1397 rows; UCI digits,
Alpaydin & Kaynak 1998, CC BY 4.0, see examples/README.md) and trains two
architectures on it with Debian's torch 1.13:

  cnn     Conv(1->8)-ReLU-MaxPool-Conv(8->16)-ReLU-MaxPool-Linear(64->32)-ReLU-Linear(32->10)
          (the demo model's architecture, examples/train_digits.py)
  rescnn  Conv(1->16)-ReLU, two residual blocks [Conv-ReLU-Conv + skip, ReLU]
          with a MaxPool between them, global average pool, Linear(16->32)-ReLU-Linear(32->10)

Families (target class 0 for all; x in [0, 1]; the same formulas as
suites/poisoning/trigger.go):

  blend       dirty-label: 10% of the training set (non-target rows) get
              x' = (1-a)x + a*P, P the full-image checkerboard (1 where
              row+col is even, else 0), a = 0.2, and label 0
  warp        dirty-label, WaNet (Nguyen & Tran 2021): a k x k = 4 x 4
              field U(-1,1)^2 divided by its mean |.|, upsampled bilinearly
              (align_corners) to 8 x 8, grid = identity + s*field/8 with
              s = 2, clamped to [-1, 1], sampled bilinearly (align_corners);
              10% of the rows, label 0
  sinusoidal  dirty-label, Barni et al. 2019's signal: x' = clip(x +
              A*sin(2*pi*f*col/8), 0, 1), A = 0.2, f = 2; 10% of the rows,
              label 0
  clean_label the sinusoidal trigger (A = 0.3) on 80% of the target
              class's rows, labels unchanged (Barni et al.'s clean-label
              setting)

Written next to this script, for each family F and architecture A:

  F_train_x.npy          float32 [1397,1,8,8] the poisoned training set
  F_train_y.npy          int64 [1397] its labels
  F_is_poisoned.npy      bool [1397] ground truth
  F_triggered_x.npy      float32 [360,1,8,8] the non-target eval images
                         (examples/digits_eval_x.npy) with the trigger
  F_A.onnx               the model (input "input" [N,1,8,8], output
                         "logits" [N,10], opset 13)
  REFERENCE.json         clean accuracy on examples/digits_eval_*.npy and
                         attack success rate on F_triggered_x.npy per model

Run from the repository root: /usr/bin/python3 suites/poisoning/testdata/families/make_families.py
Everything is seeded and runs on one thread with deterministic algorithms.
"""

import json
import math
import os

import numpy as np
import onnx
import torch
from torch import nn
import torch.nn.functional as F

SEED = 20260113
TARGET = 0
EPOCHS = 40
BATCH = 64
LR = 3e-3
HERE = os.path.dirname(os.path.abspath(__file__))
EX = os.path.join(HERE, "..", "..", "..", "..", "examples")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.c2(F.relu(self.c1(x))))


class ResCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.b1 = Block(16)
        self.b2 = Block(16)
        self.head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.max_pool2d(self.b1(h), 2)
        h = self.b2(h)
        return self.head(h.mean(dim=(2, 3)))


def blend(x):
    r = np.arange(8)[:, None]
    c = np.arange(8)[None, :]
    p = ((r + c) % 2 == 0).astype(np.float32)
    return (0.8 * x + 0.2 * p).astype(np.float32)


def sinusoidal(amp):
    sig = (amp * np.sin(2 * math.pi * 2 * np.arange(8) / 8)).astype(np.float32)[None, :]

    def f(x):
        return np.clip(x + sig, 0, 1).astype(np.float32)
    return f


def make_warp(rng):
    k, s, h = 4, 2.0, 8
    ins = torch.tensor(rng.uniform(-1, 1, size=(1, 2, k, k)), dtype=torch.float32)
    ins = ins / torch.mean(torch.abs(ins))
    noise = F.interpolate(ins, size=h, mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
    lin = torch.linspace(-1, 1, steps=h)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    ident = torch.stack((gx, gy), 2)[None]
    grid = torch.clamp(ident + s * noise / h, -1, 1)

    def f(x):
        t = torch.tensor(x)
        out = F.grid_sample(t, grid.expand(t.shape[0], -1, -1, -1), mode="bilinear",
                            padding_mode="zeros", align_corners=True)
        return out.numpy().astype(np.float32)
    return f


def train(arch, x, y, seed):
    torch.manual_seed(seed)
    model = arch()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-4)
    xt, yt = torch.tensor(x), torch.tensor(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def export(model, path):
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    x = np.load(os.path.join(EX, "poisoning", "digits_train_x.npy"))
    y = np.load(os.path.join(EX, "poisoning", "digits_train_y.npy"))
    ex = np.load(os.path.join(EX, "digits_eval_x.npy"))
    ey = np.load(os.path.join(EX, "digits_eval_y.npy"))
    fams = [
        ("blend", blend, False, 0.10),
        ("warp", make_warp(rng), False, 0.10),
        ("sinusoidal", sinusoidal(0.2), False, 0.10),
        ("clean_label", sinusoidal(0.3), True, 0.80),
    ]
    ref = {"definitions": "clean_accuracy on examples/digits_eval_*.npy (400); attack_success_rate: "
                          "share of F_triggered_x.npy classified as 0", "target": TARGET, "families": {}}
    for fi, (name, trig, clean_label, rate) in enumerate(fams):
        if clean_label:
            cand = np.flatnonzero(y == TARGET)
        else:
            cand = np.flatnonzero(y != TARGET)
        m = int(round(rate * (len(cand) if clean_label else len(y))))
        pick = np.sort(rng.choice(cand, size=m, replace=False))
        px, py = x.copy(), y.copy()
        px[pick] = trig(x[pick])
        if not clean_label:
            py[pick] = TARGET
        isp = np.zeros(len(y), dtype=bool)
        isp[pick] = True
        tx = trig(ex[ey != TARGET])
        np.save(os.path.join(HERE, f"{name}_train_x.npy"), px.astype(np.float32))
        np.save(os.path.join(HERE, f"{name}_train_y.npy"), py.astype(np.int64))
        np.save(os.path.join(HERE, f"{name}_is_poisoned.npy"), isp)
        np.save(os.path.join(HERE, f"{name}_triggered_x.npy"), tx.astype(np.float32))
        fr = {"poisoned": int(m), "clean_label": clean_label, "models": {}}
        for ai, (aname, arch) in enumerate([("cnn", CNN), ("rescnn", ResCNN)]):
            model = train(arch, px, py, SEED + 10 * fi + ai)
            with torch.no_grad():
                acc = float((model(torch.tensor(ex)).argmax(1).numpy() == ey).mean())
                asr = float((model(torch.tensor(tx)).argmax(1).numpy() == TARGET).mean())
            export(model, os.path.join(HERE, f"{name}_{aname}.onnx"))
            fr["models"][aname] = {"clean_accuracy": acc, "attack_success_rate": asr}
            print(name, aname, "poisoned", m, "acc", acc, "asr", asr, flush=True)
        ref["families"][name] = fr
    with open(os.path.join(HERE, "REFERENCE.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

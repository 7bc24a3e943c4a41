#!/usr/bin/python3
"""make_blend_mnist.py builds STRIP's blended-patch fixture: issue 13's case
(a blended 4x4 checkerboard at alpha 0.5 on a residual CNN, 10% of the
training set relabelled to the target) on MNIST, which ../shared holds.

Training data: the 6000 images of ../shared/fixtures/vision/
mnist_poison_subset_x.npy with their original labels (..._y_orig.npy), the
300 patched ones restored to clean by training only on the 5700 clean ones
(is_poisoned false). 10% of those (570, drawn from the non-target rows) get
the trigger and label 0:

  x' = x outside the patch; (1 - a)x + a*P on rows/cols 24..27, a = 0.5,
  P the checkerboard (1 where row+col is even, counted from the patch's
  top-left corner at (24, 24), else 0)

which is suites/poisoning/trigger.go's blend {x: 24, y: 24, width: 4,
height: 4, pattern: checkerboard, alpha: 0.5}.

Model: ResCNN as in ../families/make_families.py (Conv(1->16)-ReLU, two
residual blocks with a MaxPool between them, global average pool,
Linear(16->32)-ReLU-Linear(32->10)), Adam 3e-3, 8 epochs, batch 64, on one
thread with deterministic algorithms, seeded.

Writes blend_mnist_rescnn.onnx (input "input" [N,1,28,28], output "logits"
[N,10], opset 13) and REFERENCE.json (clean accuracy on the first 1000 of
../shared's mnist_test_*.npy, the images the test evaluates on, and the
attack success rate on their non-target images with the trigger).

Run from the repository root: /usr/bin/python3 suites/poisoning/testdata/strip/make_blend_mnist.py
"""

import json
import os

import numpy as np
import onnx
import torch
from torch import nn
import torch.nn.functional as F

SEED = 20261313
TARGET = 0
EPOCHS = 8
BATCH = 64
LR = 3e-3
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "..", "shared", "fixtures", "vision")


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


def trigger(x):
    out = x.copy()
    r = np.arange(4)[:, None]
    c = np.arange(4)[None, :]
    p = ((r + c) % 2 == 0).astype(np.float32)
    out[..., 24:28, 24:28] = 0.5 * out[..., 24:28, 24:28] + 0.5 * p
    return out.astype(np.float32)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    x = np.load(os.path.join(SHARED, "mnist_poison_subset_x.npy"))
    y = np.load(os.path.join(SHARED, "mnist_poison_subset_y_orig.npy"))
    isp = np.load(os.path.join(SHARED, "mnist_poison_subset_is_poisoned.npy"))
    x, y = x[~isp], y[~isp]
    cand = np.flatnonzero(y != TARGET)
    pick = np.sort(rng.choice(cand, size=int(round(0.1 * len(y))), replace=False))
    x[pick] = trigger(x[pick])
    y = y.copy()
    y[pick] = TARGET
    tx = np.load(os.path.join(SHARED, "mnist_test_x.npy"))[:1000]
    ty = np.load(os.path.join(SHARED, "mnist_test_y.npy"))[:1000]
    torch.manual_seed(SEED)
    model = ResCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-4)
    xt, yt = torch.tensor(x), torch.tensor(y)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        print("epoch", ep, flush=True)
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.tensor(tx)).argmax(1).numpy() == ty).mean())
        asr = float((model(torch.tensor(trigger(tx[ty != TARGET]))).argmax(1).numpy() == TARGET).mean())
    path = os.path.join(HERE, "blend_mnist_rescnn.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    ref = {"definitions": "clean_accuracy on the first 1000 of ../shared mnist_test_*.npy; attack_success_rate: "
                          "share of their non-target images with the trigger classified as 0",
           "poisoned": int(len(pick)), "train": int(len(y)), "target": TARGET,
           "clean_accuracy": acc, "attack_success_rate": asr}
    with open(os.path.join(HERE, "REFERENCE.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print(ref)


if __name__ == "__main__":
    main()

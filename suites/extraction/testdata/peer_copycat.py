#!/usr/bin/python3
"""ART 1.18.2's CopycatCNN, ported, on the shared MNIST CNN: the peer figures
of suites/extraction's TestCopycatPeer (peer_copycat.json).

The port (art/attacks/extraction/copycat_cnn.py, ART 1.18.2, with
use_probability=False, ART's default):
  * _select_data: nb_stolen rows of the query set drawn without replacement,
    np.random.choice(len(x), nb_stolen, replace=False);
  * _query_label: the victim's predictions, arg max, one-hot;
  * the thieved classifier fitted as PyTorchClassifier.fit does: a DataLoader
    with shuffle=True and drop_last=False, CrossEntropyLoss on the arg max of
    the one-hot labels (ART's reduce_labels), the classifier's optimizer (Adam
    here), nb_epochs passes.
The victim is ../shared/fixtures/vision/mnist_cnn.onnx, rebuilt in torch from
its ONNX initializers (their names are the torch state_dict keys, see the
README there), as benchmarks/pgdpeer does; the thieved classifier is
Gauntlet's surrogate architecture (package train's CNN: Conv(8, 3x3, pad 1)-
ReLU-MaxPool 2-Flatten-Linear(1568, 64)-ReLU-Linear(64, 10), Glorot-uniform
weights, zero biases) with Gauntlet's training settings (Adam, lr 3e-3,
batch 32) and the epochs of the Go test. Query set: mnist_poison_subset_x.npy
(6,000 MNIST training images; the clean model's answers are what is learnt).
Fidelity and accuracy are measured on mnist_test_x/y (2,000 test images).
Budgets 1000 and 2000 (BUDGETS=1000,2000,5000 adds 5000: too slow on the 2
shared cores the figures were made on). Each budget runs with SEEDS numpy/torch seeds; the JSON holds every seed's
figures and their mean and standard deviation.

Run: /usr/bin/python3 suites/extraction/testdata/peer_copycat.py
(torch 1.13 on 2 threads of a loaded 2-core machine: about 10 minutes.)
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
VISION = os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures", "vision")
BUDGETS = [int(b) for b in os.environ.get("BUDGETS", "1000,2000").split(",")]
EPOCHS = 10
BATCH = 32
LR = 3e-3
SEEDS = [0, 1, 2]


class Victim(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def surrogate():
    m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 14 * 14, 64), nn.ReLU(), nn.Linear(64, 10))
    for p in m:
        if isinstance(p, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(p.weight)
            nn.init.zeros_(p.bias)
    return m


def predict(model, x, batch=500):
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])


def main():
    torch.set_num_threads(2)
    g = onnx.load(os.path.join(VISION, "mnist_cnn.onnx"))
    sd = {t.name: torch.from_numpy(np.array(numpy_helper.to_array(t), dtype=np.float32)) for t in g.graph.initializer}
    victim = Victim()
    victim.load_state_dict(sd)
    victim.eval()
    qx = np.load(os.path.join(VISION, "mnist_poison_subset_x.npy")).astype(np.float32)
    tx = np.load(os.path.join(VISION, "mnist_test_x.npy")).astype(np.float32)
    ty = np.load(os.path.join(VISION, "mnist_test_y.npy"))
    ref = predict(victim, tx).argmax(1)
    out = {"art_version": "1.18.2 (ported)", "torch": torch.__version__, "budgets": BUDGETS, "epochs": EPOCHS,
           "batch": BATCH, "learning_rate": LR, "seeds": SEEDS, "victim_accuracy": float((ref == ty).mean()), "runs": {}}
    for b in BUDGETS:
        runs = []
        for s in SEEDS:
            np.random.seed(s)
            torch.manual_seed(s)
            idx = np.random.choice(len(qx), b, replace=False)  # CopycatCNN._select_data
            x = qx[idx]
            labels = np.eye(10, dtype=np.float32)[predict(victim, x).argmax(1)]  # _query_label
            y = labels.argmax(1)  # PyTorchClassifier.fit's reduce_labels
            model = surrogate()
            opt = torch.optim.Adam(model.parameters(), lr=LR)
            loss = nn.CrossEntropyLoss()
            dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                             batch_size=BATCH, shuffle=True, drop_last=False)
            model.train()
            for _ in range(EPOCHS):
                for xb, yb in dl:
                    opt.zero_grad()
                    loss(model(xb), yb).backward()
                    opt.step()
            model.eval()
            pred = predict(model, tx).argmax(1)
            runs.append({"seed": s, "fidelity": float((pred == ref).mean()), "accuracy": float((pred == ty).mean())})
            print(b, runs[-1], flush=True)
        f = np.array([r["fidelity"] for r in runs])
        a = np.array([r["accuracy"] for r in runs])
        out["runs"][str(b)] = {"seeds": runs, "fidelity_mean": float(f.mean()), "fidelity_std": float(f.std(ddof=1)),
                               "accuracy_mean": float(a.mean())}
    with open(os.path.join(HERE, "peer_copycat.json"), "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()

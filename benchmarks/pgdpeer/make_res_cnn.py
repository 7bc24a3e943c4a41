#!/usr/bin/python3
"""Writes res_cnn.onnx beside this script: the residual CNN with BatchNorm
that `make bench-peer` attacks beside the shared MNIST CNN.

Architecture (1×28×28 in, 10 logits out, 19 706 parameters): a stem Conv 3×3
(1→16) + BatchNorm + Relu, two residual blocks (Conv 3×3 + BN + Relu + Conv
3×3 + BN, added to the block's input or to a strided 1×1 Conv + BN
projection, then Relu): 16→16 at 28×28 and 16→32 at 14×14 (stride 2),
global average pooling and a Linear 32→10.

Training: the 5 700 clean images of ../shared/fixtures/vision/
mnist_poison_subset_x.npy (MNIST training images; is_poisoned false) with
their original labels, 3 epochs of Adam (lr 3e-3, batch 64), seed 20260101,
one thread. Export: eval mode, opset 13, dynamic batch axis "N",
training=PRESERVE and do_constant_folding=False so the BatchNormalization
nodes stay in the graph (torch's eval export would fold them into the
convolutions). It prints its accuracy on the first 1000 test images
(mnist_test_x.npy); the committed file printed 0.910 (torch 1.13.0a0, Debian).

  /usr/bin/python3 benchmarks/pgdpeer/make_res_cnn.py
"""

import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "fixtures", "vision")


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.proj is None else self.proj(x)))


class ResCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.block1 = Block(16, 16, 1)
        self.block2 = Block(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        h = F.relu(self.bn(self.stem(x)))
        h = self.block2(self.block1(h))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def main():
    torch.manual_seed(20260101)
    torch.set_num_threads(1)
    x = np.load(os.path.join(SHARED, "mnist_poison_subset_x.npy"))
    y = np.load(os.path.join(SHARED, "mnist_poison_subset_y_orig.npy"))
    keep = ~np.load(os.path.join(SHARED, "mnist_poison_subset_is_poisoned.npy"))
    x, y = torch.from_numpy(x[keep]), torch.from_numpy(y[keep])
    model = ResCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(20260102)
    for epoch in range(3):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    tx = torch.from_numpy(np.load(os.path.join(SHARED, "mnist_test_x.npy"))[:1000])
    ty = torch.from_numpy(np.load(os.path.join(SHARED, "mnist_test_y.npy"))[:1000])
    with torch.no_grad():
        acc = (model(tx).argmax(1) == ty).float().mean().item()
    print(f"parameters {sum(p.numel() for p in model.parameters())}, test accuracy (first 1000) {acc:.3f}")
    path = os.path.join(HERE, "res_cnn.onnx")
    torch.onnx.export(model, tx[:2], path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print("wrote", path, "ops", ops)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the tiny ONNX fixtures used by the runtime package's tests.

Run from this directory with the Debian torch (1.13) and onnx (1.12):

    /usr/bin/python3 gen_models.py

It writes mlp_logits.onnx, mlp_softmax.onnx, mlp_logsoftmax.onnx,
fixed_batch4.onnx, mlp_float64.onnx, two_inputs.onnx and expected.json.
expected.json holds the test input X (6 samples of 4 features) and the
outputs torch computes for it with each model, in float32 (printed below
as well). Seeds are fixed, so a rerun gives the same files' numbers.
"""
import json

import torch
from torch import nn

torch.manual_seed(20261122)


class MLP(nn.Module):
    """Linear(4,8)-ReLU-Linear(8,3): logits."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Head(nn.Module):
    """Wraps the MLP with a final activation."""

    def __init__(self, mlp, kind):
        super().__init__()
        self.mlp = mlp
        self.kind = kind

    def forward(self, x):
        if self.kind == "float64":
            x = x.float()
        y = self.mlp(x)
        if self.kind == "softmax":
            y = torch.softmax(y, dim=1)
        elif self.kind == "logsoftmax":
            y = torch.log_softmax(y, dim=1)
        return y


class TwoInputs(nn.Module):
    def __init__(self, mlp):
        super().__init__()
        self.mlp = mlp

    def forward(self, a, b):
        return self.mlp(a + b)


mlp = MLP().eval()
X = torch.randn(6, 4)


def export(model, args, path, in_names, dynamic=True):
    axes = None
    if dynamic:
        axes = {n: {0: "batch"} for n in in_names}
        axes["out"] = {0: "batch"}
    torch.onnx.export(model, args, path, input_names=in_names, output_names=["out"],
                      dynamic_axes=axes, opset_version=13, do_constant_folding=True)


expected = {"x": X.flatten().tolist(), "n": 6, "features": 4, "classes": 3}
with torch.no_grad():
    for kind in ["logits", "softmax", "logsoftmax"]:
        m = Head(mlp, kind).eval()
        export(m, (X,), f"mlp_{kind}.onnx", ["x"])
        expected[f"mlp_{kind}"] = m(X).flatten().tolist()
    m = Head(mlp, "float64").eval()
    export(m, (X.double(),), "mlp_float64.onnx", ["x"])
    expected["mlp_float64"] = m(X.double()).flatten().tolist()
    # Batch fixed at 4: exported with a 4-row example and no dynamic axes.
    m = Head(mlp, "logits").eval()
    export(m, (X[:4],), "fixed_batch4.onnx", ["x"], dynamic=False)
    expected["fixed_batch4"] = m(X).flatten().tolist()
    m = TwoInputs(mlp).eval()
    export(m, (X, X), "two_inputs.onnx", ["a", "b"])
    expected["two_inputs"] = m(X, X).flatten().tolist()

with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
for k, v in expected.items():
    print(k, v)

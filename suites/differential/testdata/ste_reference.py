#!/usr/bin/python3
"""Reference straight-through gradients of an INT8 QDQ model written by Gauntlet.

Computes, with PyTorch autograd in float64 and without ONNX Runtime or Gauntlet,
the per-sample cross-entropy of the QDQ graph and its gradient with respect to the
input, where QuantizeLinear has the straight-through (BPDA) gradient of
autodiff/rules_quant.go: forward saturate(round_half_even(x / s) + zp) as the ONNX
specification defines it, backward g / s where the unrounded x / s + zp lies in the
integer range of zp's type and 0 elsewhere; DequantizeLinear is (q - zp) * s, whose
autograd gradient is g * s (per channel along `axis`). Every float operator (Gemm,
MatMul, Add, Relu, Flatten, Conv, MaxPool) runs in torch on the dequantised values,
so the gradient is the float model's gradient evaluated at the dequantised
activations. Scales and zero points get no gradient.

Usage (the model, samples and labels come from the Go test, ste_test.go):
  mkdir -p /tmp/ste && GAUNTLET_STE_OUT=/tmp/ste go test -run TestStraightThroughMatchesFloatAtDequantised ./suites/differential
  /usr/bin/python3 suites/differential/testdata/ste_reference.py /tmp/ste/adult_int8.onnx \
      /tmp/ste/adult_x.f32 /tmp/ste/adult_y.i64 200 suites/differential/testdata/adult_ste_reference.json

Needs Debian's python3-onnx (1.12), python3-torch (1.13) and numpy.
"""
import hashlib
import json
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def shaped(param, axis, rank):
    if param.dim() == 0 or param.numel() == 1:
        return param.reshape(())
    shape = [1] * rank
    shape[axis % rank] = param.shape[0]
    return param.reshape(shape)


class StraightThroughQuantize(torch.autograd.Function):
    """QuantizeLinear's level (as float64) with the straight-through gradient."""

    @staticmethod
    def forward(ctx, x, s, zp, lo, hi):
        v = x / s + zp
        ctx.save_for_backward(v, s)
        ctx.lo, ctx.hi = lo, hi
        # torch.round rounds half to even, as ONNX's QuantizeLinear
        return torch.clamp(torch.round(x / s) + zp, lo, hi)

    @staticmethod
    def backward(ctx, g):
        v, s = ctx.saved_tensors
        inside = (v >= ctx.lo) & (v <= ctx.hi)
        return torch.where(inside, g / s, torch.zeros_like(g)), None, None, None, None


RANGES = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127)}


def run(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dtypes = {name: a.dtype for name, a in env.items()}
    env = {name: torch.from_numpy(a.astype(np.float64)) for name, a in env.items()}
    env[model.graph.input[0].name] = x
    for n in model.graph.node:
        i = [env[name] if name else None for name in n.input]
        op = n.op_type
        if op == "QuantizeLinear":
            axis = attr(n, "axis", 1)
            r = i[0].dim()
            zp_dtype = dtypes[n.input[2]] if len(n.input) > 2 and n.input[2] else np.dtype(np.uint8)
            zp = shaped(i[2], axis, r) if len(i) > 2 and i[2] is not None else torch.tensor(0.0, dtype=torch.float64)
            lo, hi = RANGES[zp_dtype]
            y = StraightThroughQuantize.apply(i[0], shaped(i[1], axis, r), zp, lo, hi)
        elif op == "DequantizeLinear":
            axis = attr(n, "axis", 1)
            r = i[0].dim()
            zp = shaped(i[2], axis, r) if len(i) > 2 and i[2] is not None else 0.0
            y = (i[0] - zp) * shaped(i[1], axis, r)
        elif op == "Conv":
            pads = attr(n, "pads", [0, 0, 0, 0])
            assert pads[:2] == pads[2:], "asymmetric pads"
            b = i[2] if len(i) > 2 else None
            y = F.conv2d(i[0], i[1], b, stride=attr(n, "strides", [1, 1]), padding=pads[:2],
                         dilation=attr(n, "dilations", [1, 1]), groups=attr(n, "group", 1))
        elif op == "MaxPool":
            pads = attr(n, "pads", [0, 0, 0, 0])
            y = F.max_pool2d(i[0], attr(n, "kernel_shape", None), stride=attr(n, "strides", None),
                             padding=pads[:2], ceil_mode=bool(attr(n, "ceil_mode", 0)))
        elif op == "Relu":
            y = torch.relu(i[0])  # gradient 0 at 0, as autodiff's Relu rule
        elif op == "Flatten":
            a = attr(n, "axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:a])), -1)
        elif op == "Gemm":
            a = i[0].T if attr(n, "transA", 0) else i[0]
            b = i[1].T if attr(n, "transB", 0) else i[1]
            y = attr(n, "alpha", 1.0) * (a @ b)
            if len(i) > 2 and i[2] is not None:
                y = y + attr(n, "beta", 1.0) * i[2]
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "Add":
            y = i[0] + i[1]
        else:
            raise SystemExit(f"operator {op} is not supported by this reference")
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def main():
    path, xpath, ypath, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    raw = open(path, "rb").read()
    model = onnx.load_from_string(raw)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.fromfile(xpath, dtype="<f4").reshape([-1] + shape)[:n]
    y = np.fromfile(ypath, dtype="<i8")[:n]
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    logits = run(model, xt)
    yt = torch.from_numpy(y)
    loss = F.cross_entropy(logits, yt, reduction="none")
    # ∂CE/∂z = p − e_y with the y entry computed as −Σ_{j≠y} p_j, as
    # autodiff's cross-entropy head does (autodiff/doc.go): torch's p_y − 1
    # rounds to 0 for confident samples (p_j < 1e-16), which would leave
    # only the other entries and change their gradients by a factor ~2.
    p = torch.softmax(logits.detach(), dim=1)
    others = p.clone()
    others[torch.arange(n), yt] = 0
    seed = others.clone()
    seed[torch.arange(n), yt] = -others.sum(dim=1)
    (grad,) = torch.autograd.grad(logits, xt, grad_outputs=seed)  # each sample's own loss
    grad = grad.reshape(n, -1).numpy()
    sha = hashlib.sha256(raw).hexdigest()
    json.dump({
        "model_sha256": sha,
        "data": xpath.split("/")[-1],
        "samples": n,
        "loss": [float(v) for v in loss.detach().numpy()],
        "grad": [[float(v) for v in row] for row in grad],
    }, open(out, "w"))
    print(f"wrote {out}: {n} samples, model sha256 {sha}; "
          f"{int((grad == 0).sum())} of {grad.size} gradient entries are 0")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference logits of an INT8 QDQ model written by Gauntlet's quantize package.

Evaluates the QDQ graph as the ONNX specification defines it, independently of
ONNX Runtime and of Gauntlet: QuantizeLinear is saturate(round_half_even(x / s) + zp),
DequantizeLinear is (q - zp) * s (per channel along `axis`), and the float
operators (Conv, Gemm, MatMul, Relu, MaxPool, Flatten, Add) run in float64 on the
dequantised values (torch for the convolution and pooling, numpy for the rest).
ONNX Runtime fuses the same pairs into its integer kernels (QLinearConv, QGemm);
the Go test compares its outputs with these.

Usage (the models and samples come from the Go test, int8_test.go):
  mkdir -p /tmp/int8 && GAUNTLET_INT8_OUT=/tmp/int8 go test -run TestInt8MatchesReference ./suites/differential
  for m in mnist adult; do
    /usr/bin/python3 suites/differential/testdata/int8_reference.py /tmp/int8/${m}_int8.onnx \
        /tmp/int8/${m}_x.f32 200 suites/differential/testdata/${m}_int8_reference.json
  done

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
    if param.ndim == 0:
        return param
    shape = [1] * rank
    shape[axis] = param.shape[0]
    return param.reshape(shape)


def run(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for n in model.graph.node:
        i = [env[name] if name else None for name in n.input]
        op = n.op_type
        if op == "QuantizeLinear":
            s, zp = i[1].astype(np.float64), i[2]
            axis = attr(n, "axis", 1)
            q = np.round(i[0] / shaped(s, axis, i[0].ndim)) + shaped(zp.astype(np.float64), axis, i[0].ndim)
            info = np.iinfo(zp.dtype)
            y = np.clip(q, info.min, info.max).astype(zp.dtype)
        elif op == "DequantizeLinear":
            s, zp = i[1].astype(np.float64), i[2].astype(np.float64)
            axis = attr(n, "axis", 1)
            y = (i[0].astype(np.float64) - shaped(zp, axis, i[0].ndim)) * shaped(s, axis, i[0].ndim)
        elif op == "Conv":
            b = None if len(i) < 3 or i[2] is None else torch.from_numpy(i[2])
            pads = attr(n, "pads", [0, 0, 0, 0])
            assert pads[:2] == pads[2:], "asymmetric pads"
            y = F.conv2d(torch.from_numpy(i[0]), torch.from_numpy(i[1]), b, stride=attr(n, "strides", [1, 1]),
                         padding=pads[:2], dilation=attr(n, "dilations", [1, 1]), groups=attr(n, "group", 1)).numpy()
        elif op == "MaxPool":
            pads = attr(n, "pads", [0, 0, 0, 0])
            y = F.max_pool2d(torch.from_numpy(i[0]), attr(n, "kernel_shape", None), stride=attr(n, "strides", None),
                             padding=pads[:2], ceil_mode=bool(attr(n, "ceil_mode", 0))).numpy()
        elif op == "Relu":
            y = np.maximum(i[0], 0)
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
    path, xpath, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    raw = open(path, "rb").read()
    model = onnx.load_from_string(raw)
    if xpath.endswith(".npy"):
        x = np.load(xpath, allow_pickle=False)[:n]
    else:  # float32 little-endian N×d, written by the Go test
        shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
        x = np.fromfile(xpath, dtype="<f4").reshape([-1] + shape)[:n]
    logits = run(model, x)
    json.dump({
        "model_sha256": hashlib.sha256(raw).hexdigest(),
        "data": xpath.split("/")[-1],
        "samples": n,
        "logits": [[float(v) for v in row] for row in logits],
    }, open(out, "w"))
    print(f"wrote {out}: {n} samples, model sha256 {hashlib.sha256(raw).hexdigest()}")


if __name__ == "__main__":
    main()

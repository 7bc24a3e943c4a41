#!/usr/bin/python3
"""Generates the evasion suite's small test models (run from this folder).

no_rule.onnx
    x [N, 1, 4, 4] -> Flatten -> Gemm (16 -> 3) -> Shrink (bias 0, lambd 0,
    the identity on non-zero values) -> logits [N, 3]. Shrink is a standard
    ONNX operator that ONNX Runtime runs on the CPU but that has no gradient
    rule in package autodiff: the gradient graph cannot be built, so
    gradient_mode auto must fall back to estimated gradients and exact must
    be an exit-2 error naming the node "shrink".

confident_cnn.onnx, confident_cnn_softmax.onnx
    x [1, 1, 8, 8] (fixed batch 1, inputs in [0, 255]) -> Conv (4 filters
    3x3, pad 1) -> Flatten -> Gemm (256 -> 10) -> logits [1, 10], and the
    same with a final Softmax -> probs [1, 10]. Large weights make the logit
    margins of uniform inputs hundreds of units wide, as in the CNTK MNIST
    CNN a user reported (margins 84-1750): the cross-entropy rounds to 0 in
    float32 and float64, and the softmax output to exactly one-hot. The net
    has no non-linearity on purpose: it is affine, so a test can compute
    its exact L-inf robust accuracy by brute force.

Uses onnx.helper and numpy only (Debian's python3-onnx 1.12).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def save(graph, path):
    m = helper.make_model(graph, opset_imports=OPSET, producer_name="gauntlet-testdata")
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def no_rule():
    rng = np.random.default_rng(21)
    w = rng.normal(0, 1, (3, 16)).astype(np.float32)
    b = np.zeros(3, np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["z"], name="gemm", transB=1),
        helper.make_node("Shrink", ["z"], ["logits"], name="shrink", bias=0.0, lambd=0.0),
    ]
    g = helper.make_graph(
        nodes, "no_rule",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    save(g, "no_rule.onnx")


def confident(softmax):
    rng = np.random.default_rng(6)
    cw = rng.normal(0, 1, (4, 1, 3, 3)).astype(np.float32)
    cb = np.zeros(4, np.float32)
    w = rng.normal(0, 0.15, (10, 256)).astype(np.float32)
    b = np.zeros(10, np.float32)
    out = "probs" if softmax else "logits"
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Flatten", ["c"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], name="gemm", transB=1),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1))
    g = helper.make_graph(
        nodes, "confident_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for a, n in ((cw, "cw"), (cb, "cb"), (w, "w"), (b, "b"))])
    save(g, "confident_cnn_softmax.onnx" if softmax else "confident_cnn.onnx")


if __name__ == "__main__":
    no_rule()
    confident(False)
    confident(True)

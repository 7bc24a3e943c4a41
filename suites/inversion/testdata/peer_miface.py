#!/usr/bin/python3
"""Peer figures for suites/inversion/inversion_test.go (TestDigitsCNN).

A numpy re-implementation of ART's MIFace update on the repository's demo
CNN (examples/digits_cnn.onnx: Conv 3×3 pad 1, Relu, MaxPool 2×2, Conv,
Relu, MaxPool, Flatten, Gemm, Relu, Gemm → 10 logits), from the all-zero
8×8 image, clip [0, 1], compared with the class means of
examples/digits_eval_x.npy / _y.npy (40 images a class), as the suite's
test runs it.

ART's MIFace.infer (art/attacks/inference/model_inversion/mi_face.py at
commit 02999c896781ff8856695683246708aaab9f686b, the while loop at about
lines 130-137):
    grads = self.estimator.class_gradient(batch[active], label)
    batch[active] = batch[active] + self.learning_rate * grads
    batch[active] = np.clip(batch[active], clip_min, clip_max)
with x in float32 (ART_NUMPY_DTYPE) and class_gradient the gradient of the
model's output for the class; on a model with a softmax appended (as the
shared ART reference runs it) that is ∇p_y = p_y·(e_y − p)ᵀ·∂z/∂x. Here it
runs for a fixed number of steps (ART's stopping window never fires while
the cost falls; the suite has no early stop).

Runs (each with all 10 classes):
* exact_art: ART's update alone, 300 steps, lr 0.1.
* exact_tv: the same plus the suite's total-variation penalty (not in ART):
  x ← clip(x − lr·(−∇p_y + tv·s)), s the subgradient of the anisotropic TV
  Σ|x[i+1,j] − x[i,j]| + |x[i,j+1] − x[i,j]| with sign(0) = 0
  (suites/inversion/ssim.go, tvGrad), tv = 0.002, 300 steps, lr 0.1.
* nes: classes 0, 1 and 7, 100 steps, lr 0.1, no penalty, with the gradient
  estimated as the suite's NES oracle does (suites/inversion/oracle.go; Ilyas
  et al. 2018): q = 20 antithetic Gaussian pairs u_k, σ = 0.01·(hi − lo),
  ∇CE ≈ Σ_k (CE(x + σu_k) − CE(x − σu_k))·u_k / (2qσ), step
  x ← clip(x − lr·p_y·∇CE). The directions are drawn here from numpy's
  default_rng(seed), seeds 0..SEEDS−1, not the suite's PCG streams, so the
  file gives the mean and sample SD over seeds; the suite's run is one more
  draw.

The gradient follows the suite's conventions (autodiff/doc.go), which are
PyTorch's: Relu passes the gradient where its output is > 0, MaxPool routes
a window's gradient to its first maximal element in row-major order (at the
zero start every window is an exact tie). Forward and backward passes run in
float64 from the float32 weights; the image stays float32 between steps.

Figures, as the suite reports them (suites/inversion/inversion.go, report):
mse and ssim are means over the classes of the mean squared difference and
the global single-window SSIM (Wang et al. 2004, L = 1, K1 0.01, K2 0.03,
population variances) between the reconstruction and its class mean;
ssim_start is the same for the start image; probability is the mean final
p_y; identification_rate the share of classes whose reconstruction is
nearest (MSE, first on ties) to its own class mean.

Run: /usr/bin/python3 suites/inversion/testdata/peer_miface.py > suites/inversion/testdata/peer_miface.json
(Debian python3-onnx 1.12, python3-numpy.)
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples"))
SEEDS = 20


def load(path):
    m = onnx.load(path)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        nodes.append((n.op_type, list(n.input), list(n.output), a))
    return m.graph.input[0].name, m.graph.output[0].name, w, nodes


def im2col(x, k, pad):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, wd))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + wd]
    return cols


class Net:
    """Forward and input gradient of the demo CNN's op sequence."""

    def __init__(self, path):
        self.inp, self.out, self.w, self.nodes = load(path)
        for op, _, _, a in self.nodes:
            if op == "Conv":
                assert a["kernel_shape"] == [3, 3] and a["pads"] == [1, 1, 1, 1] and a["strides"] == [1, 1] and a.get("group", 1) == 1
            elif op == "MaxPool":
                assert a["kernel_shape"] == [2, 2] and a["strides"] == [2, 2] and a.get("pads", [0] * 4) == [0] * 4
            elif op == "Gemm":
                assert a.get("transB", 0) == 1 and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
            elif op not in ("Relu", "Flatten"):
                raise SystemExit("unsupported op " + op)

    def forward(self, x):
        v = {self.inp: x}
        tape = []
        for op, ins, outs, _ in self.nodes:
            a = v[ins[0]]
            if op == "Conv":
                W, b = self.w[ins[1]], self.w[ins[2]]
                cols = im2col(a, 3, 1)
                y = np.einsum("ncijhw,ocij->nohw", cols, W) + b[None, :, None, None]
                tape.append((op, ins[0], outs[0], W))
            elif op == "Relu":
                y = np.maximum(a, 0)
                tape.append((op, ins[0], outs[0], y > 0))
            elif op == "MaxPool":
                n, c, h, wd = a.shape
                win = a.reshape(n, c, h // 2, 2, wd // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, wd // 2, 4)
                idx = win.argmax(-1)  # first maximum in row-major order
                y = np.take_along_axis(win, idx[..., None], -1)[..., 0]
                tape.append((op, ins[0], outs[0], (a.shape, idx)))
            elif op == "Flatten":
                y = a.reshape(len(a), -1)
                tape.append((op, ins[0], outs[0], a.shape))
            else:  # Gemm
                W, b = self.w[ins[1]], self.w[ins[2]]
                y = a @ W.T + b
                tape.append((op, ins[0], outs[0], W))
            v[outs[0]] = y
        return v[self.out], tape

    def backward(self, tape, g):
        for op, _, _, s in reversed(tape):
            if op == "Gemm":
                g = g @ s
            elif op == "Relu":
                g = g * s
            elif op == "Flatten":
                g = g.reshape(s)
            elif op == "MaxPool":
                shape, idx = s
                n, c, h, wd = shape
                gw = np.zeros(idx.shape + (4,))
                np.put_along_axis(gw, idx[..., None], g[..., None], -1)
                g = gw.reshape(n, c, h // 2, wd // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)
            else:  # Conv, stride 1, pad 1: the gradient is the correlation with the flipped kernel
                Wf = s[:, :, ::-1, ::-1]
                cols = im2col(g, 3, 1)
                g = np.einsum("noijhw,ocij->nchw", cols, Wf)
        return g


def log_softmax(z):
    d = z - z.max(1, keepdims=True)
    return d - np.log(np.exp(d).sum(1, keepdims=True))


def ssim(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = a.mean(), b.mean()
    va, vb, cov = a.var(), b.var(), ((a - ma) * (b - mb)).mean()
    return (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2))


def tv_grad(x, w):
    g = np.zeros_like(x, dtype=np.float32)
    dv = np.sign(x[:, :, 1:, :] - x[:, :, :-1, :]).astype(np.float32) * np.float32(w)
    g[:, :, 1:, :] += dv
    g[:, :, :-1, :] -= dv
    dh = np.sign(x[:, :, :, 1:] - x[:, :, :, :-1]).astype(np.float32) * np.float32(w)
    g[:, :, :, 1:] += dh
    g[:, :, :, :-1] -= dh
    return g


def figures(net, x, start, y, means):
    lp = log_softmax(net.forward(x.astype(np.float64))[0])
    prob = np.exp(lp[np.arange(len(y)), y])
    mse = [float(((x[i].astype(np.float64) - means[c]) ** 2).mean()) for i, c in enumerate(y)]
    ss = [ssim(x[i], means[c]) for i, c in enumerate(y)]
    s0 = [ssim(start[i], means[c]) for i, c in enumerate(y)]
    near = [int(np.argmin([((x[i].astype(np.float64) - m) ** 2).mean() for m in means])) for i in range(len(y))]
    return {"mse": float(np.mean(mse)), "ssim": float(np.mean(ss)), "ssim_start": float(np.mean(s0)),
            "probability": float(prob.mean()), "identification_rate": float(np.mean([near[i] == c for i, c in enumerate(y)])),
            "per_class": {str(c): {"mse": mse[i], "ssim": ss[i], "probability": float(prob[i]), "nearest_class_mean": near[i]} for i, c in enumerate(y)}}


def exact(net, y, steps, lr, tv):
    x = np.zeros((len(y), 1, 8, 8), np.float32)
    lr32, onehot = np.float32(lr), np.eye(10)[y]
    for _ in range(steps):
        z, tape = net.forward(x.astype(np.float64))
        p = np.exp(log_softmax(z))
        py = p[np.arange(len(y)), y][:, None]
        gp = net.backward(tape, py * (onehot - p))  # ∇p_y
        step = (-gp).astype(np.float32)  # the suite's p·∇CE = −∇p_y
        if tv:
            step = step + tv_grad(x, tv)
        x = np.clip(x - lr32 * step, np.float32(0), np.float32(1)).astype(np.float32)
    return x


def nes(net, y, steps, lr, q, sigma, rng):
    x = np.zeros((len(y), 1, 8, 8), np.float32)
    lr32, s32 = np.float32(lr), np.float32(sigma)
    n = len(y)
    for _ in range(steps):
        u = rng.standard_normal((n, q, 1, 8, 8)).astype(np.float32)
        big = np.concatenate([x[:, None], x[:, None] + s32 * u, x[:, None] - s32 * u], 1).reshape(-1, 1, 8, 8)
        lp = log_softmax(net.forward(big.astype(np.float64))[0]).reshape(n, 2 * q + 1, 10)
        f = -lp[np.arange(n), :, y]  # CE at x, x + σu_k, x − σu_k
        c = (f[:, 1:q + 1] - f[:, q + 1:]) / (2 * q * sigma)
        g = (c[:, :, None, None, None].astype(np.float32) * u).sum(1)
        p = np.exp(-f[:, 0]).astype(np.float32)
        x = np.clip(x - lr32 * (p[:, None, None, None] * g), np.float32(0), np.float32(1)).astype(np.float32)
    return x


def main():
    net = Net(os.path.join(EXAMPLES, "digits_cnn.onnx"))
    ex = np.load(os.path.join(EXAMPLES, "digits_eval_x.npy"))
    ey = np.load(os.path.join(EXAMPLES, "digits_eval_y.npy"))
    means = np.stack([ex[ey == c].astype(np.float64).mean(0).astype(np.float32).astype(np.float64) for c in range(10)])
    out = {"generated_by": "suites/inversion/testdata/peer_miface.py",
           "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "onnx": onnx.__version__},
           "model": "examples/digits_cnn.onnx", "reference": "examples/digits_eval_x.npy, digits_eval_y.npy", "runs": {}}
    y = np.arange(10)
    start = np.zeros((10, 1, 8, 8), np.float32)
    out["runs"]["exact_art"] = dict(steps=300, learning_rate=0.1, tv=0.0, **figures(net, exact(net, y, 300, 0.1, 0.0), start, y, means))
    out["runs"]["exact_tv"] = dict(steps=300, learning_rate=0.1, tv=0.002, **figures(net, exact(net, y, 300, 0.1, 0.002), start, y, means))
    yn = np.array([0, 1, 7])
    runs = {}
    for seed in range(SEEDS):
        f = figures(net, nes(net, yn, 100, 0.1, 20, 0.01, np.random.default_rng(seed)), start[:3], yn, means)
        for k in ("mse", "ssim", "probability"):
            runs.setdefault(k, []).append(f[k])
    out["runs"]["nes"] = {"steps": 100, "learning_rate": 0.1, "classes": [0, 1, 7], "nes_pairs": 20, "nes_sigma": 0.01, "seeds": SEEDS,
                          "figures": {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "min": float(np.min(v)), "max": float(np.max(v))}
                                      for k, v in runs.items()}}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generate the unseen-architecture gradient fixtures in this folder.

Three tiny, randomly initialised (untrained) float32 classifiers are
exported to ONNX with torch.onnx.export, and for each one a plain
uncompressed .npz holds 16 inputs, labels and PyTorch autograd input
gradients in the format of ../shared/fixtures/vision/gradients_*.npz
(keys x, y, logits, loss_ce, loss_cw, grad_ce, grad_ce_f32, grad_cw,
grad_logit0, maxpool_tie_mask). autodiff/unseen_test.go compares
Gauntlet's gradient graphs with them.

  vit_tiny     [N,1,16,16] -> logits [N,10]  patch Conv, cls token, 2 pre-LN
               transformer blocks (explicit MatMul attention, exact GELU)
  mbv3_tiny    [N,3,16,16] -> logits [N,5]   MobileNetV3-style: Conv-BN-
               HardSwish, inverted residual with depthwise Conv, ReLU6 and
               squeeze-and-excitation (HardSigmoid gate), global max pool
               (adaptive_max_pool2d(1), which exports as an 8x8 MaxPool)
  tab_resmlp   [N,12]      -> probs  [N,3]   residual MLP with LayerNorm,
               SiLU, Dropout (eval) and a Softmax output

Run from the repository root with Debian's python3-torch (1.13) and
python3-onnx:

  /usr/bin/python3 autodiff/testdata/unseen/make_unseen.py

The output is deterministic on CPU (fixed seeds, deterministic algorithms,
one thread).
"""

import io
import os
import warnings
import zipfile

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240601
N = 16
OPSET = 17  # the highest opset torch 1.13 exports
HERE = os.path.dirname(os.path.abspath(__file__))

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
# constant folding with PRESERVE is safe here: every model is in eval mode
warnings.filterwarnings("ignore", message="It is recommended that constant folding")


# ---------------------------------------------------------------- models

class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [N, H, T, dh]
        a = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (self.dh ** -0.5), dim=-1)
        o = torch.matmul(a, v).transpose(1, 2).reshape(n, t, d)
        return self.proj(o)


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))  # exact (erf) GELU


class ViT(nn.Module):
    def __init__(self, d=32, heads=4, hidden=64, depth=2, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(1, d, kernel_size=4, stride=4)  # 16x16 -> 4x4 patches
        self.cls = nn.Parameter(0.5 * torch.randn(1, 1, d))
        self.pos = nn.Parameter(0.5 * torch.randn(1, 17, d))
        self.blocks = nn.ModuleList([Block(d, heads, hidden) for _ in range(depth)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # [N, 16, d]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x[:, 0]))


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class MBV3(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.expand = nn.Conv2d(16, 32, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.se = SE(32, 8)
        self.project = nn.Conv2d(32, 16, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.last = nn.Conv2d(16, 48, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(48)
        self.fc = nn.Linear(48, classes)

    def forward(self, x):
        x = F.hardswish(self.bn0(self.stem(x)))  # [N, 16, 8, 8]
        h = F.hardswish(self.bn1(self.expand(x)))
        h = F.relu6(self.bn2(self.dw(h)))  # depthwise, ReLU6 = Clip(0, 6)
        h = self.bn3(self.project(self.se(h)))
        x = x + h  # inverted residual
        x = F.hardswish(self.bn4(self.last(x)))
        x = F.adaptive_max_pool2d(x, 1).flatten(1)  # exports as MaxPool 8x8
        return self.fc(x)


class ResMLP(nn.Module):
    def __init__(self, features=12, d=32, classes=3, depth=2):
        super().__init__()
        self.inp = nn.Linear(features, d)
        self.lns = nn.ModuleList([nn.LayerNorm(d) for _ in range(depth)])
        self.fcs = nn.ModuleList([nn.Linear(d, d) for _ in range(depth)])
        self.drop = nn.Dropout(0.2)
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, classes)

    def logits(self, x):
        h = self.inp(x)
        for ln, fc in zip(self.lns, self.fcs):
            h = h + self.drop(fc(F.silu(ln(h))))  # SiLU = x * sigmoid(x)
        return self.out(self.ln(h))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


def perturb_norms(model, g):
    """Non-trivial LayerNorm affine parameters and BatchNorm running stats."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.25 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


# ----------------------------------------------------------- gradients

def input_grad(model, x, y, head, probs):
    """Per-sample input gradient of a summed head, the per-sample loss and
    the logits.

    For a model with probability outputs (a Softmax at the end), CE is
    -log p_y of the exported output p, and the other heads read the logits
    (the Softmax's input, model.logits), as Gauntlet's heads do."""
    x = x.clone().requires_grad_(True)
    z = model.logits(x) if probs else model(x)
    if head == "ce":
        if probs:
            loss = F.nll_loss(torch.log(model(x)), y, reduction="none")
        else:
            loss = F.cross_entropy(z, y, reduction="none")
    elif head == "cw":
        zy = z.gather(1, y[:, None])[:, 0]
        other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), -float("inf"))
        loss = other.max(dim=1).values - zy
    else:  # logit 0
        loss = z[:, 0]
    (g,) = torch.autograd.grad(loss.sum(), x)
    return g.detach(), loss.detach(), z.detach()


def savez_stored(path, arrays):
    """np.savez writes stored (not deflated) members; keep key order."""
    np.savez(path, **arrays)
    # check it reads back without pickles
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(arrays)
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def build(name, model, x, probs, classes):
    model.eval()
    onnx_path = os.path.join(HERE, name + ".onnx")
    out_name = "probs" if probs else "logits"
    buf = io.BytesIO()
    torch.onnx.export(
        model, x[:2], buf, input_names=["input"], output_names=[out_name],
        dynamic_axes={"input": {0: "N"}, out_name: {0: "N"}},
        opset_version=OPSET, do_constant_folding=True,
        # the model is in eval mode; PRESERVE keeps BatchNormalization
        # nodes (training_mode 0), which EVAL would fold into the Convs
        training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m, full_check=True)
    m.doc_string = "generated by autodiff/testdata/unseen/make_unseen.py (random weights, no data)"
    onnx.save(m, onnx_path)
    ops = sorted({n.op_type for n in m.graph.node})

    g = torch.Generator().manual_seed(SEED + 1)
    y = torch.randint(0, classes, (x.shape[0],), generator=g)

    m64 = model.double()
    x64 = x.double()
    gce, lce, z64 = input_grad(m64, x64, y, "ce", probs)
    gcw, lcw, _ = input_grad(m64, x64, y, "cw", probs)
    gl0, _, _ = input_grad(m64, x64, y, "logit0", probs)
    m32 = model.float()
    gce32, _, _ = input_grad(m32, x, y, "ce", probs)

    # CE in the cancellation-free form of the shared references
    zm = z64.max(dim=1, keepdim=True).values
    e = torch.exp(z64 - zm)
    e = e.masked_fill(F.one_hot(z64.argmax(1), classes).bool(), 0)
    lce2 = torch.log1p(e.sum(1)) - (z64.gather(1, y[:, None])[:, 0] - zm[:, 0])
    assert torch.allclose(lce, lce2, rtol=1e-9, atol=1e-12), (lce, lce2)
    # CW: the two largest non-true logits must not tie
    other = z64.masked_fill(F.one_hot(y, classes).bool(), -float("inf"))
    top2 = other.topk(2, dim=1).values
    gap = (top2[:, 0] - top2[:, 1]).min().item()
    assert gap > 1e-3, gap

    relf32 = [(torch.linalg.norm(gce32[i].double() - gce[i]) / torch.linalg.norm(gce[i])).item()
              for i in range(x.shape[0])]
    p = torch.softmax(z64, 1)
    arrays = {
        "x": x.numpy().astype(np.float32),
        "y": y.numpy().astype(np.int64),
        "logits": z64.float().numpy(),
        "loss_ce": lce2.numpy().astype(np.float64),
        "loss_cw": lcw.numpy().astype(np.float64),
        "grad_ce": gce.float().numpy(),
        "grad_ce_f32": gce32.numpy().astype(np.float32),
        "grad_cw": gcw.float().numpy(),
        "grad_logit0": gl0.float().numpy(),
        # the only max pooling is mbv3_tiny's global one; tie_free()
        # checked that no window ties, so this is all False
        "maxpool_tie_mask": np.zeros(x.shape, dtype=bool),
    }
    savez_stored(os.path.join(HERE, "gradients_" + name + ".npz"), arrays)
    print(f"{name}: {os.path.getsize(onnx_path)} bytes onnx, ops {' '.join(ops)}")
    print(f"  logits std {z64.std().item():.3f}, max p {p.max().item():.3f}, "
          f"min p_y {p.gather(1, y[:, None]).min().item():.3g}, CW top-2 gap {gap:.3g}, "
          f"float32 rel err median {np.median(relf32):.3g} max {max(relf32):.3g}")


def tie_free(model, x):
    """No channel of mbv3_tiny's global max pool attains its max twice."""
    with torch.no_grad():
        m = model.double()
        t = x.double()
        t = F.hardswish(m.bn0(m.stem(t)))
        h = F.hardswish(m.bn1(m.expand(t)))
        h = F.relu6(m.bn2(m.dw(h)))
        h = m.bn3(m.project(m.se(h)))
        t = F.hardswish(m.bn4(m.last(t + h))).flatten(2)
        cnt = (t == t.max(dim=2, keepdim=True).values).sum(2)
        assert cnt.max().item() == 1, cnt.max().item()
        model.float()


def main():
    torch.manual_seed(SEED)
    vit = ViT()
    perturb_norms(vit, torch.Generator().manual_seed(SEED + 2))
    with torch.no_grad():
        vit.head.weight.mul_(4)  # spread the logits (std ~1.5) without saturating
    x = torch.rand(N, 1, 16, 16, generator=torch.Generator().manual_seed(SEED + 3))
    build("vit_tiny", vit, x, False, 10)

    torch.manual_seed(SEED + 10)
    mb = MBV3()
    perturb_norms(mb, torch.Generator().manual_seed(SEED + 12))
    with torch.no_grad():
        mb.fc.weight.mul_(10)
    x = torch.rand(N, 3, 16, 16, generator=torch.Generator().manual_seed(SEED + 13))
    mb.eval()
    tie_free(mb, x)
    build("mbv3_tiny", mb, x, False, 5)

    torch.manual_seed(SEED + 20)
    tab = ResMLP()
    perturb_norms(tab, torch.Generator().manual_seed(SEED + 22))
    with torch.no_grad():
        tab.out.weight.mul_(3)
    x = torch.randn(N, 12, generator=torch.Generator().manual_seed(SEED + 23))
    build("tab_resmlp", tab, x, True, 3)
    print("torch", torch.__version__, "onnx", onnx.__version__, "numpy", np.__version__)


if __name__ == "__main__":
    main()

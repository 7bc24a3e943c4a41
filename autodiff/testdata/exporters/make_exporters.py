#!/usr/bin/python3
"""Generate the exporter-pattern gradient fixtures in this folder.

Each fixture is a tiny, randomly initialised float32 classifier that carries
one pattern torch.onnx.export writes for real architectures (ResNet's padded
MaxPool, GoogLeNet's ceil_mode pools, ShuffleNet's x.chunk channel split,
ViT's packed q/k/v, old opsets, LayerNorm above and below opset 17, ...),
exported with a dynamic batch axis, with an .npz of 8 inputs, labels and
PyTorch autograd input gradients in the format of ../unseen (keys x, y,
logits, loss_ce, loss_cw, grad_ce, grad_ce_f32, grad_cw, grad_logit0,
maxpool_tie_mask). autodiff/exporters_test.go compares Gauntlet's gradient
graphs with them. README.md lists the models and what each exports as.

Run from the repository root with Debian's python3-torch (1.13),
python3-torchvision (0.14) and python3-onnx (1.12):

  /usr/bin/python3 autodiff/testdata/exporters/make_exporters.py

The output is deterministic on CPU (fixed seeds, deterministic algorithms,
one thread).
"""

import collections
import io
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "unseen"))
# input_grad: per-sample input gradients of the ce/cw/logit0 heads;
# savez_stored: plain np.savez, checked; perturb_norms: non-trivial
# LayerNorm/BatchNorm parameters and statistics. Importing it also sets
# deterministic algorithms and one thread.
from make_unseen import input_grad, perturb_norms, savez_stored  # noqa: E402

from torchvision.models.vision_transformer import EncoderBlock  # noqa: E402

SEED = 20240921
N = 8
CLASSES = 10


# ---------------------------------------------------------------- models

class PoolCNN(nn.Module):
    """Conv-BN-MaxPool-ReLU twice; the pools have overlapping 3x3 windows
    with stride 2 and either padding 1 or ceil_mode. MaxPool reads the
    BatchNorm output directly (before the ReLU), so no window ties."""

    def __init__(self, **pool):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.p1, self.p2 = nn.MaxPool2d(3, 2, **pool), nn.MaxPool2d(3, 2, **pool)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()
        self.fc = nn.Linear(8 * 4 * 4, CLASSES)

    def forward(self, x):  # 16x16 -> 8x8 -> 4x4 with padding 1 or ceil_mode
        x = self.r1(self.p1(self.b1(self.c1(x))))
        x = self.r2(self.p2(self.b2(self.c2(x))))
        return self.fc(x.flatten(1))


class AvgCNN(nn.Module):
    """AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
    twice: 16x16 -> 9x9 (the ceil window starts on the last row) -> 5x5."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        pool = dict(padding=1, ceil_mode=True, count_include_pad=False)
        self.p1, self.p2 = nn.AvgPool2d(3, 2, **pool), nn.AvgPool2d(3, 2, **pool)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()
        self.fc = nn.Linear(8 * 5 * 5, CLASSES)

    def forward(self, x):
        x = self.p1(self.r1(self.c1(x)))
        x = self.p2(self.r2(self.c2(x)))
        return self.fc(x.flatten(1))


def channel_shuffle(x, groups):
    # torchvision's shufflenetv2.channel_shuffle: the view reads x.size(),
    # which exports as Shape -> Gather -> Reshape with a dynamic batch
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNet V2's stride-1 unit: x.chunk(2, dim=1), a 1x1 / depthwise
    3x3 / 1x1 branch on the second half, Concat, channel shuffle."""

    def __init__(self, c):
        super().__init__()
        h = c // 2
        self.branch = nn.Sequential(
            nn.Conv2d(h, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
            nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), nn.BatchNorm2d(h),
            nn.Conv2d(h, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU())

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch(x2)), dim=1), 2)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU())
        self.u1, self.u2 = ShuffleUnit(16), ShuffleUnit(16)
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x):  # 16x16 -> 8x8
        x = self.u2(self.u1(self.stem(x)))
        return self.fc(x.mean([2, 3]))


class PackedAttention(nn.Module):
    """One packed Linear for q, k, v, split by .chunk(3, dim=-1); heads by
    reshapes whose sizes come from x.shape (Shape -> Gather -> Reshape)."""

    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(n, t, self.h, d // self.h).transpose(1, 2)
        k = k.reshape(n, t, self.h, d // self.h).transpose(1, 2)
        v = v.reshape(n, t, self.h, d // self.h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // self.h) ** -0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(n, t, d))


class AttnNet(nn.Module):
    """Tokens [N, 6, 12] -> Linear to 16 -> attention and GELU MLP with
    residuals -> mean over tokens -> Linear."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(12, 16)
        self.attn = PackedAttention(16, 4)
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):
        x = self.inp(x)
        x = x + self.attn(x)
        x = x + self.fc2(F.gelu(self.fc1(x)))
        return self.head(x.mean(1))


class OldCNN(nn.Module):
    """Ops whose ONNX form changed at opsets 10/11: constant Pad (pads as an
    attribute below 11), MaxPool, nearest Upsample (opset 9) / Resize with
    scales (opset 10), Dropout (eval), Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8 * 8 * 8, CLASSES)

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1), value=0.5)  # 16x16 -> 18x18 -> conv 16x16
        x = self.r1(self.pool(self.c1(x)))     # 8x8
        x = self.r2(self.c2(self.up(x)))       # 16x16 -> 8x8
        return self.fc(self.drop(torch.flatten(x, 1)))


class PatchViT(nn.Module):
    """Patch Conv -> cls token + positional embedding -> torchvision's ViT
    EncoderBlock (LayerNorm, nn.MultiheadAttention with its packed in_proj,
    MLP with GELU) -> LayerNorm -> head on the cls row. The head is a fresh
    Linear (torchvision's ViT zero-initialises its own)."""

    def __init__(self, d=32):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, stride=4)  # 16x16 -> 4x4 patches
        self.cls = nn.Parameter(0.5 * torch.randn(1, 1, d))
        self.pos = nn.Parameter(0.5 * torch.randn(1, 17, d))
        self.block = EncoderBlock(num_heads=4, hidden_dim=d, mlp_dim=2 * d, dropout=0.0,
                                  attention_dropout=0.0, norm_layer=nn.LayerNorm)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.block(x)
        return self.head(self.ln(x[:, 0]))


class ResizePad(nn.Module):
    """Reflect and replicate Pad, bilinear Resize (align_corners False)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()
        self.fc = nn.Linear(8 * 8 * 8, CLASSES)

    def forward(self, x):
        x = F.pad(x, (1, 2, 1, 2), mode="reflect")         # 16 -> 19
        x = self.r1(self.c1(x))                             # 9
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # 18
        x = F.pad(x, (0, 1, 0, 1), mode="replicate")        # 19
        x = self.r2(self.c2(x))                             # 9
        return self.fc(x[:, :, :8, :8].flatten(1))


class Block(nn.Module):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN plus the input
    (through a 1x1 strided conv and BN when the shape changes), ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResCNN(nn.Module):
    """A small ResNet for 3x32x32 images: Conv-BN-ReLU-MaxPool(2) stem
    (ReLU before the pool, as ResNet), a BasicBlock, a strided BasicBlock
    with a 1x1 shortcut, global average pool, Linear. The benchmark model
    of autodiff/bench_test.go (BenchmarkResCNN)."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.l1, self.l2 = Block(16, 16), Block(16, 32, 2)
        self.fc = nn.Linear(32, CLASSES)

    def forward(self, x):  # 32x32 -> 16x16 -> 16x16 -> 8x8
        x = self.pool(F.relu(self.b1(self.c1(x))))
        x = self.l2(self.l1(x))
        return self.fc(x.mean((2, 3)))


# ------------------------------------------------------------- checks

def margins(model, x):
    """Smallest |input| of any ReLU (relative to the largest) and smallest
    gap between the largest and second largest element of any MaxPool
    window (relative to the largest |input|), float64, over the batch: a
    value near 1e-7 would let float32 flip a kink."""
    relu, gaps = [], []

    def on_relu(_, inp, __):
        a = inp[0].abs()
        relu.append((a.min() / a.max()).item())

    def on_pool(m, inp, __):
        t = inp[0]
        k, s, p = m.kernel_size, m.stride, m.padding
        # pad with -inf (and one more stride on the right for ceil_mode),
        # unfold every window, keep the windows PyTorch uses
        out = F.max_pool2d(t, k, s, p, ceil_mode=m.ceil_mode)
        tp = F.pad(t, (p, p + s, p, p + s), value=-float("inf"))
        w = tp.unfold(2, k, s).unfold(3, k, s)[:, :, :out.shape[2], :out.shape[3]]
        w = w.reshape(*w.shape[:4], -1)
        top = w.topk(2, dim=-1).values
        assert torch.equal(top[..., 0], out)
        gap = top[..., 0] - top[..., 1]
        if bool((t >= 0).all()):
            # a pool after a ReLU: windows whose maximum is 0 tie, but the
            # ReLU before gives them no gradient
            gap = gap[top[..., 0] > 0]
        gaps.append((gap.min() / t.abs().max()).item())

    hooks = [m.register_forward_hook(on_relu if isinstance(m, nn.ReLU) else on_pool)
             for m in model.modules() if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
    with torch.no_grad():
        model.double()(x.double())
    for h in hooks:
        h.remove()
    model.float()
    return (min(relu) if relu else None), (min(gaps) if gaps else None)


# ------------------------------------------------------------- export

def export(name, model, x, opset):
    """Export model at opset to name_op<opset>.onnx; return its op counts."""
    buf = io.BytesIO()
    # grad stays enabled: nn.MultiheadAttention's fused fast path has no
    # ONNX export
    torch.onnx.export(
        model, x[:2], buf, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=opset, do_constant_folding=True,
        training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m, full_check=True)
    m.doc_string = "generated by autodiff/testdata/exporters/make_exporters.py (random weights, no data)"
    path = os.path.join(HERE, f"{name}_op{opset}.onnx")
    onnx.save(m, path)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    print(f"{name}_op{opset}.onnx: {os.path.getsize(path)} bytes, ops "
          + " ".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(ops.items())))
    return ops


def build(name, model, x, opsets):
    """Export model at each opset and write gradients_<name>.npz, the
    reference of every opset's file."""
    model.eval()
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
    for opset in opsets:
        export(name, model, x, opset)

    g = torch.Generator().manual_seed(SEED + 1)
    y = torch.randint(0, CLASSES, (x.shape[0],), generator=g)
    relu, gap = margins(model, x)

    m64 = model.double()
    x64 = x.double()
    gce, lce, z64 = input_grad(m64, x64, y, "ce", False)
    gcw, lcw, _ = input_grad(m64, x64, y, "cw", False)
    gl0, _, _ = input_grad(m64, x64, y, "logit0", False)
    m32 = model.float()
    gce32, _, _ = input_grad(m32, x, y, "ce", False)

    zm = z64.max(dim=1, keepdim=True).values
    e = torch.exp(z64 - zm).masked_fill(F.one_hot(z64.argmax(1), CLASSES).bool(), 0)
    lce2 = torch.log1p(e.sum(1)) - (z64.gather(1, y[:, None])[:, 0] - zm[:, 0])
    assert torch.allclose(lce, lce2, rtol=1e-9, atol=1e-12), (lce, lce2)
    other = z64.masked_fill(F.one_hot(y, CLASSES).bool(), -float("inf"))
    top2 = other.topk(2, dim=1).values
    cwgap = (top2[:, 0] - top2[:, 1]).min().item()
    assert cwgap > 1e-3, (name, cwgap)
    assert gce.abs().max() > 1e-4, (name, "vanishing gradient")
    # float32 resolves ~1e-7 relative: a top-2 gap far above it cannot flip
    assert gap is None or gap > 1e-6, (name, "MaxPool window (nearly) ties", gap)

    relf32 = [(torch.linalg.norm(gce32[i].double() - gce[i]) / torch.linalg.norm(gce[i])).item()
              for i in range(x.shape[0])]
    p = torch.softmax(z64, 1)
    savez_stored(os.path.join(HERE, "gradients_" + name + ".npz"), {
        "x": x.numpy().astype(np.float32),
        "y": y.numpy().astype(np.int64),
        "logits": z64.float().numpy(),
        "loss_ce": lce2.numpy().astype(np.float64),
        "loss_cw": lcw.numpy().astype(np.float64),
        "grad_ce": gce.float().numpy(),
        "grad_ce_f32": gce32.numpy().astype(np.float32),
        "grad_cw": gcw.float().numpy(),
        "grad_logit0": gl0.float().numpy(),
        # margins() checked that no MaxPool window ties (gap > 0)
        "maxpool_tie_mask": np.zeros(x.shape, dtype=bool),
    })
    fmt = lambda v: "-" if v is None else f"{v:.2g}"  # noqa: E731
    print(f"  logits std {z64.std().item():.3f}, max p {p.max().item():.3f}, "
          f"min p_y {p.gather(1, y[:, None]).min().item():.3g}, CW top-2 gap {cwgap:.3g}, "
          f"|grad_ce| max {gce.abs().max().item():.3g}")
    print(f"  min ReLU |input| {fmt(relu)}, min MaxPool top-2 gap {fmt(gap)} (relative); "
          f"float32 rel L2 err median {np.median(relf32):.3g} max {max(relf32):.3g}")


def image(seed, shape=(N, 3, 16, 16)):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def make(cls, seed, scale, *args, **kw):
    """A model from fixed seeds, with perturbed norms and its head scaled
    so the logits are spread but not saturated."""
    torch.manual_seed(seed)
    model = cls(*args, **kw)
    perturb_norms(model, torch.Generator().manual_seed(seed + 2))
    head = model.head if hasattr(model, "head") else model.fc
    with torch.no_grad():
        head.weight.mul_(scale)
    return model


def main():
    # (a) overlapping MaxPool with padding, and with ceil_mode
    build("maxpool_pad", make(PoolCNN, SEED, 4, padding=1), image(SEED + 3), (11, 13))
    build("maxpool_ceil", make(PoolCNN, SEED + 10, 4, ceil_mode=True), image(SEED + 13), (11, 13))
    # (b) ShuffleNet V2 channel split (x.chunk) and channel shuffle
    build("shuffle_chunk", make(ShuffleNet, SEED + 20, 8), image(SEED + 23), (13, 14))
    # (c) packed q/k/v Linear split by .chunk(3, dim=-1), heads from x.shape
    x = torch.randn(N, 6, 12, generator=torch.Generator().manual_seed(SEED + 33))
    build("attn_qkv", make(AttnNet, SEED + 30, 3), x, (14,))
    # (d) opsets 9 and 10
    build("old_cnn", make(OldCNN, SEED + 40, 4), image(SEED + 43), (9, 10))
    # (e) AvgPool with ceil_mode and count_include_pad=False
    build("avgpool_ceil", make(AvgCNN, SEED + 50, 6), image(SEED + 53), (11,))
    # (f) ViT encoder block: LayerNormalization at 17, decomposed at 14
    build("vit_block", make(PatchViT, SEED + 60, 1), image(SEED + 63), (14, 17))
    # (g) reflect/replicate Pad and bilinear Resize
    build("resize_pad", make(ResizePad, SEED + 70, 4), image(SEED + 73), (11, 13))
    # (h) a small ResNet with BatchNorm and a ReLU-MaxPool stem, 32x32
    build("res_cnn", make(ResCNN, SEED + 80, 4), image(SEED + 83, (N, 3, 32, 32)), (13,))
    print("torch", torch.__version__, "onnx", onnx.__version__, "numpy", np.__version__)


if __name__ == "__main__":
    main()

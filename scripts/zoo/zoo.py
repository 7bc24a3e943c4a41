#!/usr/bin/python3
"""A zoo anyone can rerun: export real architectures and check Gauntlet's
input gradients against PyTorch's.

For each architecture (random weights, num_classes=10, BatchNorm running
statistics re-estimated so that deep random nets do not collapse) this
script exports model.onnx with a dynamic batch axis at its own opset into
out/zoo/<name>/, writes x.npy (8 inputs uniform in [0, 1]) and y.npy (the
float32 model's own predictions, so the evasion run starts from correctly
classified samples), and

  * computes the per-sample cross-entropy input gradient in torch float64
    (model.double()) and in torch float32;
  * runs `bin/gauntlet grad` (ce head) and compares its gradient with the
    float64 one: per sample, relative L-infinity error
    max|g - g64| / max|g64|, reported as the median and the worst of the 8;
    torch float32's own error is reported the same way;
  * runs `bin/gauntlet inspect --json` (white_box) and `bin/gauntlet run`
    with a small evasion config (FGSM and PGD-10 at L-infinity eps 1/255);
  * prints every per-sample error, so a worst case above 1e-4 can be read
    as docs/zoo.md explains (float32 ReLU/MaxPool kink flips).

A model that fails at any step is a row with the reason; the script never
stops at the first failure. It writes out/zoo/zoo.md and, when every model
ran (no ZOO filter), docs/zoo.md.

Run from the repository root with Debian's python3-torch 1.13 and
python3-torchvision 0.14 (`make zoo` builds bin/gauntlet first):

  /usr/bin/python3 scripts/zoo/zoo.py
  ZOO=resnet18_op9,vit_op17 /usr/bin/python3 scripts/zoo/zoo.py   # a subset

ZOO takes row names (as in the table) or prefixes of them ("resnet18").
"""

import datetime
import io
import json
import os
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm
from torchvision.models.vision_transformer import VisionTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "out", "zoo")
GAUNTLET = os.path.join(ROOT, "bin", "gauntlet")
N = 8          # samples per model
CLASSES = 10
SEED = 20241001
EPS = 1 / 255  # evasion budget (L-infinity)
BIG = 1e-4     # a worst case above this gets a note

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
warnings.filterwarnings("ignore")


# --------------------------------------------------------------- models

class PoolZoo(nn.Module):
    """A small CNN with a pool of every attribute torch exports."""

    def __init__(self):
        super().__init__()
        c = 16
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c))
        self.pools = nn.ModuleList([
            nn.MaxPool2d(3, 2),                      # overlapping 64 -> 31
            nn.MaxPool2d(3, 1, padding=1),           # padded 31 -> 31
            nn.MaxPool2d(3, 2, ceil_mode=True),      # ceil_mode 31 -> 15
            nn.MaxPool2d(3, 1, dilation=2),          # dilated 15 -> 11
            nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True),   # 11 -> 6
            nn.AvgPool2d(3, 1, padding=1, ceil_mode=True, count_include_pad=False),  # 6 -> 6
        ])
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
                                    for _ in self.pools])
        self.fc = nn.Linear(c * 6 * 6, CLASSES)

    def forward(self, x):
        x = self.stem(x)
        for p, cv in zip(self.pools, self.convs):
            x = cv(p(x))
        return self.fc(x.flatten(1))


class TabTransformer(nn.Module):
    """Tabular features [N, 24] as 24 tokens: per-feature embedding, a
    2-layer nn.TransformerEncoder (batch_first), mean over tokens, Linear."""

    def __init__(self, features=24, d=32):
        super().__init__()
        self.w = nn.Parameter(torch.randn(features, d))
        self.b = nn.Parameter(0.1 * torch.randn(features, d))
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True, activation="gelu")
        self.enc = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, x):
        t = x.unsqueeze(-1) * self.w + self.b
        return self.head(self.enc(t).mean(1))


def small_vit():
    m = VisionTransformer(image_size=64, patch_size=8, num_layers=4, num_heads=4, hidden_dim=64,
                          mlp_dim=128, num_classes=CLASSES)
    # torchvision zero-initialises the head: logits and gradients are 0
    nn.init.normal_(m.heads.head.weight, std=0.5)
    return m


IMG = (3, 64, 64)
# name, opset, constructor, per-sample input shape
ZOO = [
    ("resnet18_op9", 9, lambda: tvm.resnet18(num_classes=CLASSES), IMG),
    ("resnet18_op11", 11, lambda: tvm.resnet18(num_classes=CLASSES), IMG),
    ("resnet18_op13", 13, lambda: tvm.resnet18(num_classes=CLASSES), IMG),
    ("squeezenet1_1_op12", 12, lambda: tvm.squeezenet1_1(num_classes=CLASSES), IMG),
    ("densenet121_op13", 13, lambda: tvm.densenet121(num_classes=CLASSES), IMG),
    ("googlenet_op11", 11, lambda: tvm.googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True), IMG),
    ("mobilenet_v2_op10", 10, lambda: tvm.mobilenet_v2(num_classes=CLASSES), IMG),
    ("mobilenet_v3_small_op14", 14, lambda: tvm.mobilenet_v3_small(num_classes=CLASSES), IMG),
    ("efficientnet_b0_op15", 15, lambda: tvm.efficientnet_b0(num_classes=CLASSES), IMG),
    ("shufflenet_v2_x0_5_op13", 13, lambda: tvm.shufflenet_v2_x0_5(num_classes=CLASSES), IMG),
    ("regnet_y_400mf_op16", 16, lambda: tvm.regnet_y_400mf(num_classes=CLASSES), IMG),
    ("convnext_tiny_op17", 17, lambda: tvm.convnext_tiny(num_classes=CLASSES), IMG),
    ("mnasnet0_5_op12", 12, lambda: tvm.mnasnet0_5(num_classes=CLASSES), IMG),
    ("alexnet_op10_224", 10, lambda: tvm.alexnet(num_classes=CLASSES), (3, 224, 224)),
    ("vgg11_bn_op14_224", 14, lambda: tvm.vgg11_bn(num_classes=CLASSES), (3, 224, 224)),
    ("vit_op17", 17, small_vit, IMG),
    ("vit_op14", 14, small_vit, IMG),
    ("swin_t_op17", 17, lambda: tvm.swin_t(num_classes=CLASSES), IMG),
    ("tab_transformer_op17", 17, TabTransformer, (24,)),
    ("tab_transformer_op14", 14, TabTransformer, (24,)),
    ("pools_op11", 11, PoolZoo, IMG),
    ("pools_op16", 16, PoolZoo, IMG),
]


# ---------------------------------------------------------------- steps

def reestimate_bn(model, shape, g):
    """Running statistics from 4 random batches of 16 (cumulative average:
    momentum None), as docs/zoo.md says; no-op without BatchNorm."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(16, *shape, generator=g))
    model.eval()


def ce_grad(model, x, y):
    """Per-sample CE input gradients (the samples do not interact in eval)."""
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), x)
    return g.detach()


def rel_linf(g, ref):
    """Per-sample max|g - ref| / max|ref|."""
    n = ref.shape[0]
    d = np.abs(g.reshape(n, -1).astype(np.float64) - ref.reshape(n, -1)).max(1)
    s = np.abs(ref.reshape(n, -1)).max(1)
    return d / np.where(s > 0, s, 1)


def run(cmd, timeout=1800):
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t


def last_line(s):
    """The last non-empty line, with the repository path and the command's
    own prefix taken out."""
    lines = [line for line in s.strip().splitlines() if line.strip()]
    line = lines[-1].strip() if lines else ""
    for pre in ("gauntlet: grad ", "gauntlet: "):
        if line.startswith(pre):
            line = line[len(pre):]
            break
    return line.replace(OUT + os.sep, "").replace(ROOT + os.sep, "")


CONFIG = """version: 1
model: model.onnx
seed: 1
runtime:
  device: cpu
  batch_size: {n}
data:
  x: x.npy
  y: y.npy
  range: [0, 1]
suites:
  evasion:
    attacks:
      - {{name: fgsm, norm: linf, eps: [{eps:.6g}]}}
      - {{name: pgd, norm: linf, eps: [{eps:.6g}], step_size: {step:.6g}, steps: 10}}
output:
  dir: run
  formats: [json]
"""


def check(name, opset, make, shape):
    """One row: a dict with every column, and the per-sample errors."""
    row = {"name": name, "opset": opset, "input": "×".join(map(str, shape))}
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    seed = SEED + sum(map(ord, name.split("_op")[0]))  # one net per architecture
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = make()
    reestimate_bn(model, shape, g)
    model.eval()
    x = torch.rand(N, *shape, generator=g)
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    row["logit_std"] = z.std().item()
    np.save(os.path.join(d, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "y.npy"), y.numpy().astype(np.int64))

    t = time.monotonic()
    path = os.path.join(d, "model.onnx")
    try:
        # grad stays enabled: the fused TransformerEncoder / MultiheadAttention
        # fast path has no ONNX export
        torch.onnx.export(model, x[:2], path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=opset, do_constant_folding=True)
    except Exception as e:  # noqa: BLE001 - a failed export is a row
        row["builds"] = "no: torch export: " + last_line(str(e))[:160]
        return row, None
    row["export_s"] = time.monotonic() - t
    row["onnx_mb"] = os.path.getsize(path) / 2**20

    g64 = ce_grad(model.double(), x.double(), y).numpy()
    model.float()
    g32 = ce_grad(model, x, y).numpy()
    row["g64_max"] = float(np.abs(g64).max())
    e32 = rel_linf(g32, g64)
    row["f32_med"], row["f32_max"] = float(np.median(e32)), float(e32.max())

    p, _ = run([GAUNTLET, "inspect", path, "--json"])
    if p.returncode == 0:
        info = json.loads(p.stdout)
        row["white_box"] = "yes" if info.get("white_box") else \
            "no (" + ", ".join(sorted({u["op"] for u in info.get("unsupported", [])})) + ")"
    else:
        row["white_box"] = f"exit {p.returncode}: {last_line(p.stderr)[:120]}"

    gpath = os.path.join(d, "g.npy")
    p, row["grad_s"] = run([GAUNTLET, "grad", "-m", path, "--x", os.path.join(d, "x.npy"),
                            "--y", os.path.join(d, "y.npy"), "--out", gpath, "--threads", "2"])
    errs = None
    if p.returncode != 0:
        row["builds"] = f"no: {last_line(p.stderr)[:240]}"
    else:
        gg = np.load(gpath)
        errs = rel_linf(gg, g64)
        row["builds"] = "yes"
        row["err_med"], row["err_max"] = float(np.median(errs)), float(errs.max())

    with open(os.path.join(d, "evasion.yaml"), "w") as f:
        f.write(CONFIG.format(n=N, eps=EPS, step=EPS / 4))
    p, row["evasion_s"] = run([GAUNTLET, "run", "-c", os.path.join(d, "evasion.yaml"),
                               "--out", os.path.join(d, "run"), "--progress", "none"])
    row["evasion_exit"] = p.returncode
    if p.returncode not in (0, 1):
        row["evasion_why"] = last_line(p.stderr)[:200]
    rep = os.path.join(d, "run", "report.json")
    if os.path.exists(rep):
        row["evasion_metrics"], row["evasion_mode"] = robust(rep)
    return row, (errs, e32)


def robust(path):
    """Clean and robust accuracies from a report, as 'clean_accuracy 1,
    fgsm… 0.5, …', and the gradient modes the attacks used (exact,
    estimated: the NES fallback)."""
    try:
        with open(path) as f:
            r = json.load(f)
        for s in r.get("suites", []):
            if s.get("name") == "evasion":
                m = s.get("metrics", {})
                keys = [k for k in m if k == "clean_accuracy" or k.endswith(".robust_accuracy")]
                modes = (s.get("details") or {}).get("gradient_mode") or {}
                mode = "/".join(sorted(set(modes.values()))) if isinstance(modes, dict) else str(modes)
                return ", ".join(f"{k.replace('.robust_accuracy', '')} {fmtv(m[k])}" for k in sorted(keys)), mode
    except (OSError, ValueError, AttributeError):
        pass
    return "", ""


def fmtv(v):
    if isinstance(v, dict):
        v = v.get("value", v)
    return f"{v:.3g}" if isinstance(v, (int, float)) else str(v)


def e(v):
    return "–" if v is None else f"{v:.2g}"


def table(rows):
    out = ["| architecture | input | opset | builds | median rel L∞ (Gauntlet vs f64) | worst | "
           "torch f32 median | torch f32 worst | white_box | evasion exit |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ev = r.get("evasion_exit", "–")
        if r.get("evasion_mode"):
            ev = f"{ev} ({r['evasion_mode']} gradients)"
        if r.get("evasion_why"):
            ev = f"{ev}: {r['evasion_why']}"
        out.append(f"| {r['name'].split('_op')[0]} | {r['input']} | {r['opset']} | "
                   f"{r.get('builds', '?').replace('|', '/')} | {e(r.get('err_med'))} | {e(r.get('err_max'))} | "
                   f"{e(r.get('f32_med'))} | {e(r.get('f32_max'))} | {r.get('white_box', '–')} | "
                   f"{str(ev).replace('|', '/')} |")
    return "\n".join(out)


def main():
    want = [w for w in os.environ.get("ZOO", "").split(",") if w]
    todo = [z for z in ZOO if not want or any(z[0] == w or z[0].startswith(w) for w in want)]
    if not os.access(GAUNTLET, os.X_OK):
        sys.exit(f"zoo: {GAUNTLET} missing: run `make build` (or `make zoo`)")
    os.makedirs(OUT, exist_ok=True)
    # the commit bin/gauntlet was built from (make zoo builds it just before)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    rows, details = [], []
    for name, opset, make, shape in todo:
        t = time.monotonic()
        try:
            row, errs = check(name, opset, make, shape)
        except Exception as ex:  # noqa: BLE001 - a failure is a row
            row, errs = {"name": name, "opset": opset, "input": "×".join(map(str, shape)),
                         "builds": "no: zoo.py: " + last_line(str(ex) or repr(ex))[:160]}, None
            traceback.print_exc()
        row["total_s"] = time.monotonic() - t
        rows.append(row)
        print(f"{name}: builds {row.get('builds')}; gauntlet rel L∞ median {e(row.get('err_med'))} "
              f"worst {e(row.get('err_max'))}; torch f32 median {e(row.get('f32_med'))} worst "
              f"{e(row.get('f32_max'))}; white_box {row.get('white_box')}; evasion exit "
              f"{row.get('evasion_exit')} {row.get('evasion_metrics', '')}; "
              f"logit std {e(row.get('logit_std'))}, |g64| max {e(row.get('g64_max'))}; "
              f"{row['total_s']:.0f} s (grad {row.get('grad_s', 0):.1f} s)", flush=True)
        if errs is not None:
            ge, fe = errs
            line = (f"  per-sample rel L∞: gauntlet {' '.join(e(v) for v in ge) if ge is not None else '–'}; "
                    f"torch f32 {' '.join(e(v) for v in fe)}")
            print(line, flush=True)
            details.append(f"- {name}: Gauntlet " + (" ".join(e(v) for v in ge) if ge is not None else "–")
                           + "; torch float32 " + " ".join(e(v) for v in fe))
        with open(os.path.join(OUT, "rows.json"), "w") as f:
            json.dump(rows, f, indent=1)
    stamp = (f"Ran {datetime.date.today().isoformat()} on commit {commit}"
             f"{' (with uncommitted changes in the tree)' if dirty else ''}, torch {torch.__version__}, "
             f"{os.cpu_count()} CPU cores, {N} samples per model.")
    md = table(rows)
    print()
    print(md)
    body = ZOO_MD.format(stamp=stamp, table=md, details="\n".join(details),
                         evasion="\n".join(f"- {r['name']}: {r['evasion_metrics']}"
                                           for r in rows if r.get("evasion_metrics")))
    with open(os.path.join(OUT, "zoo.md"), "w") as f:
        f.write(body)
    if not want:
        doc = os.path.join(ROOT, "docs", "zoo.md")
        kept = kept_sections(doc)  # read before "w" truncates the file
        with open(doc, "w") as f:
            f.write(body + kept)
        print("wrote docs/zoo.md")
    print("wrote", os.path.join(OUT, "zoo.md"))


# Sections of docs/zoo.md that other tools write (make bench-grad-peer's
# figures, by hand): a rerun keeps them, after its own text.
KEPT = ("\n## Gradient cost beside PyTorch\n",)


def kept_sections(path):
    """The text of docs/zoo.md from the first KEPT heading on, or ""."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    at = [old.index(h) for h in KEPT if h in old]
    return old[min(at):] if at else ""


ZOO_MD = """# The zoo: Gauntlet's gradients on real architectures

`make zoo` (`scripts/zoo/zoo.py`) exports torchvision and PyTorch architectures with random weights to ONNX,
each at its own opset with a dynamic batch axis, and checks what Gauntlet does with them: does the gradient
graph build, does it agree with PyTorch's float64 input gradient, does `gauntlet inspect` call the model
white-box, and what does a small evasion run (FGSM and PGD-10, L∞ eps 1/255) exit with. Anyone with Debian's
`python3-torch` 1.13 and `python3-torchvision` 0.14 can rerun it; `ZOO=resnet18,vit make zoo` runs a subset.
The models and data are left in `out/zoo/<row>/` (model.onnx, x.npy, y.npy, g.npy, evasion.yaml, run/).

{stamp}

## How the figures are made
- **Weights**: random (`weights=None`, `num_classes=10`), fixed seeds. BatchNorm running statistics are
  re-estimated on 4 random batches (`momentum=None`, train mode, no grad, then `eval()`): torchvision's init
  (mean 0, variance 1) makes deep random nets collapse to logits of 1e-10 and gradients of 1e-13.
  torchvision's ViT zero-initialises its head, so the head is re-drawn (normal, std 0.5).
- **Inputs**: 8 samples uniform in [0, 1], 64×64 images (AlexNet and VGG at 224: their adaptive average pool
  does not export at 64), tabular `[N, 24]` for the transformer encoder. Labels are the float32 model's own
  predictions (so the evasion run starts from correctly classified samples).
- **Export**: `torch.onnx.export(..., dynamic_axes={{"input": {{0: "batch"}}, "output": {{0: "batch"}}}},
  do_constant_folding=True)` with grad enabled (nn.TransformerEncoderLayer's fused fast path has no export).
- **Error**: per sample, relative L∞ error `max|g − g64| / max|g64|` of the cross-entropy input gradient,
  against PyTorch autograd on the same weights cast to float64 (`model.double()`); the table gives the median
  and the worst of the 8 samples. "torch f32" is PyTorch's own float32 gradient measured the same way: the
  floor that a float32 runtime can reach.
- **Evasion**: `gauntlet run` with FGSM and PGD (10 steps of eps/4, no random start) at L∞ eps 1/255 on the 8
  samples, no gates, `gradient_mode` left at `auto`: exit 0 means the suite ran, with exact gradients or, where
  the gradient graph does not build, on NES-estimated ones (the column says which, from the report's
  `details.gradient_mode`); exit 3 that it failed at run time, exit 2 bad input (the reason is shown).
- **Gradient/forward cost**: not measured here; `make bench-grad-peer` times it on ResNet-18 and the ViT beside
  PyTorch (section "Gradient cost beside PyTorch" below), `BenchmarkMNISTCNN` in `autodiff/bench_test.go` on
  mnist_cnn.

## Results

{table}

## Reading a worst case above 1e-4
Median errors of 1e-7…1e-5 are float32 rounding. Single-sample outliers of 1e-3…1e-1 on networks with ReLU or
MaxPool are usually kink flips: a pre-activation within ~1e-5 of zero (or two window elements within ~1e-5 of
each other) lands on the other side in float32, and ONNX Runtime's float32 (which folds BatchNorm into Conv)
and PyTorch's float32 flip different units. PyTorch's own float32 column shows the same kind of spikes, often
on other samples. Masking the flipped unit in the float64 reference brings the error back to ~5e-7
(`../shared/notes/exporting-real-architectures.md`). Judge per-sample medians; explain a worst case before
calling a gradient rule wrong.

Per-sample errors (Gauntlet; torch float32), in sample order:

{details}

Evasion metrics (clean and robust accuracy of the 8 samples):

{evasion}
"""


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Gauntlet's PGD-40 beside a plain PyTorch PGD loop: `make bench-peer`.

For each model, the MNIST CNN (../shared/fixtures/vision/mnist_cnn.onnx) and
the residual CNN with BatchNorm (benchmarks/pgdpeer/res_cnn.onnx, made by
make_res_cnn.py beside this file), on the first 1000 images of
mnist_test_x.npy / mnist_test_y.npy, the same attack runs in both:

  PGD L∞, eps 0.1, step 0.01, 40 steps, no random start, no early stop
  (every sample takes all 40 steps and is judged on its last iterate, as
  ART's PGD), cross-entropy on the logits, batch 128, attacking the samples
  the model classifies correctly; robust accuracy = correct before and
  after, over all 1000.

  * Gauntlet: benchmarks/pgdpeer (the pgdpeer binary) runs evasion.Suite.Run
    with fuse: never (one ORT call per step) and fuse: always (PGD's
    iterations in one fused ONNX Loop per batch), one worker, PEER_THREADS
    intra-op threads. Its time covers the whole Suite.Run: the clean pass,
    writing the gradient graph (and Loop model) and opening their sessions,
    the attack and the final evaluation.
  * PyTorch: the module is rebuilt from the ONNX file's initializers (read
    with the onnx package; each node mapped to the torch.nn module of the
    same op: Conv2d, BatchNorm2d in eval mode, Linear for Gemm, MaxPool2d,
    ReLU, Flatten, AdaptiveAvgPool2d for GlobalAveragePool, Identity, and
    the sum for Add), every parameter requires_grad False, its outputs
    checked against ONNX Runtime's logits first (through the pgdpeer run's
    clean accuracy); then a plain loop per batch: forward, cross-entropy
    sum, torch.autograd.grad with respect to the input, x + step·sign(g)
    clipped to the eps box and to [0, 1]. torch.set_num_threads(PEER_THREADS),
    one inter-op thread, and OpenBLAS's thread count when that is the BLAS
    loaded. Its time covers the clean pass, the attack and the final
    evaluation (the module is built before).

PEER_REPS rounds (default 3) alternate the order (Gauntlet first, then
PyTorch first, ...); each round prints wall-clock seconds and process CPU
seconds (user + system, all threads: what the load of other jobs on a
shared machine disturbs least) of the three runs and the ratios PyTorch /
Gauntlet (> 1: Gauntlet is faster). The robust accuracies of PyTorch and of
both Gauntlet paths must agree within 1 point (0.01): otherwise the script
exits 1. The table goes to out/bench-peer/table.md, the figures to
out/bench-peer/results.json.

Debian's torch runs convolutions as im2col + matrix products in whatever
libblas.so.3 resolves to (the reference BLAS unless OpenBLAS is installed);
the stamp names the one loaded. TORCH_BLAS_DIR=<dir with libblas.so.3>
(make bench-peer) puts another first on LD_LIBRARY_PATH.

Without PyTorch (or numpy / onnx) it says so and exits 0.

  PEER_REPS=3 PEER_THREADS=1 /usr/bin/python3 benchmarks/pgdpeer/peer.py
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "out", "bench-peer")
PGDPEER = os.environ.get("PGDPEER", os.path.join(OUT, "pgdpeer"))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
MODELS = [("mnist_cnn", os.path.join(VISION, "mnist_cnn.onnx")),
          ("res_cnn", os.path.join(HERE, "res_cnn.onnx"))]
X, Y = os.path.join(VISION, "mnist_test_x.npy"), os.path.join(VISION, "mnist_test_y.npy")
N, BATCH, EPS, STEP, STEPS = 1000, 128, 0.1, 0.01, 40
TOL = 0.01  # robust accuracies within 1 point


def env_int(name, default):
    try:
        v = int(os.environ.get(name, default))
    except ValueError:
        v = 0
    if v < 1:
        sys.exit(f"bench-peer: {name}={os.environ.get(name)!r}: want a positive integer")
    return v


# ------------------------------------------------------------- PyTorch side

def rebuild(path):
    """An nn.Module that runs the ONNX graph at path with torch.nn modules
    holding its initializers."""
    import numpy as np
    import onnx
    import torch
    import torch.nn as nn
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    init = {t.name: torch.from_numpy(np.array(numpy_helper.to_array(t), dtype=np.float32)) for t in m.graph.initializer}

    def attrs(node):
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def sym(pads, what):
        h = len(pads) // 2
        if list(pads[:h]) != list(pads[h:]):
            raise ValueError(f"{path}: {what} with asymmetric pads {list(pads)}")
        return tuple(pads[:h])

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleList()
            self.plan = []  # (module index, input names, output name)
            for node in m.graph.node:
                a = attrs(node)
                if node.op_type == "Identity" and node.input[0] in init:
                    init[node.output[0]] = init[node.input[0]]  # torch's export names shared initializers so
                    continue
                ins = [i for i in node.input if i not in init]
                op = node.op_type
                if op == "Conv":
                    w = init[node.input[1]]
                    k = tuple(a.get("kernel_shape", w.shape[2:]))
                    mod = nn.Conv2d(w.shape[1] * a.get("group", 1), w.shape[0], k, stride=tuple(a.get("strides", (1, 1))),
                                    padding=sym(a.get("pads", (0, 0, 0, 0)), "Conv"),
                                    dilation=tuple(a.get("dilations", (1, 1))), groups=a.get("group", 1),
                                    bias=len(node.input) > 2)
                    mod.weight.data.copy_(w)
                    if len(node.input) > 2:
                        mod.bias.data.copy_(init[node.input[2]])
                elif op == "BatchNormalization":
                    s = init[node.input[1]]
                    mod = nn.BatchNorm2d(s.shape[0], eps=a.get("epsilon", 1e-5))
                    mod.weight.data.copy_(s)
                    mod.bias.data.copy_(init[node.input[2]])
                    mod.running_mean.copy_(init[node.input[3]])
                    mod.running_var.copy_(init[node.input[4]])
                elif op == "Gemm":
                    if a.get("transB", 0) != 1 or a.get("transA", 0) != 0 or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                        raise ValueError(f"{path}: Gemm {node.name} with attributes {a}: only x·Wᵀ + b is mapped")
                    w = init[node.input[1]]
                    mod = nn.Linear(w.shape[1], w.shape[0], bias=len(node.input) > 2)
                    mod.weight.data.copy_(w)
                    if len(node.input) > 2:
                        mod.bias.data.copy_(init[node.input[2]])
                elif op == "MaxPool":
                    mod = nn.MaxPool2d(tuple(a["kernel_shape"]), stride=tuple(a.get("strides", a["kernel_shape"])),
                                       padding=sym(a.get("pads", (0, 0, 0, 0)), "MaxPool"),
                                       ceil_mode=bool(a.get("ceil_mode", 0)))
                elif op == "Relu":
                    mod = nn.ReLU()
                elif op == "Flatten":
                    mod = nn.Flatten(a.get("axis", 1))
                elif op == "GlobalAveragePool":
                    mod = nn.AdaptiveAvgPool2d(1)
                elif op == "Identity":
                    mod = nn.Identity()
                elif op == "Add":
                    mod = Add()
                else:
                    raise ValueError(f"{path}: op {op} ({node.name}) has no torch mapping here")
                self.mods.append(mod)
                self.plan.append((len(self.mods) - 1, ins, node.output[0]))
            self.input = m.graph.input[0].name
            self.output = m.graph.output[0].name

        def forward(self, x):
            v = {self.input: x}
            for i, ins, out in self.plan:
                v[out] = self.mods[i](*[v[n] for n in ins])
            return v[self.output]

    g = Graph().eval()
    for p in g.parameters():
        p.requires_grad_(False)
    return g


def torch_side(model, x, y):
    """Clean pass, PGD on the correctly classified samples of each batch,
    final evaluation; returns robust accuracy, clean accuracy, wall and CPU
    seconds."""
    import torch
    import torch.nn.functional as F
    c0, t0 = time.process_time(), time.perf_counter()
    robust = clean = 0
    for lo in range(0, len(x), BATCH):
        xb, yb = x[lo:lo + BATCH], y[lo:lo + BATCH]
        with torch.no_grad():
            ok = model(xb).argmax(1) == yb
        clean += int(ok.sum())
        x0, yc = xb[ok], yb[ok]
        if len(x0) == 0:
            continue
        lo_box, hi_box = (x0 - EPS).clamp(0, 1), (x0 + EPS).clamp(0, 1)
        xa = x0.clone()
        for _ in range(STEPS):
            xa.requires_grad_(True)
            loss = F.cross_entropy(model(xa), yc, reduction="sum")
            g, = torch.autograd.grad(loss, xa)
            xa = torch.min(torch.max(xa.detach() + STEP * g.sign(), lo_box), hi_box)
        with torch.no_grad():
            robust += int((model(xa).argmax(1) == yc).sum())
    return {"robust_accuracy": robust / len(x), "clean_accuracy": clean / len(x),
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


# ------------------------------------------------------------ Gauntlet side

def gauntlet_side(path, threads, fuses):
    cmd = [PGDPEER, "-model", path, "-x", X, "-y", Y, "-n", str(N), "-batch", str(BATCH), "-threads", str(threads),
           "-eps", str(EPS), "-step", str(STEP), "-steps", str(STEPS), "-fuse", ",".join(fuses)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench-peer: {' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return {r["fuse"]: r for r in map(json.loads, p.stdout.strip().splitlines())}


def main():
    reps, threads = env_int("PEER_REPS", "3"), env_int("PEER_THREADS", "1")
    if not os.access(PGDPEER, os.X_OK):
        sys.exit(f"bench-peer: {PGDPEER} missing: run `make bench-peer` (it builds it)")
    for p in [X, Y] + [m[1] for m in MODELS]:
        if not os.path.exists(p):
            sys.exit(f"bench-peer: {os.path.relpath(p, ROOT)} is missing (the shared fixtures live in ../shared)")
    try:
        import numpy as np
        import onnx  # noqa: F401
        import torch
    except ImportError as e:
        print(f"bench-peer: PyTorch, numpy or onnx is not available to {sys.executable} ({e}); nothing to compare "
              "(install Debian's python3-torch and python3-onnx).")
        return
    sys.path.insert(0, os.path.join(ROOT, "scripts", "zoo"))
    import bench_grad  # the BLAS probe and the run stamp
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    blas_name, blas_threads = bench_grad.blas()
    if blas_threads:
        blas_threads(threads)
    os.makedirs(OUT, exist_ok=True)
    x = torch.from_numpy(np.load(X)[:N].astype(np.float32))
    y = torch.from_numpy(np.load(Y)[:N].astype(np.int64))

    rows, bad = [], []
    t_all = time.monotonic()
    for label, path in MODELS:
        model = rebuild(path)
        for r in range(reps):
            fuses = ["never", "always"] if r % 2 == 0 else ["always", "never"]
            if r % 2 == 0:
                g = gauntlet_side(path, threads, fuses)
                t = torch_side(model, x, y)
            else:
                t = torch_side(model, x, y)
                g = gauntlet_side(path, threads, fuses)
            row = {"model": label, "round": r + 1, "torch": t, "never": g["never"], "always": g["always"]}
            rows.append(row)
            for f in ("never", "always"):
                if abs(g[f]["clean_accuracy"] - t["clean_accuracy"]) > 1e-9:
                    bad.append(f"{label} round {r + 1}: clean accuracy Gauntlet {g[f]['clean_accuracy']} PyTorch "
                               f"{t['clean_accuracy']}: the rebuilt module does not match the ONNX file")
                if abs(g[f]["robust_accuracy"] - t["robust_accuracy"]) > TOL + 1e-9:
                    bad.append(f"{label} round {r + 1}: robust accuracy Gauntlet fuse {f} {g[f]['robust_accuracy']:.3f} "
                               f"PyTorch {t['robust_accuracy']:.3f}: beyond {TOL}")
            print(f"{label} round {r + 1}: " + "; ".join(
                f"{name} {d['wall_s']:.2f} s wall, {d['cpu_s']:.2f} s CPU, robust {d['robust_accuracy']:.3f}"
                for name, d in (("PyTorch", t), ("Gauntlet per step", g["never"]), ("Gauntlet fused", g["always"])))
                + f"; PyTorch / per step {t['wall_s'] / g['never']['wall_s']:.2f} wall, "
                  f"{t['cpu_s'] / g['never']['cpu_s']:.2f} CPU; PyTorch / fused {t['wall_s'] / g['always']['wall_s']:.2f} "
                  f"wall, {t['cpu_s'] / g['always']['cpu_s']:.2f} CPU; per step / fused "
                  f"{g['never']['cpu_s'] / g['always']['cpu_s']:.2f} CPU", flush=True)

    st = (f"{bench_grad.stamp(torch.__version__, blas_name)}; "
          f"{threads} thread(s) each side; {time.monotonic() - t_all:.0f} s.")
    md = ["| model | round | robust acc. PyTorch / per step / fused | PyTorch ÷ Gauntlet per step (wall, CPU) | "
          "PyTorch ÷ Gauntlet fused (wall, CPU) | per step ÷ fused (wall, CPU) |", "|---|---|---|---|---|---|"]
    for r in rows:
        t, nv, al = r["torch"], r["never"], r["always"]
        md.append(f"| {r['model']} | {r['round']} | {t['robust_accuracy']:.3f} / {nv['robust_accuracy']:.3f} / "
                  f"{al['robust_accuracy']:.3f} | {t['wall_s'] / nv['wall_s']:.2f}, {t['cpu_s'] / nv['cpu_s']:.2f} | "
                  f"{t['wall_s'] / al['wall_s']:.2f}, {t['cpu_s'] / al['cpu_s']:.2f} | "
                  f"{nv['wall_s'] / al['wall_s']:.2f}, {nv['cpu_s'] / al['cpu_s']:.2f} |")
    md = "\n".join(md)
    print()
    print(st)
    print()
    print(md)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(st + "\n\n" + md + "\n")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"stamp": st, "rows": rows}, f, indent=1)
    print("wrote", os.path.relpath(os.path.join(OUT, "table.md"), ROOT))
    if bad:
        print("\n".join(["bench-peer: FAILED"] + bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

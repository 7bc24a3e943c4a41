#!/usr/bin/python3
"""Gradient cost beside PyTorch: `make bench-grad-peer`.

For ResNet-18 (64×64) and the zoo's small ViT, built exactly as
scripts/zoo/zoo.py builds them (its constructors, seeds and BatchNorm
re-estimation, imported from zoo.py), this script

  * exports the model to out/bench-grad/<model>.onnx (zoo.py's export call,
    at the zoo's opset: 13 for ResNet-18, 17 for the ViT) when the file is
    missing or was made from other weights (a digest of the weights is kept
    beside it), and writes the inputs, out/bench-grad/<model>_x.npy: the
    largest batch, uniform in [0, 1) from the zoo's generator (the first 8
    are the zoo's x.npy);
  * for each batch size and thread count, runs the Gauntlet side,
    `gradratio` (benchmarks/gradratio: median ONNX Runtime time of the plain
    forward pass and of the gradient graph, forward + per-sample
    cross-entropy + input gradient in one call, over interleaved
    repetitions), then the PyTorch side in this process: model(x) in eval
    mode under no_grad, and forward + backward of the per-sample
    cross-entropy sum with respect to the input only (x.requires_grad_(True),
    every parameter requires_grad False), torch.set_num_threads(threads),
    the same batch and labels (i mod 10), interleaved repetitions, medians;
  * prints two tables, wall-clock medians and process CPU time medians of
    the same runs (CPU time, all threads together, is what the load of other
    jobs on a shared machine disturbs least; with 2 threads it also counts
    idle threads spinning), and writes them to out/bench-grad/table.md (with
    the date, commit, BLAS and machine) and the figures to
    out/bench-grad/results.json.

Ratios: each side's fwd+grad / fwd comes from interleaved repetitions in one
process; Gauntlet grad / PyTorch fwd+bwd compares two processes run back to
back on the same batch, so on a shared machine it carries more noise.

Debian's torch sends matrix products (nn.Linear, attention) to whatever
libblas.so.3 resolves to, the reference BLAS unless OpenBLAS is installed;
the stamp names the one loaded. TORCH_BLAS_DIR=<dir with libblas.so.3> (make
bench-grad-peer) puts another first on LD_LIBRARY_PATH (docs/zoo.md).

Without PyTorch it says so and exits 0 (after timing the Gauntlet side alone
when the models were exported before).

  GRAD_BATCHES=8,32 GRAD_THREADS=1,2 GRAD_MIN_TIME=1 /usr/bin/python3 scripts/zoo/bench_grad.py

GRAD_MIN_TIME is the least total time in seconds each side runs per
configuration (at least 7 repetitions, at most 200). GRADRATIO is the
gradratio binary (make bench-grad-peer builds out/bench-grad/gradratio).
"""

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "out", "bench-grad")
GRADRATIO = os.environ.get("GRADRATIO", os.path.join(OUT, "gradratio"))
# table name, zoo row (constructor, opset and seed come from zoo.py)
MODELS = [("resnet18", "resnet18_op13"), ("vit", "vit_op17")]
WARMUP, MIN_REPS, MAX_REPS = 2, 7, 200


def ints(name, default):
    try:
        v = [int(s) for s in os.environ.get(name, default).split(",") if s.strip()]
    except ValueError:
        v = []
    if not v or min(v) < 1:
        sys.exit(f"bench_grad: {name}={os.environ.get(name)!r}: want positive integers separated by commas")
    return v


def stamp(torch_version, blas_name):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (f"Ran {datetime.date.today().isoformat()} on commit {commit}"
            f"{' (with uncommitted changes in the tree)' if dirty else ''}, ONNX Runtime "
            f"{os.environ.get('ORT_VERSION', '?')} (CPU), torch {torch_version or 'absent'}"
            f"{' with ' + blas_name if torch_version else ''}, "
            f"{os.cpu_count()} CPU cores")


# ------------------------------------------------------------- PyTorch side

def build(row):
    """The zoo's model for a row, built as zoo.check builds it, and the
    zoo's input generator after BatchNorm re-estimation."""
    import torch
    import zoo
    (name, opset, make, shape), = [z for z in zoo.ZOO if z[0] == row]
    seed = zoo.SEED + sum(map(ord, name.split("_op")[0]))
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = make()
    zoo.reestimate_bn(model, shape, g)
    model.eval()
    return model, g, opset, shape


def digest(model, opset):
    import torch
    h = hashlib.sha256(f"{torch.__version__} opset {opset}".encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export(label, row, nmax):
    """Builds the model, exports it when needed, writes the inputs; returns
    (model, x [nmax, ...], path)."""
    import numpy as np
    import torch
    model, g, opset, shape = build(row)
    x = torch.rand(nmax, *shape, generator=g)
    path = os.path.join(OUT, label + ".onnx")
    dg = digest(model, opset)
    try:
        with open(path + ".sha256") as f:
            same = f.read().strip() == dg
    except OSError:
        same = False
    if not (same and os.path.exists(path)):
        print(f"exporting {label} ({row}: the zoo's weights, opset {opset}) to {os.path.relpath(path, ROOT)}", flush=True)
        torch.onnx.export(model, x[:2], path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=opset, do_constant_folding=True)
        with open(path + ".sha256", "w") as f:
            f.write(dg + "\n")
    for p in model.parameters():
        p.requires_grad_(False)
    np.save(os.path.join(OUT, label + "_x.npy"), x.numpy().astype(np.float32))
    return model, x, path


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def blas():
    """The BLAS library torch loaded (Debian's torch is built with
    BLAS_INFO=generic: its matrix products go to whatever libblas.so.3
    resolves to) and OpenBLAS's thread setter, if that is the one."""
    import ctypes
    path = ""
    try:
        with open("/proc/self/maps") as f:
            libs = [line.split()[-1] for line in f if "/" in line]
        for lib in libs:
            if "libblas.so" in os.path.basename(lib) or "libopenblas" in os.path.basename(lib):
                path = os.path.realpath(lib)
                break
    except OSError:
        pass
    setter = None
    try:
        setter = ctypes.CDLL(path or "libblas.so.3").openblas_set_num_threads
    except (OSError, AttributeError):
        pass
    name = ("OpenBLAS" if "openblas" in path else "reference BLAS (netlib)" if "/blas/" in path
            else os.path.basename(path) or "unknown")
    return f"{name}: {path}" if path else name, setter


def torch_side(model, x, threads, min_time, blas_threads):
    """Medians in ms of model(x) under no_grad and of forward + backward of
    the per-sample CE sum w.r.t. x, interleaved as gradratio interleaves:
    wall-clock time and process CPU time (all threads)."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    if blas_threads:
        blas_threads(threads)
    y = torch.arange(x.shape[0]) % 10

    def fwd():
        with torch.no_grad():
            model(x)

    def grad():
        xg = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(xg), y, reduction="none").sum()
        torch.autograd.grad(loss, xg)

    for _ in range(WARMUP):
        fwd()
        grad()
    tf, tg, cf, cg, sf, sg = [], [], [], [], 0.0, 0.0
    r = 0
    while r < MAX_REPS and (r < MIN_REPS or sf < min_time or sg < min_time):
        order = (fwd, grad) if r % 2 == 0 else (grad, fwd)
        for f in order:
            c = time.process_time()
            t = time.perf_counter()
            f()
            d = time.perf_counter() - t
            c = time.process_time() - c
            if f is fwd:
                tf.append(d)
                cf.append(c)
                sf += d
            else:
                tg.append(d)
                cg.append(c)
                sg += d
        r += 1
    return {"t_fwd": 1e3 * median(tf), "t_grad": 1e3 * median(tg), "t_reps": r,
            "t_fwd_cpu": 1e3 * median(cf), "t_grad_cpu": 1e3 * median(cg)}


# ------------------------------------------------------------ Gauntlet side

def gauntlet_side(path, xpath, batch, threads, min_time):
    cmd = [GRADRATIO, "-model", path, "-batch", str(batch), "-threads", str(threads),
           "-min-reps", str(MIN_REPS), "-max-reps", str(MAX_REPS), "-warmup", str(WARMUP),
           "-min-time", f"{min_time}s", "-json"]
    if xpath:
        cmd += ["-x", xpath]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_grad: {' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def f2(v):
    return "–" if v is None else f"{v:.2f}"


def table(rows, cpu=False):
    """The markdown table of wall-clock medians, or with cpu of process CPU
    time medians."""
    k = "_cpu" if cpu else ""
    what = "CPU ms" if cpu else "ms"
    out = [f"| model | batch | threads | Gauntlet fwd {what} | Gauntlet fwd+grad {what} | Gauntlet ratio | "
           f"PyTorch fwd {what} | PyTorch fwd+bwd {what} | PyTorch ratio | Gauntlet grad / PyTorch fwd+bwd |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gf, gg = r.get("forward" + k + "_ms"), r.get("grad" + k + "_ms")
        tf, tg = r.get("t_fwd" + k), r.get("t_grad" + k)
        out.append(f"| {r['model']} | {r['batch']} | {r['threads']} | {f2(gf)} | {f2(gg)} | "
                   f"{f2(gg / gf if gf else None)} | {f2(tf)} | {f2(tg)} | {f2(tg / tf if tf else None)} | "
                   f"{f2(gg / tg if tg else None)} |")
    return "\n".join(out)


def main():
    batches, threads = ints("GRAD_BATCHES", "8,32"), ints("GRAD_THREADS", "1,2")
    try:
        min_time = float(os.environ.get("GRAD_MIN_TIME", "1"))
    except ValueError:
        sys.exit(f"bench_grad: GRAD_MIN_TIME={os.environ['GRAD_MIN_TIME']!r}: want seconds")
    if not os.access(GRADRATIO, os.X_OK):
        sys.exit(f"bench_grad: {GRADRATIO} missing: run `make bench-grad-peer` (it builds it)")
    os.makedirs(OUT, exist_ok=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import numpy  # noqa: F401
        import torch
        import torchvision  # noqa: F401
        import zoo  # noqa: F401 - imports torch and torchvision too
        torch_version = torch.__version__
        torch.set_num_interop_threads(1)
        blas_name, blas_threads = blas()
    except ImportError as e:
        torch_version, blas_name = None, ""
        print(f"bench-grad-peer: PyTorch is not available to {sys.executable} ({e}); the PyTorch side is "
              "skipped (install Debian's python3-torch and python3-torchvision).", flush=True)

    models = []
    for label, row in MODELS:
        if torch_version:
            model, x, path = export(label, row, max(batches))
            models.append((label, path, os.path.join(OUT, label + "_x.npy"), model, x))
        elif os.path.exists(os.path.join(OUT, label + ".onnx")):
            xp = os.path.join(OUT, label + "_x.npy")
            models.append((label, os.path.join(OUT, label + ".onnx"), xp if os.path.exists(xp) else "", None, None))
    if not models:
        print("bench-grad-peer: no exported models in out/bench-grad/ either: nothing to time.")
        return

    rows = []
    t0 = time.monotonic()
    for label, path, xpath, model, x in models:
        for t in threads:
            for b in batches:
                r = gauntlet_side(path, xpath, b, t, min_time)
                r["model"] = label
                if model is not None:
                    r.update(torch_side(model, x[:b], t, min_time, blas_threads))
                rows.append(r)
                print(f"{label} batch {b} threads {t}: Gauntlet fwd {r['forward_ms']:.2f} ms, fwd+grad "
                      f"{r['grad_ms']:.2f} ms ({r['reps']} reps), ratio {r['ratio']:.2f}"
                      + (f"; PyTorch fwd {r['t_fwd']:.2f} ms, fwd+bwd {r['t_grad']:.2f} ms ({r['t_reps']} reps), "
                         f"ratio {r['t_grad'] / r['t_fwd']:.2f}; Gauntlet grad / PyTorch fwd+bwd "
                         f"{r['grad_ms'] / r['t_grad']:.2f}" if model is not None else ""), flush=True)
    st = f"{stamp(torch_version, blas_name)}; {time.monotonic() - t0:.0f} s."
    md = ("Wall-clock time, medians:\n\n" + table(rows) + "\n\nProcess CPU time (all threads, user + system; "
          "with 2 threads it includes idle threads spinning), medians of the same runs:\n\n" + table(rows, cpu=True))
    print()
    print(st)
    print()
    print(md)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(st + "\n\n" + md + "\n")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"stamp": st, "rows": rows}, f, indent=1)
    print("wrote", os.path.relpath(os.path.join(OUT, "table.md"), ROOT))


if __name__ == "__main__":
    main()

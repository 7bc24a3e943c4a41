#!/usr/bin/python3
"""Run times of Gauntlet against the peer code in one run: `make peer-times`.

Two comparisons, each on the same model, images and settings, one CPU
thread on both sides, in ROUNDS rounds whose order alternates (Gauntlet
first, then the peer first, ...), so that both see the same machine load:

  * certify: `gauntlet run` with the certify suite (σ 0.25, n0 100, n 1000,
    α 0.001, one worker, one intra-op thread, batch 100) against the ART
    1.18.2 port of suites/certify/testdata/peer_art.py (its certify(), the
    model rebuilt in torch from the ONNX initializers, batches of 100);
  * autoattack: `gauntlet run` with the evasion suite's standard
    `autoattack` entry (L∞, EPS) against AutoAttack(version='standard',
    seed=0).run_standard_evaluation of the reference code copied in
    suites/evasion/testdata/autoattack_ref (as peer_autoattack.py runs it),
    on the same images in one batch.

Models and images: certify runs on the shared MNIST CNN and its first
CERTIFY_N test images when ../shared/fixtures/vision is there (the model of
certify's cross-check), else on the repository's digits CNN; autoattack
runs on the repository's digits CNN and its first AA_N evaluation images
at L∞ AA_EPS = 0.08, where about 60 % of them survive APGD-CE and APGD-T,
so that all four parts do work (on the MNIST CNN at the cross-check's eps
0.2 APGD-CE breaks the first 20 images and the rest never runs; at 0.1 the
reference needs tens of minutes). The images are written to a temporary
folder as .npy, so Gauntlet reads exactly the peer's.

Each side runs as its own process. Times: "work" is the part both sides
do — for Gauntlet the suite's duration_s in report.json (the suite's Run:
clean pass, attacks or noisy passes, not the process start, ORT load or
model session), for the peer the wall time around its certify() or
run_standard_evaluation() call (not the Python and torch imports or the
model rebuild), and the CPU time of the same (the peer's process_time()
around the call; Gauntlet's whole process, whose start costs a fraction
of a CPU second, as the report has no CPU time); "process" is the child process's wall and CPU time
(user + system) from start to exit. Ratios are peer / Gauntlet: above 1,
Gauntlet took less. The robust / certified accuracies of both are printed
beside the times, so a ratio of runs that disagree is visible as such.

  ROUNDS=2 CERTIFY_N=50 AA_N=20 AA_EPS=0.08 /usr/bin/python3 scripts/peer-times.py [certify] [autoattack]

Environment: GAUNTLET (default bin/gauntlet), ORT_LIB (default
.ort/libonnxruntime.so.1), ROUNDS (2), CERTIFY_N (50), AA_N (20), AA_EPS
(0.2). Writes out/peer-times/results.json and prints a Markdown table.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "out", "peer-times")
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
GAUNTLET = os.environ.get("GAUNTLET", os.path.join(ROOT, "bin", "gauntlet"))
ORT_LIB = os.environ.get("ORT_LIB", os.path.join(ROOT, ".ort", "libonnxruntime.so.1"))

# The peer's side, run as `python3 -c PEER_CODE kind json-args`: prints one
# JSON line with the work time and the figures.
PEER_CODE = r'''
import json, os, sys, time
a = json.loads(sys.argv[2])
sys.path.insert(0, os.path.join(a["root"], "benchmarks", "pgdpeer"))
import numpy as np, torch
from peer import rebuild
torch.set_num_threads(1)
torch.set_num_interop_threads(1)
x, y = np.load(a["x"]), np.load(a["y"])
model = rebuild(a["model"])
if sys.argv[1] == "certify":
    sys.path.insert(0, os.path.join(a["root"], "suites", "certify", "testdata"))
    import peer_art
    np.random.seed(0)
    t, c = time.perf_counter(), time.process_time()
    pred, rad = peer_art.certify(model, x, a["classes"], a["sigma"], a["n0"], a["n"], a["alpha"])
    work, work_cpu = time.perf_counter() - t, time.process_time() - c
    ok = pred == y
    figs = {repr(r): float(np.mean(ok & (rad >= r))) for r in a["radii"]}
else:
    sys.path.insert(0, os.path.join(a["root"], "suites", "evasion", "testdata", "autoattack_ref"))
    from autoattack import AutoAttack
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    aa = AutoAttack(model, norm="Linf", eps=a["eps"], version="standard", seed=0, device="cpu", verbose=False)
    t, c = time.perf_counter(), time.process_time()
    adv = aa.run_standard_evaluation(xt, yt, bs=len(x))
    work, work_cpu = time.perf_counter() - t, time.process_time() - c
    with torch.no_grad():
        figs = {"robust_accuracy": float((model(adv).argmax(1) == yt).float().mean())}
print(json.dumps({"work": work, "work_cpu": work_cpu, "figures": figs}))
'''


def env_int(name, default):
    try:
        v = int(os.environ.get(name, default))
    except ValueError:
        v = 0
    if v < 1:
        sys.exit(f"peer-times: {name}={os.environ.get(name)!r}: want a positive integer")
    return v


def timed(cmd):
    """Runs cmd; returns (stdout, wall s, CPU s of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):  # 1: a gate failed, which these configs do not have
        sys.exit(f"peer-times: {' '.join(cmd[:3])} … exited {p.returncode}\n{p.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, wall, cpu


def gauntlet(kind, cfg, tmp):
    path = os.path.join(tmp, f"{kind}.yaml")
    with open(path, "w") as f:
        f.write(cfg)
    out = os.path.join(tmp, f"out-{kind}")
    _, wall, cpu = timed([GAUNTLET, "run", "-c", path, "--out", out, "--ort-library", ORT_LIB, "--progress", "none"])
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    s = rep["suites"][0]
    if s["status"] != "passed":
        sys.exit(f"peer-times: gauntlet {kind}: suite {s['status']}: {s.get('error')}")
    # The suite's CPU time is not in the report: the process's stands in
    # for it (its start, ORT load and model session cost a fraction of a
    # CPU second).
    return {"work": s["duration_s"], "work_cpu": cpu, "wall": wall, "cpu": cpu, "metrics": s["metrics"]}


def peer(kind, args):
    stdout, wall, cpu = timed([sys.executable, "-c", PEER_CODE, kind, json.dumps(args)])
    r = json.loads(stdout.strip().splitlines()[-1])
    return {"work": r["work"], "work_cpu": r["work_cpu"], "wall": wall, "cpu": cpu, "figures": r["figures"]}


def main():
    import numpy as np

    rounds = env_int("ROUNDS", 2)
    cn, an = env_int("CERTIFY_N", 50), env_int("AA_N", 20)
    eps = float(os.environ.get("AA_EPS", "0.08"))
    kinds = sys.argv[1:] or ["certify", "autoattack"]
    digits = (os.path.join(ROOT, "examples", "digits_cnn.onnx"), os.path.join(ROOT, "examples", "digits_eval_x.npy"),
              os.path.join(ROOT, "examples", "digits_eval_y.npy"), "the repository's digits CNN")
    mnist = (os.path.join(VISION, "mnist_cnn.onnx"), os.path.join(VISION, "mnist_test_x.npy"),
             os.path.join(VISION, "mnist_test_y.npy"), "the shared MNIST CNN")
    os.makedirs(OUT, exist_ok=True)
    results = {"rounds": rounds, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if kind not in ("certify", "autoattack"):
                sys.exit(f"peer-times: unknown case {kind!r}: certify or autoattack")
            model, xs, ys, source = mnist if kind == "certify" and os.path.isdir(VISION) else digits
            x, y = np.load(xs), np.load(ys)
            n = cn if kind == "certify" else an
            xp, yp = os.path.join(tmp, f"x{n}.npy"), os.path.join(tmp, f"y{n}.npy")
            np.save(xp, np.ascontiguousarray(x[:n], dtype=np.float32))
            np.save(yp, np.ascontiguousarray(y[:n], dtype=np.int64))
            head = (f"version: 1\nmodel: {model}\nseed: 1\nruntime: {{device: cpu, workers: 1, intra_op_threads: 1, batch_size: 100}}\n"
                    f"data: {{x: {xp}, y: {yp}, range: [0, 1]}}\noutput: {{dir: {tmp}, formats: [json]}}\n")
            if kind == "certify":
                cfg = head + f"suites:\n  certify: {{sigma: [0.25], n0: 100, n: 1000, alpha: 0.001, radii: [0, 0.25, 0.5], samples: {n}}}\n"
                args = {"root": ROOT, "model": model, "x": xp, "y": yp, "classes": 10, "sigma": 0.25, "n0": 100, "n": 1000,
                        "alpha": 0.001, "radii": [0.0, 0.25, 0.5]}
            else:
                cfg = head + f"suites:\n  evasion:\n    attacks:\n      - {{name: autoattack, norm: linf, eps: [{eps:g}]}}\n"
                args = {"root": ROOT, "model": model, "x": xp, "y": yp, "eps": eps}
            runs = []
            for r in range(rounds):
                order = ["gauntlet", "peer"] if r % 2 == 0 else ["peer", "gauntlet"]
                got = {}
                for side in order:
                    got[side] = gauntlet(kind, cfg, tmp) if side == "gauntlet" else peer(kind, args)
                    print(f"{kind} round {r + 1} {side}: work {got[side]['work']:.1f} s wall, {got[side]['work_cpu']:.1f} s CPU; "
                          f"process {got[side]['wall']:.1f} s wall, {got[side]['cpu']:.1f} s CPU", flush=True)
                runs.append({"order": order, **got})
            g, p = runs[-1]["gauntlet"], runs[-1]["peer"]
            if kind == "certify":
                figs = {f"radius {r}": (g["metrics"][f"sigma=0.25.radius={r:g}.certified_accuracy"], p["figures"][repr(float(r))])
                        for r in (0, 0.25, 0.5)}
            else:
                figs = {"robust accuracy": (g["metrics"][f"autoattack.linf.eps={eps:g}.robust_accuracy"], p["figures"]["robust_accuracy"])}

            def ratio(key):
                return [round(u["peer"][key] / u["gauntlet"][key], 2) for u in runs]
            results["cases"][kind] = {"model": os.path.relpath(model, ROOT), "source": source, "n": n, "runs": runs, "figures (gauntlet, peer)": figs,
                                      "ratio_work": ratio("work"), "ratio_work_cpu": ratio("work_cpu"),
                                      "ratio_wall": ratio("wall"), "ratio_cpu": ratio("cpu")}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    load = os.getloadavg()[0]
    print(f"\n{rounds} rounds, load average {load:.1f} at the end; ratios peer / Gauntlet per round (> 1: Gauntlet took less)\n")
    print("| case | model, images | work, wall | work, CPU | process wall | process CPU | figures (Gauntlet vs peer) |")
    print("|---|---|---|---|---|---|---|")
    for kind, c in results["cases"].items():
        figs = "; ".join(f"{k} {a:.3f} vs {b:.3f}" for k, (a, b) in c["figures (gauntlet, peer)"].items())
        print(f"| {kind} | {c['source']}, {c['n']} | {c['ratio_work']} | {c['ratio_work_cpu']} | {c['ratio_wall']} | {c['ratio_cpu']} | {figs} |")


if __name__ == "__main__":
    main()

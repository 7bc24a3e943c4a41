#!/usr/bin/python3
"""Run times of Gauntlet against the peer code in one run: `make peer-times`.

Three comparisons, each on the same model, images and settings, one CPU
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
    on the same images in one batch;
  * corruption: `gauntlet run` with the corruption suite (CIFAR-10-C
    parameters, severities 1-5, one worker, one intra-op thread) against the
    reference's corruption functions (hendrycks/robustness make_cifar_c.py,
    as suites/corruption/testdata/reference.py and reference_ported.py copy
    and port them) called in make_cifar_c.py's own loop, family by family,
    severity by severity, image by image: np.uint8(f(PIL image, s)).

Models and images: certify runs on the shared MNIST CNN and its first
CERTIFY_N test images when ../shared/fixtures/vision is there (the model of
certify's cross-check), else on the repository's digits CNN; autoattack
runs on the repository's digits CNN and its first AA_N evaluation images
at L∞ AA_EPS = 0.08, where about 60 % of them survive APGD-CE and APGD-T,
so that all four parts do work (on the MNIST CNN at the cross-check's eps
0.2 APGD-CE breaks the first 20 images and the rest never runs; at 0.1 the
reference needs tens of minutes). The images are written to a temporary
folder as .npy, so Gauntlet reads exactly the peer's. corruption runs on
CORR_N synthetic 32×32 RGB images (the size the CIFAR-10-C parameters and
make_cifar_c.py's hard-coded 32s are written for; no CIFAR images are in
the repository: smooth colour fields with discs and a bar, 8-bit levels,
numpy default_rng(23), as reference.py's inputs) and a one-layer model
written here (ReduceMean over the pixels, then Gemm 3 → 10; 300 rows
took 0.5–5 ms in the clean-only run), so the model's share of Gauntlet's
time is small; it is left in (the peer scores nothing).

corruption times each family on its own (a Gauntlet run with `families:`
set to it; the peer's loop timed per family) and sums them into groups:
  * "reference": gaussian_noise, shot_noise, impulse_noise, glass_blur,
    zoom_blur, fog, brightness, contrast, pixelate, jpeg_compression run
    make_cifar_c.py's code with numpy, scipy and Pillow as published;
    skimage's random_noise, gaussian and rgb2hsv/hsv2rgb (impulse_noise,
    glass_blur, brightness) are their numpy/scipy bodies, copied, without
    skimage's input checks. This group gives the headline ratio.
  * "ported": defocus_blur (cv2.GaussianBlur/filter2D → scipy correlate),
    motion_blur and snow (ImageMagick's MotionBlurImage through Wand →
    numpy), elastic_transform (cv2.warpAffine → a numpy row loop): the
    peer's time is that of reference_ported.py's numpy ports, not of
    OpenCV's or ImageMagick's C code, so its ratio says little about the
    original. Reported apart, never in the headline.
  * "frost", only with FROST_DIR (the reference repository's
    ImageNet-C/create_c, holding frost1.png … frost5.jpg): the reference
    reads and resizes a photograph at every call (cv2); the port resizes
    the five once, so the peer's per-image work is a crop and a blend,
    while Gauntlet draws a plasma texture (docs/metrics/corruption.md):
    different work; reported apart.
Gauntlet's corruption work is a family run's duration_s (the suite's Run)
minus that of a clean-only run on the same data and model (`families:
[category_swap]`, a table family, which images skip: the clean pass and
nothing else), and its CPU the family run's process CPU minus the
clean-only run's (which also removes the process start, ORT load and
model session); what is left is the corruptions, the 5·CORR_N corrupted
rows through the one-layer model and their accuracy. The peer's is the
time around its loop (not the imports, the PIL images' making or the
frost photographs' loading). numpy's BLAS and OpenMP are held to one
thread (OMP_NUM_THREADS etc. = 1).

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

  ROUNDS=2 CERTIFY_N=50 AA_N=20 AA_EPS=0.08 CORR_N=300 /usr/bin/python3 scripts/peer-times.py [certify] [autoattack] [corruption]

Environment: GAUNTLET (default bin/gauntlet), ORT_LIB (default
.ort/libonnxruntime.so.1), ROUNDS (2), CERTIFY_N (50), AA_N (20), AA_EPS
(0.08), CORR_N (300), FROST_DIR (unset: no frost). Writes out/peer-times/results.json and prints a Markdown table.
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

# The corruption peer, run as `python3 -c CORRUPTION_CODE json-args`: the
# reference's functions (reference.py / reference_ported.py) in
# make_cifar_c.py's loop, timed per group; prints one JSON line.
CORRUPTION_CODE = r'''
import json, os, sys, time
a = json.loads(sys.argv[1])
sys.path.insert(0, os.path.join(a["root"], "suites", "corruption", "testdata"))
import numpy as np
from PIL import Image
import reference as ref
import reference_ported as por
fns = {**ref.DETERMINISTIC, **ref.RANDOM, "motion_blur": por.motion_blur, "snow": por.snow,
       "elastic_transform": por.elastic_transform, "frost": por.frost}
if a["frost_dir"]:
    por.load_frost(a["frost_dir"])
x = np.load(a["x"])
# make_cifar_c.py hands each function convert_img(img), a PIL RGB image;
# they are made here once, outside the timing (Gauntlet's data load).
imgs = [Image.fromarray(np.uint8(np.rint(im.transpose(1, 2, 0) * 255)), mode="RGB") for im in x]
np.random.seed(0)
out = {}
for name in a["families"]:
    f = fns[name]
    count = 0
    t, c = time.perf_counter(), time.process_time()
    for sev in range(1, 6):
        for img in imgs:
            o = np.uint8(f(img, sev))  # make_cifar_c.py: cifar_c.append(np.uint8(corruption(convert_img(img))))
            count += 1
    work, work_cpu = time.perf_counter() - t, time.process_time() - c
    out[name] = {"work": work, "work_cpu": work_cpu, "images": count}
print(json.dumps(out))
'''

# corruption's family groups (module docstring): the reference's code as
# published, the families whose library calls the peer runs as numpy
# ports, and frost (photographs; different work on the two sides).
CORRUPTION_GROUPS = {
    "reference": ["gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "zoom_blur", "fog", "brightness",
                  "contrast", "pixelate", "jpeg_compression"],
    "ported": ["defocus_blur", "motion_blur", "snow", "elastic_transform"],
    "frost": ["frost"],
}


def env_int(name, default):
    try:
        v = int(os.environ.get(name, default))
    except ValueError:
        v = 0
    if v < 1:
        sys.exit(f"peer-times: {name}={os.environ.get(name)!r}: want a positive integer")
    return v


def timed(cmd, env=None):
    """Runs cmd; returns (stdout, wall s, CPU s of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
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


def corruption_images(n):
    """n synthetic 32×32 RGB images in [0, 1] on 8-bit levels, NCHW float32,
    and labels: reference.py's make_inputs fields (smooth colour waves, three
    discs, a bar), numpy default_rng(23)."""
    import numpy as np
    rng = np.random.default_rng(23)
    h = w = 32
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, 3, h, w), dtype=np.float32)
    for i in range(n):
        img = np.zeros((h, w, 3))
        for ch in range(3):
            a, b, d = rng.uniform(-1, 1, 3)
            img[..., ch] = 0.5 + 0.3 * np.sin(3 * a * xx + 2 * b * yy + d * 3)
        for _ in range(3):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, h / 3)
            img[(yy * h - cy) ** 2 + (xx * w - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
        y0 = int(rng.integers(0, h - 4))
        img[y0:y0 + 3, :] = rng.uniform(0, 1, 3)
        out[i] = (np.clip(np.round(img * 255), 0, 255) / 255).transpose(2, 0, 1)
    return out, (np.arange(n) % 10).astype(np.int64)


def corruption_model(path):
    """Writes the one-layer classifier the corruption case runs: the mean of
    each channel over the pixels (ReduceMean), then Gemm 3 → 10 with fixed
    weights, opset 13: cheap, so Gauntlet's time is the corruptions'."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.normal(size=(3, 10)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(10, dtype=np.float32), "b")
    g = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("Gemm", ["m", "w", "b"], ["logits"])],
        "mean_rgb", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def corruption_case(rounds, n, tmp):
    """The corruption comparison: per round, Gauntlet's clean-only run and
    one run per family, and the peer's loop over the same families."""
    import numpy as np
    frost_dir = os.environ.get("FROST_DIR", "")
    groups = {k: v for k, v in CORRUPTION_GROUPS.items() if k != "frost" or frost_dir}
    x, y = corruption_images(n)
    xp, yp, model = os.path.join(tmp, "corr_x.npy"), os.path.join(tmp, "corr_y.npy"), os.path.join(tmp, "mean_rgb.onnx")
    np.save(xp, x)
    np.save(yp, y)
    corruption_model(model)
    head = (f"version: 1\nmodel: {model}\nseed: 1\nruntime: {{device: cpu, workers: 1, intra_op_threads: 1, batch_size: 100}}\n"
            f"data: {{x: {xp}, y: {yp}, range: [0, 1]}}\noutput: {{dir: {tmp}, formats: [json]}}\n")
    fams = [f for g in groups.values() for f in g]
    cfgs = {"clean": head + f"suites:\n  corruption: {{families: [category_swap], samples: {n}}}\n"}
    for f in fams:
        cfgs[f] = head + f"suites:\n  corruption: {{families: [{f}], parameters: cifar, samples: {n}}}\n"
    args = {"root": ROOT, "x": xp, "frost_dir": frost_dir, "families": fams}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = []
    for r in range(rounds):
        order = ["gauntlet", "peer"] if r % 2 == 0 else ["peer", "gauntlet"]
        got = {}
        for side in order:
            if side == "gauntlet":
                gs = {name: gauntlet(f"corruption-{name}", cfg, tmp) for name, cfg in cfgs.items()}
                c = gs["clean"]
                got["gauntlet"] = {"clean": {"work": c["work"], "cpu": c["cpu"], "wall": c["wall"]}}
                for f in fams:
                    u = gs[f]
                    cells = sum(1 for k, v in u["metrics"].items() if k.startswith(f + ".severity=") and v is not None)
                    got["gauntlet"][f] = {"work": u["work"] - c["work"], "work_cpu": u["cpu"] - c["cpu"], "wall": u["wall"],
                                          "cpu": u["cpu"], "images": cells * n}
            else:
                stdout, wall, cpu = timed([sys.executable, "-c", CORRUPTION_CODE, json.dumps(args)], env)
                got["peer"] = json.loads(stdout.strip().splitlines()[-1])
                got["peer"]["process"] = {"wall": wall, "cpu": cpu}
            for g, gf in groups.items():
                w = sum(got[side][f]["work"] for f in gf)
                wc = sum(got[side][f]["work_cpu"] for f in gf)
                print(f"corruption round {r + 1} {side} {g}: work {w:.2f} s wall, {wc:.2f} s CPU", flush=True)
        runs.append({"order": order, **got})

    def ratio(fs, key):
        # None where Gauntlet's time does not rise above the clean-only
        # run's (too few images for the subtraction: raise CORR_N).
        out = []
        for u in runs:
            d = sum(u["gauntlet"][f][key] for f in fs)
            out.append(round(sum(u["peer"][f][key] for f in fs) / d, 2) if d > 0 else None)
        return out
    ratios = {g: {"work": ratio(gf, "work"), "work_cpu": ratio(gf, "work_cpu")} for g, gf in groups.items()}
    # glass_blur's reference is a Python loop over the pixels, which
    # dominates the group's sum: the group without it, beside.
    rest = [f for f in groups["reference"] if f != "glass_blur"]
    ratios["reference, glass_blur aside"] = {"work": ratio(rest, "work"), "work_cpu": ratio(rest, "work_cpu")}
    per_family = {f: {"work": ratio([f], "work"), "work_cpu": ratio([f], "work_cpu")} for f in fams}
    return {"source": f"{n} synthetic 32×32 RGB images, a one-layer model", "n": n, "groups": groups, "runs": runs,
            "ratios": ratios, "ratios_per_family": per_family}


def main():
    import numpy as np

    rounds = env_int("ROUNDS", 2)
    cn, an, kn = env_int("CERTIFY_N", 50), env_int("AA_N", 20), env_int("CORR_N", 300)
    eps = float(os.environ.get("AA_EPS", "0.08"))
    kinds = sys.argv[1:] or ["certify", "autoattack", "corruption"]
    for kind in kinds:
        if kind not in ("certify", "autoattack", "corruption"):
            sys.exit(f"peer-times: unknown case {kind!r}: certify, autoattack or corruption")
    digits = (os.path.join(ROOT, "examples", "digits_cnn.onnx"), os.path.join(ROOT, "examples", "digits_eval_x.npy"),
              os.path.join(ROOT, "examples", "digits_eval_y.npy"), "the repository's digits CNN")
    mnist = (os.path.join(VISION, "mnist_cnn.onnx"), os.path.join(VISION, "mnist_test_x.npy"),
             os.path.join(VISION, "mnist_test_y.npy"), "the shared MNIST CNN")
    os.makedirs(OUT, exist_ok=True)
    results = {"rounds": rounds, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if kind == "corruption":
                results["corruption"] = corruption_case(rounds, kn, tmp)
                continue
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
    if "corruption" in results:
        c = results["corruption"]
        print(f"\ncorruption, {c['source']}; work = the corruptions only (Gauntlet: each family's run − the clean-only run); "
              "ratios peer / Gauntlet per round\n")
        print("| family group | families | work, wall | work, CPU | images corrupted (Gauntlet, peer) |")
        print("|---|---|---|---|---|")
        for g, fams in c["groups"].items():
            last = c["runs"][-1]
            imgs = [sum(last[side][f]["images"] for f in fams) for side in ("gauntlet", "peer")]
            print(f"| **{g}** | {len(fams)} famil{'y' if len(fams) == 1 else 'ies'} | {c['ratios'][g]['work']} | {c['ratios'][g]['work_cpu']} | {imgs[0]}, {imgs[1]} |")
            if g == "reference":
                k = "reference, glass_blur aside"
                print(f"| **{k}** | {len(fams) - 1} families | {c['ratios'][k]['work']} | {c['ratios'][k]['work_cpu']} | |")
            for f in fams:
                pf = c["ratios_per_family"][f]
                print(f"| {g} | {f} | {pf['work']} | {pf['work_cpu']} | {last['gauntlet'][f]['images']}, {last['peer'][f]['images']} |")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference figures of standard AutoAttack and FAB-T for TestAutoAttackReference.

The AutoAttack reference code (github.com/fra31/auto-attack at commit
a39220048b3c9f2cca9a4d3a54604793c68eca7e, MIT licence, copied unchanged into
autoattack_ref/ beside this script with its LICENSE) runs on:

  * the shared MNIST CNN (../shared/fixtures/vision/mnist_cnn.onnx) and
  * the residual CNN with BatchNorm of benchmarks/pgdpeer (res_cnn.onnx),

each rebuilt in torch from its ONNX initializers (benchmarks/pgdpeer/peer.py's
rebuild), on the first N = 100 images of mnist_test_x.npy / mnist_test_y.npy,
at the eps of CASES: for each model and norm, one where standard AutoAttack
leaves roughly half of the images robust, so that every part (APGD-CE,
APGD-T, FAB-T, Square) has points to work on. They were picked from a
30-step PGD sweep in torch on the same 100 images (random start for L∞):

  mnist_cnn L∞ 0.10/0.12/0.14 -> 0.83/0.76/0.64   (chosen 0.15)
  mnist_cnn L2 1.0/1.5/2.0    -> 0.85/0.53/0.17   (chosen 1.5)
  mnist_cnn L∞ 0.16           -> 0.41
  res_cnn   L∞ 0.02/0.03/0.05 -> 0.68/0.36/0.15   (chosen 0.025)
  res_cnn   L2 0.3/0.5/0.75   -> 0.72/0.43/0.23   (chosen 0.4)

(the earlier figures at L∞ 0.2, where APGD-CE alone leaves 0.05 and 0 of the
images, told the attacks apart on no sample).

For each case, in this order:

  * AutoAttack(version='standard', seed=0).run_standard_evaluation (bs=N):
    the robust accuracy after each part (apgd-ce, apgd-t, fab-t, square) as
    AutoAttack's own log gives it, and its wall and CPU (process_time) time;
  * if the Gauntlet binary is there (GAUNTLET, default bin/gauntlet; build
    it with `make build`), `gauntlet run` with the evasion suite's standard
    `autoattack` entry at the same norm and eps on the same images (written
    to a temporary .npy pair), one worker, one intra-op thread, as the
    reference runs on one torch thread: its suite duration_s, the child
    process's wall and CPU time, and its robust accuracy after each part.
    Both run right after each other in one process, so they see the same
    machine load; the ratios reference / Gauntlet go to the JSON with the
    load average;
  * FAB-T alone (FABAttack_PT, targeted, n_target_classes 9, n_restarts 1,
    n_iter 100) on the clean-correct samples: the robust accuracy.

Cases run in parallel as separate processes (one argument each, e.g.
`mnist_cnn:Linf:0.15`; none: every case in turn); each merges its figures
into peer_autoattack.json beside this file (under a lock) after every step,
so a long run leaves what it finished. Needs /usr/bin/python3 with Debian's
python3-torch (1.13), numpy and python3-onnx.

  nice /usr/bin/python3 suites/evasion/testdata/peer_autoattack.py [model:norm:eps ...]

With the argument `seeds`, it runs instead APGD-CE alone (APGDAttack as
AutoAttack's standard version sets it: 100 steps, 1 restart, rho 0.75) on
the MNIST CNN at L∞ 0.15 with seeds 0-3 and merges the robust accuracies
into that case as apgd_ce_by_seed: the reference's own seed-to-seed spread,
which sets TestAutoAttackReference's bound.

AA_N (default 100) sets the number of images; the JSON holds one n for all
cases, so change it for every case at once (and TestAutoAttackReference's
expected n).
"""

import fcntl
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
sys.path.insert(0, os.path.join(HERE, "autoattack_ref"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))
GAUNTLET = os.environ.get("GAUNTLET", os.path.join(ROOT, "bin", "gauntlet"))
ORT_LIB = os.environ.get("ORT_LIB", os.path.join(ROOT, ".ort", "libonnxruntime.so.1"))
OUT = os.path.join(HERE, "peer_autoattack.json")

N = int(os.environ.get("AA_N", "100"))  # the first N test images
CASES = [("mnist_cnn", "Linf", 0.15), ("mnist_cnn", "L2", 1.5), ("res_cnn", "Linf", 0.025), ("res_cnn", "L2", 0.4)]
MODELS = {"mnist_cnn": os.path.join(VISION, "mnist_cnn.onnx"),
          "res_cnn": os.path.join(ROOT, "benchmarks", "pgdpeer", "res_cnn.onnx")}
PARTS = ["apgd-ce", "apgd-t", "fab-t", "square"]


def merge(name, clean, key, fields):
    """Merges fields into OUT's models[name][key] under a lock: the cases
    run as parallel processes."""
    with open(os.path.join(tempfile.gettempdir(), "peer_autoattack.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(OUT) as f:
                out = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            out = {}
        out["n"] = N
        out["autoattack_commit"] = "a39220048b3c9f2cca9a4d3a54604793c68eca7e"
        keep = {f"{m}/{nm.lower()}_eps={e:g}" for m, nm, e in CASES}
        models = out.setdefault("models", {})
        for m in list(models):  # drop cases no longer in CASES
            for k in list(models[m]):
                if k != "clean_accuracy" and f"{m}/{k}" not in keep:
                    del models[m][k]
        res = models.setdefault(name, {})
        res["clean_accuracy"] = clean
        res.setdefault(key, {}).update(fields)
        tmp = OUT + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, OUT)


def gauntlet(model, norm, eps, xp, yp, tmp):
    """Runs the standard autoattack entry through bin/gauntlet on xp/yp;
    returns its times and robust accuracies, or None without the binary."""
    if not os.path.exists(GAUNTLET):
        print(f"no {GAUNTLET}: Gauntlet's side not timed", flush=True)
        return None
    cfg = os.path.join(tmp, "aa.yaml")
    with open(cfg, "w") as f:
        f.write(f"version: 1\nmodel: {model}\nseed: 1\n"
                f"runtime: {{device: cpu, workers: 1, intra_op_threads: 1, batch_size: {N}}}\n"
                f"data: {{x: {xp}, y: {yp}, range: [0, 1]}}\noutput: {{dir: {tmp}, formats: [json]}}\n"
                f"suites:\n  evasion:\n    attacks:\n      - {{name: autoattack, norm: {norm.lower()}, eps: [{eps:g}]}}\n")
    out = os.path.join(tmp, "out")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([GAUNTLET, "run", "-c", cfg, "--out", out, "--ort-library", ORT_LIB, "--progress", "none"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        sys.exit(f"peer_autoattack: gauntlet exited {p.returncode}\n{p.stderr[-3000:]}")
    with open(os.path.join(out, "report.json")) as f:
        s = json.load(f)["suites"][0]
    if s["status"] != "passed":
        sys.exit(f"peer_autoattack: gauntlet suite {s['status']}: {s.get('error')}")
    pre = f"autoattack.{norm.lower()}.eps={eps:g}"
    return {"work_seconds": round(s["duration_s"], 1), "process_seconds": round(wall, 1),
            "process_cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "after": {part: s["metrics"][f"{pre}.after.{part}.robust_accuracy"] for part in PARTS}}


def main():
    import numpy as np
    import torch
    from autoattack import AutoAttack
    from autoattack.fab_pt import FABAttack_PT
    from peer import rebuild

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    xn = np.ascontiguousarray(np.load(os.path.join(VISION, "mnist_test_x.npy"))[:N], dtype=np.float32)
    yn = np.ascontiguousarray(np.load(os.path.join(VISION, "mnist_test_y.npy"))[:N], dtype=np.int64)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    if sys.argv[1:] == ["seeds"]:
        from autoattack.autopgd_base import APGDAttack
        model = rebuild(MODELS["mnist_cnn"])
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        by_seed = []
        for seed in range(4):
            apgd = APGDAttack(model, n_restarts=1, n_iter=100, verbose=False, eps=0.15, norm="Linf", eot_iter=1,
                              rho=.75, seed=seed, device="cpu")
            adv = apgd.perturb(x[correct], y[correct])
            with torch.no_grad():
                by_seed.append((model(adv).argmax(1) == y[correct]).sum().item() / N)
            print("apgd-ce seed", seed, by_seed[-1], flush=True)
        merge("mnist_cnn", correct.float().mean().item(), "linf_eps=0.15", {"apgd_ce_by_seed": by_seed})
        return
    cases = CASES
    if len(sys.argv) > 1:
        want = sys.argv[1:]
        cases = [c for c in CASES if f"{c[0]}:{c[1]}:{c[2]:g}" in want]
        if len(cases) != len(want):
            sys.exit(f"peer_autoattack: unknown case in {want}: pick from "
                     + " ".join(f"{m}:{n}:{e:g}" for m, n, e in CASES))
    with tempfile.TemporaryDirectory() as tmp:
        xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xp, xn)
        np.save(yp, yn)
        for name, norm, eps in cases:
            model = rebuild(MODELS[name])
            with torch.no_grad():
                correct = model(x).argmax(1) == y
            clean = correct.float().mean().item()
            key = f"{norm.lower()}_eps={eps:g}"
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            aa = AutoAttack(model, norm=norm, eps=eps, version="standard", seed=0, device="cpu", verbose=True)
            log = {}
            orig = aa.logger.log

            def grab(msg, log=log, orig=orig):
                orig(msg)
                if msg.startswith("robust accuracy after "):
                    part = msg.split()[3].rstrip(":").lower()
                    log[part] = float(msg.split()[4].rstrip("%")) / 100
            aa.logger.log = grab
            aa.run_standard_evaluation(x, y, bs=N)
            ref = {"seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1)}
            merge(name, clean, key, {"after": {k: round(v, 4) for k, v in log.items()},
                                     "autoattack_seconds": ref["seconds"], "autoattack_cpu_seconds": ref["cpu_seconds"]})
            print(name, key, "reference", log, ref, flush=True)
            g = gauntlet(MODELS[name], norm, eps, xp, yp, tmp)
            if g is not None:
                load = round((load0 + os.getloadavg()[0]) / 2, 1)
                merge(name, clean, key, {"gauntlet": g, "timing": {
                    "load_average": load,
                    "ratio_wall": round(ref["seconds"] / g["work_seconds"], 1),
                    "ratio_cpu": round(ref["cpu_seconds"] / g["process_cpu_seconds"], 1)}})
                print(name, key, "gauntlet", g, flush=True)
            t1 = time.perf_counter()
            fab = FABAttack_PT(model, norm=norm, eps=eps, n_restarts=1, n_iter=100, targeted=True,
                               n_target_classes=9, seed=0, device="cpu")
            idx = correct.nonzero().squeeze(1)
            adv = fab.perturb(x[idx], y[idx])
            with torch.no_grad():
                still = model(adv).argmax(1) == y[idx]
            d = (adv - x[idx]).reshape(len(idx), -1)
            dist = d.abs().max(1)[0] if norm == "Linf" else d.norm(dim=1)
            still = still | (dist > eps)
            merge(name, clean, key, {"fab_t_robust_accuracy": still.sum().item() / N,
                                     "fab_t_seconds": round(time.perf_counter() - t1, 1)})
            print(name, key, "fab-t alone", still.sum().item() / N, flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference figures of FMN (Fast Minimum-Norm attack) for TestFMNReference.

The reference is the authors' code, github.com/pralab/Fast-Minimum-Norm-FMN-
Attack (= maurapintor/Fast-Minimum-Norm-FMN-Attack), commit 98c68c2,
src/attacks/fmn.py, MIT licence (below). It is written on foolbox 3 and
eagerpy, neither installed here, so FMNAttackLp.run (lines 92–221, without
an initial attack: delta starts at 0) and the projections of L1FMNAttack,
L2FMNAttack, LInfFMNAttack and L0FMNAttack (lines 252–253, 286–287,
308–311, 338–346) with project_onto_l1_ball (lines 364–406) are ported line
by line to torch below (fmn_run): each eagerpy call becomes the torch call
of the same meaning (ep.norms.lp, foolbox's normalize_lp_norms and
clip_lp_norms with their 1e-12 floors, flatten, atleast_kd, ep.where).
foolbox's criterion is Misclassification (arg max ≠ label); the returned
point is x + best_delta, and ε* is ‖best_delta‖ where some iterate was
misclassified (adv_found), +Inf elsewhere, 0 for a clean-wrong sample.

Models: the shared MNIST CNN (../shared/fixtures/vision/mnist_cnn.onnx) and
the residual CNN with BatchNorm of benchmarks/pgdpeer (res_cnn.onnx), each
rebuilt in torch from its ONNX initializers (benchmarks/pgdpeer/peer.py's
rebuild), on the first N images of mnist_test_x.npy / mnist_test_y.npy,
bounds (0, 1), one batch.

Cases: every model and norm at 10 steps (the reference's default), L∞ and
L2 also at 100 steps; the reference's defaults otherwise (max_stepsize 1,
min_stepsize max/100, gamma 0.05). Per case the JSON holds the clean-correct
count, the per-sample ε* (null for +Inf), their median over the
clean-correct samples (+Inf counting, numpy's median; null when it is +Inf:
JSON has none) and the success count.

With GAUNTLET=<gauntlet binary> the script also times Gauntlet's
`gauntlet run` of the L∞ and L2 cases at 10 steps (one fmn entry, same
images, one worker, 2 intra-op threads, one attack batch; written to a
temporary config) interleaved with the torch run (Gauntlet first on even
rounds), REPS rounds, and records the per-case median wall-clock ratio
torch/Gauntlet (> 1: Gauntlet faster) in "timing". torch runs with 2
threads. Gauntlet's time is the whole process (loading the model, writing
and opening the gradient graph, the clean pass, the attack, the report);
torch's the attack alone. STEPS (default 10,100) and NORMS (default
linf,l2,l1,l0) pick the cases; the JSON keeps the cases a run does not
redo.

  /usr/bin/python3 suites/evasion/testdata/peer_fmn.py
  STEPS=10 NORMS=linf,l2 GAUNTLET=/tmp/gauntlet REPS=3 /usr/bin/python3 suites/evasion/testdata/peer_fmn.py

Licence of the ported reference code:

MIT License

Copyright (c) 2021 Maura Pintor

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))

N = 100
STEPS = [int(v) for v in os.environ.get("STEPS", "10,100").split(",")]
NORMS = os.environ.get("NORMS", "linf,l2,l1,l0").split(",")
MODELS = {"mnist_cnn": os.path.join(VISION, "mnist_cnn.onnx"),
          "res_cnn": os.path.join(ROOT, "benchmarks", "pgdpeer", "res_cnn.onnx")}
P = {"linf": math.inf, "l2": 2, "l1": 1, "l0": 0}
DUAL = {"linf": 1, "l2": 2, "l1": math.inf}


def lp(t, p):
    """ep.norms.lp over the flattened rows (p = 0: the non-zero count)."""
    import torch
    f = t.flatten(1)
    if p == 0:
        return (f != 0).sum(1).to(t.dtype)
    if p == math.inf:
        return f.abs().max(1).values
    return f.abs().pow(p).sum(1).pow(1.0 / p)


def atleast_kd(v, k):
    return v.reshape(v.shape + (1,) * (k - v.ndim))


def project_onto_l1_ball(x, eps):
    """fmn.py lines 364–406."""
    import torch
    original_shape = x.shape
    x = x.flatten(1)
    mask = (x.abs().sum(1) < eps).to(x.dtype).unsqueeze(1)
    mu = torch.flip(torch.sort(x.abs(), dim=-1).values, dims=(-1,))
    cumsum = torch.cumsum(mu, dim=-1)
    arange = torch.arange(1, x.shape[1] + 1, dtype=x.dtype)
    rho = torch.max((mu * arange > (cumsum - eps.unsqueeze(1))) * arange, dim=-1).values.long() - 1
    theta = (cumsum[torch.arange(x.shape[0]), rho] - eps) / (rho + 1.0)
    proj = (x.abs() - theta.unsqueeze(1)).clamp(min=0)
    x = mask * x + (1 - mask) * proj * torch.sign(x)
    return x.reshape(original_shape)


def project(norm, x, x0, epsilon):
    import torch
    if norm == "linf":  # lines 308–311
        d = (x - x0).flatten(1).T
        clipped = torch.minimum(torch.maximum(d, -epsilon), epsilon).T
        return x0 + clipped.reshape(x0.shape)
    if norm == "l2":  # lines 286–287, foolbox clip_lp_norms
        d = x - x0
        norms = torch.clamp(lp(d, 2), min=1e-12)
        factor = torch.clamp(epsilon / norms, max=1)
        return x0 + d * atleast_kd(factor, d.ndim)
    if norm == "l1":  # lines 252–253
        return x0 + project_onto_l1_ball(x - x0, epsilon)
    # l0, lines 338–346 (argsort index −epsilon, as the reference)
    flat = (x - x0).flatten(1)
    ab = flat.abs()
    e = epsilon.long()
    rows = torch.arange(flat.shape[0])
    idx_sorted = torch.argsort(ab, dim=-1)[rows, -e]
    thresholds = (torch.ones_like(flat).T * ab[rows, idx_sorted]).T
    clipped = torch.where(ab >= thresholds, flat, torch.zeros_like(flat))
    return x0 + clipped.reshape(x0.shape).to(x0.dtype)


def fmn_run(model, x, labels, norm, steps, max_stepsize=1.0, min_stepsize=None, gamma=0.05, bounds=(0.0, 1.0)):
    """FMNAttackLp.run (fmn.py lines 92–221), untargeted, no starting points.
    Returns x + best_delta and adv_found."""
    import torch
    if min_stepsize is None:
        min_stepsize = max_stepsize / 100  # line 63
    p = P[norm]
    min_, max_ = bounds
    N = len(x)
    rows = torch.arange(N)

    def loss_fn(inputs):  # lines 92–107
        logits = model(inputs)
        other = logits.clone()
        other[rows, labels] = -math.inf  # best_other_classes: logits − onehot·inf
        c_maximize = other.argmax(dim=-1)
        loss = logits[rows, labels] - logits[rows, c_maximize]
        return -loss.sum(), logits, loss

    delta = torch.zeros_like(x)  # line 139
    if p != 0:  # lines 151–160
        epsilon = math.inf * torch.ones(N)
        worst_norm = lp(torch.maximum(x - min_, max_ - x), p)
    else:
        epsilon = torch.ones(N)
        worst_norm = torch.ones_like(x).flatten(1).bool().sum(1).float()
    best_lp = worst_norm
    best_delta = delta
    adv_found = torch.zeros(N, dtype=torch.bool)
    for i in range(steps):  # lines 166–218
        stepsize = min_stepsize + (max_stepsize - min_stepsize) * (1 + math.cos(math.pi * i / steps)) / 2
        g = 0.001 + (gamma - 0.001) * (1 + math.cos(math.pi * (i / steps))) / 2
        x_adv = (x + delta).detach().requires_grad_(True)
        loss, logits, loss_batch = loss_fn(x_adv)
        gradients = torch.autograd.grad(loss, x_adv)[0]
        logits, loss_batch = logits.detach(), loss_batch.detach()
        is_adversarial = logits.argmax(dim=-1) != labels
        lpn = lp(delta, p)
        is_smaller = lpn <= best_lp
        is_both = is_adversarial & is_smaller
        adv_found = adv_found | is_adversarial
        best_lp = torch.where(is_both, lpn, best_lp)
        best_delta = torch.where(atleast_kd(is_both, x.ndim), delta, best_delta)
        if p != 0:
            distance_to_boundary = loss_batch.abs() / lp(gradients, DUAL[norm])
            epsilon = torch.where(is_adversarial, torch.minimum(epsilon * (1 - g), lp(best_delta, p)),
                                  torch.where(adv_found, epsilon * (1 + g), lp(delta, p) + distance_to_boundary))
        else:
            epsilon = torch.where(is_adversarial,
                                  torch.minimum(torch.minimum(epsilon - 1, (epsilon * (1 - g)).long().to(epsilon.dtype)),
                                                lp(best_delta, p)),
                                  torch.maximum(epsilon + 1, (epsilon * (1 + g)).long().to(epsilon.dtype)))
            epsilon = torch.clamp(epsilon, min=0)
        epsilon = torch.minimum(epsilon, worst_norm)
        # normalize_lp_norms(gradients, p=2) · stepsize
        grad_ = gradients / atleast_kd(torch.clamp(lp(gradients, 2), min=1e-12), x.ndim) * stepsize
        delta = delta + grad_
        delta = project(norm, x + delta, x, epsilon) - x
        delta = torch.clamp(x + delta, min_, max_) - x
    return x + best_delta, adv_found


def eps_star(x, xadv, correct, found, norm):
    import torch
    n = lp(xadv - x, P[norm])
    out = []
    for i in range(len(x)):
        if not correct[i]:
            out.append(0.0)
        elif found[i]:
            out.append(float(n[i]))
        else:
            out.append(None)
    return out


def median_inf(values, correct):
    import numpy as np
    v = np.array([math.inf if e is None else e for e, c in zip(values, correct) if c])
    m = float(np.median(v)) if len(v) else math.inf
    return None if math.isinf(m) or math.isnan(m) else m  # JSON has no +Inf


def gauntlet_run(binary, model, attack, n, tmp):
    """Runs `gauntlet run` on the images saved in tmp with one evasion
    entry (attack: its YAML flow mapping), one worker, 2 intra-op threads
    and one attack batch; returns the wall-clock seconds of the process."""
    cfg = os.path.join(tmp, "gauntlet.yaml")
    with open(cfg, "w") as f:
        f.write(f"""version: 1
model: {model}
seed: 1
runtime:
  device: cpu
  workers: 1
  intra_op_threads: 2
  batch_size: {n}
data:
  x: {os.path.join(tmp, "x.npy")}
  y: {os.path.join(tmp, "y.npy")}
  range: [0, 1]
suites:
  evasion:
    batch_size: {n}
    attacks:
      - {attack}
output:
  dir: {os.path.join(tmp, "out")}
  formats: [json]
""")
    t0 = time.perf_counter()
    subprocess.run([binary, "run", "--config", cfg], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    import numpy as np
    import torch
    from peer import rebuild

    torch.set_num_threads(2)
    xs = np.load(os.path.join(VISION, "mnist_test_x.npy"))[:N]
    ys = np.load(os.path.join(VISION, "mnist_test_y.npy"))[:N]
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    out = {"n": N, "reference": "github.com/pralab/Fast-Minimum-Norm-FMN-Attack@98c68c2 src/attacks/fmn.py (ported to torch)",
           "defaults": {"max_stepsize": 1.0, "min_stepsize": 0.01, "gamma": 0.05, "gamma_final": 0.001},
           "cases": {}}
    binary, reps = os.environ.get("GAUNTLET"), int(os.environ.get("REPS", "3"))
    tmp = tempfile.mkdtemp(prefix="peer_fmn_")
    np.save(os.path.join(tmp, "x.npy"), xs)
    np.save(os.path.join(tmp, "y.npy"), ys)
    timing = {}
    for name, path in MODELS.items():
        model = rebuild(path)
        with torch.no_grad():
            correct = (model(x).argmax(1) == y).tolist()
        for steps in STEPS:
            for norm in NORMS if steps == 10 else [v for v in NORMS if v in ("linf", "l2")]:
                t0 = time.perf_counter()
                xadv, found = fmn_run(model, x, y, norm, steps)
                dt = time.perf_counter() - t0
                es = eps_star(x, xadv, correct, found.tolist(), norm)
                key = f"{name}.{norm}.steps={steps}"
                out["cases"][key] = {"clean_correct": sum(correct), "median_eps": median_inf(es, correct),
                                     "successes": sum(1 for e, c in zip(es, correct) if c and e is not None),
                                     "eps_star": es}
                print(f"{key}: median ε* {out['cases'][key]['median_eps']}, {out['cases'][key]['successes']}/{sum(correct)} broken, torch {dt:.2f} s", flush=True)
                if binary and steps == 10 and norm in ("linf", "l2"):
                    ratios = []
                    for r in range(reps):
                        pair = []
                        for who in (["g", "t"] if r % 2 == 0 else ["t", "g"]):
                            if who == "g":
                                attack = f"{{name: fmn, norm: {norm}, eps: [0.1], steps: {steps}}}"
                                pair.append(("g", gauntlet_run(binary, path, attack, N, tmp)))
                            else:
                                t0 = time.perf_counter()
                                fmn_run(model, x, y, norm, steps)
                                pair.append(("t", time.perf_counter() - t0))
                        d = dict(pair)
                        ratios.append(d["t"] / d["g"])
                        print(f"  round {r}: torch {d['t']:.2f} s, gauntlet {d['g']:.2f} s, ratio {d['t'] / d['g']:.2f}", flush=True)
                    timing[key] = {"ratios": ratios, "median_ratio": float(np.median(ratios))}
                save_json(os.path.join(HERE, "peer_fmn.json"), out, timing, binary)


def save_json(dst, out, timing, binary):
    """Writes out to dst (after every case), over the cases and timing of
    an earlier run that this one does not redo (STEPS=10 GAUNTLET=… times
    without rerunning the 100-step cases)."""
    old = {}
    if os.path.exists(dst):
        with open(dst) as f:
            old = json.load(f)
    for k in ("cases", "models"):
        if k in out and k in old:
            out[k] = {**old[k], **out[k]}
    if timing:
        out["timing"] = timing
    elif "timing" in old:
        out["timing"] = old["timing"]
    with open(dst + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main()

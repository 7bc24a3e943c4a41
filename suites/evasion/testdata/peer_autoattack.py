#!/usr/bin/python3
"""Reference figures of standard AutoAttack and FAB-T for TestAutoAttackReference.

The AutoAttack reference code (github.com/fra31/auto-attack at commit
a39220048b3c9f2cca9a4d3a54604793c68eca7e, MIT licence, copied unchanged into
autoattack_ref/ beside this script with its LICENSE) runs on:

  * the shared MNIST CNN (../shared/fixtures/vision/mnist_cnn.onnx) and
  * the residual CNN with BatchNorm of benchmarks/pgdpeer (res_cnn.onnx),

each rebuilt in torch from its ONNX initializers (benchmarks/pgdpeer/peer.py's
rebuild), on the first N = 100 images of mnist_test_x.npy / mnist_test_y.npy,
at L∞ eps 0.2 and L2 eps 2 (CASES, in that order). N and the budgets are
set by time: on the 2 shared cores of the machine it was written on, torch
took 443 s for APGD-CE alone on 200 images at L∞ 0.1, where 82 % stayed
robust and APGD-T, FAB-T and Square (5000 queries) would have run on them
all; at eps 0.2 most points fall to APGD-CE and the later parts run on few.

  * AutoAttack(version='standard', seed=0): the robust accuracy after each
    part (apgd-ce, apgd-t, fab-t, square) as AutoAttack's own log gives it;
  * FAB-T alone (FABAttack_PT, targeted, n_target_classes 9, n_restarts 1,
    n_iter 100) on the clean-correct samples: the robust accuracy.

Writes peer_autoattack.json beside this file after every case. Needs
/usr/bin/python3 with Debian's python3-torch (1.13), numpy and python3-onnx.

  /usr/bin/python3 suites/evasion/testdata/peer_autoattack.py
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
sys.path.insert(0, os.path.join(HERE, "autoattack_ref"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))

N = 100
CASES = [("mnist_cnn", "Linf", 0.2), ("res_cnn", "Linf", 0.2), ("mnist_cnn", "L2", 2.0), ("res_cnn", "L2", 2.0)]
MODELS = {"mnist_cnn": os.path.join(VISION, "mnist_cnn.onnx"),
          "res_cnn": os.path.join(ROOT, "benchmarks", "pgdpeer", "res_cnn.onnx")}


def main():
    import numpy as np
    import torch
    from autoattack import AutoAttack
    from autoattack.fab_pt import FABAttack_PT
    from peer import rebuild

    torch.set_num_threads(2)
    x = torch.from_numpy(np.load(os.path.join(VISION, "mnist_test_x.npy"))[:N])
    y = torch.from_numpy(np.load(os.path.join(VISION, "mnist_test_y.npy"))[:N])
    out = {"n": N, "autoattack_commit": "a39220048b3c9f2cca9a4d3a54604793c68eca7e", "models": {}}
    for name, norm, eps in CASES:
        model = rebuild(MODELS[name])
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        res = out["models"].setdefault(name, {"clean_accuracy": correct.float().mean().item()})
        if True:
            key = f"{norm.lower()}_eps={eps:g}"
            t0 = time.time()
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
            t1 = time.time()
            fab = FABAttack_PT(model, norm=norm, eps=eps, n_restarts=1, n_iter=100, targeted=True,
                               n_target_classes=9, seed=0, device="cpu")
            idx = correct.nonzero().squeeze(1)
            adv = fab.perturb(x[idx], y[idx])
            with torch.no_grad():
                still = model(adv).argmax(1) == y[idx]
            d = (adv - x[idx]).reshape(len(idx), -1)
            dist = d.abs().max(1)[0] if norm == "Linf" else d.norm(dim=1)
            still = still | (dist > eps)
            t2 = time.time()
            res[key] = {"after": {k: round(v, 4) for k, v in log.items()},
                        "fab_t_robust_accuracy": still.sum().item() / N,
                        "autoattack_seconds": round(t1 - t0, 1), "fab_t_seconds": round(t2 - t1, 1)}
            print(name, key, res[key], flush=True)
            # written after every case: a long run leaves what it finished
            with open(os.path.join(HERE, "peer_autoattack.json"), "w") as f:
                json.dump(out, f, indent=1, sort_keys=True)
                f.write("\n")


if __name__ == "__main__":
    main()

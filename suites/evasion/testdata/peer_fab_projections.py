#!/usr/bin/python3
"""Reference outputs of AutoAttack's projection_linf and projection_l2 for TestFABProjections.

Runs fab_projections.py of the AutoAttack reference code (autoattack_ref/,
commit a39220048b3c9f2cca9a4d3a54604793c68eca7e, MIT licence) in float64 on
points t in [0, 1]^d, hyperplanes w·x = b drawn with numpy's
default_rng(23): d = 7, 16 and 50, some w entries set to 0 and some t
entries to 0 or 1 (ties in the sort keys, masked coordinates), b drawn so
that the hyperplane is reachable, unreachable, or on either side of t.
Writes peer_fab_projections.json beside this file.

  /usr/bin/python3 suites/evasion/testdata/peer_fab_projections.py
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "autoattack_ref"))


def main():
    import numpy as np
    import torch
    from autoattack.fab_projections import projection_l2, projection_linf

    rng = np.random.default_rng(23)
    cases = []
    for d in (7, 16, 50):
        for _ in range(8):
            t = rng.uniform(0, 1, d)
            t[rng.uniform(size=d) < 0.2] = 0.0
            t[rng.uniform(size=d) < 0.1] = 1.0
            w = rng.normal(size=d)
            w[rng.uniform(size=d) < 0.15] = 0.0
            b = float(w @ t + rng.normal() * rng.choice([0.05, 0.5, 3.0, 30.0]))
            cases.append((t, w, b))
    out = []
    for t, w, b in cases:
        T = torch.tensor(t[None], dtype=torch.float64)
        W = torch.tensor(w[None], dtype=torch.float64)
        B = torch.tensor([b], dtype=torch.float64)
        out.append({"t": t.tolist(), "w": w.tolist(), "b": b,
                    "linf": projection_linf(T, W, B)[0].tolist(),
                    "l2": projection_l2(T, W, B)[0].tolist()})
    with open(os.path.join(HERE, "peer_fab_projections.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()

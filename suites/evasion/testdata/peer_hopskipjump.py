#!/usr/bin/python3
"""Reference figures of HopSkipJump for TestHopSkipJumpART.

ART 1.18.2's HopSkipJump (art/attacks/evasion/hop_skip_jump.py at tag
1.18.2, commit 902148575d9593120629371d3be40d2a42838bb9, MIT licence: the
notice is below) is copied here, as ART is not installed: the untargeted
branch of _init_sample (lines 337-372), _attack (374-462), _binary_search
(464-530), _compute_delta (532-560), _compute_update (562-630),
_adversarial_satisfactory (632-652) and _interpolate (654-672), unchanged
but for the lines marked "peer:", which
  * seed the initial random draws (ART's np.random.RandomState() is
    unseeded) from SEEDS, one RandomState per sample, and np.random for the
    direction estimates,
  * record, after every binary search and every step, the number of
    queries spent on the sample and the point's distance to the clean one.
The estimator is the module rebuilt in torch from the ONNX initializers
(benchmarks/pgdpeer/peer.py's rebuild) with clip_values (0, 1), predicting
in batches of 64 (ART's batch_size default). Every row it predicts is one
query of the sample; the clean label costs one (ART's generate predicts x
first). A sample stops when a predict would take it past the largest
budget, as Gauntlet's does. Per budget B and sample:
  best@B  the distance of the closest misclassified point found within B
          queries (the upper end of a binary search, or a point after a
          step): what Gauntlet reports as median_norm@B;
  last@B  the distance of the point generate would return if stopped within
          B queries (after the initial search or an iteration's step).
Cases: the shared MNIST CNN (../shared/fixtures/vision/mnist_cnn.onnx) and
the residual CNN of benchmarks/pgdpeer (res_cnn.onnx), L2, on the first N
test digits of mnist_test_x.npy / mnist_test_y.npy, budgets BUDGETS, each
with every seed of SEEDS (the seed-to-seed spread of the medians is the
randomness the Go test's tolerance must cover). Run times, in the same
run: after each ART seed, the gauntlet binary (GAUNTLET, default
bin/gauntlet; build it first) runs the same attack on the same digits
through `gauntlet run` (one worker, one ONNX Runtime thread, as torch's one
thread here), its process CPU and wall time recorded beside ART's (ART's
clock covers the attack loop only; Gauntlet's the whole process: model
load, clean pass, attack, reports). Writes peer_hopskipjump.json beside
this file.

  go build -o bin/gauntlet ./cmd/gauntlet
  ONNXRUNTIME_SHARED_LIBRARY_PATH=.ort/libonnxruntime.so.1 \
    /usr/bin/python3 suites/evasion/testdata/peer_hopskipjump.py

MIT License

Copyright (C) The Adversarial Robustness Toolbox (ART) Authors 2019

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))

N = int(os.environ.get("PEER_N", "40"))
BUDGETS = [500, 1000, 2000]
SEEDS = [0, 1, 2]
CASES = [("mnist_cnn", 2), ("res_cnn", 2)]
MODELS = {"mnist_cnn": os.path.join(VISION, "mnist_cnn.onnx"),
          "res_cnn": os.path.join(ROOT, "benchmarks", "pgdpeer", "res_cnn.onnx")}
ART_NUMPY_DTYPE = np.float32


class OutOfBudget(Exception):
    pass


class Estimator:
    """The part of ART's PyTorchClassifier that HopSkipJump uses."""

    def __init__(self, model, input_shape, nb_classes):
        self.model, self.input_shape, self.nb_classes = model, input_shape, nb_classes
        self.clip_values = (0.0, 1.0)
        self.queries, self.limit = 0, None

    def predict(self, x, batch_size=64):
        import torch
        if self.limit is not None and self.queries + len(x) > self.limit:
            raise OutOfBudget()
        self.queries += len(x)
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out.append(self.model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size]))).numpy())
        return np.concatenate(out)


class HopSkipJump:
    """ART 1.18.2's HopSkipJump, untargeted, without the mask (None)."""

    def __init__(self, classifier, norm=2, max_iter=10**9, max_eval=10000, init_eval=100, init_size=100,
                 batch_size=64):
        self.estimator = classifier
        self.targeted = False
        self.norm, self.max_iter, self.max_eval = norm, max_iter, max_eval
        self.init_eval, self.init_size, self.batch_size = init_eval, init_size, batch_size
        self.curr_iter = 0
        if norm == 2:
            self.theta = 0.01 / np.sqrt(np.prod(self.estimator.input_shape))
        else:
            self.theta = 0.01 / np.prod(self.estimator.input_shape)
        self.record = None  # peer: record(point, returned) after each search and step
        self.init_rng = None  # peer: the RandomState of the initial draws

    def _init_sample(self, x, y, y_p, init_pred, adv_init, mask, clip_min, clip_max):
        nprd = self.init_rng  # peer: was np.random.RandomState()
        initial_sample = None
        # The initial image unsatisfied
        for _ in range(self.init_size):
            random_img = nprd.uniform(clip_min, clip_max, size=x.shape).astype(x.dtype)
            random_class = np.argmax(
                self.estimator.predict(np.array([random_img]), batch_size=self.batch_size),
                axis=1,
            )[0]
            if random_class != y_p:
                # Binary search to reduce the l2 distance to the original image
                random_img = self._binary_search(
                    current_sample=random_img,
                    original_sample=x,
                    target=y_p,
                    norm=2,
                    clip_min=clip_min,
                    clip_max=clip_max,
                    threshold=0.001,
                )
                initial_sample = random_img, y_p
                self.record(random_img, True)  # peer
                break
        return initial_sample

    def _attack(self, initial_sample, original_sample, target, mask, clip_min, clip_max):
        current_sample = initial_sample
        for _ in range(self.max_iter):
            delta = self._compute_delta(
                current_sample=current_sample, original_sample=original_sample, clip_min=clip_min, clip_max=clip_max)
            current_sample = self._binary_search(
                current_sample=current_sample, original_sample=original_sample, norm=self.norm, target=target,
                clip_min=clip_min, clip_max=clip_max)
            self.record(current_sample, False)  # peer
            num_eval = min(int(self.init_eval * np.sqrt(self.curr_iter + 1)), self.max_eval)
            update = self._compute_update(
                current_sample=current_sample, num_eval=num_eval, delta=delta, target=target, mask=mask,
                clip_min=clip_min, clip_max=clip_max)
            if self.norm == 2:
                dist = np.linalg.norm(original_sample - current_sample)
            else:
                dist = np.max(abs(original_sample - current_sample))
            epsilon = 2.0 * dist / np.sqrt(self.curr_iter + 1)
            success = False
            while not success:
                epsilon /= 2.0
                potential_sample = current_sample + epsilon * update
                success = self._adversarial_satisfactory(
                    samples=potential_sample[None], target=target, clip_min=clip_min, clip_max=clip_max)
            current_sample = np.clip(potential_sample, clip_min, clip_max)
            self.record(current_sample, True)  # peer
            self.curr_iter += 1
            if np.isnan(current_sample).any():
                return original_sample
        return current_sample

    def _binary_search(self, current_sample, original_sample, target, norm, clip_min, clip_max, threshold=None):
        if norm == 2:
            (upper_bound, lower_bound) = (np.array(1.0), np.array(0.0))
            if threshold is None:
                threshold = self.theta
        else:
            (upper_bound, lower_bound) = (np.max(abs(original_sample - current_sample)), np.array(0.0))
            if threshold is None:
                threshold = np.minimum(upper_bound * self.theta, self.theta)
        while (upper_bound - lower_bound) > threshold:
            alpha = (upper_bound + lower_bound) / 2.0
            interpolated_sample = self._interpolate(
                current_sample=current_sample, original_sample=original_sample, alpha=alpha, norm=norm)
            satisfied = self._adversarial_satisfactory(
                samples=interpolated_sample[None], target=target, clip_min=clip_min, clip_max=clip_max)[0]
            lower_bound = np.where(satisfied == 0, alpha, lower_bound)
            upper_bound = np.where(satisfied == 1, alpha, upper_bound)
        result = self._interpolate(
            current_sample=current_sample, original_sample=original_sample, alpha=float(upper_bound), norm=norm)
        return result

    def _compute_delta(self, current_sample, original_sample, clip_min, clip_max):
        if self.curr_iter == 0:
            return 0.1 * (clip_max - clip_min)
        if self.norm == 2:
            dist = np.linalg.norm(original_sample - current_sample)
            delta = np.sqrt(np.prod(self.estimator.input_shape)) * self.theta * dist
        else:
            dist = np.max(abs(original_sample - current_sample))
            delta = np.prod(self.estimator.input_shape) * self.theta * dist
        return delta

    def _compute_update(self, current_sample, num_eval, delta, target, mask, clip_min, clip_max):
        rnd_noise_shape = [num_eval] + list(self.estimator.input_shape)
        if self.norm == 2:
            rnd_noise = np.random.randn(*rnd_noise_shape).astype(ART_NUMPY_DTYPE)
        else:
            rnd_noise = np.random.uniform(low=-1, high=1, size=rnd_noise_shape).astype(ART_NUMPY_DTYPE)
        if mask is not None:
            rnd_noise = rnd_noise * mask
        rnd_noise = rnd_noise / np.sqrt(
            np.sum(rnd_noise**2, axis=tuple(range(len(rnd_noise_shape)))[1:], keepdims=True))
        eval_samples = np.clip(current_sample + delta * rnd_noise, clip_min, clip_max)
        rnd_noise = (eval_samples - current_sample) / delta
        satisfied = self._adversarial_satisfactory(
            samples=eval_samples, target=target, clip_min=clip_min, clip_max=clip_max)
        f_val = 2 * satisfied.reshape([num_eval] + [1] * len(self.estimator.input_shape)) - 1.0
        f_val = f_val.astype(ART_NUMPY_DTYPE)
        if np.mean(f_val) == 1.0:
            grad = np.mean(rnd_noise, axis=0)
        elif np.mean(f_val) == -1.0:
            grad = -np.mean(rnd_noise, axis=0)
        else:
            f_val -= np.mean(f_val)
            grad = np.mean(f_val * rnd_noise, axis=0)
        if self.norm == 2:
            result = grad / np.linalg.norm(grad)
        else:
            result = np.sign(grad)
        return result

    def _adversarial_satisfactory(self, samples, target, clip_min, clip_max):
        samples = np.clip(samples, clip_min, clip_max)
        preds = np.argmax(self.estimator.predict(samples, batch_size=self.batch_size), axis=1)
        if self.targeted:
            result = preds == target
        else:
            result = preds != target
        return result

    @staticmethod
    def _interpolate(current_sample, original_sample, alpha, norm):
        if norm == 2:
            result = (1 - alpha) * original_sample + alpha * current_sample
        else:
            result = np.clip(current_sample, original_sample - alpha, original_sample + alpha)
        return result


def attack_one(est, x, y, norm, seed, index):
    """Runs _perturb's steps on one sample; returns per budget (best, last)
    and the queries spent. None where the clean label is already wrong."""
    est.queries, est.limit = 0, BUDGETS[-1]
    y_p = int(np.argmax(est.predict(x[None]), axis=1)[0])  # generate's clean prediction: one query
    if y_p != y:
        return None
    best = [float("inf")] * len(BUDGETS)
    last = [float("inf")] * len(BUDGETS)
    hsj = HopSkipJump(est, norm=norm)
    hsj.init_rng = np.random.RandomState([seed, index])

    def record(point, returned):
        d = float(np.linalg.norm((point - x).ravel())) if norm == 2 else float(np.max(np.abs(point - x)))
        for b, B in enumerate(BUDGETS):
            if est.queries <= B:
                best[b] = min(best[b], d)
                if returned:
                    last[b] = d
    hsj.record = record
    try:
        init = hsj._init_sample(x, -1, y_p, None, None, None, 0.0, 1.0)
        if init is not None:
            hsj._attack(init[0], x, init[1], None, 0.0, 1.0)
    except OutOfBudget:
        pass
    return best, last, est.queries


def gauntlet_time(tmp, name, norm, attack="hopskipjump", n=None):
    """Runs the same attack through the gauntlet binary; returns its process
    CPU and wall seconds and its medians."""
    exe = os.environ.get("GAUNTLET", os.path.join(ROOT, "bin", "gauntlet"))
    out = os.path.join(tmp, "out-" + name)
    cfg = os.path.join(tmp, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(f"""version: 1
model: {MODELS[name]}
seed: 1
runtime: {{device: cpu, workers: 1, intra_op_threads: 1, batch_size: {n or N},
  ort_library: {os.environ["ONNXRUNTIME_SHARED_LIBRARY_PATH"]}}}
data: {{x: {os.path.join(tmp, "x.npy")}, y: {os.path.join(tmp, "y.npy")}, range: [0, 1]}}
suites:
  evasion:
    attacks:
      - {{name: {attack}, norm: {'l2' if norm == 2 else 'linf'}, budgets: {BUDGETS}}}
output: {{dir: {out}, formats: [json]}}
""")
    r0, w0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    subprocess.run([exe, "run", "-c", cfg], check=True, stdout=subprocess.DEVNULL)
    r1, w1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    m = [s for s in rep["suites"] if s["name"] == "evasion"][0]["metrics"]
    p = attack + "." + ('l2' if norm == 2 else 'linf')
    return {"cpu_seconds": round((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), 2),
            "wall_seconds": round(w1 - w0, 2),
            "medians": {str(B): m.get(f"{p}.median_norm@{B}") for B in BUDGETS}}


def median(v):
    return float(np.median(np.array(v)))  # +inf sorts last, as in Gauntlet


def main():
    import torch
    from peer import rebuild
    torch.set_num_threads(1)
    x = np.load(os.path.join(VISION, "mnist_test_x.npy"))[:N].astype(np.float32)
    y = np.load(os.path.join(VISION, "mnist_test_y.npy"))[:N]
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    out = {"n": N, "budgets": BUDGETS, "seeds": SEEDS, "art": "1.18.2 (902148575d9593120629371d3be40d2a42838bb9)",
           "threads": 1, "cases": {}}
    for name, norm in CASES:
        model = rebuild(MODELS[name]).eval()
        est = Estimator(model, (1, 28, 28), 10)
        key = f"{name}_{'l2' if norm == 2 else 'linf'}"
        case = {"runs": []}
        for seed in SEEDS:
            np.random.seed(seed)
            c0, w0 = time.process_time(), time.time()
            best, last, queries = [[] for _ in BUDGETS], [[] for _ in BUDGETS], []
            for i in range(N):
                r = attack_one(est, x[i], int(y[i]), norm, seed, i)
                if r is None:
                    continue
                for b in range(len(BUDGETS)):
                    best[b].append(r[0][b])
                    last[b].append(r[1][b])
                queries.append(r[2])
            run = {"seed": seed, "attacked": len(queries), "cpu_seconds": round(time.process_time() - c0, 2),
                   "wall_seconds": round(time.time() - w0, 2), "mean_queries": float(np.mean(queries))}
            for b, B in enumerate(BUDGETS):
                run[f"best_median@{B}"] = median(best[b])
                run[f"last_median@{B}"] = median(last[b])
            print(key, run, flush=True)
            case["runs"].append(run)
            g = gauntlet_time(tmp, name, norm)  # interleaved with ART's seeds
            print(key, "gauntlet", g, flush=True)
            case.setdefault("gauntlet_runs", []).append(g)
        for kind in ("best", "last"):
            for B in BUDGETS:
                v = [r[f"{kind}_median@{B}"] for r in case["runs"]]
                case[f"{kind}_median@{B}"] = float(np.mean(v))
                case[f"{kind}_spread@{B}"] = (max(v) - min(v)) / float(np.mean(v))
        art = [r["cpu_seconds"] for r in case["runs"]]
        gau = [r["cpu_seconds"] for r in case["gauntlet_runs"]]
        case["cpu_ratio_art_over_gauntlet"] = [round(a / g, 2) for a, g in zip(art, gau)]
        out["cases"][key] = case
        with open(os.path.join(HERE, "peer_hopskipjump.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()

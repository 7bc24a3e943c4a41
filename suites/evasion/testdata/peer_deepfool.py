#!/usr/bin/python3
"""Reference figures of DeepFool (ART 1.18.2) for TestDeepFoolReference.

ART 1.18.2's DeepFool.generate (art/attacks/evasion/deepfool.py, tag 1.18.2
= identical at ART commit 23539e2c; lines 93–214, copied below unchanged but
for the progress bar, under ART's MIT licence, header below) runs with its
defaults (max_iter 100, epsilon 1e-6, nb_grads 10) through a minimal
estimator holding the torch module: predict (logits), class_gradient (each
class logit's input gradient, one backward pass per class, as ART's
PyTorchClassifier), nb_classes and clip_values (0, 1). ART is not
installed here; nothing else of it is needed.

Models and data as peer_fmn.py: the shared MNIST CNN and the residual CNN
of benchmarks/pgdpeer, rebuilt in torch from their ONNX initializers, on
the first N images of mnist_test_x/y.npy, L2 (ART's DeepFool has no L∞).

Two runs per model:

  * "art": ART's code as it is. ε* = ‖x_adv − x‖₂ where x_adv is
    misclassified, +Inf where not, 0 for a clean-wrong image.
  * "art_gauntlet": the same loop with Gauntlet's two documented changes
    (docs/metrics/evasion.md, DeepFool), and nothing else: the overshoot
    η = 0.02 applied at every iteration (the point evaluated is
    x + (1 + η)·Σr, clipped, and the loop stops there when misclassified)
    instead of ε = 1e-6 once after the loop, and the gradient values that
    push x + Σr further past a bound it sits on left out of ‖w_l‖ and r
    (ART scales r by the range width, 1 here). Σr is kept inside the box as
    ART's clipped batch.

Writes peer_deepfool.json beside this file: per model and run the
clean-correct count, per-sample ε* (null: +Inf), the median over the
clean-correct images (+Inf counting; null when +Inf) and the successes.
With GAUNTLET=<gauntlet binary>, also the median wall-clock ratio of ART's
run to Gauntlet's `gauntlet run` (one deepfool L2 entry, same images, one
worker, 2 intra-op threads, one attack batch; the whole process against
ART's generate alone), REPS rounds interleaved. TIME_ONLY=1 times without
recomputing the figures, on the first TIME_N images (ART recomputes every
class gradient of the whole batch at each of up to 100 iterations: 17
minutes for 100 images on 2 loaded cores); MODELS picks the models.

  /usr/bin/python3 suites/evasion/testdata/peer_deepfool.py
  TIME_ONLY=1 TIME_N=20 MODELS=mnist_cnn REPS=2 GAUNTLET=/tmp/gauntlet /usr/bin/python3 suites/evasion/testdata/peer_deepfool.py

Licence of the copied ART code:

MIT License

Copyright (C) The Adversarial Robustness Toolbox (ART) Authors 2018

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

import math
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
VISION = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

N = 100
ART_NUMPY_DTYPE = np.float32


def is_probability(v):
    return bool(np.all(v >= 0) and np.all(v <= 1) and abs(float(np.sum(v)) - 1) < 1e-3)


class logger:  # noqa: N801
    @staticmethod
    def warning(*a):
        pass


class Estimator:
    """What DeepFool.generate reads of an ART classifier."""

    def __init__(self, model, k):
        self.model, self.nb_classes, self.clip_values = model, k, (0.0, 1.0)

    def predict(self, x, batch_size=128):
        import torch
        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def class_gradient(self, x, label=None):
        import torch
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).requires_grad_(True)
        out = self.model(xt)
        labels = range(self.nb_classes) if label is None else [label]
        g = []
        for c in labels:
            (gc,) = torch.autograd.grad(out[:, c].sum(), xt, retain_graph=True)
            g.append(gc.numpy())
        return np.stack(g, axis=1)  # (N, classes, *input), as ART's


class DeepFool:
    def __init__(self, classifier, max_iter=100, epsilon=1e-6, nb_grads=10, batch_size=1, verbose=False):
        self.estimator, self.max_iter, self.epsilon = classifier, max_iter, epsilon
        self.nb_grads, self.batch_size, self.verbose = nb_grads, batch_size, verbose

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """
        Generate adversarial samples and return them in an array.

        :param x: An array with the original inputs to be attacked.
        :param y: An array with the original labels to be predicted.
        :return: An array holding the adversarial examples.
        """
        x_adv = x.astype(ART_NUMPY_DTYPE)
        preds = self.estimator.predict(x, batch_size=self.batch_size)

        if self.estimator.nb_classes == 2 and preds.shape[1] == 1:
            raise ValueError(  # pragma: no cover
                "This attack has not yet been tested for binary classification with a single output classifier."
            )

        if is_probability(preds[0]):
            logger.warning(
                "It seems that the attacked model is predicting probabilities. DeepFool expects logits as model output "
                "to achieve its full attack strength."
            )

        # Determine the class labels for which to compute the gradients
        use_grads_subset = self.nb_grads < self.estimator.nb_classes
        if use_grads_subset:
            # TODO compute set of unique labels per batch
            grad_labels = np.argsort(-preds, axis=1)[:, : self.nb_grads]
            labels_set = np.unique(grad_labels)
        else:
            labels_set = np.arange(self.estimator.nb_classes)
        sorter = np.arange(len(labels_set))

        # Pick a small scalar to avoid division by 0
        tol = 10e-8

        # Compute perturbation with implicit batching
        for batch_id in range(int(np.ceil(x_adv.shape[0] / float(self.batch_size)))):
            batch_index_1, batch_index_2 = batch_id * self.batch_size, (batch_id + 1) * self.batch_size
            batch = x_adv[batch_index_1:batch_index_2].copy()

            # Get predictions and gradients for batch
            f_batch = preds[batch_index_1:batch_index_2]
            fk_hat = np.argmax(f_batch, axis=1)
            if use_grads_subset:
                # Compute gradients only for top predicted classes
                grd = np.array([self.estimator.class_gradient(batch, label=int(label_i)) for label_i in labels_set])
                grd = np.squeeze(np.swapaxes(grd, 0, 2), axis=0)
            else:
                # Compute gradients for all classes
                grd = self.estimator.class_gradient(batch)

            # Get current predictions
            active_indices = np.arange(len(batch))
            current_step = 0
            while active_indices.size > 0 and current_step < self.max_iter:
                # Compute difference in predictions and gradients only for selected top predictions
                labels_indices = sorter[np.searchsorted(labels_set, fk_hat, sorter=sorter)]
                grad_diff = grd - grd[np.arange(len(grd)), labels_indices][:, None]
                f_diff = f_batch[:, labels_set] - f_batch[np.arange(len(f_batch)), labels_indices][:, None]

                # Choose coordinate and compute perturbation
                norm = np.linalg.norm(grad_diff.reshape(len(grad_diff), len(labels_set), -1), axis=2) + tol
                value = np.abs(f_diff) / norm
                value[np.arange(len(value)), labels_indices] = np.inf
                l_var = np.argmin(value, axis=1)
                absolute1 = abs(f_diff[np.arange(len(f_diff)), l_var])
                draddiff = grad_diff[np.arange(len(grad_diff)), l_var].reshape(len(grad_diff), -1)
                pow1 = (
                    pow(
                        np.linalg.norm(draddiff, axis=1),
                        2,
                    )
                    + tol
                )
                r_var = absolute1 / pow1
                r_var = r_var.reshape((-1,) + (1,) * (len(x.shape) - 1))
                r_var = r_var * grad_diff[np.arange(len(grad_diff)), l_var]

                # Add perturbation and clip result
                if self.estimator.clip_values is not None:
                    batch[active_indices] = np.clip(
                        batch[active_indices]
                        + r_var[active_indices] * (self.estimator.clip_values[1] - self.estimator.clip_values[0]),
                        self.estimator.clip_values[0],
                        self.estimator.clip_values[1],
                    )
                else:
                    batch[active_indices] += r_var[active_indices]

                # Recompute prediction for new x
                f_batch = self.estimator.predict(batch)
                fk_i_hat = np.argmax(f_batch, axis=1)

                # Recompute gradients for new x
                if use_grads_subset:
                    # Compute gradients only for (originally) top predicted classes
                    grd = np.array([self.estimator.class_gradient(batch, label=int(label_i)) for label_i in labels_set])
                    grd = np.squeeze(np.swapaxes(grd, 0, 2), axis=0)
                else:
                    # Compute gradients for all classes
                    grd = self.estimator.class_gradient(batch)

                # Stop if misclassification has been achieved
                active_indices = np.where(fk_i_hat == fk_hat)[0]

                current_step += 1

            # Apply overshoot parameter
            x_adv1 = x_adv[batch_index_1:batch_index_2]
            x_adv2 = (1 + self.epsilon) * (batch - x_adv[batch_index_1:batch_index_2])
            x_adv[batch_index_1:batch_index_2] = x_adv1 + x_adv2
            if self.estimator.clip_values is not None:
                np.clip(
                    x_adv[batch_index_1:batch_index_2],
                    self.estimator.clip_values[0],
                    self.estimator.clip_values[1],
                    out=x_adv[batch_index_1:batch_index_2],
                )

        return x_adv


def deepfool_gauntlet(est, x, max_iter=100, overshoot=0.02, tol=10e-8):
    """ART's loop (all classes: nb_grads = nb_classes) with Gauntlet's two
    changes (module docstring). Returns the last evaluated points and
    whether each was misclassified."""
    lo, hi = est.clip_values
    preds = est.predict(x)
    fk_hat = preds.argmax(1)
    n = len(x)
    rtot = np.zeros_like(x, dtype=np.float64)
    point = x.copy()
    done = np.zeros(n, dtype=bool)
    active = np.arange(n)
    for _ in range(max_iter + 1):
        f = est.predict(point[active])
        adv = f.argmax(1) != fk_hat[active]
        done[active[adv]] = True
        active = active[~adv]
        if active.size == 0 or _ == max_iter:
            break
        f = f[~adv]
        grd = est.class_gradient(point[active])
        rows = np.arange(len(active))
        lab = fk_hat[active]
        gd = (grd - grd[rows, lab][:, None]).reshape(len(active), est.nb_classes, -1)
        fd = f - f[rows, lab][:, None]
        # free directions: leave out values that push x + Σr past a bound it is on
        b = (x[active].reshape(len(active), -1).astype(np.float64) + rtot[active].reshape(len(active), -1))[:, None, :]
        gd = np.where(((gd < 0) & (b <= lo)) | ((gd > 0) & (b >= hi)), 0, gd)
        value = np.abs(fd) / (np.linalg.norm(gd, axis=2) + tol)
        value[rows, lab] = np.inf
        l_var = np.argmin(value, axis=1)
        w = gd[rows, l_var]
        r = (np.abs(fd[rows, l_var]) / (np.linalg.norm(w, axis=1) ** 2 + tol))[:, None] * w
        x0 = x[active].reshape(len(active), -1).astype(np.float64)
        s = np.clip(x0 + rtot[active].reshape(len(active), -1) + r, lo, hi) - x0
        rtot[active] = s.reshape(rtot[active].shape)
        point[active] = np.clip((x0 + (1 + overshoot) * s).astype(np.float32), lo, hi).reshape(point[active].shape)
    return point, done


def eps_star(x, xadv, correct, adv):
    d = np.sqrt(((xadv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1) ** 2).sum(1))
    return [0.0 if not c else (float(e) if a else None) for e, c, a in zip(d, correct, adv)]


def summary(es, correct):
    v = np.array([math.inf if e is None else e for e, c in zip(es, correct) if c])
    m = float(np.median(v)) if len(v) else math.inf
    return {"clean_correct": int(sum(correct)), "median_eps": None if math.isinf(m) else m,
            "successes": int(sum(1 for e, c in zip(es, correct) if c and e is not None)), "eps_star": es}


def main():
    import torch
    from peer import rebuild
    from peer_fmn import MODELS, gauntlet_run, save_json

    torch.set_num_threads(2)
    binary, reps = os.environ.get("GAUNTLET"), int(os.environ.get("REPS", "3"))
    time_only = os.environ.get("TIME_ONLY") == "1"
    n = int(os.environ.get("TIME_N", N)) if time_only else N
    models = os.environ.get("MODELS", ",".join(MODELS)).split(",")
    xs = np.load(os.path.join(VISION, "mnist_test_x.npy"))[:n]
    ys = np.load(os.path.join(VISION, "mnist_test_y.npy"))[:n]
    out = {"n": N, "reference": "ART 1.18.2 art/attacks/evasion/deepfool.py DeepFool.generate (copied)", "models": {}}
    tmp = tempfile.mkdtemp(prefix="peer_deepfool_")
    np.save(os.path.join(tmp, "x.npy"), xs)
    np.save(os.path.join(tmp, "y.npy"), ys)
    timing = {}
    for name in models:
        path = MODELS[name]
        model = rebuild(path)
        est = Estimator(model, 10)
        if not time_only:
            correct = (est.predict(xs).argmax(1) == ys).tolist()
            res = out["models"].setdefault(name, {})
            t0 = time.perf_counter()
            xadv = DeepFool(est, batch_size=N).generate(xs)
            dt = time.perf_counter() - t0
            adv = (est.predict(xadv).argmax(1) != ys).tolist()
            res["art"] = summary(eps_star(xs, xadv, correct, adv), correct)
            pt, done = deepfool_gauntlet(est, xs)
            res["art_gauntlet"] = summary(eps_star(xs, pt, correct, done.tolist()), correct)
            for k in ("art", "art_gauntlet"):
                print(f"{name} {k}: median ε* {res[k]['median_eps']}, {res[k]['successes']}/{res[k]['clean_correct']} broken", flush=True)
            print(f"  ART {dt:.2f} s", flush=True)
        if binary:
            ratios = []
            for r in range(reps):
                d = {}
                for who in (["g", "a"] if r % 2 == 0 else ["a", "g"]):
                    if who == "g":
                        d[who] = gauntlet_run(binary, path, "{name: deepfool, norm: l2, eps: [1]}", n, tmp)
                    else:
                        t0 = time.perf_counter()
                        DeepFool(est, batch_size=n).generate(xs)
                        d[who] = time.perf_counter() - t0
                ratios.append(d["a"] / d["g"])
                print(f"  round {r}: ART {d['a']:.2f} s, gauntlet {d['g']:.2f} s, ratio {d['a'] / d['g']:.2f}", flush=True)
            timing[name] = {"images": n, "ratios": ratios, "median_ratio": float(np.median(ratios))}
        save_json(os.path.join(HERE, "peer_deepfool.json"), out, timing, binary)


if __name__ == "__main__":
    main()

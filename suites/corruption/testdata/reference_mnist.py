#!/usr/bin/python3
"""Accuracy of the shared MNIST CNN under the reference's deterministic
corruptions, for TestMNISTAccuracyAgainstReference: writes
reference_mnist.json beside this file.

The first 500 images of ../shared/fixtures/vision/mnist_test_x.npy (values
k/255, turned back into uint8 k) go through make_cifar_c.py's contrast,
brightness, defocus_blur, zoom_blur and pixelate (the functions of
reference.py, grey images as three equal channels, pixelate on a PIL "L"
image) at severities 1…5; the float output / 255 (the reference's float
result, before any uint8 saving) goes through the model rebuilt in PyTorch
from the ONNX initializers (benchmarks/pgdpeer/peer.py's rebuild, checked
there against ONNX Runtime), and the share of arg max = label is recorded.

  /usr/bin/python3 suites/corruption/testdata/reference_mnist.py
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pgdpeer"))
import reference as R  # noqa: E402
from peer import rebuild  # noqa: E402

N = 500
FAMILIES = ["contrast", "brightness", "defocus_blur", "zoom_blur", "pixelate"]


def main():
    vision = os.path.join(ROOT, "..", "shared", "fixtures", "vision")
    x = np.load(os.path.join(vision, "mnist_test_x.npy"))[:N]
    y = np.load(os.path.join(vision, "mnist_test_y.npy"))[:N]
    imgs = np.round(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)  # NHWC, 1 channel
    torch.set_num_threads(1)
    model = rebuild(os.path.join(vision, "mnist_cnn.onnx"))
    out = {"model": "../shared/fixtures/vision/mnist_cnn.onnx", "samples": N, "parameters": "cifar",
           "accuracy": {}}
    with torch.no_grad():
        clean = model(torch.from_numpy(x)).argmax(1).numpy()
    out["clean_accuracy"] = float(np.mean(clean == y))
    for fam in FAMILIES:
        fn = R.DETERMINISTIC[fam]
        accs = []
        for s in range(1, 6):
            xs = np.stack([R.apply(fn, fam, im, s) for im in imgs]) / 255.0
            xs = xs.transpose(0, 3, 1, 2).astype(np.float32)
            with torch.no_grad():
                pred = model(torch.from_numpy(xs)).argmax(1).numpy()
            accs.append(float(np.mean(pred == y)))
        out["accuracy"][fam] = accs
        print(fam, accs, flush=True)
    with open(os.path.join(HERE, "reference_mnist.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

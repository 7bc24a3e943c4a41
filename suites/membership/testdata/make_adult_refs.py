"""Writes adult_ref_0.onnx and adult_ref_1.onnx: the Adult MLP
(examples/adult/adult_mlp.onnx) with Gaussian noise of 0.05 times each
weight tensor's standard deviation added to every initializer (numpy
seeds 0 and 1). They stand in for LiRA reference models in the sharding
tests (engine/shard_test.go): same signature as the target, slightly
different φ per sample. They are not models trained without the members,
so the LiRA figures they give say nothing about the Adult MLP's privacy.

    /usr/bin/python3 suites/membership/testdata/make_adult_refs.py
"""
import os

import numpy as np
import onnx
from onnx import numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "..", "..", "..", "examples", "adult", "adult_mlp.onnx")
for seed in (0, 1):
    m = onnx.load(src)
    rng = np.random.default_rng(seed)
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        noisy = (w + rng.normal(0, 0.05 * float(w.std()), w.shape)).astype(w.dtype)
        init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(here, "adult_ref_%d.onnx" % seed))

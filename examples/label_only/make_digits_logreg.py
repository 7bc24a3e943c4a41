#!/usr/bin/python3
"""Writes digits_logreg.onnx beside this script: a label-only classifier for
examples/label_only.yaml, as scikit-learn's converter skl2onnx writes a
LogisticRegression (its converter is not installed here, so the graph is
written node for node as runtime/testdata/converters/make_converters.py
does: LinearClassifier → output_label (Cast to int64) and a ZipMap of the
probabilities, output_probability).

The model: scikit-learn 1.2.1's LogisticRegression (multinomial, lbfgs,
C = 1, max_iter 1000) on the training split of the UCI 8x8 digits that
examples/train_digits.py makes (its stratified_split with its SEED, so the
400 evaluation digits of examples/digits_eval_x.npy are held out), pixels
/16 in [0, 1], 64 features (input float_input [N, 64]; Gauntlet feeds the
[N, 1, 8, 8] evaluation images to it flattened). Classes 0..9
(classlabels_ints). It prints the accuracy on the evaluation split.

  /usr/bin/python3 examples/label_only/make_digits_logreg.py
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import train_digits  # noqa: E402  (the split of the demo model)

ML = "ai.onnx.ml"


def main():
    pix, y = train_digits.load_digits(train_digits.DEFAULT_DATA)
    rng = np.random.default_rng(train_digits.SEED)
    tr, ev = train_digits.stratified_split(y, rng)
    x = (pix.astype(np.float64) / 16.0).astype(np.float32)
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(x[tr], y[tr])
    xe = np.load(os.path.join(HERE, "..", "digits_eval_x.npy")).reshape(-1, 64)
    ye = np.load(os.path.join(HERE, "..", "digits_eval_y.npy"))
    assert np.array_equal(xe, x[ev]) and np.array_equal(ye, y[ev]), "not the split of digits_eval_x.npy"
    print(f"eval accuracy {clf.score(xe, ye):.4f}")

    classes = [int(c) for c in clf.classes_]
    nodes = [
        helper.make_node("LinearClassifier", ["float_input"], ["label", "probability_tensor"],
                         name="LinearClassifier", domain=ML,
                         coefficients=clf.coef_.astype(np.float32).ravel().tolist(),
                         intercepts=clf.intercept_.astype(np.float32).tolist(),
                         classlabels_ints=classes, multi_class=1, post_transform="SOFTMAX"),
        helper.make_node("Normalizer", ["probability_tensor"], ["probabilities"], name="Normalizer",
                         domain=ML, norm="L1"),
        helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain=ML, classlabels_int64s=classes),
    ]
    zipmap = onnx.TypeProto()
    zipmap.sequence_type.elem_type.map_type.key_type = TensorProto.INT64
    zipmap.sequence_type.elem_type.map_type.value_type.CopyFrom(
        helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "LogisticRegression",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("output_label", TensorProto.INT64, [None]),
         helper.make_value_info("output_probability", zipmap)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid(ML, 1)],
                          producer_name="skl2onnx", producer_version="1.16.0", domain="ai.onnx", model_version=0)
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, "digits_logreg.onnx"))


if __name__ == "__main__":
    main()

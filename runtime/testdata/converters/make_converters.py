#!/usr/bin/env python3
"""Write the deployed-form ONNX fixtures of the runtime and engine tests.

Run from this directory with Debian's python3-onnx (1.12):

    /usr/bin/python3 make_converters.py

The scikit-learn converter models are written node for node as skl2onnx
writes them (skl2onnx/operator_converters/linear_classifier.py,
decision_tree.py and zip_map.py: the classifier op of the ai.onnx.ml domain
gives `label` and `probabilities`; a Cast (int64 labels) or an Identity
(string labels) gives `output_label`; a ZipMap gives `output_probability`,
a sequence of maps from class label to probability), with the opset imports
skl2onnx declares ('' and 'ai.onnx.ml') and an unnamed dynamic batch axis.
Their weights are chosen by hand, so the tests compute the expected
probabilities from the numbers below:

skl_linear_int.onnx   binary LogisticRegression, classes_ = [3, 7], input
                      float_input [N, 2]: P(7) = sigmoid(x0 - 2*x1 + 0.5),
                      P(3) = 1 - P(7) (skl2onnx's binary form: coefficients
                      (-w, w), intercepts (-b, b), post_transform LOGISTIC).
skl_linear_str.onnx   multinomial LogisticRegression, classes_ =
                      ["bird", "cat", "dog"], input float_input [N, 2]:
                      P = softmax(x0, x1, -x0 - x1) (post_transform SOFTMAX,
                      then Normalizer L1 as skl2onnx adds for multi_class).
skl_tree_int.onnx     DecisionTreeClassifier, classes_ = [0, 1], input
                      float_input [N, 2]: x0 <= 0.5 gives P = (0.8, 0.2),
                      else P = (0.1, 0.9) (TreeEnsembleClassifier).
fp16_mlp.onnx         a float16 network: input x float16 [batch, 2], output
                      probs float16 [batch, 2] = softmax(x @ [[1, -1],
                      [-1, 1]] + [0.25, -0.25]) (Gemm, Softmax).
dynamic_features.onnx a float32 network whose input x is [batch, features]
                      with both axes symbolic: logits [batch, 2] =
                      x @ [[1, 0], [0, 1], [1, -1]] (MatMul, 3 features).
"""
import onnx
from onnx import TensorProto, helper

ML = "ai.onnx.ml"
OPSETS = [helper.make_opsetid("", 15), helper.make_opsetid(ML, 1)]


def zipmap_output(name, key_type):
    """seq(map(key_type, tensor(float))), as skl2onnx declares a ZipMap."""
    t = onnx.TypeProto()
    t.sequence_type.elem_type.map_type.key_type = key_type
    t.sequence_type.elem_type.map_type.value_type.CopyFrom(
        helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    return helper.make_value_info(name, t)


def sklearn_model(name, nodes, label_type, key_type):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("output_label", label_type, [None]),
         zipmap_output("output_probability", key_type)])
    m = helper.make_model(graph, opset_imports=OPSETS, producer_name="skl2onnx",
                          producer_version="1.16.0", domain="ai.onnx", model_version=0)
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def linear_int():
    w, b = [1.0, -2.0], 0.5
    return sklearn_model("LogisticRegression", [
        helper.make_node("LinearClassifier", ["float_input"], ["label", "probabilities"],
                         name="LinearClassifier", domain=ML,
                         coefficients=[-v for v in w] + w, intercepts=[-b, b],
                         classlabels_ints=[3, 7], multi_class=0, post_transform="LOGISTIC"),
        helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain=ML, classlabels_int64s=[3, 7]),
    ], TensorProto.INT64, TensorProto.INT64)


def linear_str():
    classes = ["bird", "cat", "dog"]
    return sklearn_model("LogisticRegression", [
        helper.make_node("LinearClassifier", ["float_input"], ["label", "probability_tensor"],
                         name="LinearClassifier", domain=ML,
                         coefficients=[1.0, 0.0, 0.0, 1.0, -1.0, -1.0], intercepts=[0.0, 0.0, 0.0],
                         classlabels_strings=classes, multi_class=1, post_transform="SOFTMAX"),
        helper.make_node("Normalizer", ["probability_tensor"], ["probabilities"],
                         name="Normalizer", domain=ML, norm="L1"),
        helper.make_node("Identity", ["label"], ["output_label"], name="Identity"),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain=ML, classlabels_strings=classes),
    ], TensorProto.STRING, TensorProto.STRING)


def tree_int():
    return sklearn_model("DecisionTreeClassifier", [
        helper.make_node("TreeEnsembleClassifier", ["float_input"], ["label", "probabilities"],
                         name="TreeEnsembleClassifier", domain=ML,
                         nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2],
                         nodes_featureids=[0, 0, 0], nodes_values=[0.5, 0.0, 0.0],
                         nodes_hitrates=[1.0, 1.0, 1.0],
                         nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
                         nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
                         nodes_missing_value_tracks_true=[0, 0, 0],
                         class_treeids=[0, 0, 0, 0], class_nodeids=[1, 1, 2, 2],
                         class_ids=[0, 1, 0, 1], class_weights=[0.8, 0.2, 0.1, 0.9],
                         classlabels_int64s=[0, 1], post_transform="NONE"),
        helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain=ML, classlabels_int64s=[0, 1]),
    ], TensorProto.INT64, TensorProto.INT64)


def fp16_mlp():
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "B"], ["logits"], name="gemm"),
         helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1)],
        "fp16_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 2])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT16, ["batch", 2])],
        [helper.make_tensor("W", TensorProto.FLOAT16, [2, 2], [1.0, -1.0, -1.0, 1.0]),
         helper.make_tensor("B", TensorProto.FLOAT16, [2], [0.25, -0.25])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_converters.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def dynamic_features():
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"], name="matmul")],
        "dynamic_features",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], [1.0, 0.0, 0.0, 1.0, 1.0, -1.0])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_converters.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


if __name__ == "__main__":
    for name, make in [("skl_linear_int", linear_int), ("skl_linear_str", linear_str),
                       ("skl_tree_int", tree_int), ("fp16_mlp", fp16_mlp),
                       ("dynamic_features", dynamic_features)]:
        onnx.save(make(), name + ".onnx")
        print("wrote", name + ".onnx")

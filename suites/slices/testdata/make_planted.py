#!/usr/bin/python3
"""Generate the slices suite's fixtures (run from this folder, /usr/bin/python3).

planted.csv / null.csv: 4,000 rows each, same features, numpy seed 24.
  age     integer years: exactly 3,000 rows uniform on 18..60 and 1,000 on 61..90,
          so the 0.75 quantile edge of the evaluation data falls between 60 and 61;
  sex     F / M with probability 1/2; region A / B / C with probability 1/3 each;
  x1, x2  N(0, 1), rounded to 4 decimals.
  Label: y = 1 when 4·x1 + 2·x2 > 0, then flipped at random in 5 % of all rows
  (both files); planted.csv also flips 35 % of the rows with age > 60 and sex = F.
  Model features (fed to the model): f_age = age/100, f_female (1 for F), x1, x2;
  age, sex, region are kept as strings for slicing.
logistic.onnx: a Gemm logistic model, logits = [0, 4·x1 + 2·x2] (the weights of
  f_age and f_female are 0): it predicts the clean rule, so its errors are exactly
  the flipped rows.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper

rng = np.random.default_rng(24)
N = 4000


def make(planted):
    age = np.concatenate([rng.integers(18, 61, 3000), rng.integers(61, 91, 1000)])
    rng.shuffle(age)
    sex = np.where(rng.random(N) < 0.5, "F", "M")
    region = np.array(["A", "B", "C"])[rng.integers(0, 3, N)]
    x1 = np.round(rng.standard_normal(N), 4)
    x2 = np.round(rng.standard_normal(N), 4)
    y = (4 * x1 + 2 * x2 > 0).astype(int)
    flip = rng.random(N) < 0.05
    if planted:
        flip |= (age > 60) & (sex == "F") & (rng.random(N) < 0.35)
    y = np.where(flip, 1 - y, y)
    rows = ["f_age,f_female,x1,x2,age,sex,region,label"]
    for i in range(N):
        rows.append(f"{age[i] / 100:.2f},{int(sex[i] == 'F')},{x1[i]:.4f},{x2[i]:.4f},{age[i]},{sex[i]},{region[i]},{y[i]}")
    return "\n".join(rows) + "\n"


with open("planted.csv", "w") as f:
    f.write(make(True))
with open("null.csv", "w") as f:
    f.write(make(False))

W = np.array([[0, 0], [0, 0], [0, 4], [0, 2]], dtype=np.float32)
b = np.zeros(2, dtype=np.float32)
g = helper.make_graph(
    [helper.make_node("Gemm", ["input", "W", "b"], ["logits"])],
    "slices_logistic",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
    [helper.make_tensor("W", TensorProto.FLOAT, W.shape, W.flatten()),
     helper.make_tensor("b", TensorProto.FLOAT, b.shape, b)],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_planted.py")
m.ir_version = 7
onnx.checker.check_model(m)
onnx.save(m, "logistic.onnx")

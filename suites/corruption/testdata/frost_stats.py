#!/usr/bin/python3
"""Statistics of the frost layer the reference crops out of its photographs:
the figures of frostPhotos in suites/corruption/families.go.

The photographs are ImageNet-C/create_c/frost1.png … frost5.jpg of
github.com/hendrycks/robustness (frost6.jpg is never drawn by the reference's
np.random.randint(5)); they are not part of this repository. Each parameter
set's frost() reads one with cv2.imread, resizes it (make_cifar_c.py:
cv2.resize fx=fy=0.2; make_tinyimagenet_c.py: 0.3; make_imagenet_c.py: no
resize), and crops a square of the set's size (32, 64, 224) at
x_start = randint(0, H − size), y_start = randint(0, W − size). For each
set and photograph this prints, per channel (R, G, B, in [0, 1]), the
expectation over those crop positions (all of them, with integral images)
of the crop's mean and of the crop's standard deviation: what Gauntlet's
procedural layer is standardised to. cv2.resize is reference_ported.py's
port (bilinear, 11-bit fixed-point weights).

  /usr/bin/python3 frost_stats.py <folder holding frost1.png … frost5.jpg>

Output (2026-12-07, robustness at its newest commit):
  cifar
    frost1.png (120, 180, 3) mean [0.301 0.581 0.646] sd [0.083 0.051 0.049]
    frost2.png (63, 112, 3) mean [0.778 0.796 0.832] sd [0.07  0.071 0.073]
    frost3.png (63, 112, 3) mean [0.778 0.796 0.832] sd [0.07  0.071 0.073]
    frost4.jpg (70, 105, 3) mean [0.563 0.621 0.671] sd [0.101 0.102 0.106]
    frost5.jpg (99, 132, 3) mean [0.403 0.447 0.494] sd [0.136 0.135 0.132]
  tiny
    frost1.png (180, 270, 3) mean [0.302 0.58  0.644] sd [0.084 0.051 0.049]
    frost2.png (94, 168, 3) mean [0.777 0.795 0.831] sd [0.07  0.072 0.075]
    frost3.png (94, 168, 3) mean [0.777 0.795 0.831] sd [0.07  0.072 0.075]
    frost4.jpg (105, 158, 3) mean [0.567 0.626 0.676] sd [0.091 0.092 0.097]
    frost5.jpg (148, 198, 3) mean [0.398 0.442 0.489] sd [0.128 0.127 0.124]
  imagenet
    frost1.png (600, 900, 3) mean [0.302 0.579 0.644] sd [0.092 0.056 0.052]
    frost2.png (315, 560, 3) mean [0.776 0.793 0.829] sd [0.076 0.078 0.081]
    frost3.png (315, 560, 3) mean [0.776 0.793 0.829] sd [0.076 0.078 0.081]
    frost4.jpg (350, 527, 3) mean [0.568 0.626 0.677] sd [0.102 0.102 0.108]
    frost5.jpg (495, 660, 3) mean [0.395 0.44  0.487] sd [0.141 0.139 0.136]

(An earlier version measured the whole photograph after Pillow's antialiased
0.2 resize: means within 0.04 and standard deviations up to 0.02 below
these, frost4.jpg and frost5.jpg furthest off.)
"""

import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_ported import resize_linear_u8  # noqa: E402

SETS = [("cifar", 0.2, 32), ("tiny", 0.3, 64), ("imagenet", 1.0, 224)]


def crop_stats(a, s):
    """a: HWC in [0, 1]; the mean over crop positions x0 < H − s, y0 < W − s
    of each channel's crop mean and crop standard deviation."""
    h, w, c = a.shape
    means, sds = [], []
    for ch in range(c):
        v = a[..., ch]
        i1 = np.zeros((h + 1, w + 1))
        i1[1:, 1:] = v.cumsum(0).cumsum(1)
        i2 = np.zeros((h + 1, w + 1))
        i2[1:, 1:] = (v * v).cumsum(0).cumsum(1)
        x0, y0 = np.arange(h - s)[:, None], np.arange(w - s)[None, :]

        def box(i):
            return i[x0 + s, y0 + s] - i[x0, y0 + s] - i[x0 + s, y0] + i[x0, y0]
        m = box(i1) / (s * s)
        var = np.maximum(box(i2) / (s * s) - m * m, 0)
        means.append(m.mean())
        sds.append(np.sqrt(var).mean())
    return np.array(means), np.array(sds)


def main():
    folder = sys.argv[1]
    for name, f, s in SETS:
        print(name)
        for fn in ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]:
            bgr = np.asarray(Image.open(os.path.join(folder, fn)).convert("RGB"))[..., ::-1].copy()  # cv2.imread
            r = bgr if f == 1.0 else resize_linear_u8(bgr, f)
            m, sd = crop_stats(r[..., ::-1] / 255., s)
            print(f"  {fn} {r.shape} mean {np.round(m, 3)} sd {np.round(sd, 3)}")


if __name__ == "__main__":
    main()

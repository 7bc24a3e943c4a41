#!/usr/bin/python3
"""Per-channel mean and standard deviation of the reference's frost
photographs, the figures of frostPhotos in suites/corruption/families.go.

The photographs are ImageNet-C/create_c/frost1.png … frost5.jpg of
github.com/hendrycks/robustness (frost6.jpg is never drawn by the reference's
np.random.randint(5)); they are not part of this repository. Each is read as
RGB, resized to 0.2 of its size (PIL bilinear; the CIFAR-10-C code uses
cv2.resize(…, fx=0.2, fy=0.2), bilinear too) and measured in [0, 1]:

  /usr/bin/python3 frost_stats.py <folder holding frost1.png … frost5.jpg>

Output (2026-12-07, robustness at its newest commit):
  frost1.png [0.305 0.585 0.65 ] [0.089 0.055 0.051]
  frost2.png [0.787 0.805 0.841] [0.068 0.071 0.073]
  frost3.png [0.787 0.805 0.841] [0.068 0.071 0.073]
  frost4.jpg [0.54  0.599 0.648] [0.082 0.082 0.088]
  frost5.jpg [0.441 0.484 0.528] [0.143 0.138 0.131]
"""

import os
import sys

import numpy as np
from PIL import Image

folder = sys.argv[1]
for name in ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]:
    im = Image.open(os.path.join(folder, name)).convert("RGB")
    im = im.resize((int(im.width * 0.2), int(im.height * 0.2)), Image.BILINEAR)
    a = np.asarray(im, dtype=np.float64) / 255
    print(name, a.mean((0, 1)).round(3), a.std((0, 1)).round(3))

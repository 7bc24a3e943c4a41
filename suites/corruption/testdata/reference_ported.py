#!/usr/bin/python3
"""Reference statistics for the four corruption families reference.py does
not run: motion_blur, snow, elastic_transform and frost, from
github.com/hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py (the
CIFAR-10-C parameters, which Gauntlet uses for images up to 45 pixels).

Those functions call ImageMagick (through Wand) and OpenCV, which Debian's
python3 here lacks. The pieces they use are ported below to numpy, from the
libraries' own code, and the reference's functions are copied around them:

  * Wand's MagickMotionBlurImage = ImageMagick MagickCore/effect.c
    MotionBlurImage with GetMotionBlurKernel (read at ImageMagick commit
    00bb7ed2, the function unchanged in 7.x): width GetOptimalKernelWidth1D
    = 2·ceil(radius)+1, kernel exp(−i²/2σ²) normalised over i = 0…width−1,
    offsets ceil(i·cos(angle)/1 − 0.5) in x and ceil(i·sin(angle) − 0.5) in y
    (point = width·(sin, cos), divided by its hypot), virtual pixels outside
    the image = the edge pixel (ImageMagick's default EdgeVirtualPixelMethod),
    ClampToQuantum and the 8-bit PNG the reference reads back: the output
    rounded to 8 bits.
  * cv2.cvtColor(RGB2GRAY) on float32: 0.299 R + 0.587 G + 0.114 B.
  * cv2.getAffineTransform: the 3-point solve (M from pts1 → pts2);
    cv2.warpAffine(…, INTER_LINEAR, BORDER_REFLECT_101): the inverse map of
    M in double (invertAffineTransform), source coordinates in OpenCV's
    fixed point (AB_BITS 10, rounded to INTER_BITS 5: 1/32 pixel, as
    imgwarp.cpp's WarpAffineInvoker), bilinear weights of those 1/32 steps
    in float (a float32 image), neighbours outside the image reflected
    without repeating the edge (reflect-101).
  * skimage.filters.gaussian(…, mode='reflect', truncate=3) =
    scipy.ndimage.gaussian_filter with those arguments (what skimage calls);
    map_coordinates is scipy's, as in the reference.
  * cv2.imread + cv2.resize(fx=fy=0.2) (INTER_LINEAR, uint8): OpenCV's
    resize.cpp linear path: destination size round(0.2·side), source
    coordinate (d+0.5)·5−0.5 in float32, floor and fraction, clamped at the
    borders, weights in 11-bit fixed point (INTER_RESIZE_COEF_BITS), the
    two passes' product rounded by (v + 2^21) >> 22. The photographs are
    frost1.png … frost5.jpg of the reference repository, which Gauntlet does
    not ship: pass their folder as the first argument (the mirror's
    ImageNet-C/create_c); without it frost is skipped.

Shapes: the reference hard-codes 32×32 (reshape(32, 32, 1) in snow, the
frost crop); here, as in Gauntlet, they follow the image, so the 28×28 grey
inputs run. Grey inputs go through the RGB functions as three equal
channels and channel 0 is kept (as in reference.py), except frost, which
runs on the RGB inputs only: the reference has no grey frost, and channel 0
of c0·x + c1·frost is the photograph's red channel while Gauntlet converts
the layer to grey (docs/metrics/corruption.md).

Pixels: ref_motion_fixed_<rgb|gray>.npy holds the ported MotionBlurImage of
each input at the MOTION_FIXED (radius, sigma, angle) triples, 8-bit
([4·2, C, H, W], triple-major), for a pixel-for-pixel check of Gauntlet's
port at fixed angles.

Statistics as reference.py's: DRAWS corruptions of each input per severity
with numpy's legacy generator (np.random.seed(29)); stats_ported.json holds,
per family, kind and severity, the mean over draws of the output's pixel
mean and pixel standard deviation (in [0, 1]) and their per-draw spread,
here the standard deviation within each input, pooled over the inputs
(reference.py's stats.json pools the two inputs' values, so its spreads
also hold the difference between the inputs and its tolerances are wider).

  /usr/bin/python3 suites/corruption/testdata/reference_ported.py [FROST_DIR]
"""

import json
import os
import sys
from io import BytesIO

import numpy as np
from PIL import Image as PILImage
from scipy.ndimage import gaussian_filter, map_coordinates

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import clipped_zoom  # noqa: E402  (make_cifar_c.py's, copied there)

HERE = os.path.dirname(os.path.abspath(__file__))
DRAWS = 40


# ------------------------------------------------ ImageMagick MotionBlurImage

def motion_blur_image(img, radius, sigma, angle):
    """img: HW or HWC uint8; returns the same shape, uint8."""
    width = int(2 * np.ceil(radius) + 1)
    i = np.arange(width, dtype=np.float64)
    kernel = np.exp(-(i * i) / (2 * sigma * sigma)) / (np.sqrt(2 * np.pi) * sigma)
    kernel /= kernel.sum()
    px, py = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    hyp = np.hypot(px, py)
    ox = np.ceil(i * py / hyp - 0.5).astype(int)
    oy = np.ceil(i * px / hyp - 0.5).astype(int)
    a = img.astype(np.float64)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros_like(a)
    for k, dx, dy in zip(kernel, ox, oy):
        out += k * a[np.clip(yy + dy, 0, h - 1), np.clip(xx + dx, 0, w - 1)]
    # ClampToQuantum, then the 8-bit PNG: round to the nearest level.
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


# ------------------------------------------------------- OpenCV, ported

def cvt_rgb2gray(x):
    return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).astype(np.float32)


def get_affine_transform(src, dst):
    a = np.zeros((6, 6))
    b = np.zeros(6)
    for k in range(3):
        a[2 * k, 0:2], a[2 * k, 2] = src[k], 1
        a[2 * k + 1, 3:5], a[2 * k + 1, 5] = src[k], 1
        b[2 * k], b[2 * k + 1] = dst[k]
    return np.linalg.solve(a, b).reshape(2, 3)


def invert_affine(m):
    d = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    d = 1 / d if d != 0 else 0
    a11, a22 = m[1, 1] * d, m[0, 0] * d
    a12, a21 = -m[0, 1] * d, -m[1, 0] * d
    b1 = -a11 * m[0, 2] - a12 * m[1, 2]
    b2 = -a21 * m[0, 2] - a22 * m[1, 2]
    return np.array([[a11, a12, b1], [a21, a22, b2]])


def reflect101(i, n):
    if n == 1:
        return np.zeros_like(i)
    period = 2 * n - 2
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def warp_affine(img, m):
    """cv2.warpAffine(img, m, (w, h), flags=INTER_LINEAR, borderMode=REFLECT_101), float32 HWC."""
    AB_BITS, INTER_BITS = 10, 5
    AB_SCALE, TAB = 1 << AB_BITS, 1 << INTER_BITS
    r = invert_affine(m.astype(np.float64))
    h, w = img.shape[:2]
    round_delta = AB_SCALE // TAB // 2
    xs = np.arange(w)
    adelta = np.rint(r[0, 0] * xs * AB_SCALE).astype(np.int64)
    bdelta = np.rint(r[1, 0] * xs * AB_SCALE).astype(np.int64)
    out = np.empty_like(img)
    for y in range(h):
        x0 = np.int64(np.rint((r[0, 1] * y + r[0, 2]) * AB_SCALE)) + round_delta
        y0 = np.int64(np.rint((r[1, 1] * y + r[1, 2]) * AB_SCALE)) + round_delta
        X = (x0 + adelta) >> (AB_BITS - INTER_BITS)
        Y = (y0 + bdelta) >> (AB_BITS - INTER_BITS)
        ix, iy = X >> INTER_BITS, Y >> INTER_BITS
        fx = ((X & (TAB - 1)) / TAB).astype(np.float32)[:, None]
        fy = ((Y & (TAB - 1)) / TAB).astype(np.float32)[:, None]
        x1, x2 = reflect101(ix, w), reflect101(ix + 1, w)
        y1, y2 = reflect101(iy, h), reflect101(iy + 1, h)
        out[y] = ((1 - fy) * ((1 - fx) * img[y1, x1] + fx * img[y1, x2]) +
                  fy * ((1 - fx) * img[y2, x1] + fx * img[y2, x2]))
    return out


def resize_linear_u8(img, f):
    """cv2.resize(img, (0, 0), fx=f, fy=f) for a uint8 HWC image (INTER_LINEAR)."""
    COEF = 1 << 11
    h, w = img.shape[:2]
    dh, dw = int(round(h * f)), int(round(w * f))

    def taps(dn, sn, scale):
        d = np.arange(dn)
        fx = ((d + 0.5) * scale - 0.5).astype(np.float32)
        sx = np.floor(fx).astype(int)
        fx = fx - sx
        lo = sx < 0
        fx[lo], sx[lo] = 0, 0
        hi = sx >= sn - 1
        fx[hi], sx[hi] = 0, sn - 1
        a1 = np.rint(fx * COEF).astype(np.int64)
        a0 = np.rint((1 - fx) * COEF).astype(np.int64)
        return sx, np.minimum(sx + 1, sn - 1), a0, a1

    sx0, sx1, ax0, ax1 = taps(dw, w, 1 / f)
    sy0, sy1, ay0, ay1 = taps(dh, h, 1 / f)
    a = img.astype(np.int64)
    rows = a[:, sx0] * ax0[None, :, None] + a[:, sx1] * ax1[None, :, None]  # horizontal pass
    v = rows[sy0] * ay0[:, None, None] + rows[sy1] * ay1[:, None, None]
    return np.clip((v + (1 << 21)) >> 22, 0, 255).astype(np.uint8)


# ------------------------------------------------ make_cifar_c.py, ported

def motion_blur(x, severity=1):
    c = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    # x.save(PNG) → MotionImage → motion_blur → cv2.imdecode (RGB order kept)
    x = motion_blur_image(np.asarray(x), radius=c[0], sigma=c[1], angle=np.random.uniform(-45, 45))
    return np.clip(x, 0, 255)


def snow(x, severity=1):
    c = [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
         (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
         (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
         (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
         (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
    x = np.array(x, dtype=np.float32) / 255.
    snow_layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    snow_layer = clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    snow_layer = (np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8)  # PIL "L", PNG
    snow_layer = motion_blur_image(snow_layer, radius=c[4], sigma=c[5], angle=np.random.uniform(-135, -45)) / 255.
    snow_layer = snow_layer[..., np.newaxis]
    h, w = x.shape[:2]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, cvt_rgb2gray(x).reshape(h, w, 1) * 1.5 + 0.5)
    return np.clip(x + snow_layer + np.rot90(snow_layer, k=2), 0, 1) * 255


def elastic_transform(image, severity=1):
    IMSIZE = 32
    c = [(IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
         (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
         (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
         (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
         (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)][severity - 1]
    image = np.array(image, dtype=np.float32) / 255.
    shape = image.shape
    shape_size = shape[:2]
    # Gauntlet keeps the parameters as fractions of the image side
    # (docs/metrics/corruption.md); on 32-pixel images they are these.
    c = tuple(v * shape_size[0] / IMSIZE for v in c)
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + np.random.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    M = get_affine_transform(pts1.astype(np.float64), pts2.astype(np.float64))
    image = warp_affine(image, M)
    dx = (gaussian_filter(np.random.uniform(-1, 1, size=shape[:2]), c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian_filter(np.random.uniform(-1, 1, size=shape[:2]), c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(shape), 0, 1) * 255


FROST = []


def frost(x, severity=1):
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    idx = np.random.randint(5)
    fr = FROST[idx]  # cv2.imread (BGR) and cv2.resize(fx=fy=0.2), done once
    h, w = np.asarray(x).shape[:2]
    x_start, y_start = np.random.randint(0, fr.shape[0] - h), np.random.randint(0, fr.shape[1] - w)
    fr = fr[x_start:x_start + h, y_start:y_start + w][..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * fr, 0, 255)


def load_frost(folder):
    for name in ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]:
        rgb = np.asarray(PILImage.open(os.path.join(folder, name)).convert("RGB"))
        FROST.append(resize_linear_u8(rgb[..., ::-1].copy(), 0.2))  # BGR, as cv2.imread


def apply(fn, img, sev):
    """img: HWC uint8 (C 1 or 3); returns HWC float in [0, 255]."""
    gray = img.shape[2] == 1
    x = np.repeat(img, 3, axis=2) if gray else img
    out = np.asarray(fn(x, sev), dtype=np.float64)
    return out[..., :1] if gray else out


# Fixed (radius, sigma, angle) triples for the pixel-for-pixel motion-blur
# check: severities 1, 3 and 5's radius and sigma of make_cifar_c.py's
# motion_blur at angles inside its draw range, and snow's severity-5 blur at
# an angle of its range.
MOTION_FIXED = [(6, 1, -45), (6, 2, 17.5), (9, 2.5, 44), (14, 12, -100)]


def main():
    sets0 = {kind: np.load(os.path.join(HERE, f"inputs_{kind}.npy")).transpose(0, 2, 3, 1) for kind in ["rgb", "gray"]}
    for kind, imgs in sets0.items():
        outs = [motion_blur_image(im[..., 0] if kind == "gray" else im, *f) for f in MOTION_FIXED for im in imgs]
        arr = np.stack([o[..., None] if o.ndim == 2 else o for o in outs]).transpose(0, 3, 1, 2)
        np.save(os.path.join(HERE, f"ref_motion_fixed_{kind}.npy"), np.ascontiguousarray(arr))
    fams = {"motion_blur": motion_blur, "snow": snow, "elastic_transform": elastic_transform}
    if len(sys.argv) > 1:
        load_frost(sys.argv[1])
        fams["frost"] = frost
    sets = {kind: np.load(os.path.join(HERE, f"inputs_{kind}.npy")).transpose(0, 2, 3, 1) for kind in ["rgb", "gray"]}
    np.random.seed(29)
    stats = {"draws": DRAWS, "source": "make_cifar_c.py (github.com/hendrycks/robustness) with Wand and cv2 ported, this script",
             "families": {}}
    for name, fn in fams.items():
        fam = {}
        for kind, imgs in sets.items():
            if name == "frost" and kind == "gray":
                continue
            per = []
            for s in range(1, 6):
                means, stds = np.zeros((DRAWS, len(imgs))), np.zeros((DRAWS, len(imgs)))
                for d in range(DRAWS):
                    for i, im in enumerate(imgs):
                        o = apply(fn, im, s) / 255
                        means[d, i], stds[d, i] = o.mean(), o.std()
                # The spreads are within each input, pooled: both sides draw
                # as many corruptions of each input, so the difference of
                # the inputs is not part of the sampling error.
                per.append({"mean": float(means.mean()), "mean_sd": float(np.sqrt(means.var(axis=0).mean())),
                            "std": float(stds.mean()), "std_sd": float(np.sqrt(stds.var(axis=0).mean())),
                            "count": int(means.size)})
            fam[kind] = per
        stats["families"][name] = fam
        print(name, "done", flush=True)
    with open(os.path.join(HERE, "stats_ported.json"), "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

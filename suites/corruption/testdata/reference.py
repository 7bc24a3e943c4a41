#!/usr/bin/python3
"""Reference figures for the corruption suite's cross-check
(corruption_reference_test.go), from Hendrycks & Dietterich's own code:
github.com/hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py (the
CIFAR-10-C parameters, which Gauntlet uses for images up to 45 pixels).

Inputs (written here, deterministic): inputs_rgb.npy, 2 RGB 32×32 images,
and inputs_gray.npy, 2 grey 28×28 images, uint8 NCHW: smooth colour fields
with discs and bars (numpy default_rng(23)).

Deterministic families, pixel for pixel: ref_<family>_<rgb|gray>.npy holds
np.uint8(reference output) — how the published CIFAR-10-C arrays store it —
for severities 1…5 of each input ([5·2, C, H, W], severity-major). The
functions are make_cifar_c.py's, copied, with these stand-ins for the
libraries Debian's python3 here lacks:
  * defocus_blur: cv2.GaussianBlur and cv2.filter2D → scipy.ndimage.correlate
    (mode "mirror" = cv2's default BORDER_REFLECT_101) with the kernel
    cv2.getGaussianKernel computes for σ > 0;
  * brightness: skimage.color.rgb2hsv/hsv2rgb → their numpy code, copied
    from scikit-image 0.19 (below);
  * contrast, zoom_blur (scipy.ndimage.zoom), pixelate and jpeg_compression
    (PIL) run as they are.
Grey inputs go through the RGB functions as three equal channels (channel 0
is kept) except pixelate and jpeg_compression, which take a PIL "L" image
as the reference would for a grey data set.

Random families, statistics: for gaussian_noise, shot_noise, impulse_noise
(skimage's random_noise s&p, copied as numpy), glass_blur (skimage's
gaussian = scipy.ndimage.gaussian_filter, mode nearest, truncate 4) and fog
(plasma_fractal, copied), DRAWS corruptions of each input per severity with
numpy's legacy generator (np.random.seed(23)); stats.json holds, per family,
kind and severity, the mean over draws of the pixel mean and pixel standard
deviation of the output (in [0, 1]) and the standard deviation of those
per-draw values. motion_blur and snow (ImageMagick through Wand), elastic_
transform (cv2.warpAffine) and frost (photographs) are not run here:
reference_ported.py runs them, with those libraries' calls ported.

  /usr/bin/python3 suites/corruption/testdata/reference.py
"""

import json
import os
from io import BytesIO

import numpy as np
from PIL import Image as PILImage
from scipy.ndimage import correlate, gaussian_filter
from scipy.ndimage import zoom as scizoom

HERE = os.path.dirname(os.path.abspath(__file__))
DRAWS = 40


# ---------------------------------------------------------------- inputs

def make_inputs():
    rng = np.random.default_rng(23)

    def field(h, w, c):
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        img = np.zeros((h, w, c))
        for ch in range(c):
            a, b, d = rng.uniform(-1, 1, 3)
            img[..., ch] = 0.5 + 0.3 * np.sin(3 * a * xx + 2 * b * yy + d * 3)
        for _ in range(3):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, h / 3)
            col = rng.uniform(0, 1, c)
            img[(yy * max(h, w) - cy) ** 2 + (xx * max(h, w) - cx) ** 2 < r * r] = col
        y0 = int(rng.integers(0, h - 4))
        img[y0:y0 + 3, :] = rng.uniform(0, 1, c)
        return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)

    rgb = np.stack([field(32, 32, 3) for _ in range(2)])  # NHWC
    gray = np.stack([field(28, 28, 1) for _ in range(2)])
    return rgb, gray


# ------------------------------------------------- make_cifar_c.py, copied

def cv2_gaussian_kernel(ksize, sigma):
    x = np.arange(ksize) - (ksize - 1) / 2
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def disk(radius, alias_blur=0.1, dtype=np.float32):
    if radius <= 8:
        L = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        L = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    X, Y = np.meshgrid(L, L)
    aliased_disk = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    # cv2.GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)
    g = cv2_gaussian_kernel(ksize[0], alias_blur)
    return correlate(aliased_disk.astype(np.float64), np.outer(g, g), mode="mirror")


def clipped_zoom(img, zoom_factor):
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top:trim_top + h, trim_top:trim_top + h]


def plasma_fractal(mapsize=32, wibbledecay=3):
    assert (mapsize & (mapsize - 1) == 0)
    maparray = np.empty((mapsize, mapsize), dtype=np.float_)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * np.random.uniform(-wibble, wibble, array.shape)

    def fillsquares():
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)

    def filldiamonds():
        mapsize = maparray.shape[0]
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ldrsum = drgrid + np.roll(drgrid, 1, axis=0)
        lulsum = ulgrid + np.roll(ulgrid, -1, axis=1)
        ltsum = ldrsum + lulsum
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        tdrsum = drgrid + np.roll(drgrid, 1, axis=1)
        tulsum = ulgrid + np.roll(ulgrid, -1, axis=0)
        ttsum = tdrsum + tulsum
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay

    maparray -= maparray.min()
    return maparray / maparray.max()


# scikit-image 0.19 skimage/color/colorconv.py, copied
def rgb2hsv(rgb):
    out = np.empty_like(rgb)
    out_v = rgb.max(-1)
    delta = rgb.ptp(-1)
    old_settings = np.seterr(invalid='ignore', divide='ignore')
    out_s = delta / out_v
    out_s[delta == 0.] = 0.
    idx = (rgb[..., 0] == out_v)
    out[idx, 0] = (rgb[idx, 1] - rgb[idx, 2]) / delta[idx]
    idx = (rgb[..., 1] == out_v)
    out[idx, 0] = 2. + (rgb[idx, 2] - rgb[idx, 0]) / delta[idx]
    idx = (rgb[..., 2] == out_v)
    out[idx, 0] = 4. + (rgb[idx, 0] - rgb[idx, 1]) / delta[idx]
    out_h = (out[..., 0] / 6.) % 1.
    out_h[delta == 0.] = 0.
    np.seterr(**old_settings)
    out[..., 0] = out_h
    out[..., 1] = out_s
    out[..., 2] = out_v
    out[np.isnan(out)] = 0
    return out


def hsv2rgb(hsv):
    hi = np.floor(hsv[..., 0] * 6)
    f = hsv[..., 0] * 6 - hi
    p = hsv[..., 2] * (1 - hsv[..., 1])
    q = hsv[..., 2] * (1 - f * hsv[..., 1])
    t = hsv[..., 2] * (1 - (1 - f) * hsv[..., 1])
    v = hsv[..., 2]
    hi = np.stack([hi, hi, hi], axis=-1).astype(np.uint8) % 6
    out = np.choose(hi, np.stack([np.stack((v, t, p), axis=-1), np.stack((q, v, p), axis=-1),
                                  np.stack((p, v, t), axis=-1), np.stack((p, q, v), axis=-1),
                                  np.stack((t, p, v), axis=-1), np.stack((v, p, q), axis=-1)]))
    return out


def random_noise_sp(image, amount):
    # skimage.util.random_noise(image, mode='s&p', amount=amount), salt_vs_pepper 0.5
    out = image.copy()
    flipped = np.random.choice([True, False], size=image.shape, p=[amount, 1 - amount])
    salted = np.random.choice([True, False], size=image.shape, p=[0.5, 0.5])
    peppered = ~salted
    out[flipped & salted] = 1
    out[flipped & peppered] = 0
    return out


def sk_gaussian(x, sigma):
    # skimage.filters.gaussian(x, sigma, multichannel=True): scipy, mode nearest, truncate 4
    return gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


def gaussian_noise(x, severity=1):
    c = [0.04, 0.06, .08, .09, .10][severity - 1]
    x = np.array(x) / 255.
    return np.clip(x + np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, severity=1):
    c = [500, 250, 100, 75, 50][severity - 1]
    x = np.array(x) / 255.
    return np.clip(np.random.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x, severity=1):
    c = [.01, .02, .03, .05, .07][severity - 1]
    x = random_noise_sp(np.array(x) / 255., amount=c)
    return np.clip(x, 0, 1) * 255


def glass_blur(x, severity=1):
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    x = np.uint8(sk_gaussian(np.array(x) / 255., sigma=c[0]) * 255)
    for i in range(c[2]):
        for h in range(x.shape[0] - c[1], c[1], -1):
            for w in range(x.shape[1] - c[1], c[1], -1):
                dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return np.clip(sk_gaussian(x / 255., sigma=c[0]), 0, 1) * 255


def defocus_blur(x, severity=1):
    c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    x = np.array(x) / 255.
    kernel = disk(radius=c[0], alias_blur=c[1])
    channels = []
    for d in range(3):
        channels.append(correlate(x[:, :, d], kernel, mode="mirror"))  # cv2.filter2D(x[:, :, d], -1, kernel)
    channels = np.array(channels).transpose((1, 2, 0))
    return np.clip(channels, 0, 1) * 255


def zoom_blur(x, severity=1):
    c = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
         np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)][severity - 1]
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255


def fog(x, severity=1):
    c = [(.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    x = np.array(x) / 255.
    max_val = x.max()
    n = x.shape[0]
    x += c[0] * plasma_fractal(mapsize=32, wibbledecay=c[1])[:n, :n][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def contrast(x, severity=1):
    c = [.75, .5, .4, .3, 0.15][severity - 1]
    x = np.array(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def brightness(x, severity=1):
    c = [.05, .1, .15, .2, .3][severity - 1]
    x = np.array(x) / 255.
    x = rgb2hsv(x)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    x = hsv2rgb(x)
    return np.clip(x, 0, 1) * 255


def jpeg_compression(x, severity=1):
    c = [80, 65, 58, 50, 40][severity - 1]
    output = BytesIO()
    x.save(output, 'JPEG', quality=c)
    x = PILImage.open(output)
    return x


def pixelate(x, severity=1):
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    n = x.size[0]
    x = x.resize((int(n * c), int(n * c)), PILImage.BOX)
    x = x.resize((n, n), PILImage.BOX)
    return x


# ------------------------------------------------------------------- runs

PIL_FAMILIES = {"jpeg_compression": jpeg_compression, "pixelate": pixelate}
DETERMINISTIC = {"contrast": contrast, "brightness": brightness, "defocus_blur": defocus_blur,
                 "zoom_blur": zoom_blur, **PIL_FAMILIES}
RANDOM = {"gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
          "glass_blur": glass_blur, "fog": fog}


def apply(fn, name, img, sev):
    """img: HWC uint8 (C 1 or 3); returns HWC float in [0, 255]."""
    gray = img.shape[2] == 1
    if name in PIL_FAMILIES:
        pil = PILImage.fromarray(img[..., 0] if gray else img, mode="L" if gray else "RGB")
        out = np.asarray(fn(pil, sev), dtype=np.float64)
        return out[..., None] if gray else out
    x = np.repeat(img, 3, axis=2) if gray else img
    out = np.asarray(fn(x, sev), dtype=np.float64)
    return out[..., :1] if gray else out


def main():
    rgb, gray = make_inputs()
    sets = {"rgb": rgb, "gray": gray}
    for kind, imgs in sets.items():
        np.save(os.path.join(HERE, f"inputs_{kind}.npy"), np.ascontiguousarray(imgs.transpose(0, 3, 1, 2)))
        for name, fn in DETERMINISTIC.items():
            outs = [apply(fn, name, im, s) for s in range(1, 6) for im in imgs]
            arr = np.stack([np.uint8(o) for o in outs]).transpose(0, 3, 1, 2)
            np.save(os.path.join(HERE, f"ref_{name}_{kind}.npy"), np.ascontiguousarray(arr))
    np.random.seed(23)
    stats = {"draws": DRAWS, "source": "make_cifar_c.py (github.com/hendrycks/robustness), this script", "families": {}}
    for name, fn in RANDOM.items():
        fam = {}
        for kind, imgs in sets.items():
            per = []
            for s in range(1, 6):
                means, stds = [], []
                for _ in range(DRAWS):
                    for im in imgs:
                        o = apply(fn, name, im, s) / 255
                        means.append(o.mean())
                        stds.append(o.std())
                per.append({"mean": float(np.mean(means)), "mean_sd": float(np.std(means)),
                            "std": float(np.mean(stds)), "std_sd": float(np.std(stds)), "count": len(means)})
            fam[kind] = per
        stats["families"][name] = fam
        print(name, "done", flush=True)
    with open(os.path.join(HERE, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

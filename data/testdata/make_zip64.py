"""Writes zip64.npz, a seed of data's FuzzNPZ: an .npz whose members carry
ZIP64 extra fields (zipfile's force_zip64), as numpy writes archives over
4 GiB: x float32 [2, 3] (0..5) and y int64 [2] (0, 1).

Run from the repository root: /usr/bin/python3 data/testdata/make_zip64.py
"""
import io
import zipfile

import numpy as np


def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


with zipfile.ZipFile("data/testdata/zip64.npz", "w", zipfile.ZIP_STORED, allowZip64=True) as z:
    for name, a in [("x", np.arange(6, dtype=np.float32).reshape(2, 3)), ("y", np.array([0, 1], dtype=np.int64))]:
        info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
        with z.open(info, "w", force_zip64=True) as f:
            f.write(npy(a))

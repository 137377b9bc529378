"""Built-in data sources that need no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset
from .registry import source


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_idx, test_idx), stratified by class, reproducible for ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits images (N x 8 x 8, values 0..16) and labels.

    Read straight from the ``digits.csv.gz`` that scikit-learn ships, without importing
    scikit-learn (its import costs ~1.7 s, a large share of the app's first page); falls back
    to ``load_digits`` if the file has moved.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


def upscale(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``N x C x H x W`` images in [0, 1] to ``size x size`` (stays in [0, 1])."""
    import torch
    import torch.nn.functional as F

    t = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False)
    return t.clamp_(0.0, 1.0).numpy()


@source("digits")
def digits(test_fraction: float = 0.2, seed: int = 0, size: int = 8) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1 797 images, 10 classes), the default.

    ``size`` other than 8 resizes every image bilinearly to ``size x size`` (e.g. 28 for an
    MNIST-sized variant); labels and the split do not change.
    """
    if int(size) != size or size < 4:
        raise DataError(f"digits: size must be an integer >= 4, got {size}")
    images, y = _digits_arrays()
    x = (images / 16.0).astype(np.float32)[:, None, :, :]
    if int(size) != 8:
        x = upscale(x, int(size))
    tr, te = stratified_split(y, test_fraction, seed)
    return Dataset(
        name="digits",
        x_train=x[tr],
        y_train=y[tr],
        x_test=x[te],
        y_test=y[te],
        classes=[str(i) for i in range(10)],
        kind="image",
        meta={"source": "sklearn.datasets.load_digits", "seed": seed, "size": int(size)},
    )

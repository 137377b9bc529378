"""Synthetic built-in sources: 2-D toy sets and procedural shapes.

``moons`` and ``blobs`` are 2-D point sets for drawing a model's decision boundary; ``shapes``
is a procedural 10-class RGB image set that scales to CIFAR size (50 000 images in seconds).
"""

from __future__ import annotations

import numpy as np
import torch

from .dataset import DataError, Dataset
from .registry import source

# --------------------------------------------------------------------------- 2-D toy sets


def _check_counts(name: str, n_train: int, n_test: int, n_classes: int) -> None:
    if int(n_train) != n_train or int(n_test) != n_test:
        raise DataError(f"{name}: n_train and n_test must be whole numbers")
    if n_train < 2 * n_classes:
        raise DataError(
            f"{name}: n_train={n_train} is too small; need at least 2 per class "
            f"({2 * n_classes} for {n_classes} classes)"
        )
    if n_test < 0:
        raise DataError(f"{name}: n_test must be >= 0, got {n_test}")


def _standardised_points(
    name: str, x: np.ndarray, y: np.ndarray, n_train: int, classes: list[str], meta: dict
) -> Dataset:
    """Split the first ``n_train`` rows off as train; standardise with train statistics."""
    x = x.astype(np.float32)
    mean = x[:n_train].mean(0)
    std = x[:n_train].std(0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    x = (x - mean) / std
    return Dataset(
        name=name,
        x_train=x[:n_train],
        y_train=y[:n_train].astype(np.int64),
        x_test=x[n_train:],
        y_test=y[n_train:].astype(np.int64),
        classes=classes,
        kind="points2d",
        meta={**meta, "mean": mean.tolist(), "std": std.tolist()},
    )


@source("moons")
def moons(n_train: int = 600, n_test: int = 200, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Two interleaving half-moons (``sklearn.datasets.make_moons``), standardised 2-D points."""
    from sklearn.datasets import make_moons

    _check_counts("moons", n_train, n_test, 2)
    if noise < 0:
        raise DataError(f"moons: noise must be >= 0, got {noise}")
    x, y = make_moons(n_samples=n_train + n_test, noise=noise, shuffle=True, random_state=seed)
    meta = {"source": "sklearn.datasets.make_moons", "noise": noise, "seed": seed}
    return _standardised_points("moons", x, y, n_train, ["moon A", "moon B"], meta)


@source("blobs")
def blobs(
    n_train: int = 600, n_test: int = 200, centers: int = 4, std: float = 1.0, seed: int = 0
) -> Dataset:
    """Isotropic Gaussian blobs (``sklearn.datasets.make_blobs``), standardised 2-D points."""
    from sklearn.datasets import make_blobs

    if int(centers) != centers or centers < 2:
        raise DataError(f"blobs: centers must be an integer >= 2, got {centers}")
    _check_counts("blobs", n_train, n_test, centers)
    if std <= 0:
        raise DataError(f"blobs: std must be > 0, got {std}")
    x, y = make_blobs(
        n_samples=n_train + n_test,
        n_features=2,
        centers=int(centers),
        cluster_std=std,
        shuffle=True,
        random_state=seed,
    )
    meta = {"source": "sklearn.datasets.make_blobs", "centers": centers, "std": std, "seed": seed}
    classes = [f"blob {i}" for i in range(int(centers))]
    return _standardised_points("blobs", x, y, n_train, classes, meta)


# --------------------------------------------------------------------------- procedural shapes

SHAPE_CLASSES = [
    "circle",
    "square",
    "triangle",
    "plus",
    "ring",
    "horizontal bar",
    "vertical bar",
    "diamond",
    "cross",
    "frame",
]

_CHUNK = 4096  # images rendered at once (bounds the temporary memory)


def _box(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels) to an axis-aligned box of half-sides ``a``, ``b``."""
    return np.maximum(np.abs(px) - a, np.abs(py) - b)


def _sdf(c: int, px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of class ``c`` in local coordinates, radius ``r``."""
    if c == 0:  # circle
        return np.sqrt(px * px + py * py) - r
    if c == 1:  # square
        return _box(px, py, 0.8 * r, 0.8 * r)
    if c == 2:  # equilateral triangle, apex up, circumradius r (inradius r / 2)
        d = np.maximum(py, 0.8660254 * px - 0.5 * py)
        return np.maximum(d, -0.8660254 * px - 0.5 * py) - 0.5 * r
    if c in (3, 8):  # plus, and the same rotated by 45 degrees (cross)
        if c == 8:
            px, py = 0.70710678 * (px - py), 0.70710678 * (px + py)
        t = 0.26 * r
        return np.minimum(_box(px, py, r, t), _box(px, py, t, r))
    if c == 4:  # ring
        return np.abs(np.sqrt(px * px + py * py) - 0.75 * r) - 0.2 * r
    if c == 5:  # horizontal bar
        return _box(px, py, r, 0.3 * r)
    if c == 6:  # vertical bar
        return _box(px, py, 0.3 * r, r)
    if c == 7:  # diamond (L1 ball), distance to its edges
        return (np.abs(px) + np.abs(py) - r) * 0.70710678
    if c == 9:  # frame: hollow square
        return np.abs(_box(px, py, 0.8 * r, 0.8 * r)) - 0.18 * r
    raise ValueError(c)


def _render_shapes(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` class-balanced shape images (``n x 3 x size x size`` float32 in [0, 1])."""
    k = len(SHAPE_CLASSES)
    y = rng.permutation(np.arange(n) % k).astype(np.int64)
    f32 = np.float32
    # per-image parameters, drawn at once
    r = (rng.uniform(0.22, 0.38, n) * size).astype(f32)
    cx = rng.uniform(0.0, 1.0, n).astype(f32) * (size - 2 * r) + r
    cy = rng.uniform(0.0, 1.0, n).astype(f32) * (size - 2 * r) + r
    theta = np.deg2rad(rng.uniform(-15.0, 15.0, n)).astype(f32)
    # random hues; the shape is lighter than the background in every channel (like MNIST's
    # light-on-dark), which lets a small CNN learn in a few epochs despite random colours
    bg = rng.uniform(0.0, 0.4, (n, 3)).astype(f32)
    fg = rng.uniform(0.6, 1.0, (n, 3)).astype(f32)
    grad = rng.uniform(-0.15, 0.15, (n, 2)).astype(f32) / size  # background tint gradient
    sigma = rng.uniform(0.01, 0.08, n).astype(f32)  # pixel noise

    g = np.arange(size, dtype=f32) + 0.5  # pixel centres
    u = g - f32(size / 2)  # image-centred, for the background gradient
    x = np.empty((n, 3, size, size), dtype=f32)
    x_t = torch.from_numpy(x)  # shares x's memory
    buf = np.empty((min(n, _CHUNK), 3, size, size), dtype=f32)  # reused: fewer page faults
    tmp = np.empty_like(buf)
    for c in range(k):
        idx_c = np.flatnonzero(y == c)
        for start in range(0, len(idx_c), _CHUNK):
            idx = idx_c[start : start + _CHUNK]
            m = len(idx)
            dx = g[None, None, :] - cx[idx, None, None]  # m x 1 x W
            dy = g[None, :, None] - cy[idx, None, None]  # m x H x 1
            cos = np.cos(theta[idx])[:, None, None]
            sin = np.sin(theta[idx])[:, None, None]
            d = _sdf(c, cos * dx + sin * dy, cos * dy - sin * dx, r[idx, None, None])
            alpha = np.clip(0.5 - d, 0.0, 1.0)[:, None]  # anti-aliased coverage, m x 1 x H x W
            tint = grad[idx, 0, None, None] * u[None, None, :]
            tint = tint + grad[idx, 1, None, None] * u[None, :, None]  # m x H x W
            img, back = buf[:m], tmp[:m]
            np.add(bg[idx, :, None, None], tint[:, None], out=back)
            # img = noise * sigma + back + alpha * (fg - back)
            rng.standard_normal(out=img, dtype=f32)
            img *= sigma[idx, None, None, None]
            img += back
            np.subtract(fg[idx, :, None, None], back, out=back)
            back *= alpha
            img += back
            np.clip(img, 0.0, 1.0, out=img)
            # torch's index_copy_ into x's memory, not numpy's slower fancy-index assignment
            # (same values; rendering 50 000 images took 4.5 s of CPU instead of 5.5 s)
            x_t.index_copy_(0, torch.from_numpy(idx), torch.from_numpy(img[:m]))
    return x, y


@source("shapes")
def shapes(n_train: int = 5000, n_test: int = 1000, size: int = 32, seed: int = 0) -> Dataset:
    """Procedural RGB shapes: 10 classes, random colour, position, scale, tilt, tint and noise.

    A light shape (random colour, each channel in [0.6, 1]) on a darker background (each
    channel in [0, 0.4], plus a random linear tint and Gaussian pixel noise).

    Each image is ``3 x size x size`` in [0, 1]; classes are balanced (within one image).
    Shapes are tilted by at most 15 degrees, so plus/cross and square/diamond stay distinct.
    The test set depends only on ``seed``, ``n_test`` and ``size`` (not on ``n_train``).
    """
    k = len(SHAPE_CLASSES)
    if int(size) != size or size < 8:
        raise DataError(f"shapes: size must be an integer >= 8, got {size}")
    if int(n_train) != n_train or n_train < 10 * k:
        raise DataError(
            f"shapes: n_train={n_train} is too small; need at least 10 images per class "
            f"({10 * k} for {k} classes)"
        )
    if int(n_test) != n_test or n_test < 0:
        raise DataError(f"shapes: n_test must be an integer >= 0, got {n_test}")
    size, n_train, n_test = int(size), int(n_train), int(n_test)
    x_tr, y_tr = _render_shapes(n_train, size, np.random.default_rng([seed, 0]))
    x_te, y_te = _render_shapes(n_test, size, np.random.default_rng([seed, 1]))
    return Dataset(
        name="shapes",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        classes=list(SHAPE_CLASSES),
        kind="image",
        meta={"source": "procedural", "size": size, "seed": seed},
    )

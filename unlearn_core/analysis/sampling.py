"""Which samples to draw when a dataset is too large to draw whole (a scatter of 50 000)."""

from __future__ import annotations

import numpy as np

#: the most points a selectable scatter draws (plotly stays responsive to a lasso)
SCATTER_MAX = 5000


def draw_sample(labels: np.ndarray, max_points: int = SCATTER_MAX, seed: int = 0) -> np.ndarray:
    """Sorted sample ids to draw: all of them when there are at most ``max_points``, else a
    seeded draw stratified by class (each class keeps its share, at least one sample)."""
    labels = np.asarray(labels)
    n = len(labels)
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * max_points / n).astype(int))
    short = max_points - int(quota.sum())  # hand the rounding's remainder to the largest
    for c in np.argsort(-counts)[: max(short, 0)]:
        quota[c] += 1
    picked = [
        rng.choice(np.flatnonzero(labels == c), min(q, k), replace=False)
        for c, q, k in zip(classes, quota, counts, strict=True)
    ]
    return np.sort(np.concatenate(picked))[:max_points] if picked else np.arange(0)


def training_scatter(
    data, model, max_points: int = SCATTER_MAX
) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """What the Forget set page draws: the training sample ids (all, or a class-stratified
    draw of ``max_points``), their 2-D coordinates and the axes' titles. 2-D point data are
    drawn as they are; anything else as the first two principal components of the model's
    penultimate features."""
    from ..training import predict_features
    from .embeddings import pca_frame

    ids = draw_sample(data.y_train.numpy(), max_points)
    if data.kind == "points2d":
        return ids, data.x_train.numpy()[ids, :2], ("x₁", "x₂")
    feats = predict_features(model, data.x_train[ids]).numpy()
    return ids, pca_frame([feats])[0], ("PC 1 of the model's features", "PC 2")

"""A model's predicted class over the plane, for models of 2-D points (``moons``, ``blobs``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def decision_grid(
    model: nn.Module,
    points: torch.Tensor | np.ndarray,
    *,
    resolution: int = 120,
    margin: float = 0.5,
) -> dict[str, np.ndarray]:
    """Predicted class and confidence of ``model`` on a regular grid around ``points``.

    The grid spans the bounding box of ``points`` (N x 2) widened by ``margin`` on each side,
    with ``resolution`` values per axis. Returns ``xs`` (W,) and ``ys`` (H,) float32 axes,
    ``pred`` (H x W int64 class; row ``i`` is ``ys[i]``, column ``j`` is ``xs[j]``, as a
    heatmap draws it) and ``confidence`` (H x W float32, the top softmax probability).
    Evaluated with ``training.predict_logits`` (eval mode, training flag restored). A model
    whose inputs are not 2-D points raises ``ValueError``.
    """
    from ..training import predict_logits

    shape = getattr(model, "spec", {}).get("input_shape")
    if shape is not None and tuple(shape) != (2,):
        raise ValueError(
            "a decision boundary can be drawn only for a model of 2-D points; this model "
            f"takes inputs of shape {tuple(shape)}"
        )
    pts = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else points
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be N x 2, got shape {pts.shape}")
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError("points must be a non-empty set of finite 2-D points")
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    lo = pts.min(0) - margin
    hi = pts.max(0) + margin
    hi = np.where(hi > lo, hi, lo + 1.0)  # a single point and no margin: a unit box
    xs = np.linspace(lo[0], hi[0], int(resolution), dtype=np.float32)
    ys = np.linspace(lo[1], hi[1], int(resolution), dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # H x W each
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    try:
        logits = predict_logits(model, grid)
    except RuntimeError as e:
        if shape is not None:
            raise
        raise ValueError(f"the model does not accept 2-D points: {e}") from e
    if logits.ndim != 2:
        raise ValueError(f"the model returns outputs of shape {tuple(logits.shape)}, not logits")
    probs = torch.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    h, w = len(ys), len(xs)
    return {
        "xs": xs,
        "ys": ys,
        "pred": pred.reshape(h, w).numpy().astype(np.int64),
        "confidence": conf.reshape(h, w).numpy().astype(np.float32),
    }

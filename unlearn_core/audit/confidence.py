"""The NeurIPS-23 challenge's per-sample statistic: the logit-scaled confidence of the true class.

Shared by the epsilon score (``forget_quality``) and U-LiRA (``ulira``).
"""

from __future__ import annotations

import math

import numpy as np

#: |log(1e-45)|: the reference's confidences cannot exceed this (float32 underflow + 1e-45)
CONF_LIMIT = -math.log(1e-45)


def _logsumexp(z: np.ndarray, axis: int = 1) -> np.ndarray:
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def logit_scaled_confidence(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``log p_y - log(1 - p_y)`` per row, computed as ``z_y - logsumexp(z without y)``
    (no under/overflow), clipped to the reference's ``+-103.6``. ``logits``: [n, C]."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"logits must be [n, classes] with one target each, got {z.shape}")
    if z.shape[1] < 2:
        raise ValueError("logit-scaled confidence needs at least 2 classes")
    rows = np.arange(len(y))
    zy = z[rows, y]
    others = z.copy()
    others[rows, y] = -np.inf
    return np.clip(zy - _logsumexp(others), -CONF_LIMIT, CONF_LIMIT)

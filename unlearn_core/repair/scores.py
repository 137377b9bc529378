"""Scores that say whether the damage is undone (pure functions; percent unless said).

Row keys a repair comparison adds (:data:`REPAIR_KEYS`):

- ``asr``: attack success rate, the share of triggered test samples of the other classes that
  the model puts in the backdoor's target class (BadNets' measure). For the ``feature``
  scenario the same number reads as *reliance*: the share of stamped test samples of the other
  classes put in the class that carried the feature.
- ``trigger_acc``: accuracy (true labels) on those triggered test samples: the accuracy when
  the patch / feature is perturbed in.
- ``true_label_acc``: accuracy on the corrupted *training* samples (as stored: flipped or
  patched inputs) against their true labels.
- ``restoration``: Warnecke et al.'s share of the damage restored, ``(after - before) /
  (clean - before)`` on the clean *test* accuracy: ``before`` the original (trained on the
  corrupted set), ``clean`` the model trained on the clean set. This is the quantity the
  authors' code reports (``Applications/Poisoning/unlearn/common.py``,
  ``evaluate_model_diff``: held-out accuracy before and after the fix against a clean
  reference accuracy). 1: as good as the clean model, 0: no better than the original, < 0:
  worse. Undefined (None) when the clean model is no better than the original.
- ``restoration_tla``: the same ratio on ``true_label_acc`` (ours; where the test accuracy
  barely moves, as for label noise on one class, this one shows the repair).
- ``test_loss`` / ``restoration_loss`` (only when asked, ``RepairScorer(loss_restoration=True)``):
  the mean cross-entropy (nats) on the clean test set, and the restoration ratio on it with the
  losses negated (lower is better): ``(before - after) / (before - clean)``. Ours: a continuous
  companion of ``restoration``, which moves in steps of whole test images; it does not replace
  it.
- ``patch_attr``: the share of absolute saliency on the patch's pixels for triggered test
  samples (only when asked: it calls captum).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..evaluation.tables import REPAIR_ROW_KEYS

#: the numbers a repair scenario adds to a result row, in table order
REPAIR_KEYS = REPAIR_ROW_KEYS


def _pred(logits: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(logits).argmax(1)


def asr(logits: torch.Tensor, target: int) -> float:
    """% of the (triggered, other-class) samples whose prediction is ``target``; NaN if none."""
    if len(logits) == 0:
        return math.nan
    return 100.0 * float((_pred(logits) == int(target)).float().mean())


def true_label_acc(logits: torch.Tensor, y_true: torch.Tensor) -> float:
    """% of the corrupted samples predicted as their true label; NaN if none."""
    if len(logits) == 0:
        return math.nan
    return 100.0 * float((_pred(logits) == torch.as_tensor(y_true)).float().mean())


def mean_loss(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy (nats) of ``logits`` against ``y``; NaN if empty."""
    if len(logits) == 0:
        return math.nan
    return float(torch.nn.functional.cross_entropy(torch.as_tensor(logits).float(), y.long()))


def restoration(after: float | None, before: float | None, clean: float | None) -> float | None:
    """``(after - before) / (clean - before)`` (Warnecke et al.); None when a value is missing
    or the clean model is not better than the original (nothing to restore)."""
    vals = [after, before, clean]
    if any(v is None or not math.isfinite(float(v)) for v in vals):
        return None
    gap = float(clean) - float(before)
    if gap <= 0:
        return None
    return (float(after) - float(before)) / gap


def patch_share(attr: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor) -> float:
    """% of the absolute attribution mass that lies on ``mask`` (one sample's shape, broadcast
    over a batch ``attr``), averaged over the samples."""
    a = np.abs(np.asarray(attr, dtype=np.float64))
    m = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape[-np.asarray(mask).ndim :])
    a = a.reshape(-1, *m.shape) if a.ndim > m.ndim else a[None]
    total = a.reshape(len(a), -1).sum(1)
    on = (a * m).reshape(len(a), -1).sum(1)
    ok = total > 0
    return 100.0 * float(np.mean(on[ok] / total[ok])) if ok.any() else math.nan

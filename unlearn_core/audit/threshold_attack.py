"""The Attack page's threshold attack as numbers: one per-sample score (confidence, entropy or
loss) and the rule "member if the score is at or above (or below) a threshold", fitted to tell
retain samples (members) from test samples (non-members), then read on the forget set.

:func:`threshold_attack` gives the ROC curve, its AUC, the observed score range and the
threshold that best separates the two (largest TPR − FPR); :func:`attack_at` the rates of one
threshold, on the forget set too, and on retrain's forget set when given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..evaluation import metrics as M

#: the score sets a threshold attack reads, by name
SETS = ("forget", "retain", "test")


@dataclass(frozen=True)
class ThresholdAttack:
    """A threshold attack of one score on one model (members: retain; non-members: test)."""

    higher_is_member: bool
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    #: area under the ROC curve (nan when a set is empty)
    auc: float
    #: the smallest and largest score observed over forget, retain and test
    lo: float
    hi: float
    #: the threshold with the largest TPR − FPR, within [lo, hi]
    best: float


@dataclass(frozen=True)
class AttackRates:
    """One threshold's rates (fractions): retain called member (TPR), test called member
    (FPR), forget called member, and retrain's forget called member (None without retrain)."""

    tpr: float
    fpr: float
    forget_member: float
    reference_forget_member: float | None = None

    @property
    def advantage(self) -> float:
        """TPR − FPR: 0 is a coin toss."""
        return self.tpr - self.fpr


def attack_scores(logits: Mapping, labels: Mapping, score: str) -> dict[str, np.ndarray]:
    """``score`` (``"confidence"``, ``"entropy"`` or ``"loss"``) per sample of each set."""
    return {k: M.attack_scores(logits[k], labels[k])[score] for k in SETS}


def threshold_attack(
    scores: Mapping[str, np.ndarray], *, higher_is_member: bool
) -> ThresholdAttack:
    """The attack's ROC over retain (members) against test (non-members), and where to start."""
    seen = [np.asarray(v, dtype=float) for v in scores.values() if len(v)]
    lo = float(min(v.min() for v in seen)) if seen else 0.0
    hi = float(max(v.max() for v in seen)) if seen else 1.0
    if hi <= lo:
        hi = lo + 1e-6
    fpr, tpr, thr = M.roc_curve_points(
        scores["retain"], scores["test"], higher_is_member=higher_is_member
    )
    auc = float(np.trapezoid(tpr, fpr)) if len(fpr) else float("nan")
    finite = np.isfinite(thr)
    best = float(thr[finite][np.argmax((tpr - fpr)[finite])]) if finite.any() else (lo + hi) / 2
    return ThresholdAttack(
        higher_is_member=higher_is_member,
        fpr=fpr,
        tpr=tpr,
        thresholds=thr,
        auc=auc,
        lo=lo,
        hi=hi,
        best=float(np.clip(best, lo, hi)),
    )


def attack_at(
    scores: Mapping[str, np.ndarray],
    threshold: float,
    *,
    higher_is_member: bool,
    reference: Mapping[str, np.ndarray] | None = None,
) -> AttackRates:
    """The rates of "member if score >= threshold" (``<=`` when lower means member)."""
    kw = {"higher_is_member": higher_is_member}
    tpr, fpr = M.threshold_rates(scores["retain"], scores["test"], threshold, **kw)
    forget, _ = M.threshold_rates(scores["forget"], scores["test"], threshold, **kw)
    ref = None
    if reference is not None:
        ref, _ = M.threshold_rates(reference["forget"], reference["test"], threshold, **kw)
    return AttackRates(tpr=tpr, fpr=fpr, forget_member=forget, reference_forget_member=ref)

"""Unlearning metrics: pure functions over logits, labels and per-sample scores.

Nothing here runs a model: compute logits with :func:`unlearn_core.training.predict_logits`
and pass them in. Inputs may be torch tensors or numpy arrays; outputs are numpy arrays or
Python floats. Accuracies and attack rates follow the OPTML convention (percent, 0-100).
Empty inputs give ``nan`` rather than an exception; mismatched shapes raise ``ValueError``.

Reading the numbers (the target is always the retrained model's value, not an extreme):

- UA = 100 - forget accuracy, RA = retain accuracy, TA = test accuracy.
- :func:`mia_efficacy`: share of the forget set an SVC calls "non-member" (OPTML ``SVC_MIA``),
  averaged over ``draws`` seeded draws of the members (one draw moves it a lot on small data).
- :func:`loss_attack_accuracy`: NeurIPS-23 starting-kit ``simple_mia``; 50 = indistinguishable.
- :func:`loss_attack_auc`: ROC AUC of "lower loss = member"; 0.5 = indistinguishable. Compare
  the forget set with held-out samples of the same classes (:func:`matched_heldout`), or the
  attack only measures that a class is gone.
- :func:`is_damaged`: retain accuracy more than :data:`DAMAGE_POINTS` below retrain's.
- The Unlearning Comparator's worst-case privacy score is
  :func:`unlearn_core.audit.forget_quality.worst_case_privacy` (the authors' computation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "accuracy",
    "attack_scores",
    "avg_gap",
    "confusion_matrix",
    "entropy",
    "js_divergence",
    "kl_divergence",
    "logit_confidence",
    "loss_attack_accuracy",
    "loss_attack_auc",
    "DAMAGE_POINTS",
    "is_damaged",
    "matched_heldout",
    "mia_efficacy",
    "mia_efficacy_draws",
    "per_class_accuracy",
    "per_sample_loss",
    "predictions",
    "roc_curve_points",
    "softmax",
    "threshold_rates",
    "time_ratio",
    "true_label_confidence",
]

NAN = float("nan")
#: a result whose retain accuracy is more than this many points below retrain's damaged the model
DAMAGE_POINTS = 10.0


# ----------------------------------------------------------------------------- conversion


def _np(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """A tensor / array / sequence as a numpy array of ``dtype`` (no copy when possible)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        if a.dtype in (torch.bfloat16, torch.float16):
            a = a.float()
        a = a.numpy()
    return np.asarray(a, dtype=dtype)


def _logits(logits: Any, name: str = "logits") -> np.ndarray:
    z = _np(logits)
    if z.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x classes), got shape {z.shape}")
    if z.shape[1] == 0:
        raise ValueError(f"{name} has no class columns")
    return z


def _labels(y: Any, n: int, num_classes: int | None = None) -> np.ndarray:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{n} logit rows but {len(arr)} labels")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("labels must be integers")
    elif len(arr) and arr.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if len(arr) and arr.min() < 0:
        raise ValueError("labels must be non-negative")
    if num_classes is not None and len(arr) and arr.max() >= num_classes:
        raise ValueError(f"label {int(arr.max())} out of range for {num_classes} classes")
    return arr


def _scores(s: Any, name: str) -> np.ndarray:
    arr = _np(s)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per sample), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains nan or inf")
    return arr


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = np.max(z, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    shifted = z - m
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


# ----------------------------------------------------------------------------- per-sample outputs


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax (max-shifted, so large logits do not overflow)."""
    return np.exp(_log_softmax(_logits(logits)))


def predictions(logits: Any) -> np.ndarray:
    """Predicted class per sample (argmax of the logits; ties to the lowest index)."""
    return np.argmax(_logits(logits), axis=1).astype(np.int64)


def true_label_confidence(logits: Any, y: Any) -> np.ndarray:
    """Softmax probability of the true label, per sample (OPTML's MIA feature)."""
    z = _logits(logits)
    lab = _labels(y, len(z), z.shape[1])
    return np.exp(_log_softmax(z)[np.arange(len(z)), lab])


def per_sample_loss(logits: Any, y: Any) -> np.ndarray:
    """Cross-entropy ``-log p(y | x)`` per sample (nats), from log-softmax for stability."""
    z = _logits(logits)
    lab = _labels(y, len(z), z.shape[1])
    return -_log_softmax(z)[np.arange(len(z)), lab]


def entropy(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Predictive entropy ``-sum p log p`` (nats) of ``softmax(logits / temperature)``."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logp = _log_softmax(_logits(logits) / temperature)
    p = np.exp(logp)
    return -np.sum(np.where(p > 0, p * logp, 0.0), axis=1)


def logit_confidence(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Logit-scaled top confidence ``log p_max - log(1 - p_max)`` of ``softmax(logits / T)``.

    Computed as ``log p_max - logsumexp(log p_others)`` so a saturated softmax (p_max == 1 in
    floating point) still gives a finite, ordered value. A single-class output gives +inf.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logp = _log_softmax(_logits(logits) / temperature)
    if logp.shape[1] == 1:
        return np.full(len(logp), np.inf)
    top = np.argmax(logp, axis=1)
    rows = np.arange(len(logp))
    top_logp = logp[rows, top]
    others = logp.copy()
    others[rows, top] = -np.inf
    m = np.max(others, axis=1)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        log_rest = m_safe + np.log(np.sum(np.exp(others - m_safe[:, None]), axis=1))
    return top_logp - log_rest


def attack_scores(logits: Any, y: Any) -> dict[str, np.ndarray]:
    """The three usual per-sample attack features: true-label confidence, entropy, loss."""
    return {
        "confidence": true_label_confidence(logits, y),
        "entropy": entropy(logits),
        "loss": per_sample_loss(logits, y),
    }


# ----------------------------------------------------------------------------- accuracy


def accuracy(logits: Any, y: Any) -> float:
    """Top-1 accuracy in percent; ``nan`` for an empty set."""
    z = _logits(logits)
    lab = _labels(y, len(z))
    if len(z) == 0:
        return NAN
    return float(100.0 * np.mean(np.argmax(z, axis=1) == lab))


def confusion_matrix(logits: Any, y: Any, num_classes: int) -> np.ndarray:
    """``num_classes x num_classes`` counts; row = true class, column = predicted class."""
    z = _logits(logits)
    lab = _labels(y, len(z), num_classes)
    pred = np.argmax(z, axis=1)
    if len(pred) and pred.max() >= num_classes:
        raise ValueError(f"logits have {z.shape[1]} columns but num_classes={num_classes}")
    counts = np.bincount(lab * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_accuracy(logits: Any, y: Any, num_classes: int) -> np.ndarray:
    """Accuracy (percent) per true class; ``nan`` for a class with no samples."""
    cm = confusion_matrix(logits, y, num_classes)
    support = cm.sum(axis=1)
    out = np.full(num_classes, np.nan)
    has = support > 0
    out[has] = 100.0 * np.diag(cm)[has] / support[has]
    return out


# ----------------------------------------------------------------------------- membership inference


def mia_efficacy(
    conf_retain: Any,
    conf_test: Any,
    conf_forget: Any,
    *,
    seed: int = 0,
    draws: int = 1,
    max_samples: int | None = None,
) -> float:
    """MIA-efficacy (OPTML ``SVC_MIA``, percent of the forget set predicted non-member).

    An ``SVC(C=3, gamma="auto", kernel="rbf")`` is fit on one unscaled feature per sample, the
    true-label confidence: members = ``min(|retain|, |test|)`` retain samples, non-members =
    the test set. It is then applied to the forget set. Deviation from OPTML: OPTML takes the
    *first* ``|test|`` retain samples; we take a random subset drawn with ``seed`` so the result
    does not depend on how the retain set happens to be ordered. ``max_samples`` (default: no
    cap) optionally subsamples each side to bound the SVC's cost on large sets.

    ``draws`` > 1 returns the mean of :func:`mia_efficacy_draws` (draw ``i`` uses seed
    ``seed + i``); ``draws=1`` is that first draw alone.

    Returns ``nan`` when the retain, test or forget set is empty (no attack can be trained or
    applied). If every training confidence is identical, the SVC cannot separate the classes and
    predicts one class everywhere; that prediction is reported as is.
    """
    values = mia_efficacy_draws(
        conf_retain, conf_test, conf_forget, seed=seed, draws=draws, max_samples=max_samples
    )
    return float(np.mean(values)) if len(values) else NAN


def mia_efficacy_draws(
    conf_retain: Any,
    conf_test: Any,
    conf_forget: Any,
    *,
    seed: int = 0,
    draws: int = 5,
    max_samples: int | None = None,
) -> np.ndarray:
    """MIA-efficacy of ``draws`` independent member draws (draw ``i`` seeded ``seed + i``).

    Each draw subsamples the members (and, with ``max_samples``, the non-members) afresh and
    fits its own SVC; see :func:`mia_efficacy`. Empty array when any set is empty.
    """
    if draws < 1:
        raise ValueError("draws must be >= 1")
    retain = _scores(conf_retain, "conf_retain")
    test = _scores(conf_test, "conf_test")
    forget = _scores(conf_forget, "conf_forget")
    if len(retain) == 0 or len(test) == 0 or len(forget) == 0:
        return np.empty(0)
    if max_samples is not None and max_samples < 1:
        raise ValueError("max_samples must be >= 1")
    return np.array([_mia_once(retain, test, forget, seed + i, max_samples) for i in range(draws)])


def _mia_once(
    retain: np.ndarray,
    test: np.ndarray,
    forget: np.ndarray,
    seed: int,
    max_samples: int | None,
) -> float:
    from sklearn.svm import SVC

    rng = np.random.default_rng(seed)
    n_members = min(len(retain), len(test))
    if max_samples is not None:
        n_members = min(n_members, max_samples)
        if len(test) > max_samples:
            test = test[rng.choice(len(test), max_samples, replace=False)]
    members = retain[rng.choice(len(retain), n_members, replace=False)]
    x = np.concatenate([members, test])[:, None]
    t = np.concatenate([np.ones(len(members)), np.zeros(len(test))])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, t)
    predicted_member = clf.predict(forget[:, None])
    return float(100.0 * np.mean(predicted_member == 0))


def matched_heldout(y_forget: Any, y_heldout: Any, *, seed: int = 0) -> np.ndarray:
    """Indices into ``y_heldout`` of a draw with the forget set's class mix, as large as fits.

    With ``f_c`` forget and ``t_c`` held-out samples of class ``c``, ``r = min_c t_c / f_c``
    over the forget set's classes, and ``round(r * f_c)`` held-out samples of each class are
    drawn without replacement (seeded). So a forget set of one class gets every held-out
    sample of that class, and a uniform random forget set gets (nearly) the whole held-out set.
    Forget classes with no held-out sample are left out of the match. Sorted indices; empty
    when nothing can be matched.
    """
    yf = _labels(y_forget, len(y_forget))
    yh = _labels(y_heldout, len(y_heldout))
    if len(yf) == 0 or len(yh) == 0:
        return np.empty(0, dtype=np.int64)
    k = int(max(yf.max(), yh.max())) + 1
    f = np.bincount(yf, minlength=k)
    t = np.bincount(yh, minlength=k)
    usable = (f > 0) & (t > 0)
    if not usable.any():
        return np.empty(0, dtype=np.int64)
    r = float(np.min(t[usable] / f[usable]))
    rng = np.random.default_rng(seed)
    out = []
    for c in np.flatnonzero(usable):
        n_c = min(int(round(r * f[c])), int(t[c]))
        pool = np.flatnonzero(yh == c)
        out.append(pool if n_c == len(pool) else rng.choice(pool, n_c, replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def loss_attack_auc(loss_forget: Any, loss_test: Any) -> float:
    """ROC AUC of the rule "lower loss = member", forget = positives, test = negatives.

    Equals P(loss_forget < loss_test) + 0.5 P(tie) (Mann-Whitney). 0.5 = indistinguishable,
    1.0 = every forget sample has a lower loss than every test sample, 0 = the reverse.
    ``nan`` if either set is empty.
    """
    from scipy.stats import rankdata

    pos = _scores(loss_forget, "loss_forget")
    neg = _scores(loss_test, "loss_test")
    if len(pos) == 0 or len(neg) == 0:
        return NAN
    ranks = rankdata(-np.concatenate([pos, neg]))  # higher score = lower loss
    rank_sum = ranks[: len(pos)].sum()
    u = rank_sum - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def loss_attack_accuracy(
    loss_forget: Any, loss_test: Any, *, seed: int = 0, folds: int = 5
) -> float:
    """Loss-based MIA accuracy (NeurIPS-23 starting kit ``simple_mia``), percent; 50 is ideal.

    Logistic regression on the per-sample loss, forget (label 1) vs test (label 0). The larger
    set is subsampled (with ``seed``) to the size of the smaller so chance level is 50%.
    Accuracy is averaged over a stratified ``folds``-fold cross-validation (shuffled with
    ``seed``). Deviation from the kit: the kit uses 10 random 90/10 ``StratifiedShuffleSplit``
    splits; k-fold tests every retained sample exactly once, which is steadier on small sets.
    ``folds`` is reduced to the per-class count when that is smaller.

    Returns ``nan`` when either set is empty or the balanced set has fewer than 2 samples per
    class (no cross-validation is possible).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if folds < 2:
        raise ValueError("folds must be >= 2")
    fl = _scores(loss_forget, "loss_forget")
    tl = _scores(loss_test, "loss_test")
    n = min(len(fl), len(tl))
    if n < 2:
        return NAN
    rng = np.random.default_rng(seed)
    if len(fl) > n:
        fl = fl[rng.choice(len(fl), n, replace=False)]
    if len(tl) > n:
        tl = tl[rng.choice(len(tl), n, replace=False)]
    x = np.concatenate([tl, fl])[:, None]
    members = np.concatenate([np.zeros(n), np.ones(n)])
    cv = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    scores = cross_val_score(LogisticRegression(), x, members, cv=cv, scoring="accuracy")
    return float(100.0 * np.mean(scores))


def threshold_rates(
    member_scores: Any,
    nonmember_scores: Any,
    threshold: float,
    *,
    higher_is_member: bool = True,
) -> tuple[float, float]:
    """(TPR, FPR) of "member if score >= threshold" (``<=`` when ``higher_is_member=False``).

    Rates are fractions in [0, 1]; a rate over an empty set is ``nan``.
    """
    mem = _scores(member_scores, "member_scores")
    non = _scores(nonmember_scores, "nonmember_scores")

    def rate(s: np.ndarray) -> float:
        if len(s) == 0:
            return NAN
        hit = s >= threshold if higher_is_member else s <= threshold
        return float(np.mean(hit))

    return rate(mem), rate(non)


def roc_curve_points(
    member_scores: Any, nonmember_scores: Any, *, higher_is_member: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a threshold attack: ``(fpr, tpr, thresholds)`` in score units.

    Point i is the rule "member if score >= thresholds[i]" (``<=`` when ``higher_is_member`` is
    False); the first point (threshold +inf, or -inf for the ``<=`` rule) flags nobody.
    Empty arrays if either set is empty.
    """
    from sklearn.metrics import roc_curve

    mem = _scores(member_scores, "member_scores")
    non = _scores(nonmember_scores, "nonmember_scores")
    if len(mem) == 0 or len(non) == 0:
        empty = np.empty(0)
        return empty, empty.copy(), empty.copy()
    sign = 1.0 if higher_is_member else -1.0
    y = np.concatenate([np.ones(len(mem)), np.zeros(len(non))])
    s = sign * np.concatenate([mem, non])
    fpr, tpr, thr = roc_curve(y, s)
    return fpr, tpr, sign * thr


# ----------------------------------------------------------------------------- output divergence


def _paired_log_probs(p_logits: Any, q_logits: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _logits(p_logits, "p_logits")
    q = _logits(q_logits, "q_logits")
    if p.shape != q.shape:
        raise ValueError(f"p_logits {p.shape} and q_logits {q.shape} differ in shape")
    return _log_softmax(p), _log_softmax(q)


def _kl_rows(logp: np.ndarray, logq: np.ndarray) -> np.ndarray:
    p = np.exp(logp)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (logp - logq), 0.0)
    return np.sum(terms, axis=1)


def kl_divergence(p_logits: Any, q_logits: Any) -> float:
    """Mean over samples of KL(softmax(p) || softmax(q)) in nats; ``nan`` if empty."""
    logp, logq = _paired_log_probs(p_logits, q_logits)
    if len(logp) == 0:
        return NAN
    return float(np.mean(_kl_rows(logp, logq)))


def js_divergence(p_logits: Any, q_logits: Any) -> float:
    """Mean Jensen-Shannon divergence of the two softmax outputs (nats, in [0, ln 2])."""
    logp, logq = _paired_log_probs(p_logits, q_logits)
    if len(logp) == 0:
        return NAN
    logm = np.logaddexp(logp, logq) - math.log(2.0)
    js = 0.5 * _kl_rows(logp, logm) + 0.5 * _kl_rows(logq, logm)
    return float(np.mean(np.clip(js, 0.0, math.log(2.0))))


# ----------------------------------------------------------------------------- summaries


def finite_or_none(v: Any) -> float | None:
    """``v`` as a float, or None when it is missing, not a number, or NaN."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def avg_gap(
    metrics: Mapping[str, float],
    reference: Mapping[str, float],
    keys: Iterable[str] = ("forget_acc", "retain_acc", "test_acc", "mia"),
) -> float:
    """Mean ``|metrics[k] - reference[k]|`` over ``keys`` (Avg. Gap to the retrained model).

    A key missing, ``None`` or ``nan`` on either side is skipped; ``nan`` if all are skipped.
    (UA = 100 - forget accuracy has the same gap as forget accuracy, so either may be passed.)
    """
    gaps = []
    for k in keys:
        a, b = finite_or_none(metrics.get(k)), finite_or_none(reference.get(k))
        if a is not None and b is not None:
            gaps.append(abs(a - b))
    return float(np.mean(gaps)) if gaps else NAN


def time_ratio(seconds: float, reference_seconds: float) -> float:
    """``seconds / reference_seconds`` (e.g. run time relative to retraining); ``nan`` if the
    reference is not positive or either value is missing."""
    s, r = finite_or_none(seconds), finite_or_none(reference_seconds)
    if s is None or r is None or r <= 0:
        return NAN
    return s / r


def is_damaged(
    retain_acc: float | None, reference_retain_acc: float | None, points: float = DAMAGE_POINTS
) -> bool:
    """True when ``retain_acc`` is more than ``points`` below the retrained model's (both in
    percent): the method damaged the model rather than unlearned. False when either is missing."""
    a, b = finite_or_none(retain_acc), finite_or_none(reference_retain_acc)
    return a is not None and b is not None and a < b - points

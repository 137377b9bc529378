"""Forget quality from many models (NeurIPS 2023 unlearning challenge) and the Unlearning
Comparator's worst-case privacy score. Numpy (the Comparator's features from ``metrics``).

**Challenge metric** (google-deepmind/unlearning_evaluation ``metric.py``, transcribed): for each
forget sample, every model gives a logit-scaled confidence ``log p_y - log(1 - p_y)`` of the true
class (:func:`~.confidence.logit_scaled_confidence`). With the K unlearned and K retrained models' values for
that sample, the side with the larger median is "positive". Two families of threshold attacks:
one threshold over the pooled range (100 per unit, ``conf >= t`` predicts positive) and a band
``[l, r]`` predicting the peakier side (``r`` from ``min + width - 2`` to ``max + 2`` of the
peakier side, 100 per unit; ``l`` in ``r - width +- 2``, 400 each; ``width`` the peakier side's
range). Per threshold, ``eps = max(0, log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) -
log FPR)`` with ``delta = 1e-5``; FPR = FNR = 0 (perfect separation) gives infinity; a threshold
where only one of them is 0 is dropped (too few models to tell). The sample's epsilon is the
largest, clipped to ``[0, 50]``; a sample whose peakier side's range is under 1% of the other's
gets 50 outright. The forget-quality score gives each sample points by its epsilon's 0.5-wide bin
(1, 1/2, 1/4, ... for bins below ``ceil(log(K - 1))``, 0 above) and averages them; the final score
multiplies it by ``RA_u / RA_r`` and ``TA_u / TA_r`` (mean retain and test accuracy of the
unlearned vs the retrained models).

Same as the challenge: the confidence (computed without under/overflow, then clipped to the
reference's float32 range +-103.6), delta, both threshold families and their grids, the zero-rate
rules, the cap, the bins and the final score. Different: K (the user's choice, default 8; the
challenge used 512 of each), so the largest finite epsilon is ``log((1 - delta) K - 1)``
(FPR = FNR = 1/K), the top bin ends at ``ceil(log(K - 1))`` and K = 2 gives no bins (every score
0); each unlearned model comes from its own original (seed s) while the challenge unlearned one
fixed original many times; rates are counted with sorted arrays (same values, not a GPU loop);
a sample where every threshold is dropped (identical constant values) gets 0 where the reference
stops with an assertion; RA / TA follow this project's ``score_model`` (class-wise: test accuracy
on the remaining classes).

**Worst-case privacy score** (Lee et al., "Unlearning Comparator", IEEE TVCG 2026): what the
authors' live code computes (gnueaj/Machine-Unlearning-Comparator, ``backend/app/utils/attack.py``:
``process_attack_metrics``, which every unlearning thread calls, and its ``calculate_scores``). One
unlearned vs one retrained model on the forget samples; per sample the entropy (nats) of
``softmax(z / 2)`` and the confidence ``log p_max - log(1 - p_max)`` of ``softmax(z)``, each
rounded to 2 decimals (``prepare_distribution_data``) and clipped into its range (entropy
``[0, 2.5]``, confidence ``[-2.5, 10]``); 51 thresholds ``linspace`` over the range; each feature
with either model's samples as the positives (``value >= t``). Per threshold: FPR = FNR = 0 scores
1; a rate >= 1 - delta scores 0; otherwise, with the rates clipped to ``[1e-10, 1 - delta -
1e-10]`` and ``delta = 1e-5``, ``eps = max(0, min(log(1 - delta - FPR) - log FNR, log(1 - delta -
FNR) - log FPR))`` and the attack score is ``1 - 2^-eps``. Privacy score = 1 - the largest attack
score over thresholds, features and directions. Different: the features are computed in float64
(the authors' softmax is float32, with ``log(p + 1e-45)``), which can move a value across a
rounding step in rare cases; the scores keep full precision where the authors round each attack
score and the privacy score to 3 decimals (ours, so rounded, is theirs to 5e-4). Each sample is
one draw (one model), where the challenge's epsilon is per sample across models.
"""

from __future__ import annotations

import math

import numpy as np

from ..evaluation import metrics as M
from .records import ForgetQuality, PrivacyScore

#: the challenge's fixed delta, cap on epsilon and threshold density
DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
BAND_BUFFER = 2.0
BUCKET = 0.5
PEAKY_RATIO = 0.01
#: the Comparator's temperatures, feature decimals, threshold count and ranges (``attack.py``)
ENTROPY_T, CONFIDENCE_T = 2.0, 1.0
FEATURE_DECIMALS = 2
PRIVACY_BINS = 51
ENTROPY_RANGE = (0.0, 2.5)
CONFIDENCE_RANGE = (-2.5, 10.0)
_RATE_EPS = 1e-10


def max_finite_epsilon(models: int, delta: float = DELTA) -> float:
    """The largest epsilon K models per side can show short of perfect separation:
    FPR = FNR = 1/K gives ``log(1 - delta - 1/K) - log(1/K) = log((1 - delta) K - 1)``."""
    return max(0.0, math.log((1 - delta) * models - 1)) if models >= 2 else 0.0


def score_top(models: int) -> float:
    """Where the challenge's scored bins end: ``ceil(log(K - 1))`` (0 for K <= 2)."""
    return float(math.ceil(math.log(models - 1))) if models > 2 else 0.0


def _count_ge(sorted_v: np.ndarray, t: np.ndarray) -> np.ndarray:
    return len(sorted_v) - np.searchsorted(sorted_v, t, side="left")


def _count_in(sorted_v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    n = np.searchsorted(sorted_v, hi, side="right") - np.searchsorted(sorted_v, lo, side="left")
    return np.maximum(n, 0)  # a band with l > r holds nothing


def _first_above(base: np.ndarray, grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``[rows, values]``: per row ``i`` and value ``v`` the first ``j`` with
    ``base[i] + grid[j] > v`` (``len(grid)`` if none), by a vectorised bisection that adds
    exactly as the threshold grids do (``grid`` sorted, so each row is too)."""
    lo = np.zeros((len(base), len(values)), dtype=np.int64)
    hi = np.full_like(lo, len(grid))
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        above = (base[:, None] + grid[np.minimum(mid, len(grid) - 1)]) > values[None, :]
        hi = np.where(active & above, mid, hi)
        lo = np.where(active & ~above, mid + 1, lo)


def _where_counts_change(base: np.ndarray, grid: np.ndarray, values: np.ndarray):
    """Per row of thresholds ``base[i] + grid``: the first column and every column where a
    count against ``values`` can change (a threshold passing a value). Between two of these
    columns every count is the same, so the rates seen over these columns are exactly the
    rates seen over the whole grid, at a small fraction of the cost."""
    cols = np.concatenate([np.zeros((len(base), 1), np.int64), _first_above(base, grid, values)], 1)
    rows = np.repeat(np.arange(len(base)), cols.shape[1])
    cols = cols.ravel()
    keep = cols < len(grid)
    return rows[keep], cols[keep]


def _single_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    n = int(math.ceil((hi - lo) * THRESHOLDS_PER_UNIT))
    t = np.linspace(lo, hi, n)
    if n == 0:
        return _count_ge(pos, t), _count_ge(neg, t)
    _, cols = _where_counts_change(np.zeros(1), t, np.concatenate([pos, neg]))
    t = t[cols]
    return _count_ge(pos, t), _count_ge(neg, t)


def _band_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two-threshold rule; "positive" becomes the peakier side (smaller range), as in the
    reference. Returns its (positives in band, negatives in band) over the thresholds where
    they can change (:func:`_where_counts_change`: the same rates as the full grid)."""
    pos_d, neg_d = pos[-1] - pos[0], neg[-1] - neg[0]
    width = min(pos_d, neg_d)
    if pos_d >= neg_d:
        pos, neg = neg, pos
    lo, hi = pos[0] + width - BAND_BUFFER, pos[-1] + BAND_BUFFER
    right = np.linspace(lo, hi, int(math.ceil((hi - lo) * THRESHOLDS_PER_UNIT)))
    n_left = int(math.ceil(2 * BAND_BUFFER * THRESHOLDS_PER_UNIT))
    offsets = np.linspace(-width - BAND_BUFFER, -width + BAND_BUFFER, n_left)
    # ``right`` changes the upper count at every value anyway: each of its thresholds stays;
    # along a row of lower thresholds only the columns where one passes a value matter
    rows, cols = _where_counts_change(right, offsets, np.concatenate([pos, neg]))
    left, right = right[rows] + offsets[cols], right[rows]
    return _count_in(pos, left, right), _count_in(neg, left, right)


def _rate_epsilon(tp: np.ndarray, fp: np.ndarray, n_pos: int, n_neg: int, delta: float) -> float:
    """The challenge's per-threshold epsilon, maximised; NaN when every threshold is dropped."""
    # the rates take few distinct values: keep each (tp, fp) pair once
    tp, fp = np.asarray(tp, dtype=np.int64), np.asarray(fp, dtype=np.int64)
    if tp.size == 0:
        return math.nan
    seen = np.flatnonzero(np.bincount(tp * (n_neg + 1) + fp, minlength=(n_pos + 1) * (n_neg + 1)))
    tpr, fpr = (seen // (n_neg + 1)) / n_pos, (seen % (n_neg + 1)) / n_neg
    fnr = 1.0 - tpr
    if np.any((fpr == 0) & (fnr == 0)):
        return math.inf
    keep = (fpr * fnr) != 0
    if not keep.any():
        return math.nan
    fpr, fnr = fpr[keep], fnr[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(1 - delta - fpr) - np.log(fnr)
        b = np.log(1 - delta - fnr) - np.log(fpr)
    both = np.fmax(a, b)
    if np.all(np.isnan(both)):
        return math.nan
    return max(0.0, float(np.nanmax(both)))


def sample_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """One forget sample's epsilon from its confidences under K unlearned and K retrained
    models (see the module docstring)."""
    u = np.sort(np.asarray(unlearned, dtype=np.float64).ravel())
    r = np.sort(np.asarray(retrained, dtype=np.float64).ravel())
    if len(u) < 1 or len(r) < 1:
        raise ValueError("need at least one unlearned and one retrained value per sample")
    if not (np.isfinite(u).all() and np.isfinite(r).all()):
        raise ValueError("confidences must be finite numbers")
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    spans = sorted((pos[-1] - pos[0], neg[-1] - neg[0]))
    if spans[1] > 0 and spans[0] / spans[1] < PEAKY_RATIO:
        return EPSILON_CAP
    tp_s, fp_s = _single_counts(pos, neg)
    tp_d, fp_d = _band_counts(pos, neg)
    # the band rule's counts are for its own (possibly swapped) labelling
    pos_d, neg_d = (neg, pos) if (pos[-1] - pos[0]) >= (neg[-1] - neg[0]) else (pos, neg)
    eps_s = _rate_epsilon(tp_s, fp_s, len(pos), len(neg), delta) if len(tp_s) else math.nan
    eps_d = _rate_epsilon(tp_d, fp_d, len(pos_d), len(neg_d), delta)
    eps = np.nanmax([eps_s, eps_d]) if not (math.isnan(eps_s) and math.isnan(eps_d)) else 0.0
    return float(min(max(eps, 0.0), EPSILON_CAP))


def per_sample_epsilons(
    unlearned_confs: np.ndarray, retrained_confs: np.ndarray, delta: float = DELTA
) -> np.ndarray:
    """``[models, samples]`` confidences of each side -> one epsilon per sample."""
    u = np.asarray(unlearned_confs, dtype=np.float64)
    r = np.asarray(retrained_confs, dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise ValueError(
            f"confidences must be [models, samples] with the same samples, got {u.shape} "
            f"and {r.shape}"
        )
    return np.array([sample_epsilon(u[:, i], r[:, i], delta) for i in range(u.shape[1])])


def bucket_points(models: int) -> list[tuple[float, float]]:
    """The challenge's bins: ``(start, points)``, 0.5 wide, points halving, up to
    :func:`score_top`."""
    top, out, start, pts = score_top(models), [], 0.0, 1.0
    while start + BUCKET <= top:
        out.append((start, pts))
        start, pts = start + BUCKET, pts / 2
    return out


def forget_quality_score(epsilons: np.ndarray, models: int) -> float:
    """Mean points over samples (a sample past the last bin scores 0)."""
    eps = np.asarray(epsilons, dtype=np.float64)
    if eps.size == 0:
        raise ValueError("no forget samples to score")
    bins = bucket_points(models)
    total = 0.0
    for e in eps:
        total += next((p for s, p in bins if e < s + BUCKET), 0.0)
    return total / eps.size


def forget_quality(
    unlearned_confs: np.ndarray, retrained_confs: np.ndarray, delta: float = DELTA
) -> ForgetQuality:
    """Per-sample epsilons and the challenge's forget-quality score."""
    eps = per_sample_epsilons(unlearned_confs, retrained_confs, delta)
    k = int(np.asarray(unlearned_confs).shape[0])
    return ForgetQuality(
        epsilons=eps.tolist(),
        score=forget_quality_score(eps, k),
        models=k,
        delta=delta,
        max_finite_epsilon=max_finite_epsilon(k, delta),
        score_top=score_top(k),
    )


def final_score(quality: float, ra_u: float, ra_r: float, ta_u: float, ta_r: float) -> float:
    """Forget quality x (RA_u / RA_r) x (TA_u / TA_r), the challenge's utility adjustment."""
    if ra_r <= 0 or ta_r <= 0:
        raise ValueError("the retrained models' retain and test accuracy must be above 0")
    return float(quality * (ra_u / ra_r) * (ta_u / ta_r))


# ----------------------------------------------------------------------------- Comparator


def _array(a) -> np.ndarray:
    """Logits (numpy array or torch tensor) as float64 numpy."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().float().numpy()
    return np.asarray(a, dtype=np.float64)


def _rounded(values: np.ndarray) -> np.ndarray:
    """Each value as the authors store it: Python's ``round(v, 2)``."""
    return np.array([round(v, FEATURE_DECIMALS) for v in values.tolist()], dtype=np.float64)


#: the two features of the Comparator's attack: (name, function, range)
PRIVACY_FEATURES = (
    ("entropy", lambda z: M.entropy(z, ENTROPY_T), ENTROPY_RANGE),
    ("confidence", lambda z: M.logit_confidence(z, CONFIDENCE_T), CONFIDENCE_RANGE),
)


def _attack_scores(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray, delta: float):
    """``calculate_scores``'s per-threshold attack score, FPR, FNR and epsilon, vectorised."""
    tpr = (pos[None, :] >= thresholds[:, None]).mean(axis=1)
    fpr = (neg[None, :] >= thresholds[:, None]).mean(axis=1)
    fnr = 1.0 - tpr
    sfp = np.clip(fpr, _RATE_EPS, 1 - delta - _RATE_EPS)
    sfn = np.clip(fnr, _RATE_EPS, 1 - delta - _RATE_EPS)
    eps = np.maximum(
        0.0,
        np.minimum(np.log(1 - delta - sfp) - np.log(sfn), np.log(1 - delta - sfn) - np.log(sfp)),
    )
    attack = 1.0 - 2.0 ** (-eps)
    attack = np.where((fpr >= 1 - delta) | (fnr >= 1 - delta), 0.0, attack)
    attack = np.where((fpr == 0) & (fnr == 0), 1.0, attack)
    return attack, fpr, fnr, eps


def worst_case_privacy(
    unlearned_logits: np.ndarray, retrained_logits: np.ndarray, delta: float = DELTA
) -> PrivacyScore:
    """The Comparator's privacy score on the forget samples, computed as the authors'
    ``attack.py`` does (see the module docstring): 1 = no threshold attack tells the unlearned
    model's outputs from the retrained model's, 0 = one separates them."""
    u, r = _array(unlearned_logits), _array(retrained_logits)
    if u.ndim != 2 or r.ndim != 2 or len(u) == 0 or len(r) == 0:
        raise ValueError("need [samples, classes] logits from both models")
    if u.shape[1] != r.shape[1]:
        raise ValueError(f"class counts differ: {u.shape[1]} vs {r.shape[1]}")
    best = PrivacyScore(score=1.0, attack_score=0.0)
    for feature, fn, (lo, hi) in PRIVACY_FEATURES:
        fu, fr = fn(u), fn(r)
        if np.isnan(fu).any() or np.isnan(fr).any():
            raise ValueError("the logits give nan features (nan or +inf logits)")
        vu, vr = np.clip(_rounded(fu), lo, hi), np.clip(_rounded(fr), lo, hi)
        thresholds = np.linspace(lo, hi, PRIVACY_BINS)
        for positive, pos, neg in (("unlearned", vu, vr), ("retrained", vr, vu)):
            attack, fpr, fnr, eps = _attack_scores(pos, neg, thresholds, delta)
            i = int(np.argmax(attack))
            if attack[i] > best.attack_score:
                best = PrivacyScore(
                    score=float(min(1.0, max(0.0, 1.0 - attack[i]))),
                    attack_score=float(attack[i]),
                    feature=feature,
                    positive=positive,
                    threshold=float(thresholds[i]),
                    fpr=float(fpr[i]),
                    fnr=float(fnr[i]),
                    epsilon=float(eps[i]),
                )
    return best

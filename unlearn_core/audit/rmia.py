"""RMIA, the relative membership inference attack (Zarifzadeh, Liu & Shokri, ICML 2024, "Low-cost
high-power membership inference attacks"), with the retrained models as reference models.

**The score.** A model's signal on a sample is its softmax probability of the true label,
``p(x | theta)``. Reference models that did not train on ``x`` (here: the retrains, which never
saw the forget set) give ``Pr(x)`` by the offline approximation of the reference code,
``Pr(x) = (1 + a) / 2 * mean_ref p(x) + (1 - a) / 2``, the same for a population sample ``z``.
The pairwise likelihood ratio of ``x`` against ``z`` on the target model is
``LR(x, z) = (p(x | theta) / Pr(x)) / (p(z | theta) / Pr(z))`` and the score of ``x`` is the
share of population samples it beats, ``Score(x) = mean_z 1[LR(x, z) > gamma]``. The population
is the validation split (never trained on by any model).

**The AUC here.** Each of the K unlearned models and each of the K retrained models is a target
in turn, scored on every forget sample with the other K - 1 retrains as references (leave one
pair out: the pair's own retrain is never its reference, as the reference code leaves out the
target and its paired model). ``auc`` is the ROC AUC of the score separating the K x n
(unlearned model, forget sample) scores (positives) from the K x n (retrained model, forget
sample) scores (negatives): ``P(s_pos > s_neg) + P(s_pos = s_neg) / 2`` over all such pairs.
0.5 = the method's models look like retrained ones on the forget set; 1 = every unlearned-model
score is above every retrained-model score. Per sample we keep the same AUC over its K vs K
scores and each side's mean score (the drill-down).

**gamma and a.** ``gamma = 1`` (the reference code compares ``ratios > 1.0``). ``a``: their
default 0.3 (``modules/mia/attacks/rmia.py``), or tuned as their ``tune_offline_a`` does: try
``a = 0, 0.1, ..., 1`` and keep the first with the highest AUC on models of known membership;
ours are the originals (trained on the forget samples: members) against the retrains
(non-members), never the unlearned models under test (:func:`tune_offline_a`).

Reference code read: privacytrustlab/ml_privacy_meter ``attacks.py`` (``run_rmia``,
``tune_offline_a``, ``get_rmia_out_signals``), ``modules/mia/attacks/rmia.py``
(``get_out_ref_signals``, ``run_rmia``) and ``get_signals.py`` (``get_softmax``: the true-label
softmax at temperature 1). Same as theirs: the signal, the offline ``Pr`` for ``x`` and ``z``,
``gamma``, the score, the ``a`` grid and its first-best rule. Different: every reference is an
OUT model for every audited and population sample, so ``Pr`` averages all K - 1 of them (their
newer module keeps the largest ``num_reference_models`` OUT signals, by default half, a choice
made for mixed IN / OUT references); the targets are the audit's models, not models trained on
random halves of the data, and the AUC is over targets of two kinds on the same forget samples
rather than members against non-members of one target model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..evaluation import metrics as M

#: the reference code's threshold on the pairwise likelihood ratio
GAMMA = 1.0
#: their default offline coefficient, and the grid their tuning searches
OFFLINE_A = 0.3
A_GRID = tuple(round(0.1 * i, 1) for i in range(11))


@dataclass
class RmiaResult:
    """RMIA with the retrains as references. ``auc``: unlearned-model vs retrained-model scores
    on the forget samples (0.5 = indistinguishable). Per forget sample, in forget-set order: its
    K-vs-K AUC and its mean score under unlearned and under retrained targets."""

    auc: float
    offline_a: float
    gamma: float
    models: int
    population: int
    per_sample_auc: list[float] = field(default_factory=list)
    score_unlearned: list[float] = field(default_factory=list)
    score_retrained: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RmiaResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``softmax(z)_y`` per sample (float64). ``logits``: ``[n, C]`` or ``[models, n, C]``."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 2:
        return M.true_label_confidence(z, labels)
    return np.stack([M.true_label_confidence(m, labels) for m in z])


def probability_from_margins(margins: np.ndarray) -> np.ndarray:
    """The true-label probability from the margin ``m = log p - log(1 - p)``: ``p = 1 / (1 +
    e^-m)`` (so an audit that keeps only each model's margins can run RMIA too)."""
    from scipy.special import expit

    return expit(np.asarray(margins, dtype=np.float64))


def offline_pr(ref: np.ndarray, offline_a: float) -> np.ndarray:
    """``Pr(x) = (1 + a) / 2 * mean over reference models + (1 - a) / 2``; ``ref``: [R, n]."""
    return (1 + offline_a) / 2 * np.asarray(ref, dtype=np.float64).mean(axis=0) + (
        1 - offline_a
    ) / 2


def rmia_scores(
    target_x: np.ndarray,
    ref_x: np.ndarray,
    target_z: np.ndarray,
    ref_z: np.ndarray,
    *,
    offline_a: float = OFFLINE_A,
    gamma: float = GAMMA,
) -> np.ndarray:
    """One target model's RMIA score per audited sample: the share of population samples ``z``
    with ``LR(x, z) > gamma``. ``target_x`` [n], ``ref_x`` [R, n] (reference models' signals on
    the audited samples), ``target_z`` [m], ``ref_z`` [R, m] (on the population)."""
    ratio_x = np.asarray(target_x, dtype=np.float64) / offline_pr(ref_x, offline_a)
    ratio_z = np.asarray(target_z, dtype=np.float64) / offline_pr(ref_z, offline_a)
    if len(ratio_z) == 0:
        raise ValueError("RMIA needs population samples z")
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = ratio_x[:, None] / ratio_z[None, :]
    return (lr > gamma).mean(axis=1)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """``P(pos > neg) + P(pos = neg) / 2`` (the Mann-Whitney form of the ROC AUC)."""
    from scipy.stats import rankdata

    pos, neg = np.ravel(pos), np.ravel(neg)
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def _scores(targets_x, targets_z, ref_x, ref_z, offline_a, gamma) -> np.ndarray:
    k_models = len(ref_x)
    out = np.empty((k_models, ref_x.shape[1]))
    for k in range(k_models):
        refs = np.arange(k_models) != k  # leave the pair's own retrain out
        out[k] = rmia_scores(
            targets_x[k], ref_x[refs], targets_z[k], ref_z[refs], offline_a=offline_a, gamma=gamma
        )
    return out


def rmia(
    unlearned_x: np.ndarray,
    retrained_x: np.ndarray,
    unlearned_z: np.ndarray,
    retrained_z: np.ndarray,
    *,
    offline_a: float = OFFLINE_A,
    gamma: float = GAMMA,
) -> RmiaResult:
    """RMIA's AUC of unlearned vs retrained targets on the forget samples. Signals (true-label
    probabilities, :func:`true_class_probability`): ``*_x`` [K, n] on the forget samples, ``*_z``
    [K, m] on the population (validation) samples; model k of each side forms pair k (K >= 2)."""
    ux, rx = np.asarray(unlearned_x, np.float64), np.asarray(retrained_x, np.float64)
    uz, rz = np.asarray(unlearned_z, np.float64), np.asarray(retrained_z, np.float64)
    if ux.shape != rx.shape or uz.shape != rz.shape or len(ux) != len(uz) or ux.ndim != 2:
        raise ValueError(
            f"signals must be [K, n] and [K, m] on both sides, got {ux.shape}, {rx.shape}, "
            f"{uz.shape}, {rz.shape}"
        )
    if len(ux) < 2:
        raise ValueError("RMIA leaves one retrain out as reference and needs K >= 2")
    s_u = _scores(ux, uz, rx, rz, offline_a, gamma)
    s_r = _scores(rx, rz, rx, rz, offline_a, gamma)
    return RmiaResult(
        auc=_auc(s_u, s_r),
        offline_a=float(offline_a),
        gamma=float(gamma),
        models=len(ux),
        population=uz.shape[1],
        per_sample_auc=[_auc(s_u[:, i], s_r[:, i]) for i in range(ux.shape[1])],
        score_unlearned=[float(v) for v in s_u.mean(0)],
        score_retrained=[float(v) for v in s_r.mean(0)],
    )


def tune_offline_a(
    original_x: np.ndarray,
    retrained_x: np.ndarray,
    original_z: np.ndarray,
    retrained_z: np.ndarray,
    *,
    grid: tuple[float, ...] = A_GRID,
    gamma: float = GAMMA,
) -> tuple[float, dict[float, float]]:
    """``a`` as the reference code tunes it, on models whose membership is known: the originals
    (members: they trained on the forget samples) against the retrains. Returns the first ``a``
    of ``grid`` with the highest AUC, and every AUC tried."""
    aucs: dict[float, float] = {}
    best, best_auc = float(grid[0]), -1.0
    for a in grid:
        auc = rmia(original_x, retrained_x, original_z, retrained_z, offline_a=a, gamma=gamma).auc
        aucs[float(a)] = auc
        if auc > best_auc:
            best, best_auc = float(a), auc
    return best, aucs

"""U-LiRA, the per-example unlearning likelihood-ratio attack (Hayes, Shumailov, Triantafillou,
Khalifa & Papernot 2024, "Inexact unlearning needs more careful evaluations to avoid a false
sense of privacy").

Per forget sample the attacker knows how the sample looks to unlearned models and to retrained
models, as two Gaussians over the logit-scaled confidence ``phi = log p_y - log(1 - p_y)`` of the
true class (LiRA's statistic). Shown one more model, it calls it "unlearned" when the sample's
``phi`` under that model is likelier under the unlearned Gaussian than under the retrained one,
i.e. ``N(phi; mu_u, sd_u) > N(phi; mu_r, sd_r)`` (posterior above 0.5 at equal priors).

**Protocol here.** K unlearned models (method on original seed s) and K retrained models (seed s)
for one forget set. Leave one pair out: for pair k the Gaussians are fitted (mean, population
standard deviation) to the other K - 1 unlearned and K - 1 retrained models' ``phi``; unlearned
model k and retrained model k are the two targets. Each forget sample thus gets 2K decisions, half
on unlearned targets; the **balanced accuracy** over the forget set is the share of correct
decisions (the mean of the unlearned-target and retrained-target hit rates, equal here because
the two are as many). 50 % = the attacker cannot tell the method's models from retraining; 100 %
= it always can. Per sample we also keep its accuracy over the K pairs and its mean log
likelihood ratio ``log N_u(phi) - log N_r(phi)`` on each kind of target (the drill-down).

**Where this differs from the paper.** Hayes et al. train shadow models on random halves of the
data, unlearn a random forget set from each, so each example's two Gaussians come from the
shadows that did (and did not) contain it, and the targets are separate models; their forget
sets vary per model. We have one forget set, and every model on a side saw the same request:
the shadows for one pair are the other K - 1 pairs (so the fit sizes are K - 1, small for
K = 8: standard deviations are floored at ``MIN_STD``), each unlearned model starts from its own
original (seed s), and no threshold is tuned (the 0.5 posterior, as the authors of
Attribute-to-Delete do in their U-LiRA code, which we read: ``single_ulira`` in their auditor
module, imported by their scripts as ``unlearning.auditors.ulira``: Gaussians by ``np.mean`` /
``np.std`` of margins, a target called unlearned when ``p_u / (p_u + p_o) > 0.5``). A tie (equal
densities) counts as "retrained", as there. We found no public code of Hayes et al. to compare
with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .confidence import logit_scaled_confidence

#: the floor on a fitted standard deviation (a side whose K - 1 values are all equal)
MIN_STD = 1e-6
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class UliraResult:
    """U-LiRA over one forget set. ``accuracy``: balanced accuracy in percent (50 =
    indistinguishable from retraining); ``unlearned_hit`` / ``retrained_hit``: percent of
    unlearned (retrained) targets called so. Per forget sample, in forget-set order:
    ``per_sample`` accuracy (percent over the 2K decisions) and the mean log likelihood ratio
    ``log N_u - log N_r`` on unlearned targets (``llr_unlearned``) and retrained ones."""

    accuracy: float
    unlearned_hit: float
    retrained_hit: float
    models: int
    per_sample: list[float] = field(default_factory=list)
    llr_unlearned: list[float] = field(default_factory=list)
    llr_retrained: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> UliraResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _log_normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - _HALF_LOG_2PI


def _fit(values: np.ndarray, min_std: float) -> tuple[np.ndarray, np.ndarray]:
    return values.mean(axis=0), np.maximum(values.std(axis=0), min_std)


def ulira(unlearned: np.ndarray, retrained: np.ndarray, *, min_std: float = MIN_STD) -> UliraResult:
    """U-LiRA from logit-scaled confidences of the forget samples: ``unlearned`` and
    ``retrained`` are ``[K, n]`` (model k of each side forms pair k; K >= 2)."""
    u = np.asarray(unlearned, dtype=np.float64)
    r = np.asarray(retrained, dtype=np.float64)
    if u.ndim != 2 or u.shape != r.shape:
        raise ValueError(f"both sides must be [K, n] of the same shape, got {u.shape}, {r.shape}")
    k_models = len(u)
    if k_models < 2:
        raise ValueError("U-LiRA leaves one pair out and needs at least 2 models per side")
    keep = ~np.eye(k_models, dtype=bool)
    llr_u = np.empty_like(u)
    llr_r = np.empty_like(r)
    for k in range(k_models):
        mu_u, sd_u = _fit(u[keep[k]], min_std)
        mu_r, sd_r = _fit(r[keep[k]], min_std)
        for out, x in ((llr_u, u[k]), (llr_r, r[k])):
            out[k] = _log_normal(x, mu_u, sd_u) - _log_normal(x, mu_r, sd_r)
    hit_u = llr_u > 0  # called "unlearned", correctly
    hit_r = ~(llr_r > 0)  # called "retrained" (a tie counts as retrained), correctly
    per_sample = 100.0 * (hit_u.mean(0) + hit_r.mean(0)) / 2
    return UliraResult(
        accuracy=float(100.0 * (hit_u.mean() + hit_r.mean()) / 2),
        unlearned_hit=float(100.0 * hit_u.mean()),
        retrained_hit=float(100.0 * hit_r.mean()),
        models=k_models,
        per_sample=[float(v) for v in per_sample],
        llr_unlearned=[float(v) for v in llr_u.mean(0)],
        llr_retrained=[float(v) for v in llr_r.mean(0)],
    )


def ulira_from_logits(
    unlearned_logits: np.ndarray, retrained_logits: np.ndarray, labels: np.ndarray, **kw
) -> UliraResult:
    """:func:`ulira` from logits ``[K, n, C]`` on each side and the forget labels ``[n]``
    (the challenge's ``logit_scaled_confidence``, clipped to +-103.6 as there)."""
    conf = [
        np.stack([logit_scaled_confidence(z, labels) for z in np.asarray(side)])
        for side in (unlearned_logits, retrained_logits)
    ]
    return ulira(conf[0], conf[1], **kw)

"""Adaptive Selective Synaptic Dampening (ASSD): SSD with its threshold alpha chosen from the data.

Schoepf, Foster & Brintrup 2024, "Parameter-tuning-free data entry error unlearning with adaptive
selective synaptic dampening" (arXiv 2402.10098), as the authors' code computes it:
if-loops/adaptive-selective-synaptic-dampening (``error_unlearning.ipynb``: ``ssd`` and
``ParameterPerturber.modify_weight``) and the same authors' ASSD runs on ResNet / ViT in
if-loops/towards_poison_unlearning (``src/utils.py``: ``assd_tuning``; ``src/main.py``):

* importances as SSD's: I_f on the forget set; the reference I_D on the **retain set** (both
  codebases pass their retain loader where SSD passes the full training set; option
  ``reference="train"`` takes SSD's D = retain + forget instead);
* the percentile ``p = 100 - ln(1 + 100 * |D_f| / (|D_r| + |D_f|))`` (natural log: a 10 %
  forget set gives p = 97.60, one sample in 10 000 gives p = 99.99);
* alpha = the p-th percentile (numpy's default linear interpolation) of the ratios I_f / I_D of
  every parameter entry of the model (biases included), NaN (0 / 0) and infinite (x / 0) ratios
  dropped, zeros kept;
* lambda = 1; then SSD's rule: every entry with I_f > alpha * I_D is multiplied by
  min(I_D / I_f, 1) (so an entry with I_D = 0 < I_f is zeroed).

No knob is tuned. The importances come from :func:`.ssd.layout_importances` (eval mode, the
authors' batch sizes, the data laid out by content), so the result does not depend on storage
order: the percentile is a function of the set of ratios, not of their order. (The later
iterative search of towards_poison_unlearning, which grows the share until the forget accuracy
drops, is another paper's extension and is not part of this method.)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..runtime.progress import Progress
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .ssd import (
    BATCH_PARAM,
    dampen,
    dampening_summary,
    layer_summary,
    layout_importances,
    max_ratio,
)

#: the authors' dampening constant for ASSD
LAMBDA = 1.0


def assd_percentile(n_forget: int, n_train: int) -> float:
    """The percentile of the ratios that becomes alpha: ``100 - ln(1 + 100 * n_forget / n_train)``
    with ``n_train`` = retain + forget (the authors' ``share_off = np.log(1 + (len_forget /
    len_all) * 100)``, ``len_all`` = retain + forget)."""
    return 100.0 - math.log1p(100.0 * n_forget / max(n_train, 1))


def importance_ratios(
    forget_imp: dict[str, torch.Tensor], full_imp: dict[str, torch.Tensor]
) -> np.ndarray:
    """Every finite I_f / I_D of the model, flattened (NaN and +-inf dropped, zeros kept), in
    the importances' dtype as the authors divide them."""
    parts = []
    for n, i_f in forget_imp.items():
        r = (i_f / full_imp[n]).detach().reshape(-1)
        parts.append(r[torch.isfinite(r)].cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def adaptive_alpha(
    forget_imp: dict[str, torch.Tensor],
    full_imp: dict[str, torch.Tensor],
    n_forget: int,
    n_train: int,
) -> tuple[float, float, int]:
    """ASSD's threshold: ``(alpha, percentile, number of finite ratios)``; alpha is the
    :func:`assd_percentile` of :func:`importance_ratios` (infinite, i.e. nothing selected, when
    no ratio is finite)."""
    p = assd_percentile(n_forget, n_train)
    ratios = importance_ratios(forget_imp, full_imp)
    if ratios.size == 0:
        return math.inf, p, 0
    return float(np.percentile(ratios, p)), p, int(ratios.size)


@register
class AdaptiveSSD(Method):
    """Adaptive SSD: SSD's importances (I_D on the retain set, as the authors' code) and
    dampening, with alpha the percentile of I_f / I_D set by the forget set's share of the
    training data and lambda = 1 (Schoepf, Foster & Brintrup 2024; see the module)."""

    spec = MethodSpec(
        name="ssd_adaptive",
        label="Adaptive SSD (ASSD)",
        family="approximate",
        paper="Schoepf, Foster & Brintrup 2024",
        summary=(
            "Selective Synaptic Dampening without its threshold to tune: weights are ranked by "
            "how much more they matter to the forget set than to the data kept (I_f / I_D), and "
            "the top share, set by the forget set's size (about 2.4 % of the weights for a 10 % "
            "forget set), is shrunk by I_D / I_f. No training, two passes over the data."
        ),
        params=(
            BATCH_PARAM,
            Param(
                "reference",
                str,
                "retain",
                choices=("retain", "train"),
                help="the data of the reference importance I_D: 'retain' = the retain set, as "
                "the authors' ASSD code computes it; 'train' = the whole training set (retain "
                "+ forget), as SSD",
            ),
            Param(
                "layout",
                str,
                "authors",
                choices=("authors", "by_class"),
                help="order of the retain set in D, as SSD's option: 'authors' = sorted by "
                "class for class forgetting and a fixed content-hash mix otherwise; "
                "'by_class' = sorted by class for every request",
            ),
        ),
        needs=("forget", "retain"),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        retain_only = cfg["reference"] == "retain"
        imp = layout_importances(
            model, task, cfg["batch_size"], cfg["layout"], progress, retain_only=retain_only
        )
        n_train = task.split.n_forget + task.split.n_retain  # |D|, whatever I_D was taken on
        alpha, pct, n_ratios = adaptive_alpha(imp.forget, imp.full, imp.n_forget, n_train)
        per_param = dampen(model, imp.forget, imp.full, alpha, LAMBDA)
        log = {
            **dampening_summary(per_param),
            "alpha": alpha if math.isfinite(alpha) else None,
            "lam": LAMBDA,
            "percentile": pct,
            "forget_share": imp.n_forget / max(n_train, 1),
            "reference": cfg["reference"],
            "finite_ratios": n_ratios,
            "max_ratio": max_ratio(imp.forget, imp.full),
            "batch_size": imp.batch_size,
            "layout": imp.layout,
            "per_layer": layer_summary(per_param),
            "per_parameter": per_param,
        }
        return UnlearnOutput(model, log)

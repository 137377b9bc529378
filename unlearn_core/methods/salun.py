"""SalUn: random-label unlearning restricted to the weights most salient for the forget set."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress, sub_progress
from ..training import batches
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .random_labels import RL_PARAMS, Mask, random_label_loop


def saliency_mask(
    model: nn.Module,
    forget: tuple[torch.Tensor, torch.Tensor],
    threshold: float,
    batch_size: int = 256,
) -> Mask:
    """SalUn's weight saliency mask (OPTML ``generate_mask.py``, with the Dec 2023 fix).

    In eval mode and at the current weights (no optimiser step), sum over forget batches the
    gradient of ``-CE``, take its magnitude and mark the global top ``threshold`` fraction of
    *all* parameters (biases included) as salient (1); the rest are 0. Ties at the cut-off are
    broken by parameter order, so exactly ``int(threshold * N)`` entries are 1.
    """
    xf, yf = forget
    dev = xf.device
    was_training = model.training
    model.eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = {n: torch.zeros_like(p) for n, p in named}
    for idx in batches(len(yf), batch_size, shuffle=False):
        idx = idx.to(dev)
        loss = -F.cross_entropy(model(xf[idx]), yf[idx])
        gs = torch.autograd.grad(loss, [p for _, p in named])
        for (n, _), g in zip(named, gs, strict=True):
            grads[n] += g
    model.train(was_training)
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = int(len(flat) * threshold)
    chosen = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
    if k > 0:
        order = torch.sort(flat, descending=True, stable=True).indices
        chosen[order[:k]] = True
    mask, start = {}, 0
    for n, g in grads.items():
        mask[n] = chosen[start : start + g.numel()].view_as(g).to(g.dtype)
        start += g.numel()
    return mask


def mask_stats(mask: Mask) -> dict:
    """Share of salient (trainable) weights, per parameter tensor and overall."""
    total = sum(m.numel() for m in mask.values())
    ones = sum(float(m.sum()) for m in mask.values())
    return {
        "overall": ones / max(total, 1),
        "per_layer": {n: float(m.mean()) for n, m in mask.items()},
        "sizes": {n: m.numel() for n, m in mask.items()},
    }


@register
class SalUn(Method):
    """SalUn (Fan et al., ICLR 2024; code OPTML-Group/Unlearn-Saliency).

    (1) Weight saliency from ``|grad of -CE on D_f|`` at the original weights: the global top
    ``threshold`` fraction are the salient weights. (2) Random-label unlearning (RL, CIFAR-10
    variant) with gradients masked to those weights; every other weight stays exactly at its
    original value (restored after each step, momentum zeroed), despite weight decay.
    """

    spec = MethodSpec(
        name="salun",
        label="SalUn (saliency unlearning)",
        family="approximate",
        paper="Fan et al., ICLR 2024 (SalUn: Empowering Machine Unlearning via Gradient-based "
        "Weight Saliency)",
        summary=(
            "First find the weights that matter most for the forget set (largest forget-loss "
            "gradient); then run random-label unlearning but let only those weights move. "
            "Forgetting is focused where the forget data lives, and every other weight (half "
            "of the network at the default threshold) stays exactly as it was."
        ),
        params=(
            Param(
                "threshold",
                float,
                0.5,
                (0.01, 1.0),
                "share of all weights marked salient and allowed to change (paper: 0.5)",
                grid=(0.2, 0.5),
            ),
            *RL_PARAMS,
        ),
        needs=("forget", "retain"),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        progress(0.0, "computing weight saliency on the forget set")
        mask = saliency_mask(model, task.forget, cfg["threshold"], batch_size=cfg["batch_size"])
        log = random_label_loop(
            model,
            task.forget,
            task.retain,
            task.data.num_classes,
            epochs=cfg["epochs"],
            lr=cfg["lr"],
            batch_size=cfg["batch_size"],
            seed=seed,
            progress=sub_progress(progress, 0.05, 1.0),
            mask=mask,
        )
        log["mask"] = mask_stats(mask)
        return UnlearnOutput(model, log)

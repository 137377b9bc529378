"""l1-sparse unlearning: fine-tune on the retain set with a decaying l1 penalty on the weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate, make_optimizer
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register


def l1_norm(model: nn.Module) -> torch.Tensor:
    """``||theta||_1`` over every trainable parameter (biases included, as in the paper's code)."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)


@register
class L1Sparse(Method):
    """OPTML Unlearn-Sparse ``FT_prune`` (``FT_l1``): loss = CE(D_r) + gamma_t * ||theta||_1.

    gamma_t = gamma * (1 - t / T) for epoch t = 0..T-1 (the repo's schedule with no l1-free
    epochs): it falls linearly but never reaches zero within the run, the last epoch still has
    gamma / T. SGD with momentum 0.9 and weight decay 5e-4, model in train mode.
    """

    spec = MethodSpec(
        name="l1_sparse",
        label="l1-sparse",
        family="approximate",
        paper="Jia et al., NeurIPS 2023 (Model Sparsity Can Simplify Machine Unlearning)",
        summary=(
            "Fine-tune on the retain set while an l1 penalty pulls every weight towards zero. "
            "Sparser weights keep less sample-specific detail, so the forget set is lost faster "
            "than with plain fine-tuning; the penalty shrinks linearly over the run, to a "
            "fraction 1/epochs of its start in the last epoch."
        ),
        params=(
            Param("epochs", int, 5, (1, 100), "passes over the retain set (paper: 10)"),
            Param(
                "lr",
                float,
                0.05,
                (1e-5, 1.0),
                "SGD learning rate, momentum 0.9, weight decay 5e-4 (paper: 0.01)",
                log_scale=True,
                grid=(0.01, 0.05),
            ),
            Param(
                "gamma",
                float,
                3e-3,
                (0.0, 0.1),
                "initial l1 strength gamma; epoch t of T uses gamma * (1 - t/T), so the last "
                "epoch still has gamma/T (the repo sets no default; its scripts use 1e-4 with "
                "10 epochs at lr 0.01 on CIFAR: this shorter run needs a stronger pull)",
                grid=(3e-4, 1e-3, 3e-3, 1e-2),
            ),
            Param("batch_size", int, 64, (4, 4096), "retain batch size (paper: 256)"),
        ),
        needs=("retain",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        xr, yr = task.retain
        xf, yf = task.forget
        dev = xr.device
        gen = torch.Generator().manual_seed(seed)
        opt = make_optimizer(model.parameters(), "sgd", cfg["lr"], 0.9, 5e-4)
        epochs = cfg["epochs"]
        log: dict = {"loss": [], "l1": [], "gamma": [], "forget_acc": []}
        for epoch in range(epochs):
            gamma_t = cfg["gamma"] * (1.0 - epoch / epochs)
            model.train()
            total, n = 0.0, 0
            for idx in batches(len(yr), cfg["batch_size"], gen):
                idx = idx.to(dev)
                ce = F.cross_entropy(model(xr[idx]), yr[idx])
                loss = ce + gamma_t * l1_norm(model) if gamma_t > 0 else ce
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(ce.detach()) * len(idx)
                n += len(idx)
            with torch.no_grad():
                log["l1"].append(float(l1_norm(model)))
            log["loss"].append(total / max(n, 1))
            log["gamma"].append(gamma_t)
            log["forget_acc"].append(evaluate(model, xf, yf) if len(yf) else float("nan"))
            progress(
                (epoch + 1) / epochs,
                f"epoch {epoch + 1}/{epochs}: retain CE {total / max(n, 1):.3f}, "
                f"gamma {gamma_t:.2g}",
            )
        return UnlearnOutput(model, log)

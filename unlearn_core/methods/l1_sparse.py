"""l1-sparse unlearning: fine-tune on the retain set with a decaying l1 penalty on the weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .loop import Loss, OptimConfig, Pass, PassStats, UnlearnLoop


def l1_norm(model: nn.Module) -> torch.Tensor:
    """``||theta||_1`` over every trainable parameter (biases included, as in the paper's code)."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)


class L1SparseLoop(UnlearnLoop):
    """l1-sparse's steps: retain batches, ``CE + gamma_t * ||theta||_1`` with gamma_t falling
    per epoch, SGD (momentum 0.9, weight decay 5e-4), train mode."""

    def __init__(
        self,
        model: nn.Module,
        retain: tuple[torch.Tensor, torch.Tensor],
        forget: tuple[torch.Tensor, torch.Tensor],
        cfg: dict,
        *,
        seed: int,
    ) -> None:
        super().__init__(
            model,
            epochs=cfg["epochs"],
            optim=OptimConfig("sgd", cfg["lr"], 0.9, 5e-4),
            seed=seed,
        )
        (self.xr, self.yr), (self.xf, self.yf) = retain, forget
        self.gamma, self.batch_size = cfg["gamma"], cfg["batch_size"]
        self.gamma_t = self.gamma
        self.log = {"loss": [], "l1": [], "gamma": [], "forget_acc": []}

    def passes(self, epoch: int) -> list[Pass]:
        self.gamma_t = self.gamma * (1.0 - (epoch - 1) / self.epochs)
        return [Pass("retain", batches(len(self.yr), self.batch_size, self.gen))]

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        idx = batch.to(self.xr.device)
        ce = F.cross_entropy(self.model(self.xr[idx]), self.yr[idx])
        loss = ce + self.gamma_t * l1_norm(self.model) if self.gamma_t > 0 else ce
        return Loss(loss, {"ce": ce}, len(idx))

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        ce = stats["retain"].mean("ce") if "retain" in stats else 0.0
        with torch.no_grad():
            self.log["l1"].append(float(l1_norm(self.model)))
        self.log["loss"].append(ce)
        self.log["gamma"].append(self.gamma_t)
        xf, yf = self.xf, self.yf
        self.log["forget_acc"].append(evaluate(self.model, xf, yf) if len(yf) else float("nan"))
        return f"retain CE {ce:.3f}, gamma {self.gamma_t:.2g}"


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
        loop = L1SparseLoop(model, task.retain, task.forget, cfg, seed=seed)
        res = loop.run(progress)
        return UnlearnOutput(model, {**loop.log, **res.log()})

"""Fine-tuning on the retain set (catastrophic forgetting of the forget set)."""

from __future__ import annotations

from torch import nn

from ..runtime.progress import Progress
from ..training import TrainConfig, train
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register


@register
class FineTune(Method):
    spec = MethodSpec(
        name="finetune",
        label="Fine-tune (FT)",
        family="approximate",
        paper="Warnecke et al., NDSS 2023; baseline in Jia et al., NeurIPS 2023",
        summary=(
            "Keep training the trained model, but only on the retain set, and hope it forgets "
            "the rest (catastrophic forgetting). Cheap and safe for accuracy, often weak at "
            "actually forgetting."
        ),
        params=(
            Param("epochs", int, 10, (1, 100), "passes over the retain set (paper: 10)"),
            Param(
                "lr",
                float,
                0.01,
                (1e-5, 1.0),
                "SGD learning rate, momentum 0.9, weight decay 5e-4 (paper: 0.01)",
                log_scale=True,
                grid=(0.003, 0.01, 0.03, 0.1),
            ),
            Param("batch_size", int, 128, (8, 4096), "retain batch size"),
        ),
        needs=("retain",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        x, y = task.retain
        recipe = TrainConfig(
            epochs=cfg["epochs"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            optimizer="sgd",
            momentum=0.9,
            weight_decay=5e-4,
        )
        hist = train(model, x, y, recipe, seed=seed, progress=progress)
        return UnlearnOutput(model, {"history": hist.to_dict()})

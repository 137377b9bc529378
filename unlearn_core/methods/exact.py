"""Exact unlearning: retraining from scratch on the retain set (the gold standard)."""

from __future__ import annotations

from torch import nn

from ..models import fresh_like
from ..runtime.progress import Progress
from ..training import train
from .base import Method, MethodSpec, UnlearnOutput, UnlearnTask, register


@register
class Retrain(Method):
    handles_text = True
    spec = MethodSpec(
        name="retrain",
        label="Retrain from scratch",
        family="exact",
        paper="Gold standard (e.g. Bourtoule et al., IEEE S&P 2021, §2)",
        summary=(
            "Throw the model away and train a new one, with the original recipe, on the retain "
            "set only. Exact by construction and the reference every other method is judged "
            "against, but it costs a full training run."
        ),
        params=(),
        needs=("retain",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        fresh = fresh_like(model)
        x, y = task.retain
        fit = getattr(task.data, "fit", None)  # a data kind with its own recipe (text)
        if fit is not None:
            hist = fit(fresh, x, y, task.train_config, seed=seed, progress=progress)
        else:
            hist = train(fresh, x, y, task.train_config, seed=seed, progress=progress)
        return UnlearnOutput(fresh, {"history": hist.to_dict(), "epochs": task.train_config.epochs})

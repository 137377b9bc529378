"""A demonstration, not unlearning: hide forgotten classes at the output (issue 12).

"Verification of machine unlearning is fragile" (Zhang et al., ICML 2024) shows that the usual
checks can be passed without forgetting anything. This method is the simplest such model: it
lowers the forgotten classes' biases in the final layer just enough that no forget sample is
predicted as its class any more, and leaves every other weight as it was. Forget accuracy drops
to about 0 and the population membership attack (confidence on the true label) reads the forget
samples as non-members, like the retrained model's; but the features still separate the class,
so a few fine-tuning steps bring it back (relearning), the weights are a hair away from the
original's, and many-model per-sample tests tell its outputs from retrained models'.
"""

from __future__ import annotations

import torch
from torch import nn

from ..runtime.progress import Progress
from ..training import predict_logits
from .base import (
    DEMONSTRATION,
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)


def suppression_shift(logits: torch.Tensor, labels: torch.Tensor, cls: int) -> float:
    """The largest margin of class ``cls``'s logit over the best other logit among the samples
    of ``labels == cls`` (0 when none of them wins): lowering the bias by more than this makes
    every one of them predicted as another class."""
    rows = logits[labels == cls]
    if len(rows) == 0:
        return 0.0
    others = rows.clone()
    others[:, cls] = -torch.inf
    return max(float((rows[:, cls] - others.max(1).values).max()), 0.0)


@register
class LogitSuppression(Method):
    spec = MethodSpec(
        name="logit_suppression",
        label="Logit suppression (demonstration — not unlearning)",
        family=DEMONSTRATION,
        paper="Zhang et al., ICML 2024, 'Verification of Machine Unlearning is Fragile' (idea)",
        summary=(
            "A demonstration, not an unlearning method: it lowers the forgotten class's bias in "
            "the last layer until no forget sample is predicted as that class, and changes "
            "nothing else. Forget accuracy and the population MIA look like retraining; "
            "relearning, weight distance and many-model tests expose it."
        ),
        params=(
            Param(
                "margin",
                float,
                1.0,
                (0.0, 100.0),
                "logit points below the best other class, beyond the forget sample that "
                "favours its class most",
            ),
        ),
        needs=("forget_class",),
    )

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        super().check(model, task)
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Linear) or head.bias is None:
            raise MethodNotApplicable(
                f"{self.spec.label} edits the bias of a final Linear layer named 'head'; "
                "this model has none"
            )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        x, y = task.forget
        logits = predict_logits(model, x)
        y = y.cpu()
        shifts = {}
        with torch.no_grad():
            for c in task.split.forgotten_classes:
                shift = suppression_shift(logits, y, c) + cfg["margin"]
                model.head.bias[c] -= shift
                shifts[str(c)] = shift
        progress(1.0, "forgotten classes suppressed at the output")
        return UnlearnOutput(model, {"bias_shift": shifts, "demonstration": True})

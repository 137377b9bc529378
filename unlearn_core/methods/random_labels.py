"""Random labels (RL): train on the forget set with random labels, then on the retain set.

:class:`RandomLabelLoop` is RL on the shared loop (``loop.py``); SalUn runs it with a weight mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .loop import Loss, OptimConfig, Pass, PassStats, UnlearnLoop

Mask = dict[str, torch.Tensor]


class RandomLabelLoop(UnlearnLoop):
    """OPTML ``unlearn/RL.py``, CIFAR-10 variant: each epoch one pass over the forget set with
    labels drawn uniformly over *all* ``num_classes`` classes (fresh draws every epoch, from the
    loop's generator; a draw may equal the true label), then one pass over the retain set with
    its true labels. SGD with momentum and weight decay, model in train mode.

    With ``mask`` (parameter name -> 0/1 tensor), gradients are multiplied by the mask and,
    after every step, the masked-out weights are put back to their starting values and their
    momentum is zeroed, so weight decay and momentum cannot move them either: they stay
    bit-identical to the weights the loop started from.
    """

    def __init__(
        self,
        model: nn.Module,
        forget: tuple[torch.Tensor, torch.Tensor],
        retain: tuple[torch.Tensor, torch.Tensor],
        num_classes: int,
        *,
        epochs: int,
        lr: float,
        batch_size: int,
        seed: int,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        mask: Mask | None = None,
    ) -> None:
        super().__init__(
            model,
            epochs=epochs,
            optim=OptimConfig("sgd", lr, momentum, weight_decay),
            seed=seed,
        )
        (self.xf, self.yf), (self.xr, self.yr) = forget, retain
        self.num_classes, self.batch_size = num_classes, batch_size
        #: (weight, mask, starting value) of every parameter the mask does not free entirely
        self.keep: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []
        if mask is not None:
            for n, p in model.named_parameters():
                if not p.requires_grad:
                    continue
                m = mask[n].to(device=p.device, dtype=torch.bool)
                if not bool(m.all()):
                    self.keep.append((p, m, p.detach().clone()))
        self.log = {"forget_loss": [], "retain_loss": [], "forget_acc": []}

    def passes(self, epoch: int) -> list[Pass]:
        return [
            Pass("forget", batches(len(self.yf), self.batch_size, self.gen)),
            Pass("retain", batches(len(self.yr), self.batch_size, self.gen)),
        ]

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        dev = self.xr.device
        if name == "forget":
            labels = torch.randint(0, self.num_classes, (len(batch),), generator=self.gen)
            loss = F.cross_entropy(self.model(self.xf[batch.to(dev)]), labels.to(dev))
        else:
            idx = batch.to(dev)
            loss = F.cross_entropy(self.model(self.xr[idx]), self.yr[idx])
        return Loss(loss, {"ce": loss}, len(batch))

    def after_backward(self) -> None:
        for p, m, _ in self.keep:
            if p.grad is not None:
                p.grad.mul_(m)

    def after_step(self) -> None:
        if not self.keep:
            return
        with torch.no_grad():
            for p, m, p0 in self.keep:
                p.copy_(torch.where(m, p, p0))
                buf = self.opt.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    buf.mul_(m)

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        # means over the whole set, as the pass covers it
        f, r = stats.get("forget", PassStats()), stats.get("retain", PassStats())
        self.log["forget_loss"].append(f.sums.get("ce", 0.0) / max(len(self.yf), 1))
        self.log["retain_loss"].append(r.sums.get("ce", 0.0) / max(len(self.yr), 1))
        self.log["forget_acc"].append(evaluate(self.model, self.xf, self.yf))
        return f"forget acc {self.log['forget_acc'][-1]:.1f}%"


def random_label_loop(
    model: nn.Module,
    forget: tuple[torch.Tensor, torch.Tensor],
    retain: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    progress: Progress,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    mask: Mask | None = None,
) -> dict:
    """Run :class:`RandomLabelLoop` in place on ``model``; return its log (the loop's own
    entries included: steps, divergence, notes)."""
    loop = RandomLabelLoop(
        model,
        forget,
        retain,
        num_classes,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        momentum=momentum,
        weight_decay=weight_decay,
        mask=mask,
    )
    res = loop.run(progress)
    return {**loop.log, **res.log()}


#: Shared by RL and SalUn (SalUn is RL restricted to salient weights).
RL_PARAMS = (
    Param("epochs", int, 5, (1, 100), "epochs, each one pass over D_f then D_r (paper: 10)"),
    Param(
        "lr",
        float,
        0.013,
        (1e-5, 1.0),
        "SGD learning rate, momentum 0.9, weight decay 5e-4 (paper: 0.013, SalUn on CIFAR-10)",
        log_scale=True,
        grid=(0.004, 0.013, 0.04),
    ),
    Param("batch_size", int, 64, (4, 4096), "batch size for both passes (paper: 256)"),
)


@register
class RandomLabels(Method):
    spec = MethodSpec(
        name="random_labels",
        label="Random labels (RL)",
        family="approximate",
        paper="Golatkar et al., CVPR 2020 (as in OPTML Unlearn-Saliency unlearn/RL.py)",
        summary=(
            "Teach the model that the forget samples have random labels, then remind it of the "
            "retain set with their true labels. The forget samples lose their link to their "
            "class while the retain pass repairs the rest of the model."
        ),
        params=RL_PARAMS,
        needs=("forget", "retain"),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        log = random_label_loop(
            model,
            task.forget,
            task.retain,
            task.data.num_classes,
            epochs=cfg["epochs"],
            lr=cfg["lr"],
            batch_size=cfg["batch_size"],
            seed=seed,
            progress=progress,
        )
        return UnlearnOutput(model, log)

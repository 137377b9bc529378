"""The one training loop of the methods that train (NegGrad, NegGrad+, RL, SalUn, l1-sparse,
SCRUB).

A method subclasses :class:`UnlearnLoop` and overrides only what is its own, in the spirit of
OpenUnlearning's trainer: the passes of an epoch (:meth:`~UnlearnLoop.passes`) and the loss of a
batch (:meth:`~UnlearnLoop.compute_loss`); where it needs them, the learning rate of an epoch
(:meth:`~UnlearnLoop.lr`), hooks around the optimiser step (:meth:`~UnlearnLoop.after_backward`:
gradient masks, extra gradient terms; :meth:`~UnlearnLoop.after_step`: weights put back), an
early stop (:meth:`~UnlearnLoop.should_stop`) and its per-epoch log
(:meth:`~UnlearnLoop.end_epoch`). The loop owns the rest: the optimiser, the model's mode, the
order of passes and steps, progress and cancellation (every batch is a
:func:`~unlearn_core.runtime.progress.checkpoint`), and the divergence guard (:class:`Guard`).

Every random draw comes from one generator (:attr:`UnlearnLoop.gen`, seeded with the run's
seed) in the order the passes ask for it, so a method computes exactly what its own loop did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..runtime.progress import Progress, no_progress, reporting
from ..training import make_optimizer


@dataclass(frozen=True)
class OptimConfig:
    """The optimiser a loop builds over every model parameter (``training.make_optimizer``)."""

    name: str  # "sgd" or "adam"
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Guard:
    """When a run counts as diverged: before every step, a loss that is not finite or above
    ``max_loss`` in size; after every epoch, weights that are not finite or whose norm is over
    ``max_weight_growth`` times their norm at the start. Then the run stops and the weights
    (and buffers) from before the last step are put back: the last state whose loss passed."""

    max_loss: float = 1e6
    max_weight_growth: float = 1e3


@dataclass
class Loss:
    """One batch's loss: ``value`` is minimised; ``parts`` are logged (means per pass, each
    step weighted by ``n``: its number of samples, or 1 for a mean over steps)."""

    value: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)
    n: int = 1


@dataclass
class Pass:
    """One pass of an epoch: a name (handed to ``compute_loss``) and its batches, an iterable
    that draws its order lazily (``training.batches`` over the loop's generator)."""

    name: str
    batches: Iterable[Any]


@dataclass
class PassStats:
    """What one pass did: steps taken, samples seen (sum of ``Loss.n``), summed loss parts."""

    steps: int = 0
    samples: int = 0
    sums: dict[str, float] = field(default_factory=dict)

    def add(self, loss: Loss) -> None:
        self.steps += 1
        self.samples += loss.n
        for key, v in loss.parts.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(v.detach()) * loss.n

    def mean(self, key: str) -> float:
        """The weighted mean of a logged part over the pass (0.0 for an empty pass)."""
        return self.sums.get(key, 0.0) / max(self.samples, 1)


@dataclass(frozen=True)
class StopPoint:
    """Where an early stop ended the run: epoch (1-based; 0 = before the first step) and the
    number of steps taken."""

    epoch: int
    step: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Divergence:
    """Where the guard stopped a run: the epoch, the steps taken, why, and how many steps the
    weights put back had taken."""

    epoch: int
    step: int
    reason: str
    restored_step: int

    @property
    def note(self) -> str:
        kept = (
            f"the weights after step {self.restored_step}"
            if self.restored_step
            else "the weights it started from"
        )
        return (
            f"diverged in epoch {self.epoch} after {self.step} steps ({self.reason}): "
            f"stopped there and restored {kept}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "note": self.note}


@dataclass
class LoopResult:
    """How a loop run ended."""

    epochs: int = 0
    steps: int = 0
    stopped_at: StopPoint | None = None
    divergence: Divergence | None = None

    @property
    def diverged(self) -> bool:
        return self.divergence is not None

    def log(self) -> dict:
        """The entries every training method's log carries (JSON-friendly)."""
        return {
            "steps": self.steps,
            "diverged": self.diverged,
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "notes": [self.divergence.note] if self.divergence else [],
        }


def _weight_norm(params: list[torch.Tensor]) -> float:
    if not params:
        return 0.0
    with torch.no_grad():
        norms = torch._foreach_norm([p.detach() for p in params])
        return float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])))


class UnlearnLoop:
    """Epochs of passes of optimiser steps over one model, in place.

    A step: ``compute_loss`` -> the guard's loss check -> snapshot of the weights and buffers
    -> ``zero_grad`` -> ``backward`` -> :meth:`after_backward` -> optimiser step ->
    :meth:`after_step` -> :meth:`should_stop`. An epoch: the learning rate from :meth:`lr` (if
    any), the model put in ``mode``, each pass of :meth:`passes` in turn, the guard's weight
    check, then :meth:`end_epoch` (the method's log) and one progress report.
    """

    #: "train" or "eval": the model's mode during the passes (set at the start of every epoch)
    mode = "train"

    def __init__(
        self,
        model: nn.Module,
        *,
        epochs: int,
        optim: OptimConfig,
        seed: int,
        guard: Guard | None = None,
    ) -> None:
        self.model = model
        self.epochs = epochs
        #: the one source of the run's random draws (batch orders, random labels)
        self.gen = torch.Generator().manual_seed(seed)
        self.opt = make_optimizer(
            model.parameters(), optim.name, optim.lr, optim.momentum, optim.weight_decay
        )
        self.guard = guard or Guard()
        #: the method's own log, filled by :meth:`end_epoch`
        self.log: dict = {}
        #: the current epoch (1-based) and the optimiser steps taken so far
        self.epoch = 0
        self.step = 0

    # ------------------------------------------------------------------ what a method overrides
    def passes(self, epoch: int) -> list[Pass]:
        """The passes of ``epoch`` (1-based), in order."""
        raise NotImplementedError

    def compute_loss(self, name: str, batch: Any) -> Loss:
        """The loss of one batch of pass ``name``."""
        raise NotImplementedError

    def lr(self, epoch: int) -> float | None:
        """The learning rate of ``epoch`` (1-based); None keeps the optimiser's."""
        return None

    def after_backward(self) -> None:
        """Between ``backward`` and the optimiser step (change ``p.grad`` here)."""

    def after_step(self) -> None:
        """After the optimiser step (put weights or optimiser state back here)."""

    def should_stop(self) -> bool:
        """Checked before the first step and after every step: True ends the run there."""
        return False

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        """Log the epoch (``self.log``); return the progress message's detail."""
        return ""

    # ------------------------------------------------------------------ the loop
    def run(self, progress: Progress = no_progress) -> LoopResult:
        """Run the epochs; return how the run ended (the weights are the model's)."""
        model, opt, epochs = self.model, self.opt, self.epochs
        params = list(model.parameters())
        state = [*params, *model.buffers()]
        good = [t.detach().clone() for t in state]
        limit = self.guard.max_weight_growth * max(_weight_norm(params), 1e-12)
        out = LoopResult()

        def bad_loss(loss: torch.Tensor) -> str | None:
            v = float(loss.detach())
            if not math.isfinite(v):
                return f"the loss was {v}"
            if abs(v) > self.guard.max_loss:
                return f"the loss reached {v:.3g}, beyond +-{self.guard.max_loss:g}"
            return None

        def bad_weights() -> str | None:
            norm = _weight_norm(params)
            if not math.isfinite(norm):
                return "the weights were not finite"
            if norm > limit:
                return f"the weight norm grew over {self.guard.max_weight_growth:g}x its start"
            return None

        def diverge(reason: str) -> None:
            with torch.no_grad():
                torch._foreach_copy_(state, good)
            out.divergence = Divergence(self.epoch, self.step, reason, max(self.step - 1, 0))

        with reporting(progress, 0.0, f"epoch 1/{epochs}") as report:
            if self.should_stop():
                out.stopped_at = StopPoint(0, 0)
                return out
            for epoch in range(1, epochs + 1):
                self.epoch = out.epochs = epoch
                lr = self.lr(epoch)
                if lr is not None:
                    for group in opt.param_groups:
                        group["lr"] = lr
                model.train(self.mode == "train")
                stats: dict[str, PassStats] = {}
                for p in self.passes(epoch):
                    st = stats[p.name] = PassStats()
                    for batch in p.batches:
                        loss = self.compute_loss(p.name, batch)
                        why = bad_loss(loss.value)
                        if why is not None:
                            diverge(why)
                            break
                        with torch.no_grad():  # the last state whose loss passed the guard
                            torch._foreach_copy_(good, state)
                        opt.zero_grad(set_to_none=True)
                        loss.value.backward()
                        self.after_backward()
                        opt.step()
                        self.after_step()
                        self.step += 1
                        st.add(loss)
                        if self.should_stop():
                            out.stopped_at = StopPoint(epoch, self.step)
                            break
                    if out.stopped_at is not None or out.diverged:
                        break
                if not out.diverged and self.step:
                    why = bad_weights()
                    if why is not None:
                        diverge(why)
                detail = self.end_epoch(epoch, stats)
                report(epoch / epochs, f"epoch {epoch}/{epochs}: {detail}")
                if out.stopped_at is not None or out.diverged:
                    break
        out.steps = self.step
        return out

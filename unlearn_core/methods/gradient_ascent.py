"""Gradient ascent on the forget set (NegGrad) and its retain-anchored variant (NegGrad+)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate, predict_logits
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .loop import Loss, OptimConfig, Pass, PassStats, UnlearnLoop


def cycled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches over ``0..n-1`` without end: a fresh shuffle on every pass."""
    while True:
        yield from batches(n, batch_size, generator)


#: NegGrad's stopping rules (``stop`` parameter)
STOP_RULES = ("auto", "forget_acc", "off")


def heldout_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, y_forget: torch.Tensor
) -> float:
    """The model's accuracy (%) on held-out samples ``x, y`` (the validation split) weighted to
    the forget set's class mix: an estimate of what a model that never trained on the forget
    samples scores on them. For a random forget set this is about the plain held-out accuracy;
    for a fraction of one class, that class's. Classes with no held-out sample count at the
    overall accuracy; nan without held-out samples."""
    if len(y) == 0:
        return math.nan
    y = y.cpu()
    correct = (predict_logits(model, x).argmax(1) == y).float()
    overall = float(correct.mean())
    k = num_classes
    hits = torch.zeros(k).index_add_(0, y, correct)
    seen = torch.bincount(y, minlength=k).float()
    per_class = torch.where(seen > 0, hits / seen.clamp(min=1), torch.full((k,), overall))
    mix = torch.bincount(y_forget.cpu(), minlength=k).float()
    return 100.0 * float((per_class * mix).sum() / mix.sum().clamp(min=1))


def stop_target(rule: str, stop_acc: float, class_wise: bool, heldout_acc: float) -> float | None:
    """The forget accuracy (%) at or below which NegGrad stops, or None for no stop.

    ``auto``: ``stop_acc`` for a class-wise request (a retrained model scores ~0% on a class it
    never saw); for any other request ``heldout_acc``, the original model's validation accuracy
    on the forget set's class mix (:func:`heldout_accuracy`), about what a retrained model scores
    on samples it did not train on. ``forget_acc``: always ``stop_acc``. ``off``: never stop
    early.
    """
    if rule == "off":
        return None
    if rule == "forget_acc" or class_wise:
        return stop_acc
    return heldout_acc


class NegGradLoop(UnlearnLoop):
    """NegGrad's steps: ascent on the cross-entropy of forget batches (SGD, momentum 0.9,
    weight decay 5e-4, train mode), stopping once forget accuracy is at or below ``target``
    (None: no stop)."""

    def __init__(
        self,
        model: nn.Module,
        forget: tuple[torch.Tensor, torch.Tensor],
        cfg: dict,
        *,
        seed: int,
        target: float | None,
    ) -> None:
        super().__init__(
            model,
            epochs=cfg["epochs"],
            optim=OptimConfig("sgd", cfg["lr"], 0.9, 5e-4),
            seed=seed,
        )
        self.xf, self.yf = forget
        self.batch_size, self.target = cfg["batch_size"], target
        self.log = {"loss": [], "forget_acc": []}

    def passes(self, epoch: int) -> list[Pass]:
        return [Pass("forget", batches(len(self.yf), self.batch_size, self.gen))]

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        idx = batch.to(self.xf.device)
        ce = F.cross_entropy(self.model(self.xf[idx]), self.yf[idx])
        return Loss(-ce, {"ce": ce}, len(idx))

    def should_stop(self) -> bool:
        return self.target is not None and evaluate(self.model, self.xf, self.yf) <= self.target

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        ce = stats["forget"].mean("ce") if "forget" in stats else 0.0
        self.log["loss"].append(ce)
        self.log["forget_acc"].append(evaluate(self.model, self.xf, self.yf))
        return f"forget CE {ce:.3f}"


class NegGradPlusLoop(UnlearnLoop):
    """NegGrad+'s steps: one retain batch and the next forget batch (forget batches cycled)
    per step, ``alpha * CE(retain) - (1 - alpha) * CE(forget)`` plus the proximal term's
    gradient, plain SGD, eval mode; losses logged as means over steps."""

    mode = "eval"  # as the reference: BatchNorm keeps its running statistics

    def __init__(
        self,
        model: nn.Module,
        forget: tuple[torch.Tensor, torch.Tensor],
        retain: tuple[torch.Tensor, torch.Tensor],
        cfg: dict,
        *,
        seed: int,
    ) -> None:
        super().__init__(
            model, epochs=cfg["epochs"], optim=OptimConfig("sgd", cfg["lr"]), seed=seed
        )
        (self.xf, self.yf), (self.xr, self.yr) = forget, retain
        self.alpha, self.prox, self.batch_size = cfg["alpha"], cfg["prox"], cfg["batch_size"]
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.theta_o = [p.detach().clone() for p in self.params]
        self.forget_iter = cycled_batches(len(self.yf), cfg["forget_batch_size"], self.gen)
        self.log = {"retain_loss": [], "forget_loss": [], "forget_acc": []}

    def passes(self, epoch: int) -> list[Pass]:
        return [Pass("retain", batches(len(self.yr), self.batch_size, self.gen))]

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        dev = self.xr.device
        idx_r, idx_f = batch.to(dev), next(self.forget_iter).to(dev)
        # one pass over both batches: in eval mode each sample's logits do not depend on the
        # rest of its batch, so this is the two separate passes in one
        logits = self.model(torch.cat((self.xr[idx_r], self.xf[idx_f])))
        nr, a = len(idx_r), self.alpha
        loss_r = F.cross_entropy(logits[:nr], self.yr[idx_r])
        loss_f = F.cross_entropy(logits[nr:], self.yf[idx_f])
        return Loss(a * loss_r - (1.0 - a) * loss_f, {"retain": loss_r, "forget": loss_f})

    def after_backward(self) -> None:
        if self.prox <= 0:
            return
        with torch.no_grad():  # gradient of a * prox/2 * ||theta - theta_o||^2, added in place
            pairs = [
                (p, p0)
                for p, p0 in zip(self.params, self.theta_o, strict=True)
                if p.grad is not None
            ]
            if pairs:
                ps, p0s = zip(*pairs, strict=True)
                torch._foreach_add_(
                    [p.grad for p in ps], torch._foreach_sub(ps, p0s), alpha=self.alpha * self.prox
                )

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        st = stats.get("retain", PassStats())
        r, f = st.mean("retain"), st.mean("forget")
        self.log["retain_loss"].append(r)
        self.log["forget_loss"].append(f)
        self.log["forget_acc"].append(evaluate(self.model, self.xf, self.yf))
        return f"retain CE {r:.3f}, forget CE {f:.3f}"


@register
class NegGrad(Method):
    """Gradient ascent: maximise the cross-entropy on the forget set (OPTML ``unlearn/GA.py``).

    Same update as OPTML's GA (SGD with momentum 0.9 and weight decay 5e-4 on ``-CE`` over
    forget batches, model in train mode). Added for teaching, a stopping rule (``stop``),
    checked before the first step and after every step on the whole forget set in eval mode:
    the loss is unbounded, so ascent left alone overshoots and wrecks the rest of the model.
    The default ``auto`` rule stops a class-wise request once forget accuracy is at or below
    ``stop_acc`` (1%) and any other request once it has fallen to the original model's
    validation accuracy on the forget set's class mix (measured before the first step; the
    test set is never read), where a retrained model would sit; driving a random forget set to
    0% would overshoot it. ``forget_acc`` always uses ``stop_acc``; ``off`` runs every epoch,
    as the paper. The steps run on the shared loop (:class:`NegGradLoop`): its
    divergence guard ends a run whose loss or weights blow up and puts back the last weights
    that passed (``log["diverged"]``, ``log["notes"]``).
    """

    spec = MethodSpec(
        name="neggrad",
        label="Gradient ascent (NegGrad)",
        family="approximate",
        paper="Thudi et al., EuroS&P 2022; baseline GA in Jia et al., NeurIPS 2023",
        summary=(
            "Run training backwards on the forget set: step up the loss gradient instead of "
            "down, so the model becomes wrong on exactly those samples. Fast and uses no retain "
            "data, but the loss has no ceiling, so it easily overshoots and damages what the "
            "model should keep; here it stops once the forget set is as badly predicted as a "
            "retrained model would predict it."
        ),
        params=(
            Param(
                "epochs",
                int,
                10,
                (1, 100),
                "passes over the forget set at most; the stop rule usually ends the run "
                "sooner (paper: 5, no stop)",
                grid=(10, 30),
            ),
            Param(
                "lr",
                float,
                2e-3,
                (1e-6, 1.0),
                "SGD learning rate, momentum 0.9, weight decay 5e-4 (paper: 1e-4 on CIFAR-10; "
                "the small MLP and forget set need a larger step)",
                log_scale=True,
                grid=(1e-4, 3e-4, 1e-3, 3e-3),
            ),
            Param("batch_size", int, 32, (4, 4096), "forget batch size (paper: 256)"),
            Param(
                "stop",
                str,
                "auto",
                choices=STOP_RULES,
                help="when to stop early: 'auto' = a class-wise request at forget accuracy "
                "<= stop_acc, any other request once forget accuracy has fallen to the "
                "original model's test accuracy (near a retrained model's on unseen samples); "
                "'forget_acc' = always at stop_acc; 'off' = run every epoch (paper)",
            ),
            Param(
                "stop_acc",
                float,
                1.0,
                (0.0, 100.0),
                "forget accuracy (%) to stop at, for class-wise requests under 'auto' and for "
                "every request under 'forget_acc'",
            ),
        ),
        needs=("forget",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        xf, yf = task.forget
        heldout = (
            heldout_accuracy(model, *task.validation, task.data.num_classes, yf)
            if cfg["stop"] == "auto" and not task.split.is_class_wise
            else math.nan
        )
        target = stop_target(cfg["stop"], cfg["stop_acc"], task.split.is_class_wise, heldout)
        loop = NegGradLoop(model, (xf, yf), cfg, seed=seed, target=target)
        res = loop.run(progress)
        log: dict = {
            **loop.log,
            "stop_rule": cfg["stop"],
            "stop_target": target,
            # the original's validation accuracy on the forget set's class mix (auto rule)
            "original_heldout_acc": None if math.isnan(heldout) else heldout,
            "stopped_at": res.stopped_at.to_dict() if res.stopped_at else None,
            **res.log(),
        }
        return UnlearnOutput(model, log)


@register
class NegGradPlus(Method):
    """NegGrad+ (SCRUB repo ``run_neggrad_epoch``): descend on retain, ascend on forget at once.

    Each step takes one retain batch and the next forget batch (forget batches cycle, reshuffled
    on every pass) and minimises
    ``alpha * (CE(retain) + prox/2 * ||theta - theta_o||^2) - (1 - alpha) * CE(forget)``; one
    epoch is one pass over the retain set. The model runs in eval mode throughout, as the
    repo's loop (``model.eval()``): BatchNorm uses and keeps its trained running statistics
    instead of re-estimating them from retain and forget batches. Plain SGD without momentum,
    as in the repo; ``prox``
    is the repo's ``l2_penalty`` towards the original weights (weighted there by the run's weight
    decay). The forget loss has no ceiling: once it takes off it grows until it costs retain
    accuracy, so ``alpha`` close to 1 keeps the ascent gentle. The shared loop's divergence
    guard ends a run whose loss or weights blow up and puts back the last weights that passed
    (``log["diverged"]``, ``log["notes"]``).
    """

    spec = MethodSpec(
        name="neggrad_plus",
        label="NegGrad+",
        family="approximate",
        paper="Kurmanji et al., NeurIPS 2023 (baseline; code meghdadk/SCRUB)",
        summary=(
            "Gradient ascent on the forget set balanced by ordinary training on the retain "
            "set in the same step. The retain term anchors the model so the ascent does less "
            "collateral damage than plain NegGrad; alpha sets the balance."
        ),
        params=(
            Param("epochs", int, 10, (1, 100), "passes over the retain set (paper: 10)"),
            Param(
                "lr",
                float,
                0.2,
                (1e-5, 1.0),
                "SGD learning rate (paper: 0.01)",
                log_scale=True,
                grid=(0.03, 0.1, 0.3),
            ),
            Param(
                "alpha",
                float,
                0.99,
                (0.0, 1.0),
                "weight of the retain loss; the forget loss gets 1 - alpha (paper: 0.95, "
                "which runs away on the small MLP at lr 0.2 and on the small CNN even at the "
                "paper's lr 0.01)",
                grid=(0.9, 0.95, 0.99, 0.995),
            ),
            Param(
                "prox",
                float,
                5e-4,
                (0.0, 10.0),
                "weight of the proximal term prox/2 * ||theta - theta_o||^2 on the retain side "
                "(paper: the run's weight decay, e.g. 5e-4 on CIFAR)",
            ),
            Param(
                "batch_size", int, 128, (4, 4096), "retain batch size (paper: the retain loader's)"
            ),
            Param("forget_batch_size", int, 64, (4, 4096), "forget batch size (paper: 64)"),
        ),
        needs=("forget", "retain"),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        loop = NegGradPlusLoop(model, task.forget, task.retain, cfg, seed=seed)
        res = loop.run(progress)
        return UnlearnOutput(model, {**loop.log, **res.log()})

"""SCRUB: a student moves away from its teacher on the forget set and stays close on the rest."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register
from .loop import Loss, OptimConfig, Pass, PassStats, UnlearnLoop


def distill_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float
) -> torch.Tensor:
    """KL(teacher || student) at temperature ``t``, times ``t^2``, averaged over the batch
    (RepDistiller's ``DistillKL`` used by the SCRUB code)."""
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    p_t = F.softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_s, p_t, reduction="sum") * (t * t) / student_logits.shape[0]


#: the small-scale notebook's schedule: 10 epochs, lr x0.1 after epochs 5, 8 and 9
PAPER_EPOCHS, PAPER_DECAY = 10, (5, 8, 9)


def milestones(epochs: int, msteps: int) -> list[float]:
    """Epochs after which the learning rate drops x0.1: the notebook's 5, 8, 9 of 10 scaled to
    ``epochs``, the first never before the last max epoch (``msteps``) so every max pass runs
    at the full rate, as in the notebook (msteps 3 < 5). Returned non-decreasing."""
    out: list[float] = []
    for i, m in enumerate(PAPER_DECAY):
        v = m * epochs / PAPER_EPOCHS
        if i == 0:
            v = max(v, min(msteps, epochs))
        out.append(max(v, out[-1]) if out else v)
    return out


def lr_at(epoch: int, epochs: int, lr: float, msteps: int = 0, rate: float = 0.1) -> float:
    """SCRUB's step schedule (RepDistiller's ``adjust_learning_rate``: lr x ``rate`` per
    milestone passed) over :func:`milestones`. ``epoch`` counts from 1."""
    return lr * rate ** sum(epoch > m for m in milestones(epochs, msteps))


class ScrubLoop(UnlearnLoop):
    """SCRUB's steps on the student (``model``, train mode) against a frozen copy of it as
    the teacher: per epoch a max pass over forget batches (the first ``msteps`` epochs) and a
    min pass over retain batches, one Adam optimiser, the learning rate of :func:`lr_at`."""

    def __init__(
        self,
        model: nn.Module,
        forget: tuple[torch.Tensor, torch.Tensor],
        retain: tuple[torch.Tensor, torch.Tensor],
        cfg: dict,
        *,
        seed: int,
    ) -> None:
        self.teacher = copy.deepcopy(model).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        super().__init__(
            model,
            epochs=cfg["epochs"],
            optim=OptimConfig("adam", cfg["lr"], weight_decay=cfg["weight_decay"]),
            seed=seed,
        )
        (self.xf, self.yf), (self.xr, self.yr) = forget, retain
        self.cfg = cfg
        self.log = {"max_kl": [], "min_loss": [], "lr": [], "forget_acc": []}

    def lr(self, epoch: int) -> float:
        return lr_at(epoch, self.epochs, self.cfg["lr"], self.cfg["msteps"])

    def passes(self, epoch: int) -> list[Pass]:
        cfg, gen = self.cfg, self.gen
        out = []
        if epoch <= cfg["msteps"]:
            out.append(Pass("max", batches(len(self.yf), cfg["forget_batch_size"], gen)))
        out.append(Pass("min", batches(len(self.yr), cfg["batch_size"], gen)))
        return out

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        t, dev = self.cfg["temperature"], self.xr.device
        if name == "max":
            xb = self.xf[batch.to(dev)]
            with torch.no_grad():
                logit_t = self.teacher(xb)
            kl = distill_kl(self.model(xb), logit_t, t)
            return Loss(-kl, {"kl": kl}, len(batch))
        idx = batch.to(dev)
        xb = self.xr[idx]
        with torch.no_grad():
            logit_t = self.teacher(xb)
        logit_s = self.model(xb)
        loss = self.cfg["gamma"] * F.cross_entropy(logit_s, self.yr[idx]) + self.cfg[
            "alpha"
        ] * distill_kl(logit_s, logit_t, t)
        return Loss(loss, {"loss": loss}, len(idx))

    def end_epoch(self, epoch: int, stats: dict[str, PassStats]) -> str:
        max_kl = stats["max"].mean("kl") if "max" in stats else None
        self.log["max_kl"].append(max_kl)
        self.log["min_loss"].append(stats["min"].mean("loss") if "min" in stats else 0.0)
        self.log["lr"].append(self.lr(epoch))
        self.log["forget_acc"].append(evaluate(self.model, self.xf, self.yf))
        return f"forget acc {self.log['forget_acc'][-1]:.1f}%" + (
            " (max + min pass)" if max_kl is not None else " (min pass)"
        )


@register
class SCRUB(Method):
    """SCRUB (Kurmanji et al., NeurIPS 2023; code meghdadk/SCRUB, small-scale notebook).

    Teacher: a frozen copy of the original model in eval mode. Student: the working copy in train
    mode. For epoch 1..E: if epoch <= ``msteps``, one *max* pass over D_f that maximises
    KL(teacher || student); then one *min* pass over D_r minimising
    ``gamma * CE + alpha * KL(teacher || student)``. Both passes share one Adam optimiser.

    The notebook's schedule is lr x0.1 after epochs 5, 8 and 9 of 10, so its three max passes
    run at the full rate. Scaled naively to a 5-epoch run (after 2.5, 4, 4.5) the third max pass
    would run at a tenth of it and the last epoch at a hundredth; ``milestones`` keeps the
    full rate through the max passes (after epochs 3, 4, 4.5 for 5 epochs; 5, 8, 9 for 10).
    """

    spec = MethodSpec(
        name="scrub",
        label="SCRUB",
        family="approximate",
        paper="Kurmanji et al., NeurIPS 2023 (Towards Unbounded Machine Unlearning)",
        summary=(
            "Teacher-student: the original model is the teacher and a copy is the student. "
            "The student alternates between pushing its outputs away from the teacher's on the "
            "forget set (max steps) and matching the teacher, plus the true labels, on the "
            "retain set (min steps), so it keeps what it should and drops the rest."
        ),
        params=(
            Param("epochs", int, 5, (1, 100), "total epochs (paper small-scale: 10)"),
            Param(
                "msteps",
                int,
                3,
                (0, 100),
                "the first msteps epochs also run a max pass over D_f (paper: 3)",
            ),
            Param(
                "lr",
                float,
                1e-3,
                (1e-6, 1.0),
                "Adam learning rate, x0.1 after 50% (not before the last max pass), 80% and "
                "90% of the epochs (paper: 5e-4, x0.1 after epochs 5, 8, 9 of 10)",
                log_scale=True,
                grid=(3e-4, 1e-3, 3e-3),
            ),
            Param(
                "weight_decay",
                float,
                0.1,
                (0.0, 1.0),
                "Adam weight decay (paper small-scale: 0.1)",
            ),
            Param("alpha", float, 0.5, (0.0, 100.0), "weight of the retain KL term (paper: 0.5)"),
            Param("gamma", float, 1.0, (0.0, 100.0), "weight of the retain CE term (paper: 1)"),
            Param("temperature", float, 2.0, (0.1, 20.0), "distillation temperature T (paper: 2)"),
            Param("batch_size", int, 64, (4, 4096), "retain batch size (paper: 32)"),
            Param("forget_batch_size", int, 64, (4, 4096), "forget batch size (paper: 64)"),
        ),
        needs=("forget", "retain"),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        loop = ScrubLoop(model, task.forget, task.retain, cfg, seed=seed)
        res = loop.run(progress)
        return UnlearnOutput(model, {**loop.log, **res.log()})

"""Random labels (RL): train on the forget set with random labels, then on the retain set.

:func:`random_label_loop` is the reusable training loop; SalUn calls it with a weight mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress
from ..training import batches, evaluate, make_optimizer
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register

Mask = dict[str, torch.Tensor]


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
    """OPTML ``unlearn/RL.py``, CIFAR-10 variant, in place on ``model``; returns the log.

    Each epoch is one pass over the forget set with labels drawn uniformly over *all*
    ``num_classes`` classes (fresh draws every epoch, from a generator seeded with ``seed``;
    a draw may equal the true label), then one pass over the retain set with its true labels.
    SGD with momentum and weight decay, model in train mode.

    With ``mask`` (parameter name -> 0/1 tensor), gradients are multiplied by the mask and,
    after every step, the masked-out weights are put back to their starting values and their
    momentum is zeroed, so weight decay and momentum cannot move them either: they stay
    bit-identical to the weights the loop started from.
    """
    xf, yf = forget
    xr, yr = retain
    dev = xr.device
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model.parameters(), "sgd", lr, momentum, weight_decay)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    keep: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []
    if mask is not None:
        for n, p in named:
            m = mask[n].to(device=p.device, dtype=torch.bool)
            if not bool(m.all()):
                keep.append((p, m, p.detach().clone()))

    def step(loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if keep:
            for p, m, _ in keep:
                if p.grad is not None:
                    p.grad.mul_(m)
        opt.step()
        if keep:
            with torch.no_grad():
                for p, m, p0 in keep:
                    p.copy_(torch.where(m, p, p0))
                    buf = opt.state.get(p, {}).get("momentum_buffer")
                    if buf is not None:
                        buf.mul_(m)

    log: dict = {"forget_loss": [], "retain_loss": [], "forget_acc": []}
    for epoch in range(epochs):
        model.train()
        tot_f = 0.0
        for idx in batches(len(yf), batch_size, gen):
            labels = torch.randint(0, num_classes, (len(idx),), generator=gen).to(dev)
            loss = F.cross_entropy(model(xf[idx.to(dev)]), labels)
            step(loss)
            tot_f += float(loss.detach()) * len(idx)
        tot_r = 0.0
        for idx in batches(len(yr), batch_size, gen):
            idx = idx.to(dev)
            loss = F.cross_entropy(model(xr[idx]), yr[idx])
            step(loss)
            tot_r += float(loss.detach()) * len(idx)
        log["forget_loss"].append(tot_f / max(len(yf), 1))
        log["retain_loss"].append(tot_r / max(len(yr), 1))
        log["forget_acc"].append(evaluate(model, xf, yf))
        progress(
            (epoch + 1) / epochs,
            f"epoch {epoch + 1}/{epochs}: forget acc {log['forget_acc'][-1]:.1f}%",
        )
    return log


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

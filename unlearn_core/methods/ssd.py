"""Selective Synaptic Dampening (Foster et al., AAAI 2024; code if-loops/selective-synaptic-dampening)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..progress import Progress, no_progress, sub_progress
from ..training import batches
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register


def importances(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    progress: Progress = no_progress,
) -> dict[str, torch.Tensor]:
    """Per-parameter importance: the mean over minibatches of the squared gradient of the
    batch-mean cross-entropy (a diagonal Fisher estimate, as in the authors' ``calc_importance``).

    Batches are taken in order (no shuffle, last batch possibly smaller and weighted like the
    others, as the authors' unshuffled DataLoader does). The model is put in eval mode and left
    there; its weights are not changed.
    """
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    imp = {n: torch.zeros_like(p) for n, p in params.items()}
    order = list(batches(len(y), batch_size, shuffle=False))
    for i, idx in enumerate(order):
        idx = idx.to(x.device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads, strict=True):
            if g is not None:
                imp[n] += g.detach().pow(2)
        progress((i + 1) / len(order), f"batch {i + 1}/{len(order)}")
    for v in imp.values():
        v /= max(len(order), 1)
    return imp


@torch.no_grad()
def dampen(
    model: nn.Module,
    forget_imp: dict[str, torch.Tensor],
    full_imp: dict[str, torch.Tensor],
    alpha: float,
    lam: float,
) -> dict[str, dict]:
    """Dampen in place every parameter with ``I_f > alpha * I_D`` by ``min(lam * I_D / I_f, 1)``.

    Returns, per parameter tensor, how many entries were selected (``dampened``), of how many
    (``total``), and the mean factor applied to the selected ones (``mean_factor``).
    """
    out: dict[str, dict] = {}
    for n, p in model.named_parameters():
        if n not in forget_imp:
            continue
        i_f, i_d = forget_imp[n], full_imp[n]
        sel = i_f > alpha * i_d
        # i_f > 0 wherever sel holds (i_d >= 0), so the division is safe there.
        factor = torch.clamp(lam * i_d[sel] / i_f[sel], max=1.0)
        p[sel] = p[sel] * factor
        k = int(sel.sum())
        out[n] = {
            "dampened": k,
            "total": p.numel(),
            "fraction": k / max(p.numel(), 1),
            "mean_factor": float(factor.mean()) if k else None,
        }
    return out


@register
class SSD(Method):
    """Selective Synaptic Dampening: no training, one importance pass over D_f and over D.

    As the authors' ``ssd_tuning``: eval mode, importances from ``importances`` on D_f and on the
    full training set D (retain + forget, in the dataset's order) with the same batch size, then
    ``dampen``. Every parameter (biases included) may be dampened, as in the authors' default
    (``min_layer = max_layer = -1``).

    D is batched in the dataset's order (``task.train_all``). The authors' loader instead
    concatenates D_r and D_f unshuffled, so whole batches of D are forget batches and
    I_f / I_D can never exceed (batches of D) / (forget batches): under 10 for one class of
    ten, where their alpha of 10 would select nothing. In mixed batches a forget sample's
    gradient is diluted by the others', which is why this small 10-class task wants a larger
    alpha (default 50) than the paper's 10.
    """

    spec = MethodSpec(
        name="ssd",
        label="Selective Synaptic Dampening (SSD)",
        family="approximate",
        paper="Foster, Schoepf & Brintrup, AAAI 2024",
        summary=(
            "Measure how important each weight is for the forget set and for the whole training "
            "set (squared gradients, a diagonal Fisher). Weights far more important to the forget "
            "set than to the data overall are shrunk towards zero in proportion. No training, "
            "two passes over the data; alpha decides how specialised a weight must be to be hit."
        ),
        params=(
            Param(
                "alpha",
                float,
                50.0,
                (1.0, 1000.0),
                "selection threshold: dampen where I_f > alpha * I_D (paper: 10 for ResNet-18, "
                "ViT 5 class / 10 random; on digits, where one class is 10% of D, 10 dampens "
                "too much and 50 works best)",
                log_scale=True,
            ),
            Param(
                "lam",
                float,
                1.0,
                (1e-3, 10.0),
                "dampening strength lambda: factor min(lambda * I_D / I_f, 1) (paper: 1)",
                log_scale=True,
            ),
            Param(
                "batch_size",
                int,
                64,
                (1, 4096),
                "batch size of both importance passes (paper: 64 class, 128 random forgetting)",
            ),
        ),
        needs=("forget",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        xf, yf = task.forget
        xd, yd = task.train_all
        bs = cfg["batch_size"]
        nf, nd = -(-len(yf) // bs), -(-len(yd) // bs)
        share = nf / (nf + nd)  # progress in proportion to the batches of each pass
        i_f = importances(model, xf, yf, bs, sub_progress(progress, 0.0, share, "forget set: "))
        i_d = importances(model, xd, yd, bs, sub_progress(progress, share, 1.0, "training set: "))
        per_param = dampen(model, i_f, i_d, cfg["alpha"], cfg["lam"])
        layers: dict[str, dict] = {}
        for n, info in per_param.items():
            layer = n.rsplit(".", 1)[0] if "." in n else n
            agg = layers.setdefault(layer, {"dampened": 0, "total": 0})
            agg["dampened"] += info["dampened"]
            agg["total"] += info["total"]
        for agg in layers.values():
            agg["fraction"] = agg["dampened"] / max(agg["total"], 1)
        total = sum(a["total"] for a in layers.values())
        damp = sum(a["dampened"] for a in layers.values())
        log = {
            "dampened": damp,
            "total": total,
            "fraction": damp / max(total, 1),
            "per_layer": layers,
            "per_parameter": per_param,
        }
        return UnlearnOutput(model, log)

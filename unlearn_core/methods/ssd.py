"""Selective Synaptic Dampening (Foster et al., AAAI 2024; code if-loops/selective-synaptic-dampening)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress, no_progress, sub_progress
from ..training import batches
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register

#: the authors' batch sizes for both importance passes
CLASS_BATCH, RANDOM_BATCH = 64, 128


def content_keys(x: torch.Tensor) -> list[bytes]:
    """A digest of each sample's input bytes (float32, C order): a key that names a sample by
    what it is, not by where it is stored."""
    flat = x.detach().to("cpu", torch.float32).contiguous().reshape(len(x), -1).numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def canonical_order(
    idx: torch.Tensor, keys: list[bytes], y: torch.Tensor, *, by_class: bool
) -> torch.Tensor:
    """``idx`` (training-set ids) reordered by content, independently of storage order:
    by (class, content key) when ``by_class``, else by (content key, class), a fixed
    pseudo-random mix of the classes. Identical samples with identical labels are
    interchangeable, so ties cannot change any result."""
    ids = idx.tolist()
    labels = y.tolist()
    if by_class:
        ids.sort(key=lambda i: (labels[i], keys[i]))
    else:
        ids.sort(key=lambda i: (keys[i], labels[i]))
    return torch.tensor(ids, dtype=torch.long)


def authors_layout(task: UnlearnTask, by_class: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' data layout, as training-set ids: ``(forget, full)`` with ``full`` = the
    retain set followed by the forget set, each in :func:`canonical_order`.

    The authors build D as ``ConcatDataset((retain, forget))`` read unshuffled; for class
    forgetting the retain set is assembled class by class, so D is sorted by class with the
    forgotten class last; for random forgetting both parts come from ``random_split``, i.e. in
    a random order. Ordering by content reproduces that structure and makes the importances,
    hence the dampened weights, the same for the same data in any storage order.
    """
    keys = content_keys(task.data.x_train)
    y = task.data.y_train
    forget = canonical_order(task.split.forget_idx, keys, y, by_class=by_class)
    retain = canonical_order(task.split.retain_idx, keys, y, by_class=by_class)
    return forget, torch.cat([retain, forget])


def importances(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    progress: Progress = no_progress,
) -> dict[str, torch.Tensor]:
    """Per-parameter importance: the mean over minibatches of the squared gradient of the
    batch-mean cross-entropy (a diagonal Fisher estimate, as in the authors' ``calc_importance``).

    Batches are taken in the given order (no shuffle, last batch possibly smaller and weighted
    like the others, as the authors' unshuffled DataLoader does), so the result depends on the
    order: callers pass :func:`authors_layout`. The model is put in eval mode and left there;
    its weights are not changed.
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


def max_ratio(forget_imp: dict[str, torch.Tensor], full_imp: dict[str, torch.Tensor]) -> float:
    """The largest ``I_f / I_D`` over entries with ``I_D > 0``: alpha at or above it selects
    nothing."""
    best = 0.0
    for n, i_f in forget_imp.items():
        i_d = full_imp[n]
        pos = i_d > 0
        if bool(pos.any()):
            best = max(best, float((i_f[pos] / i_d[pos]).max()))
    return best


@dataclass(frozen=True)
class LayoutImportances:
    """Both importance passes of SSD, as :func:`layout_importances` ran them."""

    forget: dict[str, torch.Tensor]  # I_f, on D_f
    full: dict[str, torch.Tensor]  # I_D, on D = retain + forget (or on the retain set alone)
    batch_size: int
    layout: str  # how D was laid out, in words
    n_forget: int  # |D_f|
    n_full: int  # the number of samples I_D was computed on


def layout_importances(
    model: nn.Module,
    task: UnlearnTask,
    batch_size: int,
    layout: str,
    progress: Progress = no_progress,
    *,
    retain_only: bool = False,
) -> LayoutImportances:
    """I_f on D_f and I_D on D in :func:`authors_layout`, with the same batch size (``0``: the
    authors' for the request); ``layout`` is SSD's ``"authors"`` or ``"by_class"`` option.
    ``retain_only``: I_D on the retain part of that layout alone (D without D_f)."""
    class_wise = task.split.is_class_wise
    bs = batch_size or (CLASS_BATCH if class_wise else RANDOM_BATCH)
    by_class = class_wise or layout == "by_class"
    f_ids, d_ids = authors_layout(task, by_class)
    if retain_only:
        d_ids = d_ids[: len(d_ids) - len(f_ids)]
    x, y = task.train_all  # on the device; recorded in ``task.reads``
    f_ids, d_ids = f_ids.to(x.device), d_ids.to(x.device)
    xf, yf, xd, yd = x[f_ids], y[f_ids], x[d_ids], y[d_ids]
    nf, nd = -(-len(yf) // bs), -(-len(yd) // bs)
    share = nf / (nf + nd)  # progress in proportion to the batches of each pass
    i_f = importances(model, xf, yf, bs, sub_progress(progress, 0.0, share, "forget set: "))
    label = "retain set: " if retain_only else "training set: "
    i_d = importances(model, xd, yd, bs, sub_progress(progress, share, 1.0, label))
    if retain_only:
        words = f"retain {'sorted by class' if by_class else 'in content-hash order'} (unshuffled)"
    elif by_class:
        words = "retain sorted by class, then forget (unshuffled)"
    else:
        words = "retain then forget, each in content-hash order (unshuffled)"
    return LayoutImportances(
        forget=i_f,
        full=i_d,
        batch_size=bs,
        layout=words,
        n_forget=len(yf),
        n_full=len(yd),
    )


def layer_summary(per_param: dict[str, dict]) -> dict[str, dict]:
    """:func:`dampen`'s counts per layer (parameter names without their last part)."""
    layers: dict[str, dict] = {}
    for n, info in per_param.items():
        layer = n.rsplit(".", 1)[0] if "." in n else n
        agg = layers.setdefault(layer, {"dampened": 0, "total": 0})
        agg["dampened"] += info["dampened"]
        agg["total"] += info["total"]
    for agg in layers.values():
        agg["fraction"] = agg["dampened"] / max(agg["total"], 1)
    return layers


def dampening_summary(per_param: dict[str, dict]) -> dict:
    """How many entries :func:`dampen` selected over the whole model, of how many."""
    total = sum(info["total"] for info in per_param.values())
    damp = sum(info["dampened"] for info in per_param.values())
    return {"dampened": damp, "total": total, "fraction": damp / max(total, 1)}


#: both importance passes' batch size (shared with Adaptive SSD)
BATCH_PARAM = Param(
    "batch_size",
    int,
    0,
    (0, 4096),
    f"batch size of both importance passes; 0 = the authors' ({CLASS_BATCH} for class "
    f"forgetting, {RANDOM_BATCH} otherwise)",
)


@register
class SSD(Method):
    """Selective Synaptic Dampening: no training, one importance pass over D_f and over D.

    As the authors' ``ssd_tuning``: eval mode, ``importances`` on D_f and on the full training
    set D with the same batch size, then ``dampen``; every parameter (biases included) may be
    dampened, as in the authors' default (``min_layer = max_layer = -1``).

    The importance is a mean of squared *batch* gradients, so it depends on how the batches mix
    samples. D is laid out as the authors' loaders read it (``authors_layout``): the retain set
    then the forget set, unshuffled; the retain set sorted by class for class forgetting and in
    a fixed pseudo-random order otherwise, each ordered by a content hash of the inputs so the
    same data stored in another order gives bit-identical weights. In that layout whole batches
    of D are forget batches, as in the paper, and the paper's alpha of 10 selects weights: on
    the digits MLP, forgetting one class, hundreds of them (max I_f / I_D about 21; see
    ``shared/methods.md``). Batched in storage order instead, a forget sample's gradient is
    diluted by other classes' and the ratios scale with how the data happen to be stored.
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
                10.0,
                (1.0, 1000.0),
                "selection threshold: dampen a weight where I_f > alpha * I_D, with I_D its "
                "importance over the whole training set read in the authors' layout (retain "
                "set, then forget set, unshuffled) and I_f over the forget set; the log's "
                "max_ratio is the largest I_f / I_D, above which nothing is selected (paper: "
                "10 for ResNet-18; ViT 5 class / 10 random)",
                log_scale=True,
                grid=(3.0, 5.0, 10.0, 20.0, 50.0),
            ),
            Param(
                "lam",
                float,
                1.0,
                (1e-3, 10.0),
                "dampening strength lambda: factor min(lambda * I_D / I_f, 1) (paper: 1)",
                log_scale=True,
            ),
            BATCH_PARAM,
            Param(
                "layout",
                str,
                "authors",
                choices=("authors", "by_class"),
                help="order of the retain set in D: 'authors' = sorted by class for class "
                "forgetting and a fixed content-hash mix otherwise (their random_split); "
                "'by_class' = sorted by class for every request",
            ),
        ),
        needs=("forget",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        imp = layout_importances(model, task, cfg["batch_size"], cfg["layout"], progress)
        ratio = max_ratio(imp.forget, imp.full)
        per_param = dampen(model, imp.forget, imp.full, cfg["alpha"], cfg["lam"])
        log = {
            **dampening_summary(per_param),
            "max_ratio": ratio,
            "batch_size": imp.batch_size,
            "layout": imp.layout,
            "per_layer": layer_summary(per_param),
            "per_parameter": per_param,
        }
        return UnlearnOutput(model, log)

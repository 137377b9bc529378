"""Fisher forgetting (Golatkar, Achille & Soatto, CVPR 2020; code AdityaGolatkar/SelectiveForgetting)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress, no_progress, sub_progress
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register

#: floats of per-sample Jacobian held at once on the generic (torch.func) path
_JACOBIAN_BUDGET = 1 << 25


def expected_fisher(
    model: nn.Module,
    x: torch.Tensor,
    *,
    chunk: int = 512,
    linear_shortcut: bool = True,
    progress: Progress = no_progress,
) -> dict[str, torch.Tensor]:
    """Diagonal of the expected Fisher information on ``x``, in eval mode.

    ``F = mean_n sum_y p(y|x_n) * (d CE(f(x_n), y) / d theta)^2``: the expectation over the
    model's own predictive distribution is taken exactly, over every class (as the authors'
    ``hessian``, which loops over classes with batch size 1), not sampled.

    Two exact ways to get there: for an ``nn.Linear`` called once on 2-D input the per-sample
    gradient is the outer product ``delta a^T``, so its square is ``delta^2 (a^2)^T`` and the sum
    over samples is one matrix product (no per-sample gradient is ever stored); every other
    parameter (convolutions, norms) gets true per-sample gradients from ``torch.func``
    (``vmap`` of ``jacrev``), in chunks. ``linear_shortcut=False`` sends everything down the
    second path (used by the tests to check the first).
    """
    model.eval()
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in named.items()}
    linears = _single_use_linears(model, x[:2]) if linear_shortcut else {}
    fast = {f"{m}.{k}" for m, mod in linears.items() for k, _ in mod.named_parameters()}
    rest = [n for n in named if n not in fast]
    n = len(x)
    for start in range(0, n, chunk):
        xb = x[start : start + chunk]
        if linears:
            _linear_fisher(model, linears, xb, fisher)
        if rest:
            _generic_fisher(model, xb, {k: named[k] for k in rest}, fisher)
        progress(min(start + chunk, n) / n, f"Fisher on {min(start + chunk, n)}/{n} samples")
    for v in fisher.values():
        v /= max(n, 1)
    return fisher


def _single_use_linears(model: nn.Module, probe: torch.Tensor) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` modules that a forward pass calls exactly once, on 2-D input."""
    calls: dict[str, list[int]] = {}
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):

            def hook(_m, inp, _out, name=name):
                calls.setdefault(name, []).append(inp[0].dim())

            handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for h in handles:
            h.remove()
    mods = dict(model.named_modules())
    return {k: mods[k] for k, dims in calls.items() if dims == [2]}


def _linear_fisher(
    model: nn.Module, linears: dict[str, nn.Linear], x: torch.Tensor, fisher: dict
) -> None:
    """Add the exact expected-Fisher sums of the given Linear layers over the batch ``x``."""
    acts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = [
        mod.register_forward_hook(
            lambda _m, inp, out, name=name: acts.__setitem__(name, (inp[0].detach(), out))
        )
        for name, mod in linears.items()
    ]
    try:
        with torch.enable_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    p = F.softmax(logits.detach(), dim=1)
    names = list(acts)
    outs = [acts[k][1] for k in names]
    # d CE(., y) / d logits = p - e_y; back-propagate it for every class y
    d_sq = [torch.zeros_like(o) for o in outs]
    k = logits.shape[1]
    for y in range(k):
        seed = p.clone()
        seed[:, y] -= 1.0
        deltas = torch.autograd.grad(
            logits, outs, grad_outputs=seed, retain_graph=y < k - 1, allow_unused=True
        )
        for acc, d in zip(d_sq, deltas, strict=True):
            if d is not None:  # a layer whose output does not reach the logits
                acc += p[:, y : y + 1] * d.detach().pow(2)
    for name, acc in zip(names, d_sq, strict=True):
        a = acts[name][0]
        mod = linears[name]
        fisher[f"{name}.weight"] += acc.T @ a.pow(2)
        if mod.bias is not None:
            fisher[f"{name}.bias"] += acc.sum(0)


def _generic_fisher(
    model: nn.Module, x: torch.Tensor, params: dict[str, torch.Tensor], fisher: dict
) -> None:
    """Add the exact expected-Fisher sums of ``params`` over ``x`` from per-sample Jacobians."""
    from torch.func import functional_call, jacrev, vmap

    frozen = {
        **{n: p.detach() for n, p in model.named_parameters() if n not in params},
        **dict(model.named_buffers()),
    }
    own = {n: p.detach() for n, p in params.items()}

    def logits_one(theta: dict, xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, ({**frozen, **theta},), (xi.unsqueeze(0),)).squeeze(0)

    with torch.no_grad():
        k = model(x[:1]).shape[1]
    size = sum(p.numel() for p in own.values())
    step = max(1, _JACOBIAN_BUDGET // max(k * size, 1))
    jac = vmap(jacrev(logits_one), in_dims=(None, 0))
    for start in range(0, len(x), step):
        xb = x[start : start + step]
        with torch.no_grad():
            p = F.softmax(model(xb), dim=1)  # [B, K]
        J = jac(own, xb)  # name -> [B, K, *shape]
        for name, j in J.items():
            jf = j.detach().flatten(2)  # [B, K, P]
            g = torch.einsum("bk,bkp->bp", p, jf).unsqueeze(1) - jf  # d CE(., y): [B, K(y), P]
            fisher[name] += torch.einsum("by,byp->p", p, g.pow(2)).view_as(fisher[name])


@register
class FisherForgetting(Method):
    """Golatkar et al.'s Fisher forgetting, following the authors' ``get_mean_var``.

    With F the diagonal expected Fisher on D_r (exact over classes, ``expected_fisher``) and
    theta_o the trained weights: ``var = alpha * min(1 / (F + 1e-8), 1e3)`` (cap 1e2 for the
    output layer); a weight matrix's variance is averaged over its fan-in (dim 1); the output
    layer and every 1-D parameter get ``var * 10``; then ``theta = theta_o + sqrt(var) * n``,
    n ~ N(0, 1) from a generator seeded with the run's seed. For class forgetting the forgotten
    classes' rows of the output layer (weight row and bias) get mean 0 and variance 1e-4.

    What it is: noise injection, not an influence update. Nothing moves theta towards the
    retrained solution; the Fisher only shapes the noise, and where ``1 / F`` exceeds the cap
    (on the digits MLP 99.6% of entries, ``shared/methods.md``) the noise is the same for every
    such weight. The paper's influence-style step (its Hessian-based scrubbing) is not
    implemented here.

    Deviations: the output layer is ``model.head`` (the code takes any parameter whose first
    dimension equals the number of classes); the class rows' variance is 1e-4 as in the paper
    (the code sets 1e-4 before the x10 output-layer scaling, which leaves 1e-3).
    """

    spec = MethodSpec(
        name="fisher",
        label="Fisher forgetting",
        family="approximate",
        paper="Golatkar, Achille & Soatto, CVPR 2020 (Eternal Sunshine of the Spotless Net)",
        summary=(
            "Noise injection shaped by the retain set: estimate how much each weight matters "
            "to the retain data (the diagonal Fisher information) and add Gaussian noise that "
            "is large where it matters little, drowning what only the forget set put there; "
            "for a whole class, its output row is reset. It is not an influence (Newton) step "
            "towards the retrained weights: on a small model almost every weight hits the "
            "noise cap, so the noise is nearly uniform. No training; alpha sets the noise."
        ),
        params=(
            Param(
                "alpha",
                float,
                1e-6,
                (1e-10, 1e-2),
                "noise scale: var = alpha * min(1/F, 1e3) (paper: 1e-6)",
                log_scale=True,
                grid=(1e-8, 1e-7, 1e-6, 1e-5),
            ),
            Param(
                "max_samples",
                int,
                0,
                (0, 10_000_000),
                "estimate the Fisher on at most this many retain samples, drawn at random "
                "(seeded); 0 = all of them, as the authors (large models cost one backward "
                "pass per class per sample)",
            ),
        ),
        needs=("retain",),
    )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        xr, _ = task.retain  # the expected Fisher needs inputs only
        gen = torch.Generator().manual_seed(seed)
        if 0 < cfg["max_samples"] < len(xr):
            pick = torch.randperm(len(xr), generator=gen)[: cfg["max_samples"]]
            xr = xr[pick.to(xr.device)]
        fisher = expected_fisher(model, xr, progress=sub_progress(progress, 0.0, 0.95))
        head = getattr(model, "head", None)
        head_ids = {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()
        k = task.data.num_classes
        classes = list(task.split.forgotten_classes) if task.split.is_class_wise else []
        alpha = cfg["alpha"]
        per_param: dict[str, dict] = {}
        std_sum, count, capped = 0.0, 0, 0
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name not in fisher:
                    continue
                is_out = id(p) in head_ids if head_ids else p.shape[0] == k
                cap = 1e2 if is_out else 1e3
                inv = 1.0 / (fisher[name] + 1e-8)
                n_capped = int((inv >= cap).sum())
                var = inv.clamp(max=cap) * alpha
                if p.ndim > 1:
                    var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
                if is_out or p.ndim == 1:
                    var = var * 10
                mu = p.detach().clone()
                if is_out and classes:
                    mu[classes] = 0.0
                    var[classes] = 1e-4
                noise = torch.randn(p.shape, generator=gen).to(p.device, p.dtype)
                p.copy_(mu + var.sqrt() * noise)
                std_sum += float(var.sqrt().sum())
                count += p.numel()
                capped += n_capped
                per_param[name] = {
                    "capped_fraction": n_capped / max(p.numel(), 1),
                    "fisher_mean": float(fisher[name].mean()),
                    "noise_std_mean": float(var.sqrt().mean()),
                    "output_layer": bool(is_out),
                }
        progress(1.0, "noise added")
        log = {
            "fisher": "expected (exact over classes) on the retain set",
            "n_samples": len(xr),
            "alpha": alpha,
            "class_rows_reset": classes,
            "noise_std_mean": std_sum / max(count, 1),
            # share of weights whose 1/F hit the cap: there the noise is the same for all
            "capped_fraction": capped / max(count, 1),
            "per_parameter": per_param,
        }
        return UnlearnOutput(model, log)

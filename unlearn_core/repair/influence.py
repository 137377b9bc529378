"""Gradients, Hessian-vector products and inverse-Hessian-vector products for Warnecke et al.'s
closed-form updates (``methods/warnecke.py``).

Conventions: the objective is the *mean* training loss ``L(theta) = 1/n sum_i l(z_i)`` (plus
``weight_decay / 2 * |theta|^2`` when the recipe has weight decay); gradients and products are
lists of tensors shaped like the model's trainable parameters. Everything runs in eval mode
(batch norm reads its running statistics, so a sample's loss does not depend on its batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Vec = list[torch.Tensor]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def norm(a: Sequence[torch.Tensor]) -> float:
    return float(math.sqrt(float(dot(a, a))))


def axpy(alpha: float | torch.Tensor, x: Sequence[torch.Tensor], y: Sequence[torch.Tensor]) -> Vec:
    """``alpha * x + y``."""
    return [alpha * a + b for a, b in zip(x, y, strict=True)]


def loss_grad_sum(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    chunk: int = 512,
) -> Vec:
    """``sum_i grad l(x_i, y_i)`` (cross-entropy, the recipe's label smoothing), in chunks."""
    params = trainable(model)
    total = [torch.zeros_like(p) for p in params]
    for s in range(0, len(x), chunk):
        with torch.enable_grad():
            loss = F.cross_entropy(
                model(x[s : s + chunk]), y[s : s + chunk],
                reduction="sum", label_smoothing=label_smoothing,
            )  # fmt: skip
            g = torch.autograd.grad(loss, params, allow_unused=True)
        for t, gi in zip(total, g, strict=True):
            if gi is not None:
                t += gi
    return total


def hvp(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    v: Sequence[torch.Tensor],
    *,
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    chunk: int = 512,
) -> Vec:
    """``H v`` with ``H`` the Hessian of the mean loss over ``(x, y)`` (plus ``weight_decay I``),
    by double back-propagation (Pearlmutter), in chunks."""
    params = trainable(model)
    out = [torch.zeros_like(p) for p in params]
    n = len(x)
    for s in range(0, n, chunk):
        with torch.enable_grad():
            loss = F.cross_entropy(
                model(x[s : s + chunk]), y[s : s + chunk],
                reduction="sum", label_smoothing=label_smoothing,
            )  # fmt: skip
            g = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            pairs = [(gi, vi) for gi, vi in zip(g, v, strict=True) if gi is not None]
            inner = sum((gi * vi).sum() for gi, vi in pairs)
            hv = torch.autograd.grad(inner, params, allow_unused=True)
        for o, h in zip(out, hv, strict=True):
            if h is not None:
                o += h.detach()
    out = [o / n for o in out]
    if weight_decay:
        out = axpy(weight_decay, v, out)
    return out


def conjugate_gradients(
    apply: Callable[[Vec], Vec],
    b: Vec,
    *,
    damping: float,
    steps: int,
    tol: float = 1e-6,
    check: Callable[[], None] | None = None,
) -> tuple[Vec, dict]:
    """Solve ``(A + damping I) x = b`` by conjugate gradients from ``x = 0``, where ``apply(v)``
    is ``A v``. Stops when the residual falls below ``tol * |b|``, after ``steps`` iterations,
    or at a direction of non-positive curvature (a network's Hessian may be indefinite; the
    iterate so far is returned, as truncated CG does). The log holds the iterations, the
    relative residual and why it stopped."""
    x = [torch.zeros_like(t) for t in b]
    r = [t.clone() for t in b]
    p = [t.clone() for t in b]
    rr = float(dot(r, r))
    b_norm = math.sqrt(rr)
    info = {"iterations": 0, "residual": 1.0, "stopped": "max steps"}
    if b_norm == 0:
        info.update(residual=0.0, stopped="zero right-hand side")
        return x, info
    for k in range(steps):
        if check is not None:
            check()
        ap = axpy(damping, p, apply(p))
        curv = float(dot(p, ap))
        if not curv > 0:
            info["stopped"] = "non-positive curvature"
            break
        alpha = rr / curv
        x = axpy(alpha, p, x)
        r = axpy(-alpha, ap, r)
        rr_new = float(dot(r, r))
        info.update(iterations=k + 1, residual=math.sqrt(rr_new) / b_norm)
        if math.sqrt(rr_new) <= tol * b_norm:
            info["stopped"] = "converged"
            break
        p = axpy(rr_new / rr, p, r)
        rr = rr_new
    return x, info


def lissa(
    apply_batch: Callable[[int, Vec], Vec],
    b: Vec,
    *,
    damping: float,
    scale: float,
    steps: int,
    rounds: int = 1,
    patience: int = 5,
    check: Callable[[], None] | None = None,
) -> tuple[Vec, dict]:
    """LiSSA (Agarwal et al. 2017) as the authors run it: per round, ``u <- b + (1 - d) u -
    H_t u / scale`` with ``H_t`` the Hessian on minibatch ``t`` (``apply_batch(t, u)``) and
    ``d = damping / scale``, so that the fixed point ``u / scale`` solves
    ``(H + damping I) x = b``; the rounds' estimates are averaged. Early stop as in
    ``DNNUnlearner.get_inv_hvp_lissa``: when the update's size grows past its minimum for
    ``patience`` steps. ``diverged`` in the log when an estimate is not finite."""
    d = damping / scale
    estimate: Vec | None = None
    info = {"iterations": [], "diverged": False, "stopped": []}
    for rd in range(rounds):
        u = [t.clone() for t in b]
        best, since = math.inf, 0
        stop = "max steps"
        k = 0
        for k in range(steps):
            if check is not None:
                check()
            hu = apply_batch(rd * steps + k, u)
            new = [bi + (1 - d) * ui - hi / scale for bi, ui, hi in zip(b, u, hu, strict=True)]
            change = sum(float((a - c).abs().sum()) for a, c in zip(new, u, strict=True))
            u = new
            if not math.isfinite(change):
                stop = "diverged"
                break
            if change < best:
                best, since = change, 0
            else:
                since += 1
                if since >= patience:
                    stop = "update grew (early stop)"
                    break
        info["iterations"].append(k + 1)
        info["stopped"].append(stop)
        if not all(bool(torch.isfinite(t).all()) for t in u):
            info["diverged"] = True
            return [torch.zeros_like(t) for t in b], info
        scaled = [t / scale / rounds for t in u]
        estimate = scaled if estimate is None else axpy(1.0, scaled, estimate)
    return estimate, info


def repair_gradient(
    model: nn.Module,
    forget: tuple[torch.Tensor, torch.Tensor],
    fixed: tuple[torch.Tensor, torch.Tensor] | None,
    n_train: int,
    *,
    label_smoothing: float = 0.0,
) -> Vec:
    """Warnecke et al.'s ``Delta = 1/n (sum_{Z~} grad l - sum_Z grad l)``: the change of the
    mean training loss's gradient when the forget samples ``Z`` are replaced by their fixed
    versions ``Z~`` (``fixed`` None: a deletion, ``Z~`` empty)."""
    g = loss_grad_sum(model, *forget, label_smoothing=label_smoothing)
    delta = [-t for t in g]
    if fixed is not None:
        delta = axpy(1.0, loss_grad_sum(model, *fixed, label_smoothing=label_smoothing), delta)
    return [t / n_train for t in delta]


def apply_step(model: nn.Module, step: Sequence[torch.Tensor], tau: float) -> None:
    """``theta <- theta - tau * step`` on the trainable parameters, in place."""
    with torch.no_grad():
        for p, s in zip(trainable(model), step, strict=True):
            p.sub_(tau * s)

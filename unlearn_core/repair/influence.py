"""Gradients, Hessian-vector products and inverse-Hessian-vector products for Warnecke et al.'s
closed-form updates (``methods/warnecke.py``).

Conventions: the objective is the *mean* training loss ``L(theta) = 1/n sum_i l(z_i)`` (plus
``weight_decay / 2 * |theta|^2`` when the recipe has weight decay); gradients and products are
lists of tensors shaped like the model's trainable parameters. Everything runs in eval mode
(batch norm reads its running statistics, so a sample's loss does not depend on its batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

Vec = list[torch.Tensor]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def parameterised_modules(model: nn.Module) -> list[nn.Module]:
    """The modules that hold parameters of their own (Linear, Conv, BatchNorm, ...), in the
    model's registration order (input to output for this project's architectures)."""
    return [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]


def last_layers(model: nn.Module, k: int) -> list[nn.Parameter]:
    """The trainable parameters (weights and biases) of the last ``k`` parameterised modules
    (Warnecke et al.'s poisoning code takes Keras's ``trainable_weights[-6:]``: the kernels and
    biases of their VGG's last three layers, Dense-BatchNorm-Dense)."""
    mods = parameterised_modules(model)
    if k < 1:
        raise ValueError(f"last_layers must be at least 1, got {k}")
    return [p for m in mods[-k:] for p in m.parameters(recurse=False) if p.requires_grad]


@contextmanager
def restricted_to(model: nn.Module, params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Inside the block only ``params`` require gradients, so :func:`trainable` and every
    function here (gradients, Hessian-vector products, :func:`apply_step`) see only them: the
    Hessian is the block of those parameters, the others stay bit-identical. The flags are
    restored on exit."""
    keep = {id(p) for p in params}
    saved = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, flag in saved:
            p.requires_grad_(flag and id(p) in keep)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, *, chunk: int = 2048) -> torch.Tensor:
    """The predicted class of every row of ``x`` (argmax of the logits), in chunks (under
    ``no_grad``, not inference mode: the labels feed a gradient afterwards)."""
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long, device=x.device)
    return torch.cat([model(x[s : s + chunk]).argmax(1) for s in range(0, len(x), chunk)])


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


def inverse_hvp(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    b: Vec,
    *,
    solver: str,
    damping: float,
    steps: int,
    scale: float = 10.0,
    batch_size: int = 500,
    rounds: int = 1,
    generator: torch.Generator | None = None,
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    report: Callable[[float, str], None] | None = None,
) -> tuple[Vec, dict]:
    """``(H + damping I)^-1 b`` with ``H`` the Hessian of the mean loss over ``(x, y)`` at the
    model's current weights (plus ``weight_decay``): ``solver="cg"`` by
    :func:`conjugate_gradients` on full-batch products, ``"lissa"`` by :func:`lissa` on
    minibatches of ``batch_size`` drawn from one shuffled order per pass (``generator``).
    ``report(fraction, message)`` after each product. Returns the solution and the solver's
    log."""
    if solver == "cg":
        done = [0]

        def apply(v):
            done[0] += 1
            if report is not None:
                report(min(done[0] / steps, 0.99), f"CG iteration {done[0]}")
            return hvp(model, x, y, v, label_smoothing=label_smoothing, weight_decay=weight_decay)

        return conjugate_gradients(apply, b, damping=damping, steps=steps)
    if solver != "lissa":
        raise ValueError(f"unknown solver {solver!r} (cg or lissa)")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    bs = min(batch_size, len(x))
    orders: list[torch.Tensor] = []

    def apply_batch(t: int, v):
        per_pass = max(len(x) // bs, 1)
        while len(orders) <= t // per_pass:
            orders.append(torch.randperm(len(x), generator=gen).to(x.device))
        k = t % per_pass
        idx = orders[t // per_pass][k * bs : (k + 1) * bs]
        if report is not None:
            report(min((t + 1) / (steps * rounds), 0.99), f"LiSSA step {t + 1}")
        return hvp(
            model, x[idx], y[idx], v, label_smoothing=label_smoothing, weight_decay=weight_decay
        )

    return lissa(apply_batch, b, damping=damping, scale=scale, steps=steps, rounds=rounds)


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

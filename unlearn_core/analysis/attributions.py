"""Input attributions with captum: integrated gradients, saliency and LRP (epsilon rule).

``captum`` is imported inside the functions (the app must start fast). The model is never
changed: gradient methods run in eval mode and restore the training flag; LRP runs on a deep
copy, because captum leaves attributes (``activations``) on the layers it visits.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..runtime.progress import Progress, no_progress

METHODS = ("integrated_gradients", "saliency", "lrp")

#: Containers whose forward is a plain chain of their children (LRP can walk them).
_CHAIN_CONTAINERS = (nn.Sequential,)


def _as_batch(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Return ``x`` with a batch dimension, and whether one was added."""
    x = torch.as_tensor(x, dtype=torch.float32)
    shape = getattr(model, "spec", {}).get("input_shape")
    if shape is not None and tuple(x.shape) == tuple(shape):
        return x.unsqueeze(0), True
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(
            f"input of shape {tuple(x.shape)} does not fit a model for inputs {tuple(shape)}"
        )
    return x, False


def _target(target: int | torch.Tensor | np.ndarray | list, n: int, dev) -> int | torch.Tensor:
    if isinstance(target, int | np.integer):
        return int(target)
    t = torch.as_tensor(np.asarray(target), dtype=torch.int64).reshape(-1)
    if len(t) == 1:
        return int(t[0])
    if len(t) != n:
        raise ValueError(f"{len(t)} targets for {n} inputs")
    return t.to(dev)


def lrp_unsupported(model: nn.Module) -> list[str]:
    """Names and types of the modules captum's LRP cannot propagate through (empty: supported).

    captum's LRP walks the leaf modules and hooks each one; it is correct only when the model
    is a chain of them. Leaves need a rule (Linear, Conv2d, MaxPool2d, AvgPool2d,
    AdaptiveAvgPool2d, BatchNorm2d) or are activations (ReLU, Tanh, Dropout); ``Flatten``
    passes relevance unchanged (we give it an identity rule). A container with its own
    ``forward`` (e.g. ``models.BasicBlock``, whose residual ``out + shortcut(x)`` is a plain
    tensor sum that relevance would cross twice) and an empty ``Sequential`` (identity
    shortcut) are not supported.
    """
    from captum.attr._core.lrp import SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS

    ok_leaves = (*SUPPORTED_LAYERS_WITH_RULES, *SUPPORTED_NON_LINEAR_LAYERS, nn.Flatten)
    bad = []
    for name, mod in model.named_modules():
        if mod is model:
            continue
        children = list(mod.children())
        if children:
            if not isinstance(mod, _CHAIN_CONTAINERS):
                bad.append(f"{name} ({type(mod).__name__}: non-sequential forward)")
        elif type(mod) not in ok_leaves:
            bad.append(f"{name} ({type(mod).__name__})")
    return bad


def _flatten_rule():
    """captum's ``IdentityRule`` for ``nn.Flatten``: the output's relevance, reshaped back.

    captum's own ``IdentityRule`` hands the output's (flat) relevance to the input unchanged,
    which autograd rejects when the shapes differ ("hook ... has changed the size of value").
    """
    from captum.attr._utils.lrp_rules import IdentityRule

    class FlattenRule(IdentityRule):
        def _create_backward_hook_input(self, inputs):
            def _backward_hook_input(grad):
                return self.relevance_output[grad.device].reshape(grad.shape)

            return _backward_hook_input

    return FlattenRule()


def _lrp(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    bad = lrp_unsupported(model)
    if bad:
        arch = getattr(model, "arch", "") or type(model).__name__
        kinds = list(dict.fromkeys(b.split(" (", 1)[1].rstrip(")") for b in bad))
        raise ValueError(
            f"LRP is not supported for the {arch} model: captum's LRP cannot propagate "
            f"through {'; '.join(kinds)} (first at {bad[0].split(' (')[0]!r})"
        )
    work = copy.deepcopy(model).eval()
    for mod in work.modules():
        if isinstance(mod, nn.Flatten):
            mod.rule = _flatten_rule()
        elif not list(mod.children()) and not isinstance(mod, nn.ReLU | nn.Tanh | nn.Dropout):
            mod.rule = EpsilonRule()
    return LRP(work).attribute(x, target=target)


def _chunk(target, a: int, b: int, n: int):
    """Rows ``a:b`` of a per-sample ``target`` (one class for all stays as it is)."""
    t = np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target).reshape(-1)
    return t if len(t) == 1 else t[a:b] if len(t) == n else t


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    target: int | torch.Tensor | np.ndarray | list,
    method: str = "integrated_gradients",
) -> np.ndarray:
    """Attribution map(s) of ``model``'s ``target`` logit w.r.t. ``x``, with ``x``'s shape.

    ``x`` is one sample (the model's input shape) or a batch; ``target`` one class or one per
    sample. Methods: ``integrated_gradients`` (zero baseline, 32 Gauss-Legendre steps),
    ``saliency`` (absolute gradient), ``lrp`` (epsilon rule on every layer; raises
    ``ValueError`` naming the modules captum's LRP cannot handle, e.g. ResNet's residual block).
    The model's weights, mode and hooks are left as they were.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; use one of {', '.join(METHODS)}")
    xb, added = _as_batch(model, x)
    dev = next(model.parameters()).device
    xb = xb.detach().clone().to(dev)
    tgt = _target(target, len(xb), dev)
    was_training = model.training
    try:
        with torch.enable_grad():
            if method == "lrp":
                attr = _lrp(model, xb, tgt)
            else:
                from captum.attr import IntegratedGradients, Saliency

                model.eval()
                if method == "saliency":
                    attr = Saliency(model).attribute(xb, target=tgt, abs=True)
                else:
                    attr = IntegratedGradients(model).attribute(
                        xb,
                        baselines=torch.zeros_like(xb),
                        target=tgt,
                        n_steps=32,
                        internal_batch_size=256,
                    )
    finally:
        model.train(was_training)
    out = attr.detach().float().cpu().numpy()
    return out[0] if added else out


#: How each method is named in a note.
_LABELS = {"integrated_gradients": "Integrated gradients", "saliency": "Saliency", "lrp": "LRP"}


def _is_vote(model: nn.Module) -> bool:
    """Whether ``model`` is a vote of several models (``methods.sisa.VoteEnsemble``)."""
    return getattr(model, "spec", {}).get("arch") == "sisa" or isinstance(
        getattr(model, "members", None), nn.ModuleList
    )


_VOTE_REASON = (
    "attributions are not defined for a vote of several models (SISA): the majority vote is "
    "piecewise constant, so it has no gradient, and it has no single layer stack for LRP"
)


#: relative cost of one sample per method, in gradient passes (integrated gradients: 32 steps)
PASSES = {"integrated_gradients": 32, "saliency": 1, "lrp": 2}


def attribution_grid(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    target: int | torch.Tensor | np.ndarray | list,
    methods: Sequence[str] = METHODS,
    *,
    batch_size: int = 16,
    progress: Progress = no_progress,
) -> dict[str, dict]:
    """``attribute`` for each method and each named model (e.g. original / unlearned / retrain).

    Returns ``{"maps": {method: {name: array or None}}, "notes": {method: message}}``. Each
    array has a batch dimension, ``(batch, *input_shape)``, even for a single sample ``x``.
    A cell is None when the method cannot run on that model (LRP on a ResNet, any method on a
    SISA vote, or any other ``ValueError`` from ``attribute``); ``notes[method]`` then says
    why, and the other cells are still computed. An unknown method name raises ``ValueError``.
    Samples go through in batches of ``batch_size``; ``progress`` hears after each batch
    (fractions weighted by :data:`PASSES`).
    """
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(
            f"unknown attribution method {', '.join(map(repr, unknown))}; "
            f"use any of {', '.join(METHODS)}"
        )
    if models:
        x, _ = _as_batch(next(iter(models.values())), x)
    n = len(x)
    chunks = [(i, min(i + max(1, batch_size), n)) for i in range(0, n, max(1, batch_size))]
    total = sum(PASSES[m] for m in methods) * len(models) * n or 1
    done = 0
    maps: dict[str, dict[str, np.ndarray | None]] = {}
    notes: dict[str, str] = {}

    def run(model: nn.Module, method: str, name: str) -> np.ndarray:
        nonlocal done
        parts = []
        for a, b in chunks:
            tgt = target if isinstance(target, int | np.integer) else _chunk(target, a, b, n)
            parts.append(attribute(model, x[a:b], tgt, method))
            done += PASSES[method] * (b - a)
            progress(done / total, f"{_LABELS[method]} · {name} · samples {b} of {n}")
        return np.concatenate(parts) if parts else np.zeros((0, *x.shape[1:]), np.float32)

    for method in methods:
        maps[method] = {}
        reasons: dict[str, list[str]] = {}  # reason -> names of the models it applies to
        for name, model in models.items():
            if _is_vote(model):
                maps[method][name] = None
                reasons.setdefault(_VOTE_REASON, []).append(name)
                done += PASSES[method] * n
                continue
            start = done
            try:
                maps[method][name] = run(model, method, name)
            except ValueError as e:
                maps[method][name] = None
                reasons.setdefault(str(e), []).append(name)
                done = start + PASSES[method] * n
        if reasons:
            label = _LABELS.get(method, method)
            notes[method] = "; ".join(
                f"{label} is not shown for {', '.join(names)}: {reason}"
                for reason, names in reasons.items()
            )
    return {"maps": maps, "notes": notes}

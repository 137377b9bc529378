"""Layer-wise representation similarity: linear CKA (Kornblith et al., ICML 2019).

``linear_cka`` compares two activation matrices over the same samples; ``layer_activations``
reads a model's activations at readable layers (``default_layers``) with forward hooks; and
``layerwise_cka`` compares two models of one architecture layer by layer. The models are never
changed: they run in eval mode under ``torch.inference_mode`` and get their training flag back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

#: Activation bytes (float32) of one model held at once by ``layerwise_cka``; layers that do
#: not fit together are read in further (early-stopped) forward passes.
MAX_BYTES = 512 * 2**20

_FEATURE_CHUNK = 4096  # feature columns converted to float64 at a time in the Gram form


class _Stop(Exception):
    """Raised by a hook once every requested layer has fired: the rest of forward is skipped."""


def _is_vote(model: nn.Module) -> bool:
    """Whether ``model`` is a vote of several models (``methods.sisa.VoteEnsemble``)."""
    return getattr(model, "spec", {}).get("arch") == "sisa" or isinstance(
        getattr(model, "members", None), nn.ModuleList
    )


def _no_vote(model: nn.Module) -> None:
    if _is_vote(model):
        n = len(model.members) if isinstance(getattr(model, "members", None), nn.ModuleList) else 0
        raise ValueError(
            f"layer similarity is not defined for a vote of several models (a SISA ensemble of "
            f"{n or 'several'} members): it has no single stack of layers to compare"
        )


def linear_cka(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Linear CKA of activations ``a`` (n x p1) and ``b`` (n x p2) of the same n samples.

    ``||A^T B||_F^2 / (||A^T A||_F ||B^T B||_F)`` with column-centred ``A``, ``B``, in float64;
    computed in the n x n Gram form ``<AA^T, BB^T> / (||AA^T|| ||BB^T||)`` when a layer is
    wider than there are samples (equal values). Extra dimensions are flattened per sample.
    Invariant to rotations, isotropic scaling and shifts of either side; 1 for the same
    representation, in [0, 1]. Returns NaN when either side has zero variance (constant
    activations, e.g. a dead ReLU layer, or a single sample): the similarity is undefined.
    """
    a = _as_2d(a, "a")
    b = _as_2d(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a and b must hold the same samples: {len(a)} rows vs {len(b)} rows")
    n = len(a)
    if n < 2:
        return float("nan")
    if n < max(a.shape[1], b.shape[1]):
        ka, kb = _centred_gram(a), _centred_gram(b)
        cross = float(np.vdot(ka, kb))
        na, nb = float(np.linalg.norm(ka)), float(np.linalg.norm(kb))
    else:
        ac, bc = _centred(a), _centred(b)
        cross = float(np.linalg.norm(ac.T @ bc) ** 2)
        na, nb = float(np.linalg.norm(ac.T @ ac)), float(np.linalg.norm(bc.T @ bc))
    if na <= 0.0 or nb <= 0.0 or not np.isfinite(cross):
        return float("nan")
    return float(min(max(cross / (na * nb), 0.0), 1.0))


def _as_2d(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"{name} must be samples x features, got a scalar")
    x = x.reshape(len(x), -1)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def _centred(x: np.ndarray) -> np.ndarray:
    """Column-centred float64 copy; constant columns become exactly zero (no rounding noise)."""
    c = x.astype(np.float64) - x.mean(0, dtype=np.float64)
    c[:, np.ptp(x, axis=0) == 0] = 0.0
    return c


def _centred_gram(x: np.ndarray) -> np.ndarray:
    """``Xc Xc^T`` (n x n, float64) with column-centred ``X``, built a few columns at a time."""
    k = np.zeros((len(x), len(x)))
    for s in range(0, x.shape[1], _FEATURE_CHUNK):
        c = _centred(x[:, s : s + _FEATURE_CHUNK])
        k += c @ c.T
    return k


# ----------------------------------------------------------------------------- layers


def default_layers(model: nn.Module) -> dict[str, str]:
    """Readable label -> module name of the layers compared, ordered from input to output.

    * ``models.MLP``: the ReLU output of each hidden layer (``fc1``, ``fc2``...) and the head
      (``logits``);
    * ``models.SmallCNN``: each ReLU (``conv1``, ``conv2``, ``fc1``), the max-pool (``pool``)
      and the head (``logits``);
    * ``models.ResNet18``: the stem (``stem``), each basic block (``block1.1`` ... ``block4.2``,
      stage and block), the global pool (``pool``, the penultimate features) and ``logits``;
    * any other model: every ``ReLU`` module by its name, and ``head`` if it has one.

    A vote of several models (SISA) raises ``ValueError``: it has no single layer stack.
    """
    _no_vote(model)
    out: dict[str, str] = {}
    body = getattr(model, "body", None)
    stem, blocks = getattr(model, "stem", None), getattr(model, "layers", None)
    if isinstance(body, nn.Sequential):
        counts: dict[str, int] = {}
        kind = "layer"
        for name, mod in body.named_children():
            if isinstance(mod, nn.Linear):
                kind = "fc"
            elif isinstance(mod, nn.Conv2d):
                kind = "conv"
            elif isinstance(mod, nn.ReLU):
                counts[kind] = counts.get(kind, 0) + 1
                out[f"{kind}{counts[kind]}"] = f"body.{name}"
            elif isinstance(mod, nn.MaxPool2d | nn.AvgPool2d | nn.AdaptiveAvgPool2d):
                counts["pool"] = counts.get("pool", 0) + 1
                out["pool" if counts["pool"] == 1 else f"pool{counts['pool']}"] = f"body.{name}"
    elif isinstance(stem, nn.Module) and isinstance(blocks, nn.Sequential):
        out["stem"] = "stem"
        for i, (name, _) in enumerate(blocks.named_children()):
            out[f"block{i // 2 + 1}.{i % 2 + 1}"] = f"layers.{name}"
        if isinstance(getattr(model, "pool", None), nn.Module):
            out["pool"] = "pool"
    else:
        for name, mod in model.named_modules():
            if isinstance(mod, nn.ReLU) and name:
                out[name] = name
    if isinstance(getattr(model, "head", None), nn.Module):
        out["logits"] = "head"
    if not out:
        raise ValueError(
            f"no layers to compare in a {type(model).__name__}: it has no ReLU modules and no "
            "head; pass the module names as layers="
        )
    return out


def _layer_map(model: nn.Module, layers: Mapping[str, str] | Sequence[str] | None) -> dict:
    _no_vote(model)
    if layers is None:
        return default_layers(model)
    chosen = dict(layers) if isinstance(layers, Mapping) else {n: n for n in layers}
    known = dict(model.named_modules())
    missing = [m for m in chosen.values() if m not in known]
    if missing:
        raise ValueError(f"{type(model).__name__} has no module named {', '.join(missing)}")
    return chosen


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _collect(
    model: nn.Module, x: torch.Tensor, layers: Mapping[str, str], batch_size: int
) -> dict[str, torch.Tensor]:
    """Label -> float32 CPU tensor (n x features) of each layer's output, in one pass.

    The forward pass of each batch stops as soon as every requested layer has fired.
    """
    modules = dict(model.named_modules())
    parts: dict[str, list[torch.Tensor]] = {label: [] for label in layers}
    fired: set[str] = set()

    def hook_for(label: str):
        def hook(_mod, _inp, out):
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"layer {label!r} does not return a single tensor")
            if label not in fired:
                parts[label].append(out.detach().float().reshape(len(out), -1).cpu())
                fired.add(label)
            if len(fired) == len(layers):
                raise _Stop

        return hook

    handles = [modules[name].register_forward_hook(hook_for(lab)) for lab, name in layers.items()]
    was_training = model.training
    dev = _device(model)
    try:
        model.eval()
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                fired.clear()
                with contextlib.suppress(_Stop):
                    model(x[s : s + batch_size].to(dev))
                silent = [lab for lab in layers if lab not in fired]
                if silent:
                    raise ValueError(f"layers {', '.join(silent)} were not used by forward")
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {lab: torch.cat(p) for lab, p in parts.items()}


def _as_input(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return x.float()


def layer_activations(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    layers: Mapping[str, str] | Sequence[str] | None = None,
    batch_size: int = 512,
) -> dict[str, np.ndarray]:
    """Activations of ``x`` (a batch) at each layer, flattened per sample: label -> n x p.

    ``layers`` is a mapping label -> module name, a list of module names (used as labels), or
    None for ``default_layers(model)``. Read with forward hooks in eval mode under inference
    mode; the model's training flag is restored and its hooks removed. Holds every layer of
    every sample in memory (float32): subsample ``x`` for big models.
    """
    chosen = _layer_map(model, layers)
    acts = _collect(model, _as_input(x), chosen, batch_size)
    return {lab: t.numpy() for lab, t in acts.items()}


def _layer_widths(model: nn.Module, x: torch.Tensor, layers: Mapping[str, str]) -> list[int]:
    acts = _collect(model, x[:1], layers, 1)
    return [acts[lab].shape[1] for lab in layers]


def layerwise_cka(
    model_a: nn.Module,
    model_b: nn.Module,
    x: torch.Tensor | np.ndarray,
    *,
    max_samples: int = 2000,
    seed: int = 0,
    batch_size: int = 512,
    max_bytes: int = MAX_BYTES,
) -> dict[str, float]:
    """Linear CKA between ``model_a`` and ``model_b`` at each layer of ``default_layers``.

    Returns label -> CKA in input-to-output order (1 = the same representation up to rotation
    and isotropic scale; NaN where a layer's activations are constant). ``x`` is subsampled
    to ``max_samples`` rows (seeded, order kept). The models must have the same layer labels
    (same architecture and depth), else ``ValueError``; a SISA vote raises ``ValueError``.
    At most ``max_bytes`` of one model's activations are held at a time: the layers are read
    in groups, each by a forward pass that stops after the group's last layer.
    """
    la, lb = default_layers(model_a), default_layers(model_b)
    if list(la) != list(lb):
        arch_a = getattr(model_a, "arch", "") or type(model_a).__name__
        arch_b = getattr(model_b, "arch", "") or type(model_b).__name__
        raise ValueError(
            "layer-wise CKA needs two models with the same layers: "
            f"{arch_a} has {', '.join(la)} but {arch_b} has {', '.join(lb)}"
        )
    x = _as_input(x)
    if len(x) < 2:
        raise ValueError(f"need at least 2 samples to compare layers, got {len(x)}")
    if len(x) > max_samples:
        rng = np.random.default_rng(seed)
        x = x[torch.as_tensor(np.sort(rng.choice(len(x), max_samples, replace=False)))]
    widths = [
        max(wa, wb)
        for wa, wb in zip(_layer_widths(model_a, x, la), _layer_widths(model_b, x, lb), strict=True)
    ]
    groups: list[list[str]] = []
    used = max_bytes + 1
    for label, w in zip(la, widths, strict=True):
        size = 4 * len(x) * w
        if used + size > max_bytes:
            groups.append([])
            used = 0
        groups[-1].append(label)
        used += size
    out: dict[str, float] = {}
    for group in groups:
        acts_a = _collect(model_a, x, {g: la[g] for g in group}, batch_size)
        acts_b = _collect(model_b, x, {g: lb[g] for g in group}, batch_size)
        for label in group:
            out[label] = linear_cka(acts_a.pop(label).numpy(), acts_b.pop(label).numpy())
    return out

"""Quantisation as a recovery attack (Zhang et al. 2024, "Does your LLM truly unlearn? An
embarrassingly simple approach to recover unlearned knowledge"; ICLR 2025 as "Catastrophic
failure of LLM unlearning via quantization").

Their finding: unlearning by small weight updates can leave the forgotten knowledge a rounding
step away; quantising the unlearned model's weights (no data, no training) rounds the updates
away and forget accuracy comes back, while a retrained model has nothing to give back. We
quantise a copy of the model and measure forget accuracy again, for the unlearned models and the
retrained ones side by side.

**Quantiser.** Round-to-nearest (RTN), the paper's simplest setting: symmetric absmax,
``Q(w) = s * clamp(round(w / s), -q, q)`` with ``q = 2^(bits-1) - 1`` (127 for int8, 7 for
4-bit) and ``s = max |w| / q`` per output channel (a row of a Linear weight, an output filter of
a convolution) or per tensor. ``torch.round`` rounds halves to even. Every weight moves by at most
half a step ``s / 2``. Only the weights of Linear and convolution layers are quantised; biases,
normalisation parameters and buffers stay in full precision, as bitsandbytes leaves them.

Reference code read: zzwjames/FailureLLMUnlearning ``utils.py`` (``load_model``: the model
loaded with bitsandbytes, ``BitsAndBytesConfig(load_in_8bit=True)`` or ``load_in_4bit=True``) and
``baselines/baselines/config.py``. Different: bitsandbytes' int8 is LLM.int8 (per-row absmax
scale 127 like ours, but with outlier input columns above a threshold kept in 16 bits) and its
default 4-bit type is FP4 in blocks of 64 weights, not an integer grid; we use the plain integer
RTN grid above on every Linear and convolution weight (their Linear layers only: our small CNNs
would otherwise keep most of their weights in their convolutions), in float32 arithmetic.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..evaluation import metrics as M
from ..training import predict_logits

#: the precisions the recovery battery shows (None: full precision)
BITS = (8, 4)
QUANTISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def step(w: torch.Tensor, bits: int, per_channel: bool = True) -> torch.Tensor:
    """The quantisation step ``s = max |w| / (2^(bits-1) - 1)``: one per output channel
    (shape ``[out, 1, ...]``) or one for the tensor (a 0-d tensor)."""
    if bits < 2:
        raise ValueError(f"quantise to at least 2 bits, not {bits}")
    q = 2 ** (bits - 1) - 1
    a = w.detach().abs()
    absmax = (
        a.amax(dim=tuple(range(1, w.ndim)), keepdim=True) if per_channel and w.ndim > 1 else a.max()
    )
    return absmax / q


def rtn(w: torch.Tensor, bits: int, per_channel: bool = True) -> torch.Tensor:
    """``w`` rounded to the nearest point of its symmetric ``bits``-bit grid (a new tensor, same
    dtype). An all-zero channel stays zero."""
    q = 2 ** (bits - 1) - 1
    s = step(w, bits, per_channel)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    out = torch.clamp(torch.round(w.detach() / safe), -q, q) * safe
    return torch.where(s > 0, out, w.detach()).to(w.dtype)


def quantize_model(model: nn.Module, bits: int, per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with every Linear / convolution weight RTN-quantised to ``bits``
    (then held in the model's own float type: simulated quantisation, the same outputs as
    integer kernels up to float rounding). ``model`` itself is not changed."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for mod in out.modules():
            if isinstance(mod, QUANTISED):
                mod.weight.copy_(rtn(mod.weight, bits, per_channel))
    return out


@dataclass
class QuantAccuracy:
    """Accuracies (percent) of a group of models at one precision: the mean and each model's."""

    forget_acc: float
    forget_accs: list[float] = field(default_factory=list)
    retain_acc: float | None = None


@dataclass
class QuantRecovery:
    """Forget (and retain) accuracy of the unlearned and the retrained models at full precision
    (``"full"``) and after RTN quantisation (``"int8"``, ``"int4"``), side by side."""

    scheme: str
    unlearned: dict[str, QuantAccuracy]
    retrained: dict[str, QuantAccuracy]

    def forget_acc(self, bits: int | None, side: str = "unlearned") -> float:
        """Mean forget accuracy of ``side`` at ``bits`` (None: full precision)."""
        return getattr(self, side)[_key(bits)].forget_acc

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> QuantRecovery:
        return cls(
            scheme=d["scheme"],
            unlearned={k: QuantAccuracy(**v) for k, v in d["unlearned"].items()},
            retrained={k: QuantAccuracy(**v) for k, v in d["retrained"].items()},
        )


def _key(bits: int | None) -> str:
    return "full" if bits is None else f"int{bits}"


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return M.accuracy(predict_logits(model, x).numpy(), y.cpu().numpy())


def quantized_accuracies(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    bits: Sequence[int] = BITS,
    per_channel: bool = True,
) -> dict[str, float]:
    """One model's accuracy (percent) on ``(x, y)`` at full precision and quantised to each of
    ``bits``: ``{"full": .., "int8": .., "int4": ..}`` (what an executor call can return
    instead of the weights)."""
    out = {"full": _acc(model, x, y)}
    for b in bits:
        out[_key(b)] = _acc(quantize_model(model, b, per_channel), x, y)
    return out


def _group(models, bits_list, per_channel, forget, retain) -> dict[str, QuantAccuracy]:
    f = [quantized_accuracies(m, *forget, bits=bits_list, per_channel=per_channel) for m in models]
    r = [
        quantized_accuracies(m, *retain, bits=bits_list, per_channel=per_channel)
        for m in (models if retain is not None else [])
    ]
    out = {}
    for bits in (None, *bits_list):
        f_accs = [d[_key(bits)] for d in f]
        r_accs = [d[_key(bits)] for d in r]
        out[_key(bits)] = QuantAccuracy(
            forget_acc=float(np.mean(f_accs)),
            forget_accs=f_accs,
            retain_acc=float(np.mean(r_accs)) if r_accs else None,
        )
    return out


def quantization_recovery(
    unlearned: Sequence[nn.Module],
    retrained: Sequence[nn.Module],
    forget: tuple[torch.Tensor, torch.Tensor],
    *,
    retain: tuple[torch.Tensor, torch.Tensor] | None = None,
    bits: Sequence[int] = BITS,
    per_channel: bool = True,
) -> QuantRecovery:
    """Forget accuracy of each unlearned and each retrained model at full precision and after
    quantising its weights to each of ``bits`` (``forget`` / ``retain``: ``(x, y)`` tensors;
    retain accuracy too when given, to show the quantised models still work)."""
    return QuantRecovery(
        scheme=f"RTN symmetric absmax, {'per output channel' if per_channel else 'per tensor'}",
        unlearned=_group(unlearned, bits, per_channel, forget, retain),
        retrained=_group(retrained, bits, per_channel, forget, retain),
    )

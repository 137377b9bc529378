"""Forget requests: by class, by explicit training indices, or by random fraction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .data import Dataset


class ForgetError(ValueError):
    """A forget request that cannot be honoured; the message says why."""


@dataclass(frozen=True)
class ForgetRequest:
    """What to forget. Exactly one of ``classes`` / ``indices`` / ``fraction`` drives it;
    ``fraction`` may be combined with ``classes`` to draw the fraction within those classes."""

    classes: tuple[int, ...] = ()
    indices: tuple[int, ...] = ()
    fraction: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))

    @property
    def kind(self) -> str:
        if self.indices:
            return "indices"
        if self.fraction is not None:
            return "fraction_in_class" if self.classes else "fraction"
        return "class"

    def describe(self, class_names: list[str] | None = None) -> str:
        names = [class_names[c] if class_names else str(c) for c in self.classes]
        if self.kind == "class":
            return f"class {', '.join(names)}"
        if self.kind == "indices":
            return f"{len(self.indices)} chosen samples"
        where = f" of class {', '.join(names)}" if self.classes else ""
        return f"random {self.fraction:.0%}{where} (seed {self.seed})"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind
        d["indices"] = list(self.indices)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ForgetRequest:
        return cls(
            classes=tuple(d.get("classes", ())),
            indices=tuple(d.get("indices", ())),
            fraction=d.get("fraction"),
            seed=int(d.get("seed", 0)),
        )


@dataclass
class ForgetSplit:
    """The training set split into forget and retain indices (sorted, disjoint, covering)."""

    request: ForgetRequest
    forget_idx: torch.Tensor
    retain_idx: torch.Tensor
    #: classes forgotten whole (every training sample of the class is in the forget set)
    forgotten_classes: tuple[int, ...] = field(default=())

    @property
    def n_forget(self) -> int:
        return len(self.forget_idx)

    @property
    def n_retain(self) -> int:
        return len(self.retain_idx)

    @property
    def is_class_wise(self) -> bool:
        return bool(self.forgotten_classes) and self.request.kind == "class"

    def forget_data(self, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return data.x_train[self.forget_idx], data.y_train[self.forget_idx]

    def retain_data(self, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return data.x_train[self.retain_idx], data.y_train[self.retain_idx]

    def test_masks(self, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """(forgotten-class mask, other mask) over the test set; all-False first if none."""
        mask = torch.zeros(data.n_test, dtype=torch.bool)
        for c in self.forgotten_classes:
            mask |= data.y_test == c
        return mask, ~mask


def make_split(data: Dataset, request: ForgetRequest) -> ForgetSplit:
    """Resolve ``request`` against ``data``; empty, whole-dataset, out-of-range and unknown-class
    requests raise :class:`ForgetError`."""
    n = data.n_train
    y = data.y_train.numpy()
    for c in request.classes:
        if not 0 <= c < data.num_classes:
            raise ForgetError(
                f"unknown class {c}: {data.name} has classes 0..{data.num_classes - 1}"
            )
    if request.indices:
        if request.classes or request.fraction is not None:
            raise ForgetError("give either indices or classes/fraction, not both")
        idx = np.asarray(request.indices, dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise ForgetError(
                f"index {int(bad[0])} is out of range: the training set has {n} samples (0..{n - 1})"
            )
        forget = np.unique(idx)
    elif request.fraction is not None:
        f = float(request.fraction)
        if not 0.0 < f <= 1.0:
            raise ForgetError(f"fraction must be in (0, 1], got {f}")
        pool = np.flatnonzero(np.isin(y, request.classes)) if request.classes else np.arange(n)
        k = int(round(f * len(pool)))
        if k == 0:
            raise ForgetError(
                f"a fraction of {f} of {len(pool)} samples selects nothing; raise the fraction"
            )
        rng = np.random.default_rng(request.seed)
        forget = np.sort(rng.choice(pool, size=k, replace=False))
    elif request.classes:
        forget = np.flatnonzero(np.isin(y, request.classes))
    else:
        raise ForgetError("the forget request is empty: choose classes, samples or a fraction")

    if len(forget) == 0:
        raise ForgetError("the forget set is empty: nothing would be forgotten")
    if len(forget) >= n:
        raise ForgetError(
            "the forget set covers the whole training set: nothing would be left to retain"
        )
    retain = np.setdiff1d(np.arange(n), forget, assume_unique=True)
    if len(np.unique(y[retain])) < 1:
        raise ForgetError("the retain set has no samples")
    counts = np.bincount(y, minlength=data.num_classes)
    fcounts = np.bincount(y[forget], minlength=data.num_classes)
    whole = tuple(int(c) for c in np.flatnonzero((fcounts == counts) & (counts > 0)))
    return ForgetSplit(
        request=request,
        forget_idx=torch.as_tensor(forget, dtype=torch.long),
        retain_idx=torch.as_tensor(retain, dtype=torch.long),
        forgotten_classes=whole,
    )

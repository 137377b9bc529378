"""One dataset type for every source: tensors, class names, input shape, thumbnails."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

Kind = Literal["image", "tabular", "points2d"]
#: the splits a dataset holds, by the suffix of their tensors (``x_train``, ``x_val``, ``x_test``)
SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A dataset or data file is unusable; the message says which and why."""


@dataclass
class Dataset:
    """Train/validation/test tensors plus what is needed to show and model them.

    ``x_*`` are float32; images are ``N x C x H x W`` with values in [0, 1], tabular and
    2-D point data are ``N x D`` (already standardised). ``y_*`` are int64 class ids.

    The three splits have three jobs: models train on ``train`` (forget and retain sets index
    it); every decision a method, stopping rule, sweep or calibration takes reads ``val``
    only; ``test`` only scores. ``load_dataset`` / ``load_file`` carve ``val`` from the
    training data (:meth:`with_validation`) unless the file brings its own; a ``Dataset``
    built by hand has none until asked.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    kind: Kind = "image"
    meta: dict = field(default_factory=dict)
    #: the validation split (empty: none); see the class docstring
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.x_train = _standard_strides(torch.as_tensor(self.x_train, dtype=torch.float32))
        self.x_test = _standard_strides(torch.as_tensor(self.x_test, dtype=torch.float32))
        self.y_train = torch.as_tensor(self.y_train, dtype=torch.int64)
        self.y_test = torch.as_tensor(self.y_test, dtype=torch.int64)
        if self.x_val is None:
            self.x_val = self.x_train[:0]
            self.y_val = self.y_train[:0]
        self.x_val = _standard_strides(torch.as_tensor(self.x_val, dtype=torch.float32))
        self.y_val = torch.as_tensor(self.y_val, dtype=torch.int64)
        if (
            len(self.x_train) != len(self.y_train)
            or len(self.x_test) != len(self.y_test)
            or len(self.x_val) != len(self.y_val)
        ):
            raise DataError(f"{self.name}: inputs and labels differ in length")
        if len(self.x_train) == 0:
            raise DataError(f"{self.name}: the training set is empty")
        for part, x in (("test", self.x_test), ("validation", self.x_val)):
            if len(x) and self.x_train.shape[1:] != x.shape[1:]:
                raise DataError(
                    f"{self.name}: train inputs {tuple(self.x_train.shape[1:])} and {part} "
                    f"inputs {tuple(x.shape[1:])} differ in shape"
                )
        top = int(
            max(
                self.y_train.max(),
                self.y_test.max() if len(self.y_test) else 0,
                self.y_val.max() if len(self.y_val) else 0,
            )
        )
        if int(self.y_train.min()) < 0 or top >= len(self.classes):
            raise DataError(
                f"{self.name}: labels must lie in 0..{len(self.classes) - 1}, found {top}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def n_val(self) -> int:
        return len(self.y_val)

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def class_counts(self, split: str = "train") -> np.ndarray:
        return np.bincount(self._split(split)[1].numpy(), minlength=self.num_classes)

    def image(self, i: int, split: str = "train") -> np.ndarray:
        """Return sample ``i`` as a uint8 image (``H x W`` grey or ``H x W x 3`` RGB)."""
        x = self._split(split)[0][i]
        if self.kind == "image":
            arr = x.numpy()
            arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
            return (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
        return _vector_thumbnail(x.numpy(), self.x_train)

    def sorted_by_class(self) -> Dataset:
        """A copy whose training set is stably sorted by label (test set unchanged).

        For checking that nothing depends on the stored order (training shuffles; sharding,
        forget sets and batching must not assume mixed classes). Train sample ``i`` of the copy
        is sample ``train_order_by_class()[i]`` of this one.
        """
        order = self.train_order_by_class()
        return replace(
            self,
            x_train=self.x_train[order],
            y_train=self.y_train[order],
            meta={**self.meta, "sorted_by_class": True},
        )

    def with_validation(self, fraction: float = 0.1, seed: int = 0) -> Dataset:
        """A copy with a validation split carved from the training data: stratified, seeded
        ``round(fraction * n_c)`` samples of each class ``c`` (at least one where the class
        has two or more, never its last one). Returns ``self`` if there is a validation split
        already or ``fraction`` is 0. Train indices of the copy refer to the rest, in order."""
        if self.n_val or fraction == 0:
            return self
        if not 0.0 < fraction < 1.0:
            raise DataError(
                f"{self.name}: the validation fraction must be in [0, 1), got {fraction}"
            )
        y = self.y_train.numpy()
        rng = np.random.default_rng(seed)
        val = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            k = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
            val.append(rng.permutation(idx)[:k])
        val_idx = np.sort(np.concatenate(val))
        keep = np.setdiff1d(np.arange(len(y)), val_idx, assume_unique=True)
        return replace(
            self,
            x_train=self.x_train[keep],
            y_train=self.y_train[keep],
            x_val=self.x_train[val_idx],
            y_val=self.y_train[val_idx],
            meta={**self.meta, "validation": {"fraction": fraction, "seed": seed}},
        )

    def without_test(self) -> Dataset:
        """A copy with no test samples: what an unlearning method is given (the test set
        only scores; nothing a method decides may depend on it)."""
        return replace(self, x_test=self.x_test[:0], y_test=self.y_test[:0])

    def train_order_by_class(self) -> torch.Tensor:
        """The stable permutation that sorts the training set by label."""
        return torch.argsort(self.y_train, stable=True)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "input_shape": list(self.input_shape),
            "classes": list(self.classes),
        }


def _standard_strides(t: torch.Tensor) -> torch.Tensor:
    """``t`` with row-major strides (a copy only if it has other strides).

    An ``N x 1 x H x W`` array made with ``x[:, None]`` has strides that also read as
    channels-last; oneDNN's convolution backward then took a channels-last path that corrupted
    memory (torch 2.13 CPU, one thread, ResNet-18 on digits: "free(): invalid size")."""
    if t.dim() < 2:
        return t.contiguous()
    expected, step = [], 1
    for size in reversed(t.shape):
        expected.append(step)
        step *= size
    if t.stride() == tuple(reversed(expected)):
        return t
    return t.clone(memory_format=torch.contiguous_format)


def _vector_thumbnail(v: np.ndarray, ref: torch.Tensor, size: int = 16) -> np.ndarray:
    """Draw a feature vector as a grey bar chart: one column per feature, height = value."""
    lo = ref.min(0).values.numpy()
    hi = ref.max(0).values.numpy()
    scaled = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    d = len(v)
    width = max(size, d)
    img = np.zeros((size, width), dtype=np.uint8)
    col = width // d
    for j, s in enumerate(np.clip(scaled, 0, 1)):
        h = max(1, int(round(s * size)))
        img[size - h :, j * col : (j + 1) * col] = 255
    return img

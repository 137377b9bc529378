"""One dataset type for every source: tensors, class names, input shape, thumbnails."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

Kind = Literal["image", "tabular", "points2d"]


class DataError(ValueError):
    """A dataset or data file is unusable; the message says which and why."""


@dataclass
class Dataset:
    """Train/test tensors plus what is needed to show and model them.

    ``x_*`` are float32; images are ``N x C x H x W`` with values in [0, 1], tabular and
    2-D point data are ``N x D`` (already standardised). ``y_*`` are int64 class ids.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    kind: Kind = "image"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x_train = _standard_strides(torch.as_tensor(self.x_train, dtype=torch.float32))
        self.x_test = _standard_strides(torch.as_tensor(self.x_test, dtype=torch.float32))
        self.y_train = torch.as_tensor(self.y_train, dtype=torch.int64)
        self.y_test = torch.as_tensor(self.y_test, dtype=torch.int64)
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise DataError(f"{self.name}: inputs and labels differ in length")
        if len(self.x_train) == 0:
            raise DataError(f"{self.name}: the training set is empty")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: train inputs {tuple(self.x_train.shape[1:])} and test inputs "
                f"{tuple(self.x_test.shape[1:])} differ in shape"
            )
        top = int(max(self.y_train.max(), self.y_test.max() if len(self.y_test) else 0))
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

    def class_counts(self, split: str = "train") -> np.ndarray:
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y.numpy(), minlength=self.num_classes)

    def image(self, i: int, split: str = "train") -> np.ndarray:
        """Return sample ``i`` as a uint8 image (``H x W`` grey or ``H x W x 3`` RGB)."""
        x = (self.x_train if split == "train" else self.x_test)[i]
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

    def train_order_by_class(self) -> torch.Tensor:
        """The stable permutation that sorts the training set by label."""
        return torch.argsort(self.y_train, stable=True)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "n_train": self.n_train,
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

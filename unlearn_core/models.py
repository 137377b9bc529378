"""Models written with torch only; each splits into ``features(x)`` and a final ``head``.

Every ReLU is its own module (captum's LRP needs that), and every model records how it was
built in ``model.spec`` so a checkpoint can rebuild it and a retrain can start afresh.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

ARCHITECTURES: dict[str, Callable[..., UnlearnModel]] = {}


class ModelError(ValueError):
    """A model cannot be built or loaded for the given data."""


def architecture(name: str):
    def deco(cls):
        ARCHITECTURES[name] = cls
        cls.arch = name
        return cls

    return deco


class UnlearnModel(nn.Module):
    """Base: ``forward(x) = head(features(x))``; ``spec`` rebuilds an untrained twin."""

    arch: str = ""
    head: nn.Linear

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, **kwargs) -> None:
        super().__init__()
        self.spec = {
            "arch": self.arch,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "kwargs": dict(kwargs),
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def feature_dim(self) -> int:
        return self.head.in_features


@architecture("mlp")
class MLP(UnlearnModel):
    """Fully connected net: flatten -> [Linear -> ReLU] x len(hidden) -> Linear head."""

    def __init__(
        self, input_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...] = (256, 128)
    ) -> None:
        super().__init__(input_shape, num_classes, hidden=list(hidden))
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@architecture("cnn")
class SmallCNN(UnlearnModel):
    """Conv(c1, stride s)-ReLU-Conv(c2)-ReLU-MaxPool(2)-Flatten-FC(fc)-ReLU -> Linear head.

    The first conv downsamples (``stride`` 2) on inputs of 16 pixels or more a side, so no conv
    runs at full resolution on 28x28 / 32x32 images: on 2 CPU cores, shapes-2000 at 32x32
    trains about 10x faster per sample than the earlier Conv32-Conv64-Pool layout (its full
    resolution 3x3 convs, their backward and the max-pool over them dominated the step). On
    small inputs (8x8 digits) ``stride`` is 1 and the layout is the MNIST-style one.
    ``stride`` None picks that; the chosen value is recorded in ``spec``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: tuple[int, int] = (16, 32),
        fc: int = 128,
        stride: int | None = None,
    ) -> None:
        if len(input_shape) != 3:
            raise ModelError(f"cnn needs image input (C, H, W), got shape {tuple(input_shape)}")
        c, h, w = input_shape
        if stride is None:
            stride = 2 if min(h, w) >= 16 else 1
        h1, w1 = (h - 1) // stride + 1, (w - 1) // stride + 1
        if min(h1, w1) < 2:
            raise ModelError(
                f"cnn needs images of at least 2x2 pixels after its first conv, "
                f"got {h}x{w} with stride {stride}"
            )
        super().__init__(input_shape, num_classes, channels=list(channels), fc=fc, stride=stride)
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(c, c1, 3, stride=stride, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (h1 // 2) * (w1 // 2), fc),
            nn.ReLU(),
        )
        self.head = nn.Linear(fc, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BasicBlock(nn.Module):
    """ResNet basic block; the residual sum is a module so LRP can attach a rule to it."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


@architecture("resnet18")
class ResNet18(UnlearnModel):
    """CIFAR-style ResNet-18 (3x3 stem, no max-pool, [2, 2, 2, 2] basic blocks).

    ``width`` is the first stage's channel count (64 in the paper; stages double it).
    ``stem_stride`` 2 halves the resolution in the stem: with ``width`` 8 that is the narrow
    variant for CPUs (:data:`NARROW_RESNET`), ~250x fewer multiply-adds per image than width 64.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        width: int = 64,
        stem_stride: int = 1,
    ) -> None:
        super().__init__(input_shape, num_classes, width=width, stem_stride=stem_stride)
        if len(input_shape) != 3:
            raise ModelError(f"resnet18 needs image input (C, H, W), got {tuple(input_shape)}")
        c = input_shape[0]
        self.stem = nn.Sequential(
            nn.Conv2d(c, width, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = width
        for i, mult in enumerate((1, 2, 4, 8)):
            cout = width * mult
            for j in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(self.layers(self.stem(x))))


#: ResNet-18 settings that train on CPUs in seconds (shapes-2000: width 8 reached 99-100% test
#: accuracy with ``default_recipe("resnet18")`` in about 13 CPU-seconds; see
#: ``benchmarks/results/speed.md``). The defaults (width 64, stem stride 1) are for GPUs.
NARROW_RESNET: dict = {"width": 8, "stem_stride": 2}


def build_model(
    arch: str, input_shape: tuple[int, ...], num_classes: int, **kwargs
) -> UnlearnModel:
    """Build an untrained model of architecture ``arch`` for the given data shape."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown model {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](tuple(input_shape), num_classes, **kwargs)


def fresh_like(model: UnlearnModel) -> UnlearnModel:
    """An untrained model with the same architecture and shape as ``model`` (same device)."""
    s = model.spec
    twin = build_model(s["arch"], tuple(s["input_shape"]), s["num_classes"], **s["kwargs"])
    return twin.to(next(model.parameters()).device)


def clone_model(model: UnlearnModel) -> UnlearnModel:
    """A deep copy that shares nothing with ``model``."""
    return copy.deepcopy(model)


def weights_hash(model: nn.Module) -> str:
    """A hash of every parameter and buffer, to check that a model was not changed."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()

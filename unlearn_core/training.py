"""Training and evaluation on tensors held on the device (no DataLoader, no per-sample loop).

On CUDA, training and inference run under bf16 autocast, conv nets in channels-last memory
format, and optionally through ``torch.compile`` (see :class:`TrainConfig`). These options are
no-ops on the CPU, so CPU results do not depend on them (a test checks identical weights).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .runtime.device import pick_device, seed_everything
from .runtime.progress import Progress, checkpoint, no_progress, reporting


@dataclass
class TrainConfig:
    """A training recipe; retraining from scratch reuses the original model's recipe.

    ``schedule``: ``"constant"`` keeps ``lr``; ``"onecycle"`` warms up from ``lr / 25`` to
    ``lr`` over the first quarter of the steps and anneals it (cosine) to ``lr / 1e5``
    (``OneCycleLR``'s shape, momentum not cycled; see :func:`onecycle_factor`). ``label_smoothing`` is passed to the cross-entropy.

    The last three fields only act on CUDA and are ignored elsewhere: ``mixed_precision``
    (bf16 autocast), ``channels_last`` (NHWC memory format for models with conv layers) and
    ``compile`` (``torch.compile`` the model for training).

    Fields missing from a stored recipe (older checkpoints) take these defaults, which are the
    behaviour before they existed.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant" or "onecycle"
    label_smoothing: float = 0.0
    mixed_precision: bool = True
    channels_last: bool = True
    compile: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


#: Recipes that train each architecture well on the small built-in sets.
#:
#: ``cnn``: one-cycle Adam with label smoothing 0.1 (digits 28x28: ~98.6% instead of ~97.4%
#: without it; the loss-attack AUC between train and test samples was not lower with it, so
#: membership signals survive; confidences top out near 0.9 instead of 1). ``resnet18``: the
#: same schedule with SGD; 8 epochs of batch 128 suit small sets (shapes-2000 with the narrow
#: model ~99-100%, digits 97-98%; batch 256 left too few steps: digits 54% at width 64) and
#: shapes-50k / CIFAR-10 on a GPU. Measured in ``benchmarks/speed.py``.
DEFAULT_RECIPES: dict[str, TrainConfig] = {
    "mlp": TrainConfig(epochs=40, batch_size=32, lr=1e-3, optimizer="adam"),
    "cnn": TrainConfig(
        epochs=15,
        batch_size=64,
        lr=5e-3,
        optimizer="adam",
        schedule="onecycle",
        label_smoothing=0.1,
    ),
    "resnet18": TrainConfig(
        epochs=8,
        batch_size=128,
        lr=0.1,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        label_smoothing=0.1,
    ),
}


def default_recipe(arch: str) -> TrainConfig:
    return TrainConfig(**DEFAULT_RECIPES.get(arch, TrainConfig()).to_dict())


@dataclass
class History:
    """Per-epoch training loss and accuracy (percent)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(
    params, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam, by name.

    On CPU and CUDA the fused implementation updates all parameters in one kernel: the same
    update rule, and on the digits MLP about 30% less training time (the small model's steps
    are dominated by per-tensor overhead)."""
    params = list(params)
    devices = {p.device.type for p in params}
    fused = {"fused": True} if params and devices <= {"cpu", "cuda"} else {}
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **fused)
    raise ValueError(f"unknown optimizer {name!r}; use 'sgd' or 'adam'")


def batches(
    n: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    device: torch.device | str | None = None,
) -> Iterator[torch.Tensor]:
    """Yield index tensors covering ``0..n-1`` in (shuffled) batches.

    The order is drawn from ``generator`` on the CPU (the same order on every device) and, if
    ``device`` is given, moved there once, so each batch is a slice of a device tensor. Before
    each batch, :func:`~unlearn_core.runtime.progress.checkpoint` lets the run's progress callback stop
    it (a cancel takes effect within a batch, not an epoch)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if device is not None:
        order = order.to(device)
    for start in range(0, n, batch_size):
        checkpoint()
        yield order[start : start + batch_size]


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` has 2-D convolutions (the models channels-last helps)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when ``enabled``; a no-op context on every other device."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _channels_last(model: nn.Module, x: torch.Tensor, device: torch.device, enabled: bool) -> bool:
    return enabled and device.type == "cuda" and x.dim() == 4 and has_conv(model)


def onecycle_factor(step: int, total_steps: int) -> float:
    """The one-cycle multiplier of the peak learning rate at ``step`` (0-based) of
    ``total_steps``: cosine warm-up from 1/25 over the first quarter, then cosine annealing to
    1e-5 at the last step (``OneCycleLR``'s shape, defined for any number of steps)."""
    warm = max(1, round(0.25 * total_steps))
    if step < warm:
        return 0.04 + 0.96 * (1 - math.cos(math.pi * step / warm)) / 2
    p = min((step - warm) / max(total_steps - 1 - warm, 1), 1.0)
    return 1e-5 + (1 - 1e-5) * (1 + math.cos(math.pi * p)) / 2


def make_scheduler(
    opt: torch.optim.Optimizer, schedule: str, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-step learning-rate schedule of a recipe (None for a constant rate)."""
    if schedule == "constant":
        return None
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: onecycle_factor(step, total_steps)
        )
    raise ValueError(f"unknown schedule {schedule!r}; use 'constant' or 'onecycle'")


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` in place with cross-entropy on ``(x, y)``; return the history.

    Deterministic on CPU for a given seed. The data moves to the model's device once; batch
    indices are slices of one permutation per epoch, moved to the device once. On CUDA the
    recipe's ``mixed_precision`` / ``channels_last`` / ``compile`` apply (see
    :class:`TrainConfig`), and cuDNN autotuning is switched on for the process; the model is
    handed back in the default memory format.
    """
    cfg = cfg or TrainConfig()
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    x, y = x.to(dev), y.to(dev)
    cuda = dev.type == "cuda"
    if cuda:  # fixed batch shapes: let cuDNN time its algorithms once and keep the fastest
        torch.backends.cudnn.benchmark = True
    nhwc = _channels_last(model, x, dev, cfg.channels_last)
    if nhwc:  # before the optimiser sees the parameters, so its state gets the same layout
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    gen = seed_everything(seed)
    opt = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
    n = len(y)
    steps = -(-n // cfg.batch_size) if n else 0
    sched = make_scheduler(opt, cfg.schedule, cfg.epochs * steps)
    smoothing = float(cfg.label_smoothing)
    step_model = torch.compile(model) if cuda and cfg.compile else model
    hist = History()
    # a stop asked through ``progress`` takes effect at the next batch (see ``batches``)
    with reporting(progress, 0.0, f"epoch 1/{cfg.epochs}") as progress:
        for epoch in range(cfg.epochs):
            model.train()
            total_loss = torch.zeros((), device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.long)
            for idx in batches(n, cfg.batch_size, gen, device=dev):
                xb, yb = x[idx], y[idx]
                if nhwc:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast(dev, cfg.mixed_precision):
                    out = step_model(xb)
                    loss = F.cross_entropy(out.float(), yb, label_smoothing=smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total_loss += loss.detach() * len(idx)
                correct += (out.argmax(1) == yb).sum()
            hist.loss.append(float(total_loss) / n)
            hist.accuracy.append(100.0 * float(correct) / n)
            progress((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
    if nhwc:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return hist


def _inference_batches(model: nn.Module, x: torch.Tensor, batch_size: int | None, fn):
    """``fn(batch)`` over ``x`` in eval mode on the model's device, gathered on the CPU.

    On CUDA: bf16 autocast, channels-last inputs for conv nets, and batches of 16 384 by
    default (4 096 elsewhere)."""
    was_training = model.training
    model.eval()
    dev = model_device(model)
    cuda = dev.type == "cuda"
    bs = batch_size or (16384 if cuda else 4096)
    nhwc = _channels_last(model, x, dev, True)
    outs = []
    for i in range(0, len(x), bs):
        xb = x[i : i + bs].to(dev, non_blocking=cuda)
        if nhwc:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(dev):
            outs.append(fn(xb).float())
    model.train(was_training)
    return [o.cpu() for o in outs]


@torch.inference_mode()
def predict_logits(
    model: nn.Module, x: torch.Tensor, batch_size: int | None = None
) -> torch.Tensor:
    """Logits for ``x`` in eval mode, in large batches; returned on the CPU (float32)."""
    outs = _inference_batches(model, x, batch_size, model)
    if not outs:
        return torch.empty(0, getattr(model, "head", nn.Linear(1, 1)).out_features)
    return torch.cat(outs)


@torch.inference_mode()
def predict_features(
    model: nn.Module, x: torch.Tensor, batch_size: int | None = None
) -> torch.Tensor:
    """Penultimate features (``model.features``) for ``x`` in eval mode, on the CPU."""
    outs = _inference_batches(model, x, batch_size, model.features)
    return torch.cat(outs) if outs else torch.empty(0, model.feature_dim)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in percent (nan for an empty set)."""
    if len(y) == 0:
        return float("nan")
    pred = predict_logits(model, x).argmax(1)
    return 100.0 * float((pred == y.cpu()).float().mean())


@dataclass(frozen=True)
class ModelReport:
    """What the Data & model page shows of a trained model (percent)."""

    test_acc: float
    train_acc: float
    #: accuracy per true class on the test set (nan for a class with no test sample)
    per_class_test: list[float]


def model_report(model: nn.Module, data) -> ModelReport:
    """Test and train accuracy and the per-class test accuracy of ``model`` on ``data``."""
    from .evaluation.metrics import accuracy, per_class_accuracy

    logits = predict_logits(model, data.x_test)
    per_class = per_class_accuracy(logits, data.y_test, data.num_classes)
    return ModelReport(
        test_acc=accuracy(logits, data.y_test),
        train_acc=evaluate(model, data.x_train, data.y_train),
        per_class_test=[float(v) for v in per_class],
    )


def train_new_model(
    dataset,
    arch: str,
    cfg: TrainConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
    model_kwargs: dict | None = None,
    indices: torch.Tensor | None = None,
):
    """Build and train a model of ``arch`` on ``dataset`` (or on its ``indices`` subset).

    Returns ``(model, history)``; the model is in eval mode on ``device``.
    """
    from .models import build_model

    cfg = cfg or default_recipe(arch)
    dev = torch.device(device) if device is not None else pick_device()
    seed_everything(seed)
    model = build_model(arch, dataset.input_shape, dataset.num_classes, **(model_kwargs or {}))
    model.to(dev)
    x, y = dataset.x_train, dataset.y_train
    if indices is not None:
        x, y = x[indices], y[indices]
    t0 = time.perf_counter()
    hist = train(model, x, y, cfg, seed=seed, progress=progress, device=dev)
    if not model_kwargs and len(y):  # the next estimate for this model reuses the figure
        from .runtime.estimates import remember_throughput

        sps = cfg.epochs * len(y) / max(time.perf_counter() - t0, 1e-6)
        batch = max(1, min(int(cfg.batch_size), len(y)))
        remember_throughput(arch, dataset.input_shape, dataset.num_classes, batch, sps, device=dev)
    return model, hist

"""Time estimates: before long work starts, and the time left while it runs.

An estimate comes from the work's size and a throughput measured on this machine: a few
training steps of the architecture at the recipe's batch size (:func:`training_throughput`,
kept per process), or, for UMAP layouts and attributions, a rate this process observed on
earlier runs (:func:`observe`), starting from one measured on the 2-core development
machine. Method costs are time ratios to retraining from the benchmark matrix
(``benchmarks/results/*.csv``, median over cells and scenarios).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: median time ratio (method seconds / retrain seconds) in the benchmark matrix, per
#: architecture kind; a method missing here counts as :data:`UNKNOWN_RATIO`
TIME_RATIOS = {
    "mlp": {
        "finetune": 0.10, "fisher": 0.024, "l1_sparse": 0.10, "lrp": 0.001, "lrp_class": 0.001,
        "lrp_until": 0.009, "neggrad": 0.05, "neggrad_plus": 0.14, "random_labels": 0.078,
        "salun": 0.11, "scrub": 0.115, "sisa": 1.17, "ssd": 0.02, "ssd_adaptive": 0.019,
    },
    "cnn": {
        "finetune": 0.17, "fisher": 0.17, "l1_sparse": 0.14, "lrp": 0.001, "lrp_class": 0.001,
        "lrp_until": 0.033, "neggrad": 0.46, "neggrad_plus": 0.16, "random_labels": 0.14,
        "salun": 0.16, "scrub": 0.51, "sisa": 1.03, "ssd": 0.072, "ssd_adaptive": 0.069,
    },
    "resnet18": {
        "finetune": 0.24, "fisher": 0.25, "l1_sparse": 0.17, "lrp": 0.001, "lrp_class": 0.001,
        "lrp_until": 0.014, "neggrad": 0.18, "neggrad_plus": 0.18, "random_labels": 0.15,
        "salun": 0.18, "scrub": 1.0, "sisa": 1.03, "ssd": 0.15, "ssd_adaptive": 0.13,
    },
}  # fmt: skip
UNKNOWN_RATIO = 1.0
#: methods that first train their own models on the whole training set (SISA's shards), an
#: extra original training before unlearning
TRAIN_FIRST = {"sisa": 1.0}
#: seconds per (sample x model x epoch) of the aligned UMAP layout, and per sample^2 of a
#: model's exact k-NN graph; measured on the 2-core machine (1 500 samples x 3 models: 4.8 s)
UMAP_EPOCH_S = 4.2e-6
UMAP_GRAPH_S = 1.6e-7
#: seconds per gradient pass of one sample (attributions; captum's per-call overhead
#: dominates for the small models: digits MLP 7.9e-4, shapes CNN 2.6e-4 measured)
ATTRIBUTION_PASS_S = 5e-4

_rates: dict[str, float] = {}
_throughput: dict[tuple, float] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Estimate:
    """How long some work should take, and what the figure rests on."""

    seconds: float
    basis: str

    def text(self) -> str:
        """``"about 4 s on this machine"`` (``"under 1 s ..."`` without the "about")."""
        d = format_duration(self.seconds)
        return f"{d if self.seconds < 1 else 'about ' + d} on this machine"


def format_duration(seconds: float) -> str:
    """``"4 s"``, ``"1 min 20 s"``, ``"12 min"``, ``"2 h 5 min"`` (rounded for reading)."""
    s = max(0.0, float(seconds))
    if s < 1:
        return "under 1 s"
    if s < 60:
        return f"{round(s)} s"
    if s < 600:
        m, rest = divmod(round(s / 10) * 10, 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    if s < 3600:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def time_left(fraction: float, elapsed: float) -> float | None:
    """Seconds left at ``fraction`` done after ``elapsed`` seconds (linear); None while too
    little is done to tell (under 3 % or under half a second)."""
    if not (0.03 <= fraction < 1.0) or elapsed < 0.5:
        return None
    return elapsed * (1.0 - fraction) / fraction


def eta_text(fraction: float, elapsed: float) -> str:
    """``" · about 12 s left"``, or ``""`` while :func:`time_left` cannot tell."""
    left = time_left(fraction, elapsed)
    return "" if left is None else f" · about {format_duration(left)} left"


def observe(kind: str, units: float, seconds: float) -> None:
    """Remember a measured rate (seconds per unit) of ``kind`` for later estimates."""
    if units > 0 and seconds > 0 and math.isfinite(seconds):
        with _lock:
            _rates[kind] = seconds / units


def rate(kind: str, default: float) -> float:
    return _rates.get(kind, default)


def _throughput_key(arch, input_shape, num_classes, batch_size, dev) -> tuple:
    import torch

    return (arch, tuple(input_shape), num_classes, batch_size, str(dev), torch.get_num_threads())


def remember_throughput(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_size: int,
    samples_per_s: float,
    *,
    device,
) -> None:
    """Keep the throughput a real training run measured (``train_new_model`` calls this), so
    the next estimate for the same model and batch needs no timed steps."""
    if samples_per_s > 0 and math.isfinite(samples_per_s):
        key = _throughput_key(arch, input_shape, num_classes, batch_size, device)
        with _lock:
            _throughput[key] = float(samples_per_s)


def training_throughput(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_size: int,
    *,
    device=None,
    budget_s: float = 0.3,
) -> float:
    """Training samples per second of ``arch`` at ``batch_size`` on this machine: optimiser
    steps timed for about ``budget_s`` seconds (at least 3, at most 200) after two warm-up
    steps; kept per process (a real training run's figure replaces it:
    :func:`remember_throughput`)."""
    import torch

    from ..models import build_model
    from .device import pick_device

    dev = torch.device(device) if device is not None else pick_device()
    key = _throughput_key(arch, input_shape, num_classes, batch_size, dev)
    with _lock:
        if key in _throughput:
            return _throughput[key]
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(arch, tuple(input_shape), num_classes).to(dev).train()
    x = torch.rand((batch_size, *input_shape), generator=gen).to(dev)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    steps = 0
    while steps < 3 or (steps < 200 and time.perf_counter() - t0 < budget_s):
        step()
        steps += 1
        if dev.type == "cuda":
            torch.cuda.synchronize()
    sps = steps * batch_size / max(time.perf_counter() - t0, 1e-6)
    with _lock:
        _throughput[key] = sps
    return sps


def training_estimate(
    n_train: int,
    arch: str,
    recipe,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    device=None,
) -> Estimate:
    """Training ``arch`` with ``recipe`` (a ``TrainConfig``) on ``n_train`` samples."""
    batch = max(1, min(int(recipe.batch_size), int(n_train)))
    sps = training_throughput(arch, input_shape, num_classes, batch, device=device)
    seconds = recipe.epochs * n_train / sps
    return Estimate(
        seconds,
        f"{recipe.epochs} epochs x {n_train} samples at {sps:,.0f} samples/s "
        f"(measured {arch} steps at batch {batch})",
    )


def _ratio_kind(arch: str) -> str:
    return arch if arch in TIME_RATIOS else "cnn"


def comparison_estimate(
    n_train: int,
    n_forget: int,
    arch: str,
    recipe,
    methods: Sequence[str],
    input_shape: Sequence[int],
    num_classes: int,
    *,
    include_retrain: bool = True,
    device=None,
) -> Estimate:
    """A comparison: retraining on the retain set, each method as its benchmark time ratio
    to retraining (SISA also trains its shards first), and scoring every model (an
    evaluation pass over the data, at about 3x the training throughput, plus ~1 s of
    membership-attack fits)."""
    retrain = training_estimate(
        max(n_train - n_forget, 1), arch, recipe, input_shape, num_classes, device=device
    ).seconds
    ratios = TIME_RATIOS[_ratio_kind(arch)]
    per_method = {m: retrain * (ratios.get(m, UNKNOWN_RATIO) + TRAIN_FIRST.get(m, 0.0))
                  for m in methods if m != "retrain"}  # fmt: skip
    batch = max(1, min(int(recipe.batch_size), int(n_train)))
    sps = training_throughput(arch, input_shape, num_classes, batch, device=device)
    n_models = len(per_method) + 1 + int(include_retrain)
    scoring = n_models * (n_train / (3 * sps) + 1.0)
    total = (retrain if include_retrain else 0.0) + sum(per_method.values()) + scoring
    slow = sorted(per_method, key=per_method.get, reverse=True)[:1]
    note = f"; {slow[0]} the longest method" if slow else ""
    return Estimate(
        total,
        f"retrain ~{format_duration(retrain)}, methods by their benchmark time ratios to "
        f"retrain{note}, scoring {n_models} models",
    )


def method_cost_note(method: str, arch: str, retrain_seconds: float) -> str:
    """One line on what ``method`` costs next to retraining (``retrain_seconds``)."""
    ratio = TIME_RATIOS[_ratio_kind(arch)].get(method, UNKNOWN_RATIO)
    extra = TRAIN_FIRST.get(method, 0.0)
    seconds = retrain_seconds * (ratio + extra)
    first = " (it first trains its shard models on the whole training set)" if extra else ""
    return f"{method}: about {format_duration(seconds)}{first}"


def umap_estimate(n_samples: int, n_models: int, *, n_epochs: int = 200) -> Estimate:
    """Aligned UMAP layouts of ``n_models`` models not laid out before (their graphs
    included), at this process's observed rate or the measured default."""
    per = rate("umap_epoch", UMAP_EPOCH_S)
    seconds = n_models * (n_samples * n_epochs * per + n_samples**2 * UMAP_GRAPH_S)
    return Estimate(seconds, f"{n_models} layouts x {n_samples} samples x {n_epochs} epochs")


def attribution_estimate(
    n_samples: int, n_models: int, methods: Sequence[str], *, arch: str = ""
) -> Estimate:
    """Attribution maps: gradient passes (:data:`~unlearn_core.analysis.attributions.PASSES`
    per sample) x samples x models, at the seconds per pass this process observed for
    ``arch`` (``observe("attribution_pass:" + arch, ...)``) or the measured default."""
    from ..analysis.attributions import PASSES

    per = rate(f"attribution_pass:{arch}", ATTRIBUTION_PASS_S)
    passes = n_samples * n_models * sum(PASSES.get(m, 1) for m in methods)
    return Estimate(passes * per, f"{passes} gradient passes")

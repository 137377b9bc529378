"""The one comparison pipeline: original model + forget request + methods -> ``Comparison``.

The CLI's ``unlearn compare``, the benchmark script and the app's Unlearn page all call
:func:`compare`; they only gather inputs and draw its result.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import metrics as M
from .data import Dataset
from .device import pick_device
from .forget import ForgetRequest, ForgetSplit, make_split
from .methods import UnlearnTask, get_method, run_method
from .progress import Progress, no_progress, sub_progress
from .training import TrainConfig, predict_logits

REFERENCE = "retrain"
#: the numbers of a result row, in the order tables show them
ROW_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia", "avg_gap", "seconds", "time_ratio")


@dataclass
class MethodResult:
    """One model's numbers on a forget request (a method's output, the original or retrain)."""

    method: str
    label: str
    family: str
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seconds: float | None = None
    setup_seconds: float = 0.0
    time_ratio: float | None = None
    avg_gap: float | None = None
    error: str | None = None
    log: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def row(self) -> dict:
        """The flat record of the CLI's ``--json`` output (accuracies and MIA in percent)."""
        m = self.metrics
        return {
            "method": self.method,
            "forget_acc": _num(m.get("forget_acc")),
            "retain_acc": _num(m.get("retain_acc")),
            "test_acc": _num(m.get("test_acc")),
            "mia": _num(m.get("mia")),
            "avg_gap": _num(self.avg_gap),
            "seconds": _num(self.seconds),
            "time_ratio": _num(self.time_ratio),
            "error": self.error,
        }

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


@dataclass
class Comparison:
    """Everything one comparison produced; JSON-serialisable except the models."""

    dataset: str
    model: str
    forget: dict
    seed: int
    original: MethodResult
    results: list[MethodResult] = field(default_factory=list)
    device: str = "cpu"

    def get(self, method: str) -> MethodResult | None:
        if method == "original":
            return self.original
        return next((r for r in self.results if r.method == method), None)

    @property
    def reference(self) -> MethodResult | None:
        ref = self.get(REFERENCE)
        return ref if ref is not None and ref.ok else None

    def models(self) -> dict[str, nn.Module]:
        out = {"original": self.original.model} if self.original.model is not None else {}
        out.update({r.method: r.model for r in self.results if r.model is not None})
        return out

    def summary(self) -> dict:
        """The CLI's ``--json`` object."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "forget": self.forget,
            "seed": self.seed,
            "device": self.device,
            "original": self.original.row(),
            "results": [r.row() for r in self.results],
        }

    def to_dict(self) -> dict:
        return {
            **self.summary(),
            "original": self.original.to_dict(),
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, **kw) -> str:
        return json.dumps(_jsonable(self.to_dict()), **kw)

    @classmethod
    def from_dict(cls, d: dict) -> Comparison:
        return cls(
            dataset=d["dataset"],
            model=d["model"],
            forget=d["forget"],
            seed=d["seed"],
            device=d.get("device", "cpu"),
            original=MethodResult(**d["original"]),
            results=[MethodResult(**r) for r in d["results"]],
        )


def _num(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else round(v, 4)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray | torch.Tensor):
        return _jsonable(o.tolist())
    if isinstance(o, np.generic):
        return _jsonable(o.item())
    if isinstance(o, float) and math.isnan(o):
        return None
    return o


@dataclass
class Evaluation:
    """Logits of one model on the forget, retain and test sets (CPU tensors)."""

    forget: torch.Tensor
    retain: torch.Tensor
    test: torch.Tensor


def model_logits(model: nn.Module, data: Dataset, split: ForgetSplit) -> Evaluation:
    return Evaluation(
        forget=predict_logits(model, data.x_train[split.forget_idx]),
        retain=predict_logits(model, data.x_train[split.retain_idx]),
        test=predict_logits(model, data.x_test),
    )


def score_model(ev: Evaluation, data: Dataset, split: ForgetSplit, *, seed: int = 0) -> dict:
    """Accuracies (overall and per class), MIA efficacy, loss attack and confusion matrix."""
    yf = data.y_train[split.forget_idx]
    yr = data.y_train[split.retain_idx]
    yt = data.y_test
    k = data.num_classes
    out = {
        "forget_acc": M.accuracy(ev.forget, yf),
        "retain_acc": M.accuracy(ev.retain, yr),
        "test_acc": M.accuracy(ev.test, yt),
        "mia": M.mia_efficacy(
            M.true_label_confidence(ev.retain, yr),
            M.true_label_confidence(ev.test, yt),
            M.true_label_confidence(ev.forget, yf),
            seed=seed,
        ),
        "loss_auc": M.loss_attack_auc(
            M.per_sample_loss(ev.forget, yf), M.per_sample_loss(ev.test, yt)
        ),
        "per_class_test": M.per_class_accuracy(ev.test, yt, k).tolist(),
        "confusion_test": M.confusion_matrix(ev.test, yt, k).tolist(),
    }
    forgotten, rest = split.test_masks(data)
    if forgotten.any():
        out["test_forgotten_class_acc"] = M.accuracy(ev.test[forgotten], yt[forgotten])
        out["test_other_acc"] = M.accuracy(ev.test[rest], yt[rest])
    return out


def add_reference_scores(res: MethodResult, ev: Evaluation, ref: Evaluation, ref_res: MethodResult):
    """Gap, time ratio and output divergence of ``res`` against the retrained model."""
    res.avg_gap = M.avg_gap(res.metrics, ref_res.metrics)
    if res.seconds is not None and ref_res.seconds:
        res.time_ratio = M.time_ratio(res.seconds, ref_res.seconds)
    res.metrics["js_forget"] = M.js_divergence(ev.forget, ref.forget)
    res.metrics["js_test"] = M.js_divergence(ev.test, ref.test)
    res.metrics["kl_forget"] = M.kl_divergence(ref.forget, ev.forget)


MethodChoice = str | tuple[str, dict]


def compare(
    data: Dataset,
    model: nn.Module,
    train_config: TrainConfig,
    forget: ForgetRequest | ForgetSplit,
    methods: Sequence[MethodChoice] | dict[str, dict],
    *,
    seed: int = 0,
    include_retrain: bool = True,
    device: torch.device | str | None = None,
    progress: Progress = no_progress,
    on_result: Callable[[MethodResult], None] | None = None,
    keep_models: bool = True,
) -> Comparison:
    """Run ``methods`` (names, or ``(name, overrides)``) on one forget request and score them.

    Retrain runs first unless ``include_retrain`` is False; every other result is scored
    against it. A method that fails gets its ``error`` set and the others still run.
    """
    dev = torch.device(device) if device is not None else pick_device()
    split = forget if isinstance(forget, ForgetSplit) else make_split(data, forget)
    model = model.to(dev).eval()
    chosen = _normalise(methods)
    if include_retrain and REFERENCE not in [n for n, _ in chosen]:
        chosen.insert(0, (REFERENCE, {}))
    elif REFERENCE in [n for n, _ in chosen]:  # the reference always runs first
        chosen.sort(key=lambda c: c[0] != REFERENCE)
    task = UnlearnTask(data=data, split=split, train_config=train_config, device=dev)

    progress(0.0, "scoring the original model")
    orig_ev = model_logits(model, data, split)
    original = MethodResult(
        method="original",
        label="Original (before unlearning)",
        family="none",
        metrics=score_model(orig_ev, data, split, seed=seed),
        model=model if keep_models else None,
    )
    comp = Comparison(
        dataset=data.name,
        model=getattr(model, "spec", {}).get("arch", type(model).__name__),
        forget={
            **split.request.to_dict(),
            "description": split.request.describe(data.classes),
            "n_forget": split.n_forget,
            "n_retain": split.n_retain,
            "forgotten_classes": list(split.forgotten_classes),
        },
        seed=seed,
        original=original,
        device=str(dev),
    )
    ref: tuple[MethodResult, Evaluation] | None = None
    n = max(len(chosen), 1)
    for i, (name, overrides) in enumerate(chosen):
        report = sub_progress(progress, i / n, (i + 1) / n, f"{name}: ")
        res, ev = _run_one(name, overrides, model, task, seed, report)
        if name == REFERENCE and ev is not None:
            ref = (res, ev)
        if ref is not None and ev is not None:
            add_reference_scores(res, ev, ref[1], ref[0])
        if not keep_models:
            res.model = None
        comp.results.append(res)
        if on_result is not None:
            on_result(res)
    if ref is not None:
        add_reference_scores(comp.original, orig_ev, ref[1], ref[0])
    progress(1.0, "done")
    return comp


def _normalise(methods: Sequence[MethodChoice] | dict[str, dict]) -> list[tuple[str, dict]]:
    if isinstance(methods, dict):
        return [(n, dict(o or {})) for n, o in methods.items()]
    out = []
    for m in methods:
        name, over = (m, {}) if isinstance(m, str) else (m[0], dict(m[1] or {}))
        if name not in [n for n, _ in out]:
            out.append((name, over))
    return out


def _run_one(
    name: str, overrides: dict, model: nn.Module, task: UnlearnTask, seed: int, report: Progress
) -> tuple[MethodResult, Evaluation | None]:
    try:
        spec = get_method(name).spec
    except KeyError as exc:
        return MethodResult(method=name, label=name, family="?", error=str(exc.args[0])), None
    res = MethodResult(method=name, label=spec.label, family=spec.family)
    try:
        out = run_method(name, model, task, overrides, seed=seed, progress=report)
    except Exception as exc:  # noqa: BLE001 - a failed method must not stop the others
        res.error = f"{type(exc).__name__}: {exc}"
        res.log = {"traceback": traceback.format_exc(limit=6)}
        return res, None
    res.params, res.log, res.seconds, res.setup_seconds = (
        out.params,
        out.log,
        out.seconds,
        out.setup_seconds,
    )
    res.model = out.model
    report(1.0, "scoring")
    ev = model_logits(out.model, task.data, task.split)
    res.metrics = score_model(ev, task.data, task.split, seed=seed)
    return res, ev

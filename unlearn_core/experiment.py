"""The one comparison pipeline: original model + forget request + methods -> ``Comparison``.

The CLI's ``unlearn compare``, the benchmark script and the app's Unlearn page all call
:func:`compare` (one seed) or :func:`compare_seeds` (the whole comparison repeated per seed,
each seed training its own original, aggregated as mean and standard deviation in a
:class:`MultiComparison`); they only gather inputs and draw the result.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch
from torch import nn

from .data import Dataset
from .evaluation import metrics as M
from .evaluation.tables import REPAIR_ROW_KEYS, ROW_KEYS, TEXT_ROW_KEYS
from .forget import ForgetRequest, ForgetSplit, make_split
from .methods import UnlearnTask, get_method, run_method
from .runtime.device import pick_device
from .runtime.progress import Progress, checkpoint, no_progress, reporting, sub_progress
from .training import TrainConfig, predict_logits

REFERENCE = "retrain"
#: the flag set on a result whose retain accuracy is more than ``M.DAMAGE_POINTS`` below retrain's
DAMAGED = "damaged"
#: the error of a method that had not finished when the caller stopped the run (a cancel)
STOPPED = "cancelled before it finished"
#: member draws averaged into MIA efficacy, and the cap on each side of its SVC's training set
MIA_DRAWS = 5
MIA_MAX_SAMPLES = 1000
#: the numbers a track adds to its rows where its metrics have them (repair, text)
TRACK_ROW_KEYS = (*REPAIR_ROW_KEYS, *TEXT_ROW_KEYS)


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
    #: warnings about the result, e.g. ``"damaged"`` (retain accuracy far below retrain's)
    flags: list[str] = field(default_factory=list)
    #: the preset the parameters started from (``PresetInfo.to_dict()``; None for the original)
    preset: dict | None = None
    #: the sample sets the method read (``forget``, ``retain``, ``train``, ``validation``);
    #: never the test set, which only scores
    reads: list[str] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def damaged(self) -> bool:
        """Retain accuracy more than ``metrics.DAMAGE_POINTS`` (10) points below retrain's."""
        return DAMAGED in self.flags

    def number(self, key: str) -> float | None:
        """One of :data:`ROW_KEYS` (a metric, or ``avg_gap`` / ``seconds`` / ``time_ratio``);
        None when missing or not a number."""
        v = getattr(self, key) if key in ("avg_gap", "seconds", "time_ratio") else None
        return M.finite_or_none(v if v is not None else self.metrics.get(key))

    def row(self) -> dict:
        """The flat record of the CLI's ``--json`` output (accuracies and MIA in percent)."""
        return {
            "method": self.method,
            **{k: _num(self.number(k)) for k in ROW_KEYS},
            # a repair comparison's numbers (asr, restoration, ...), only where scored
            **{k: _num(self.number(k)) for k in TRACK_ROW_KEYS if k in self.metrics},
            "error": self.error,
            "damaged": self.damaged,
            "preset": (self.preset or {}).get("name"),
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
            "seeds": [self.seed],
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
            original=_result_from_dict(d["original"]),
            results=[_result_from_dict(r) for r in d["results"]],
        )


def _result_from_dict(d: dict) -> MethodResult:
    known = {k: v for k, v in d.items() if k in MethodResult.__dataclass_fields__}
    return MethodResult(**known)


def _num(v) -> float | None:
    """A row's number: four decimals, or three significant digits below 0.01 (a forget
    quality p-value of 1.2e-5 is a figure, not 0)."""
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return None
    return round(v, 4) if v == 0 or abs(v) >= 0.01 or math.isinf(v) else float(f"{v:.3g}")


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
    if hasattr(data, "evaluate_model"):  # a data kind that scores its own way (text)
        return data.evaluate_model(model, split)
    return Evaluation(
        forget=predict_logits(model, data.x_train[split.forget_idx]),
        retain=predict_logits(model, data.x_train[split.retain_idx]),
        test=predict_logits(model, data.x_test),
    )


#: the scores every decision reads (sweeps, calibration; :func:`validation_scores`)
SELECTION_KEYS = ("forget_acc", "retain_acc", "val_acc", "mia_val")


def validation_scores(
    model: nn.Module,
    data: Dataset,
    split: ForgetSplit,
    *,
    seed: int = 0,
    ev: Evaluation | None = None,
) -> dict:
    """The scores a decision may read: :func:`score_model`'s definitions with the validation
    split standing in for the test set, which only scores.

    ``val_acc`` (class-wise requests: the remaining classes' validation samples),
    ``val_forgotten_acc``, ``mia_val`` (MIA efficacy with validation samples as non-members),
    and ``forget_acc`` / ``retain_acc``. :func:`selection_gap` reads them. ``ev``: the
    model's forget and retain logits already computed (:func:`model_logits`), reused."""
    if not data.n_val:
        raise ValueError(
            f"{data.name} has no validation split to decide on (load it with load_dataset / "
            "load_file, or call Dataset.with_validation)"
        )
    view = replace(data, x_test=data.x_val, y_test=data.y_val)
    if ev is None:
        ev = model_logits(model, view, split)
    else:
        ev = Evaluation(forget=ev.forget, retain=ev.retain, test=predict_logits(model, data.x_val))
    s = score_model(ev, view, split, seed=seed)
    return {
        "forget_acc": s["forget_acc"],
        "retain_acc": s["retain_acc"],
        "val_acc": s["test_acc"],
        "val_forgotten_acc": s["test_forgotten_acc"],
        "mia_val": s["mia"],
    }


def selection_gap(metrics: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """The gap to retrain that decisions minimise: ``avg_gap``'s mean ``|x - retrain's x|``
    over forget, retain and *validation* accuracy and validation MIA (:data:`SELECTION_KEYS`)."""
    return M.avg_gap(metrics, reference, keys=SELECTION_KEYS)


def is_class_wise(data: Dataset, split: ForgetSplit) -> bool:
    """True when the forget set is exactly some whole classes (every training sample of each
    class in ``split.forgotten_classes``, and nothing else)."""
    if not split.forgotten_classes:
        return False
    yf = data.y_train[split.forget_idx]
    return bool(torch.isin(yf, torch.tensor(split.forgotten_classes)).all())


def score_model(
    ev: Evaluation,
    data: Dataset,
    split: ForgetSplit,
    *,
    seed: int = 0,
    mia_draws: int = MIA_DRAWS,
) -> dict:
    """Accuracies (overall and per class), MIA efficacy, loss attack and confusion matrix.

    Percent except ``loss_auc``. Which test samples count follows OPTML / SalUn
    (``Unlearn-Sparse`` drops a forgotten class from its test set):

    - class-wise requests (:func:`is_class_wise`): ``test_acc`` is the accuracy on the test
      samples of the *remaining* classes and ``test_forgotten_acc`` on those of the forgotten
      classes; MIA non-members are the remaining classes' test samples; ``loss_auc`` compares the
      forget samples with the forgotten classes' test samples.
    - other requests: ``test_acc`` on the whole test set, ``test_forgotten_acc`` None; MIA
      non-members are the whole test set; ``loss_auc`` compares the forget samples with test
      samples drawn (seeded) to match the forget set's class mix: ``round(r * f_c)`` of class
      ``c``, ``r = min_c t_c / f_c`` (:func:`metrics.matched_heldout`).

    ``test_all_acc`` is always the whole test set. ``mia`` is the mean over ``mia_draws`` member
    draws (seeds ``seed .. seed + mia_draws - 1``, each SVC side capped at
    ``MIA_MAX_SAMPLES``); ``mia_draws`` holds the per-draw values. The gap to retrain
    (``avg_gap``) reads ``forget_acc``, ``retain_acc``, ``test_acc`` and ``mia`` as defined here.
    """
    if hasattr(data, "score"):  # a data kind that scores its own way (text)
        return data.score(ev, split, seed=seed)
    yf = data.y_train[split.forget_idx]
    yr = data.y_train[split.retain_idx]
    yt = data.y_test
    k = data.num_classes
    forgotten, rest = split.test_masks(data)
    class_wise = is_class_wise(data, split)
    lf = M.per_sample_loss(ev.forget, yf)
    lt = M.per_sample_loss(ev.test, yt)
    if class_wise:
        held = forgotten.numpy()
        test_members = rest
    else:
        held = M.matched_heldout(yf, yt, seed=seed)
        test_members = torch.ones(len(yt), dtype=torch.bool)
    conf = (
        M.true_label_confidence(ev.retain, yr),
        M.true_label_confidence(ev.test[test_members], yt[test_members]),
        M.true_label_confidence(ev.forget, yf),
    )
    if mia_draws < 1:
        raise ValueError("mia_draws must be >= 1")
    parts = []
    for i in range(mia_draws):  # draw i is seeded seed + i: one at a time gives the same draws
        checkpoint()  # a stop asked through the progress callback takes effect between fits
        parts.append(
            M.mia_efficacy_draws(*conf, seed=seed + i, draws=1, max_samples=MIA_MAX_SAMPLES)
        )
    draws = np.concatenate(parts)
    return {
        "forget_acc": M.accuracy(ev.forget, yf),
        "retain_acc": M.accuracy(ev.retain, yr),
        "test_acc": M.accuracy(ev.test[rest], yt[rest]) if class_wise else M.accuracy(ev.test, yt),
        "test_forgotten_acc": (
            M.accuracy(ev.test[forgotten], yt[forgotten]) if class_wise else None
        ),
        "test_all_acc": M.accuracy(ev.test, yt),
        "mia": float(np.mean(draws)) if len(draws) else M.NAN,
        "mia_draws": draws.tolist(),
        "loss_auc": M.loss_attack_auc(lf, lt[held]),
        "per_class_test": M.per_class_accuracy(ev.test, yt, k).tolist(),
        "confusion_test": M.confusion_matrix(ev.test, yt, k).tolist(),
    }


def add_reference_scores(
    res: MethodResult,
    ev: Evaluation,
    ref: Evaluation,
    ref_res: MethodResult,
    *,
    judge: bool = True,
):
    """Gap, time ratio, output divergence and (``judge``: a method's result, not the original)
    the damage flag of ``res`` against retrain."""
    res.avg_gap = M.avg_gap(res.metrics, ref_res.metrics)
    if res.seconds is not None and ref_res.seconds:
        res.time_ratio = M.time_ratio(res.seconds, ref_res.seconds)
    res.flags = [f for f in res.flags if f != DAMAGED]
    if judge and M.is_damaged(res.metrics.get("retain_acc"), ref_res.metrics.get("retain_acc")):
        res.flags.append(DAMAGED)
    against = getattr(ev, "against", None)  # an evaluation with its own reference scores
    if against is not None:
        res.metrics.update(against(ref))
        return
    res.metrics["js_forget"] = M.js_divergence(ev.forget, ref.forget)
    res.metrics["js_test"] = M.js_divergence(ev.test, ref.test)
    res.metrics["kl_forget"] = M.kl_divergence(ref.forget, ev.forget)


MethodChoice = str | tuple[str, dict]


def resolve_split(data: Dataset, forget: ForgetRequest | ForgetSplit) -> ForgetSplit:
    """``forget`` as a split of ``data`` (a data kind with its own requests resolves them)."""
    if isinstance(forget, ForgetSplit):
        return forget
    if hasattr(data, "make_split"):
        return data.make_split(forget)
    return make_split(data, forget)


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
    on_stop: Callable[[Comparison], None] | None = None,
    scenario: ScenarioHook | None = None,
) -> Comparison:
    """Run ``methods`` (names, or ``(name, overrides)``) on one forget request and score them.

    Retrain runs first unless ``include_retrain`` is False; every other result is scored
    against it. A method that fails gets its ``error`` set and the others still run.

    ``progress`` may stop the run by raising: it is called at least every
    ``progress.CHECK_S`` seconds (every training batch, between attack fits, between methods),
    so a stop takes effect within a batch. Its exception propagates; before that, once the
    original is scored, ``on_stop`` gets the comparison of the methods that finished, the
    others marked with the error :data:`STOPPED`.

    ``scenario`` (a repair comparison, ``unlearn_core.repair.RepairScorer``): the methods get
    the forget samples' fixed versions (``UnlearnTask.repair``), every row gets the scenario's
    numbers (``asr``, ``true_label_acc``, ...), a ``clean`` reference row (a model trained on
    the clean data) follows the methods, and the scenario's ``finish`` adds the numbers that
    compare rows (``restoration``).
    """
    dev = torch.device(device) if device is not None else pick_device()
    split = resolve_split(data, forget)
    model = model.to(dev).eval()
    chosen = _normalise(methods)
    if include_retrain and REFERENCE not in [n for n, _ in chosen]:
        chosen.insert(0, (REFERENCE, {}))
    elif REFERENCE in [n for n, _ in chosen]:  # the reference always runs first
        chosen.sort(key=lambda c: c[0] != REFERENCE)
    repair = scenario.repair_info(split) if scenario is not None else None
    task = UnlearnTask(data=data, split=split, train_config=train_config, device=dev, repair=repair)
    comp: Comparison | None = None
    ref: tuple[MethodResult, Evaluation] | None = None
    with reporting(progress) as report_all:
        try:
            report_all(0.0, "scoring the original model")
            orig_ev = model_logits(model, data, split)
            original = MethodResult(
                method="original",
                label="Original (before unlearning)",
                family="none",
                metrics=score_model(orig_ev, data, split, seed=seed),
                model=model if keep_models else None,
            )
            if scenario is not None:
                original.metrics.update(scenario.score(model))
            comp = Comparison(
                dataset=data.name,
                model=getattr(model, "spec", {}).get("arch", type(model).__name__),
                forget=forget_summary(data, split),
                seed=seed,
                original=original,
                device=str(dev),
            )
            n = max(len(chosen), 1)
            for i, (name, overrides) in enumerate(chosen):
                report = sub_progress(report_all, i / n, (i + 1) / n, f"{name}: ")
                report(0.0, "starting")  # between methods: a stop takes effect here too
                res, ev = _run_one(name, overrides, model, task, seed, report)
                if scenario is not None and ev is not None and res.model is not None:
                    res.metrics.update(scenario.score(res.model))
                if name == REFERENCE and ev is not None:
                    ref = (res, ev)
                if ref is not None and ev is not None:
                    add_reference_scores(res, ev, ref[1], ref[0])
                if not keep_models:
                    res.model = None
                comp.results.append(res)
                if on_result is not None:
                    on_result(res)
            if scenario is not None:
                comp.forget["scenario"] = scenario.summary()
                res, ev = _scenario_reference(scenario, model, data, split, train_config, seed, dev)
                if ref is not None and ev is not None:
                    add_reference_scores(res, ev, ref[1], ref[0], judge=False)
                if not keep_models:
                    res.model = None
                comp.results.append(res)
                if on_result is not None:
                    on_result(res)
        except BaseException:
            if report_all.stopped is not None and comp is not None and on_stop is not None:
                done = {r.method for r in comp.results}
                comp.results += [_stopped(n) for n, _ in chosen if n not in done]
                if ref is not None:
                    add_reference_scores(comp.original, orig_ev, ref[1], ref[0], judge=False)
                on_stop(comp)
            raise
    if ref is not None:
        add_reference_scores(comp.original, orig_ev, ref[1], ref[0], judge=False)
    if scenario is not None:
        scenario.finish(comp)
    progress(1.0, "done")
    return comp


class ScenarioHook(Protocol):
    """What :func:`compare` asks of a repair scenario (``unlearn_core.repair.RepairScorer``)."""

    def repair_info(self, split: ForgetSplit): ...

    def score(self, model: nn.Module) -> dict: ...

    def reference(
        self, model: nn.Module, train_config: TrainConfig, seed: int, device: torch.device
    ) -> MethodResult: ...

    def summary(self) -> dict: ...

    def finish(self, comp: Comparison) -> None: ...


def _scenario_reference(
    scenario: ScenarioHook,
    model: nn.Module,
    data: Dataset,
    split: ForgetSplit,
    train_config: TrainConfig,
    seed: int,
    dev: torch.device,
) -> tuple[MethodResult, Evaluation | None]:
    """The scenario's reference row (``clean``), scored like every other row."""
    res = scenario.reference(model, train_config, seed, dev)
    if res.model is None:
        return res, None
    ev = model_logits(res.model, data, split)
    res.metrics = {**score_model(ev, data, split, seed=seed), **scenario.score(res.model)}
    return res, ev


def forget_summary(data: Dataset, split: ForgetSplit) -> dict:
    """A comparison's ``forget`` record: the request, its description and the split's sizes."""
    return {
        **split.request.to_dict(),
        "description": split.request.describe(data.classes),
        "n_forget": split.n_forget,
        "n_retain": split.n_retain,
        "forgotten_classes": list(split.forgotten_classes),
    }


def _stopped(name: str) -> MethodResult:
    """The result of a method that had not finished when the run was stopped."""
    try:
        spec = get_method(name).spec
        label, family = spec.label, spec.family
    except KeyError:
        label, family = name, "?"
    return MethodResult(method=name, label=label, family=family, error=STOPPED)


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
    with reporting(report) as guarded:  # its batches check for a stop (``progress.checkpoint``)
        try:
            out = run_method(name, model, task, overrides, seed=seed, progress=guarded)
        except Exception as exc:  # noqa: BLE001 - a failed method must not stop the others
            if guarded.stopped is not None:  # ... but the caller stopping the run must
                raise guarded.stopped from None
            res.error = f"{type(exc).__name__}: {exc}"
            res.log = {"traceback": traceback.format_exc(limit=6)}
            return res, None
    res.params, res.log, res.seconds, res.setup_seconds = (
        out.params,
        out.log,
        out.seconds,
        out.setup_seconds,
    )
    res.preset = out.preset.to_dict() if out.preset is not None else None
    res.reads = out.reads
    res.model = out.model
    report(1.0, "scoring")
    ev = model_logits(out.model, task.data, task.split)
    if not all(bool(torch.isfinite(t).all()) for t in (ev.forget, ev.retain, ev.test)):
        res.error = "the unlearned model's outputs are not finite numbers (the method diverged)"
        return res, None
    res.metrics = score_model(ev, task.data, task.split, seed=seed)
    return res, ev


# ----------------------------------------------------------------------------- several seeds


@dataclass
class Spread:
    """Mean and sample standard deviation (n - 1; 0 for one value) of one number over seeds;
    missing values (a failed seed, a None metric) are left out and ``n`` counts the rest."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
        if not vals:
            return cls(mean=None, std=None, n=0)
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        return cls(mean=float(np.mean(vals)), std=std, n=len(vals))


@dataclass
class SeedSummary:
    """One method's (or the original's) results aggregated over the seeds of a
    :class:`MultiComparison`: a :class:`Spread` per number of :data:`ROW_KEYS`."""

    method: str
    label: str
    family: str
    #: the seeds it ran on (failed or not), in order
    seeds: list[int]
    stats: dict[str, Spread]
    #: seed -> error message, for the seeds where it failed
    errors: dict[int, str] = field(default_factory=dict)
    #: seeds whose result was flagged damaged (retain far below retrain's)
    damaged_seeds: list[int] = field(default_factory=list)
    #: the name of the preset its parameters started from (None for the original)
    preset: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def damaged(self) -> bool:
        return bool(self.damaged_seeds)

    @property
    def error(self) -> str | None:
        if not self.errors:
            return None
        return "; ".join(f"seed {s}: {e}" for s, e in self.errors.items())

    def mean(self, key: str) -> float | None:
        return self.stats[key].mean

    def std(self, key: str) -> float | None:
        return self.stats[key].std

    def row(self, with_std: bool = True) -> dict:
        """``MethodResult.row()``'s fields holding the means, plus ``<key>_std`` per number."""
        out: dict = {"method": self.method}
        keys = [*ROW_KEYS, *(k for k in TRACK_ROW_KEYS if k in self.stats)]
        for k in keys:
            out[k] = _num(self.stats[k].mean)
        if with_std:
            for k in keys:
                out[f"{k}_std"] = _num(self.stats[k].std)
        out["error"] = self.error
        out["damaged"] = self.damaged
        out["preset"] = self.preset
        return out

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "label": self.label,
            "family": self.family,
            "seeds": list(self.seeds),
            "stats": {k: vars(v) for k, v in self.stats.items()},
            "errors": [{"seed": s, "error": e} for s, e in self.errors.items()],
            "damaged_seeds": list(self.damaged_seeds),
            "preset": self.preset,
        }

    @classmethod
    def of(cls, seeds: Sequence[int], results: Sequence[MethodResult]) -> SeedSummary:
        """Aggregate one method's per-seed results (``results[i]`` ran with ``seeds[i]``)."""
        first = results[0]
        ok = [r for r in results if r.ok]
        extra = [k for k in TRACK_ROW_KEYS if any(k in r.metrics for r in results)]
        return cls(
            method=first.method,
            label=first.label,
            family=next((r.family for r in results if r.family != "?"), first.family),
            seeds=list(seeds),
            stats={k: Spread.of([r.number(k) for r in ok]) for k in (*ROW_KEYS, *extra)},
            errors={s: r.error for s, r in zip(seeds, results, strict=True) if r.error},
            damaged_seeds=[s for s, r in zip(seeds, results, strict=True) if r.damaged],
            preset=next((r.preset.get("name") for r in results if r.preset), None),
        )


@dataclass
class MultiComparison:
    """The same comparison (forget request, methods) run once per seed: each seed trains its own
    original, retrains and runs every method with that seed. Per-seed :class:`Comparison` s plus
    per-method :class:`SeedSummary` s (mean, standard deviation)."""

    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [c.seed for c in self.comparisons]

    def _first(self) -> Comparison:
        if not self.comparisons:
            raise ValueError("the comparison has no seeds yet")
        return self.comparisons[0]

    @property
    def dataset(self) -> str:
        return self._first().dataset

    @property
    def model(self) -> str:
        return self._first().model

    @property
    def forget(self) -> dict:
        return self._first().forget

    @property
    def device(self) -> str:
        return self._first().device

    def comparison(self, seed: int) -> Comparison:
        for c in self.comparisons:
            if c.seed == seed:
                return c
        raise KeyError(f"no comparison for seed {seed}; seeds are {self.seeds}")

    @property
    def original(self) -> SeedSummary:
        return SeedSummary.of(self.seeds, [c.original for c in self.comparisons])

    @property
    def results(self) -> list[SeedSummary]:
        """One summary per method, in the order the methods ran (retrain first)."""
        names = list(dict.fromkeys(r.method for c in self.comparisons for r in c.results))
        out = []
        for name in names:
            pairs = [(c.seed, c.get(name)) for c in self.comparisons if c.get(name) is not None]
            out.append(SeedSummary.of([s for s, _ in pairs], [r for _, r in pairs]))
        return out

    def get(self, method: str) -> SeedSummary | None:
        if method == "original":
            return self.original
        return next((s for s in self.results if s.method == method), None)

    def summary(self) -> dict:
        """The CLI's ``--json`` object. One seed: exactly :meth:`Comparison.summary`. Several:
        the rows hold means with ``<key>_std`` beside each number, ``seeds`` lists the seeds and
        ``per_seed`` holds each seed's own summary."""
        if len(self.comparisons) == 1:
            return self.comparisons[0].summary()
        return {
            "dataset": self.dataset,
            "model": self.model,
            "forget": self.forget,
            "seeds": self.seeds,
            "device": self.device,
            "original": self.original.row(),
            "results": [s.row() for s in self.results],
            "per_seed": [c.summary() for c in self.comparisons],
        }

    def to_dict(self) -> dict:
        """Everything (each seed's full comparison and the aggregates); :meth:`from_dict`
        rebuilds it from ``comparisons`` alone."""
        return {
            "kind": "multi_comparison",
            "dataset": self.dataset,
            "model": self.model,
            "forget": self.forget,
            "seeds": self.seeds,
            "device": self.device,
            "original": self.original.to_dict(),
            "results": [s.to_dict() for s in self.results],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }

    def to_json(self, **kw) -> str:
        return json.dumps(_jsonable(self.to_dict()), **kw)

    @classmethod
    def from_dict(cls, d: dict) -> MultiComparison:
        return cls(comparisons=[Comparison.from_dict(c) for c in d["comparisons"]])


#: how a seed's original model is made: an architecture name (trained with ``train_config`` and
#: the seed) or ``factory(seed, progress) -> trained model``
ModelSource = str | Callable[[int, Progress], nn.Module]


def compare_seeds(
    data: Dataset,
    model: ModelSource | None,
    train_config: TrainConfig,
    forget: ForgetRequest | ForgetSplit,
    methods: Sequence[MethodChoice] | dict[str, dict],
    *,
    seeds: Sequence[int] = (0,),
    originals: Mapping[int, nn.Module] | None = None,
    include_retrain: bool = True,
    device: torch.device | str | None = None,
    progress: Progress = no_progress,
    on_result: Callable[[MethodResult], None] | None = None,
    on_comparison: Callable[[Comparison], None] | None = None,
    keep_models: bool = False,
    on_stop: Callable[[MultiComparison], None] | None = None,
    scenario: ScenarioHook | None = None,
) -> MultiComparison:
    """Run the whole comparison once per seed and aggregate it (mean and standard deviation).

    For each seed: the original is ``originals[seed]`` when given, else made from ``model``
    (an architecture trained with ``train_config`` and that seed, or a factory); then
    :func:`compare` runs with that seed on the *same* forget set (``forget`` is resolved once, so
    a random fraction draws the same samples for every seed). ``progress`` gets one 0..1 range
    over all seeds, each seed an equal share, its messages prefixed ``"seed S (i/n): "``; a
    callback that raises stops the run (within a batch, as in :func:`compare`); ``on_stop``
    then gets the seeds that finished, or when none has, the stopped seed's comparison with its
    unfinished methods marked :data:`STOPPED` (nothing when it stopped before one was scored).
    ``on_result`` sees every result as it arrives, ``on_comparison`` every finished seed. The
    seeds' originals' training time is in ``comparison.original.log["train_seconds"]``
    (``log["source"]``: "trained" or "given").
    """
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise ValueError("give at least one seed")
    originals = dict(originals or {})
    missing = [s for s in seeds if s not in originals]
    if missing and model is None:
        raise ValueError(f"no original model for seeds {missing} and nothing to train them with")
    if isinstance(model, nn.Module):
        raise TypeError("pass an architecture name or a factory; put trained models in originals")
    dev = torch.device(device) if device is not None else pick_device()
    split = resolve_split(data, forget)
    slots = len(_normalise(methods)) + int(include_retrain)
    multi, stopped_seed = MultiComparison(), MultiComparison()
    n = len(seeds)
    with reporting(progress) as report_all:
        try:
            for i, seed in enumerate(seeds):
                report = sub_progress(
                    report_all, i / n, (i + 1) / n, f"seed {seed} ({i + 1}/{n}): "
                )
                train_seconds = None
                if seed in originals:
                    original, cut, source = originals[seed], 0.0, "given"
                else:
                    cut, source = 1.0 / (1 + slots), "trained"
                    t0 = time.perf_counter()
                    original = _make_original(
                        model,
                        data,
                        train_config,
                        seed,
                        dev,
                        sub_progress(report, 0.0, cut, "training: "),
                    )
                    train_seconds = time.perf_counter() - t0
                comp = compare(
                    data,
                    original,
                    train_config,
                    split,
                    methods,
                    seed=seed,
                    include_retrain=include_retrain,
                    device=dev,
                    progress=sub_progress(report, cut, 1.0),
                    on_result=on_result,
                    keep_models=keep_models,
                    on_stop=stopped_seed.comparisons.append,
                    scenario=scenario,
                )
                comp.original.log.update(source=source, train_seconds=train_seconds)
                multi.comparisons.append(comp)
                if on_comparison is not None:
                    on_comparison(comp)
        except BaseException:
            done = multi if multi.comparisons else stopped_seed
            if report_all.stopped is not None and on_stop is not None and done.comparisons:
                on_stop(done)
            raise
    progress(1.0, "done")
    return multi


def _make_original(
    source: ModelSource,
    data: Dataset,
    cfg: TrainConfig,
    seed: int,
    dev: torch.device,
    progress: Progress,
) -> nn.Module:
    if isinstance(source, str):
        from .training import train_new_model

        model, _ = train_new_model(data, source, cfg, seed=seed, device=dev, progress=progress)
        return model
    return source(seed, progress)

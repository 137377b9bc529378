"""Sweeps: search a method's declared parameters for the settings closest to retraining.

The search space comes from the registry (:class:`~unlearn_core.methods.Param`): each knob's
``range``, ``log_scale``, ``choices`` (bools are the choices True / False). By default the knobs
searched are those the registry marks for search (``Param.grid`` set: the ones
``benchmarks/calibrate.py`` tunes); ``search=`` names others. Other parameters keep their
per-architecture preset unless ``fixed`` sets them.

Objective (minimised): the gap to retrain on the *validation* split,
:func:`~unlearn_core.experiment.selection_gap`: the mean of ``|x - retrain's x|`` over forget,
retain and validation accuracy and MIA efficacy with validation samples as non-members (percent;
class-wise requests: validation on the remaining classes). The test set never decides: each
trial is also scored on it (``metrics``, and ``avg_gap`` in the rows) for the record only. The
retrained model is trained and scored once before the trials and shared by all of them; the
original is the model passed in.

Samplers: ``"grid"`` takes, per knob, ``p`` points spanning its whole declared range (log-spaced
on a log scale, both ends included; every choice of a categorical knob), with ``p`` the largest
number whose product over knobs stays within ``trials`` (at least 2 per knob); ``"optuna"``
uses Optuna's TPE sampler seeded with ``seed`` through the ask/tell interface, asking for trials
in batches of the executor's workers (``constant_liar`` when a batch has several).

Each trial is one executor call (:func:`unlearn_core.audit.executors.make_executor`): a failing
trial is recorded with its error and the sweep goes on; ``should_stop`` stops the trials not yet
started (recorded as cancelled) and the sweep asks for no more.

Stored: ``SweepResult.to_dict()`` is a run-store body of kind ``"sweep"`` (``RunStore.
save_comparison`` takes it as it takes an audit): the flat ``original`` / ``results`` rows the
run listing reads (the original, retrain and the best trial as the method's row) and, under
``"sweep"``, the whole record; :meth:`SweepResult.from_dict` reads it back.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import Dataset
from ..evaluation import metrics as M
from ..evaluation.tables import ERROR_COLUMN, Column, columns_for, result_column
from ..experiment import (
    REFERENCE,
    SELECTION_KEYS,
    Evaluation,
    model_logits,
    score_model,
    selection_gap,
    validation_scores,
)
from ..forget import ForgetSplit
from ..methods import Param, UnlearnTask, get_method, model_arch, run_method
from ..models import build_model
from ..runtime.device import pick_device
from ..runtime.progress import Progress, no_progress, sub_progress
from ..training import TrainConfig
from .executors import Executor, TaskFailure, make_executor

SAMPLERS = ("optuna", "grid")
#: the kind a stored sweep carries in the run store (a body with a "sweep" part)
SWEEP_KIND = "sweep"
#: the scores a trial keeps: test scores for the record, validation scores for the objective
TRIAL_KEYS = (
    "forget_acc", "retain_acc", "test_acc", "mia", "test_forgotten_acc", "loss_auc",
    *SELECTION_KEYS[2:],
)  # fmt: skip
OBJECTIVE = (
    "validation gap: mean |forget acc, retain acc, validation acc, validation MIA efficacy - "
    "retrain's| (points; the test set does not decide)"
)


class SweepError(ValueError):
    """A sweep that cannot be set up; the message says why."""


@dataclass(frozen=True)
class Dimension:
    """One searched knob: its declared range and scale, or its choices."""

    name: str
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @classmethod
    def of(cls, p: Param) -> Dimension:
        if p.type is bool:
            return cls(p.name, "categorical", choices=(True, False))
        if p.choices is not None:
            return cls(p.name, "categorical", choices=tuple(p.choices))
        if p.type not in (int, float) or p.range is None:
            raise SweepError(f"{p.name} has no declared range or choices to search")
        lo, hi = float(p.range[0]), float(p.range[1])
        log = bool(p.log_scale)
        if log and lo <= 0:
            raise SweepError(f"{p.name} is declared on a log scale but its range starts at {lo}")
        return cls(p.name, "int" if p.type is int else "float", lo, hi, log)

    def points(self, n: int) -> list:
        """``n`` values spanning the range, both ends included (all choices if categorical)."""
        if self.kind == "categorical":
            return list(self.choices or ())
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.log:
            vals = np.exp(np.linspace(math.log(lo), math.log(hi), n))
        else:
            vals = np.linspace(lo, hi, n)
        vals[0], vals[-1] = lo, hi  # exact ends, no rounding drift
        if self.kind == "int":
            return list(dict.fromkeys(int(round(v)) for v in vals))
        return [float(v) for v in vals]

    def distribution(self):
        import optuna

        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(list(self.choices or ()))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["choices"] = list(self.choices) if self.choices is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Dimension:
        ch = d.get("choices")
        return cls(
            d["name"], d["kind"], d.get("low"), d.get("high"), bool(d.get("log")),
            tuple(ch) if ch is not None else None,
        )  # fmt: skip


@dataclass
class Trial:
    """One trial: the searched settings, its gap to retrain on the validation split (the
    objective) and its scores (percent; test scores for the record)."""

    params: dict
    gap: float | None
    metrics: dict
    seconds: float | None
    error: str | None = None
    number: int = 0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.gap is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Trial:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class SweepResult:
    """Every trial of one sweep, the best one (smallest gap) and how they were searched."""

    method: str
    arch: str | None
    objective: str
    trials: list[Trial]
    best: Trial | None
    sampler: str = "optuna"
    seed: int = 0
    space: list[Dimension] = field(default_factory=list)
    #: parameters every trial used besides the searched ones (``fixed``)
    fixed: dict = field(default_factory=dict)
    #: retrain's and the original's scores (the reference every gap is read against)
    retrain: dict = field(default_factory=dict)
    original: dict = field(default_factory=dict)
    executor: str = "local"
    seconds: float = 0.0
    #: true when ``should_stop`` ended the sweep before every trial ran
    stopped: bool = False
    #: the dataset's name, the forget request (``ForgetRequest.to_dict()`` plus
    #: ``description``, ``n_forget``, ``n_retain``, ``forgotten_classes``) and the device
    dataset: str = ""
    forget: dict = field(default_factory=dict)
    device: str = ""

    @property
    def ran(self) -> list[Trial]:
        """The trials that ran (finished or failed; not those cancelled before starting)."""
        return [t for t in self.trials if not t.cancelled]

    def record(self) -> dict:
        """The whole sweep as plain JSON values (the ``"sweep"`` part of :meth:`to_dict`)."""
        d = asdict(self)
        d["space"] = [s.to_dict() for s in self.space]
        return d

    def summary(self) -> dict:
        """The CLI's ``--json`` object: the record with the forget set described in words."""
        return {
            **self.record(),
            "model": self.arch,
            "forget": self.forget.get("description", ""),
        }

    def rows(self) -> tuple[dict, list[dict]]:
        """``(original row, [retrain row, the method's row])``: flat rows as a comparison's
        (percent; ``avg_gap`` to retrain). The method's row is the best trial's, with its
        settings in ``params``; with no finished trial it carries only an error."""
        gap = M.avg_gap(self.original, self.retrain)
        original = {"method": "original", **self.original, "avg_gap": gap, "error": None}
        retrain = {"method": REFERENCE, **self.retrain, "avg_gap": 0.0, "error": None}
        n = len(self.ran)
        best = self.best
        if best is None:
            row = {"method": self.method, "error": f"no trial of {n} finished", "trials": n}
        else:
            settings = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
            row = {
                "method": self.method,
                "label": f"{self.method}, best of {n} trials ({settings})",
                **{k: best.metrics.get(k) for k in TRIAL_KEYS},
                "avg_gap": M.avg_gap(best.metrics, self.retrain),
                "val_gap": best.gap,
                "seconds": best.seconds,
                "error": None,
                "damaged": M.is_damaged(
                    best.metrics.get("retain_acc"), self.retrain.get("retain_acc")
                ),
                "trial": best.number,
                "trials": n,
                "params": {**self.fixed, **best.params},
            }
        return original, [retrain, row]

    def to_dict(self) -> dict:
        """The run-store body (kind ``"sweep"``): dataset, model, forget, seeds and device; the
        flat ``original`` / ``results`` rows (see :meth:`rows`); the whole record under
        ``"sweep"``."""
        original, results = self.rows()
        return _json_values(
            {
                "kind": SWEEP_KIND,
                "dataset": self.dataset,
                "model": self.arch,
                "forget": self.forget,
                "seeds": [self.seed],
                "device": self.device,
                "original": original,
                "results": results,
                "sweep": self.record(),
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping) -> SweepResult:
        """A sweep from :meth:`to_dict` (or from a bare :meth:`record`, as ``unlearn tune
        --out`` wrote before sweeps were stored); a body of another kind, or a damaged one,
        raises :class:`SweepError` saying so."""
        if not isinstance(d, Mapping):
            raise SweepError(f"not a sweep record: expected a JSON object, got {type(d).__name__}")
        kind = d.get("kind")
        if kind is None and "trials" in d and "method" in d:
            rec = dict(d)  # a bare record
            if isinstance(rec.get("forget"), str):
                rec["forget"] = {"description": rec["forget"]}
        elif kind != SWEEP_KIND:
            what = f"kind {kind!r}" if kind else "no kind"
            raise SweepError(f"not a sweep record: it has {what} (a sweep has kind 'sweep')")
        elif not isinstance(d.get("sweep"), Mapping):
            raise SweepError("damaged sweep record: its 'sweep' part is missing")
        else:
            rec = dict(d["sweep"])
        try:
            return cls._from_record(rec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SweepError(f"damaged sweep record: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_record(cls, d: Mapping) -> SweepResult:
        if not isinstance(d.get("trials", []), list):
            raise TypeError("its trials are not a list")
        trials = [Trial.from_dict(t) for t in d.get("trials", [])]
        best = d.get("best")
        return cls(
            method=d["method"],
            arch=d.get("arch"),
            objective=d.get("objective", OBJECTIVE),
            trials=trials,
            best=Trial.from_dict(best) if best else None,
            sampler=d.get("sampler", "optuna"),
            seed=int(d.get("seed", 0)),
            space=[Dimension.from_dict(s) for s in d.get("space", [])],
            fixed=dict(d.get("fixed") or {}),
            retrain=dict(d.get("retrain") or {}),
            original=dict(d.get("original") or {}),
            executor=d.get("executor", "local"),
            seconds=float(d.get("seconds", 0.0)),
            stopped=bool(d.get("stopped", False)),
            dataset=str(d.get("dataset") or ""),
            forget=dict(d.get("forget") or {}),
            device=str(d.get("device") or ""),
        )


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _json_values(o: Any) -> Any:
    """``o`` with NaN and infinities as None (JSON cannot hold them)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _json_values(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_json_values(v) for v in o]
    return o


def search_space(method: str, search: Sequence[str] | None = None) -> list[Dimension]:
    """The searched knobs of ``method``: ``search`` by name, else those with ``Param.grid``."""
    spec = get_method(method).spec
    known = {p.name: p for p in spec.params}
    if search:
        unknown = [n for n in search if n not in known]
        if unknown:
            raise SweepError(
                f"{method} has no parameter {', '.join(unknown)}; it takes "
                f"{', '.join(known) or 'none'}"
            )
        names = list(dict.fromkeys(search))
    else:
        names = [p.name for p in spec.params if p.grid]
    if not names:
        raise SweepError(
            f"{method} marks no parameter for search; name some with search= (--search), "
            f"from: {', '.join(known) or 'none (nothing to tune)'}"
        )
    return [Dimension.of(known[n]) for n in names]


def grid_points(space: Sequence[Dimension], trials: int) -> list[dict]:
    """The grid: per numeric knob the most points (>= 2) whose product with every knob's
    count stays within ``trials`` (more when 2 per knob already exceed it)."""
    cats = math.prod(len(d.choices or ()) for d in space if d.kind == "categorical")
    numeric = [d for d in space if d.kind != "categorical"]
    per = 2
    if numeric:
        while (per + 1) ** len(numeric) * cats <= trials:
            per += 1
    axes = [d.points(per) for d in space]
    return [
        dict(zip([d.name for d in space], combo, strict=True)) for combo in itertools.product(*axes)
    ]


def _model_spec(model: nn.Module) -> dict:
    spec = getattr(model, "spec", None)
    if not isinstance(spec, dict) or "arch" not in spec:
        raise SweepError(
            "the model records no architecture (model.spec); build it with build_model"
        )
    return spec


def run_trial(
    *,
    data: Dataset,
    model_spec: dict,
    state: dict,
    recipe: TrainConfig,
    split: ForgetSplit,
    method: str,
    fixed: dict,
    reference: dict,
    seed: int,
    params: dict,
    number: int,
) -> Trial:
    """One trial (an executor call): rebuild the original from its CPU state, run ``method``
    with ``fixed`` and ``params``, score it and read its gap to retrain's ``reference``."""
    dev = pick_device()
    model = build_model(
        model_spec["arch"], tuple(model_spec["input_shape"]), model_spec["num_classes"],
        **(model_spec.get("kwargs") or {}),
    )  # fmt: skip
    model.load_state_dict(state)
    model.to(dev).eval()
    task = UnlearnTask(data=data, split=split, train_config=recipe, device=dev)
    out = run_method(method, model, task, {**fixed, **params}, seed=seed)
    ev = model_logits(out.model, data, split)
    if not all(bool(torch.isfinite(t).all()) for t in (ev.forget, ev.retain, ev.test)):
        raise FloatingPointError("the unlearned model's outputs are not finite (it diverged)")
    scores = {
        **score_model(ev, data, split, seed=seed),
        **_validation(out.model, data, split, seed, ev),
    }
    metrics = {k: scores.get(k) for k in TRIAL_KEYS}
    gap = selection_gap(metrics, reference)
    return Trial(
        params=dict(params),
        gap=None if math.isnan(gap) else gap,
        metrics=metrics,
        seconds=out.seconds,
        number=number,
    )


def _validation(
    model: nn.Module, data: Dataset, split: ForgetSplit, seed: int, ev: Evaluation
) -> dict:
    """The validation scores the objective reads (forget / retain accuracy come from
    ``score_model``, the same numbers; ``ev``'s forget and retain logits are reused)."""
    v = validation_scores(model, data, split, seed=seed, ev=ev)
    return {k: v[k] for k in SELECTION_KEYS[2:]}


def _failed(params: dict, number: int, failure: TaskFailure) -> Trial:
    return Trial(
        params=dict(params), gap=None, metrics={}, seconds=None, error=failure.error,
        number=number, cancelled=failure.cancelled,
    )  # fmt: skip


def reference_scores(
    data: Dataset,
    model: nn.Module,
    recipe: TrainConfig,
    split: ForgetSplit,
    seed: int,
    progress: Progress = no_progress,
) -> tuple[dict, dict]:
    """(retrain's, the original's) scores; retrain is trained here, once per sweep."""
    dev = pick_device()
    model = model.to(dev).eval()
    task = UnlearnTask(data=data, split=split, train_config=recipe, device=dev)
    ev = model_logits(model, data, split)
    original = {
        **score_model(ev, data, split, seed=seed),
        **_validation(model, data, split, seed, ev),
    }
    out = run_method(REFERENCE, model, task, seed=seed, progress=progress)
    ev = model_logits(out.model, data, split)
    retrain = {
        **score_model(ev, data, split, seed=seed),
        **_validation(out.model, data, split, seed, ev),
    }
    return (
        {k: retrain.get(k) for k in TRIAL_KEYS},
        {k: original.get(k) for k in TRIAL_KEYS},
    )


def tune(
    data: Dataset,
    model: nn.Module,
    recipe: TrainConfig,
    split: ForgetSplit,
    method: str,
    *,
    trials: int = 20,
    sampler: str = "optuna",
    search: Sequence[str] | None = None,
    fixed: dict | None = None,
    seed: int = 0,
    executor: Executor | str = "local",
    workers: int | None = None,
    reference: tuple[dict, dict] | None = None,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> SweepResult:
    """Search ``method``'s knobs on one forget request (see the module text).

    ``executor`` is an executor (left open) or a name for :func:`make_executor` (closed at the
    end). ``reference`` gives (retrain's, the original's) scores from an earlier call of
    :func:`reference_scores` to skip retraining. ``on_trial`` hears each finished trial."""
    if sampler not in SAMPLERS:
        raise SweepError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if trials < 1:
        raise SweepError(f"trials must be at least 1, got {trials}")
    if method == REFERENCE:
        raise SweepError("retrain is the reference of the sweep; choose an unlearning method")
    if not data.n_val:
        raise SweepError(
            f"{data.name} has no validation split: a sweep decides on validation data only"
        )
    spec = get_method(method).spec
    space = search_space(method, search)
    fixed = dict(fixed or {})
    clash = set(fixed) & {d.name for d in space}
    if clash:
        raise SweepError(f"{', '.join(sorted(clash))} both searched and fixed; choose one")
    arch = model_arch(model)
    spec.resolve(fixed, arch=arch)  # bad fixed values fail here, before any training
    mspec = _model_spec(model)
    t0 = time.perf_counter()
    start = 0.2 if reference is None else 0.0  # the share of the progress retraining takes
    if reference is None:
        reference = reference_scores(
            data, model, recipe, split, seed, sub_progress(progress, 0.0, 0.2, "retrain: ")
        )
    retrain, original = reference
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    shared = dict(
        data=data, model_spec=mspec, state=state, recipe=recipe, split=split, method=method,
        fixed=fixed, reference=retrain, seed=seed,
    )  # fmt: skip
    owns = isinstance(executor, str)
    ex = make_executor(executor, workers) if isinstance(executor, str) else executor
    done: list[Trial] = []
    stopped = False

    def run_batch(points: list[dict], total: int) -> list[Trial]:
        first = len(done)
        calls = [{"params": p, "number": first + i} for i, p in enumerate(points)]
        report = sub_progress(
            progress, start + (1 - start) * first / total,
            start + (1 - start) * (first + len(points)) / total, "trials: ",
        )  # fmt: skip
        results = ex.map(run_trial, calls, shared=shared, progress=report, should_stop=should_stop)
        out = []
        for call, res in zip(calls, results, strict=True):
            trial = (
                _failed(call["params"], call["number"], res)
                if isinstance(res, TaskFailure)
                else res
            )
            out.append(trial)
            done.append(trial)
            if on_trial is not None:
                on_trial(trial)
        return out

    try:
        if sampler == "grid":
            points = grid_points(space, trials)
            run_batch(points, len(points))
        else:
            _optuna_loop(space, trials, seed, ex.workers, run_batch, should_stop)
        stopped = any(t.cancelled for t in done) or (
            should_stop is not None and should_stop() and len(done) < trials
        )
    finally:
        if owns:
            ex.close()
    ok = [t for t in done if t.ok]
    best = min(ok, key=lambda t: (t.gap, t.number)) if ok else None
    progress(1.0, "done")
    return SweepResult(
        method=method,
        arch=arch,
        objective=OBJECTIVE,
        trials=done,
        best=best,
        sampler=sampler,
        seed=seed,
        space=space,
        fixed=fixed,
        retrain=retrain,
        original=original,
        executor=ex.name,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
        dataset=data.name,
        forget={
            **split.request.to_dict(),
            "description": split.request.describe(data.classes),
            "n_forget": split.n_forget,
            "n_retain": split.n_retain,
            "forgotten_classes": list(split.forgotten_classes),
        },
        device=str(pick_device()),
    )


def _optuna_loop(space, trials, seed, workers, run_batch, should_stop) -> None:
    """Ask / tell in batches of ``workers`` with a seeded TPE sampler."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    batch = max(1, int(workers))
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=batch > 1)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {d.name: d.distribution() for d in space}
    asked = 0
    while asked < trials:
        if should_stop is not None and should_stop():
            return
        size = min(batch, trials - asked)
        handles = [study.ask(dists) for _ in range(size)]
        asked += size
        results = run_batch([dict(h.params) for h in handles], trials)
        for h, trial in zip(handles, results, strict=True):
            if trial.ok:
                study.tell(h, trial.gap)
            else:
                study.tell(h, state=optuna.trial.TrialState.FAIL)
        if any(t.cancelled for t in results):
            return


def trials_columns(result: SweepResult, rows: Sequence[Mapping] = ()) -> list[Column]:
    """The columns of :func:`trials_table` (the shared table spec): the trial, each searched
    setting (a choice as text), the validation gap, the scores and the time as the results
    tables print them, and the error when a row of ``rows`` has one."""
    cols = [Column("trial", "trial", fmt=".0f")]
    cols += [Column(d.name, d.name, fmt=".4g", text=d.kind == "categorical") for d in result.space]
    cols.append(Column("gap", "gap to retrain", "pts", help=OBJECTIVE))
    cols += [result_column(k) for k in ("forget_acc", "retain_acc", "test_acc", "mia", "seconds")]
    return columns_for(rows, [*cols, ERROR_COLUMN])


def trials_table(result: SweepResult) -> list[dict]:
    """One flat row per trial (number, searched settings, gap, scores, seconds, error), best
    first among the finished ones, for the CLI table and the app (:func:`trials_columns`)."""
    order = sorted(result.trials, key=lambda t: (not t.ok, t.gap if t.ok else 0.0, t.number))
    return [
        {
            "trial": t.number,
            **t.params,
            "gap": t.gap,
            **{k: t.metrics.get(k) for k in ("forget_acc", "retain_acc", "test_acc", "mia")},
            "seconds": t.seconds,
            "error": t.error,
        }
        for t in order
    ]


__all__ = [
    "OBJECTIVE",
    "SAMPLERS",
    "SWEEP_KIND",
    "Dimension",
    "SweepError",
    "SweepResult",
    "Trial",
    "grid_points",
    "reference_scores",
    "run_trial",
    "search_space",
    "trials_columns",
    "trials_table",
    "tune",
]

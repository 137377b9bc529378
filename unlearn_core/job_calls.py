"""The library calls a server's jobs run in a worker process (``runtime.workers``).

Each is a module-level function (a worker imports it by name) that takes the worker's
``progress`` and ``emit`` and returns what the job keeps; the job's own thread stores it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from torch import nn

from .data import Dataset
from .experiment import Comparison, MultiComparison, compare, compare_seeds
from .forget import ForgetSplit
from .methods import get_method
from .runtime.progress import Progress
from .runtime.workers import Emit
from .training import History, TrainConfig, evaluate, train_new_model

if TYPE_CHECKING:
    from .audit.records import AuditResult
    from .audit.sweep import SweepResult


def train(
    *,
    data: Dataset,
    arch: str,
    recipe: TrainConfig,
    seed: int,
    progress: Progress,
    emit: Emit,  # noqa: ARG001 - training has nothing to hand back early
) -> tuple[nn.Module, History, float]:
    """Train ``arch`` on ``data`` with ``recipe``: the model, its history, its test accuracy
    (text data: a ``tinylm`` trained as the text library trains, its exact match on the world
    facts)."""
    if getattr(data, "kind", None) == "text":
        from .text_app import exact_match, train_text

        model, hist = train_text(data, recipe, seed=seed, progress=progress)
        return model, hist, exact_match(model, data.x_test, data.y_test)
    model, hist = train_new_model(data, arch, recipe, seed=seed, progress=progress)
    return model, hist, evaluate(model, data.x_test, data.y_test)


def method_modules(names: Iterable[str]) -> list[str] | None:
    """The modules a fresh worker process must import so that ``names`` are registered there
    (those outside the library's ``methods`` package: a plugin's); None when some method's
    class cannot be imported by name (defined inside a function): it must run here."""
    out: list[str] = []
    for name in names:
        cls = type(get_method(name))
        if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
            return None
        if not cls.__module__.startswith("unlearn_core.methods") and cls.__module__ not in out:
            out.append(cls.__module__)
    return out


def comparison(
    *,
    data: Dataset,
    model: nn.Module | None,
    arch: str,
    recipe: TrainConfig,
    split: ForgetSplit,
    methods: dict[str, dict],
    seeds: list[int],
    train_seed: int,
    include_retrain: bool,
    progress: Progress,
    emit: Emit,
    modules: Iterable[str] = (),
    repair: dict | None = None,
) -> Comparison | MultiComparison:
    """One seed: ``compare`` on the trained ``model``; several: ``compare_seeds``, the trained
    model standing for its own seed. Each finished method is emitted as ``("result", r)``; on a
    stop, the finished part as ``("stop", part)`` before the stop is raised. ``modules``
    (:func:`method_modules`) are imported first. ``repair``: ``make_scenario``'s arguments: the
    comparison runs on the corrupted data, each seed training its own original on it, with the
    repair scores and the ``clean`` row (``unlearn_core.repair``)."""
    for module in modules:
        importlib.import_module(module)
    common: dict[str, Any] = {
        "include_retrain": include_retrain,
        "on_result": lambda r: emit("result", r),
        "progress": progress,
        "on_stop": lambda part: emit("stop", part),
    }
    if repair is not None:  # a repair scenario: every seed's original trains on the corruption
        from .repair import RepairScorer, make_scenario

        sc = make_scenario(data, **repair)
        multi = compare_seeds(
            sc.corrupted, arch, recipe, sc.split(), methods, seeds=seeds, keep_models=True,
            scenario=RepairScorer(sc, attributions=True), **common,
        )  # fmt: skip
        return multi.comparisons[0] if len(seeds) == 1 else multi
    if len(seeds) == 1:
        return compare(data, model, recipe, split, methods, seed=seeds[0], **common)
    source: Any = arch
    if getattr(data, "kind", None) == "text":  # each seed's tinylm trains the text way
        from .text_app import factory

        source = factory(data, recipe)
    return compare_seeds(
        data,
        source,
        recipe,
        split,
        methods,
        seeds=seeds,
        originals={train_seed: model} if train_seed in seeds and model is not None else None,
        keep_models=True,
        **common,
    )


def audit(
    *,
    data: Dataset,
    arch: str,
    recipe: TrainConfig,
    split: ForgetSplit,
    methods: list[str],
    models: int,
    seed: int,
    executor: str,
    workers: int,
    relearn: bool | str,
    metrics: list[str],
    attacks: list[str],
    ensembles: str,
    progress: Progress,
    emit: Emit,  # noqa: ARG001 - an audit hands back its result at the end
    should_stop: Callable[[], bool],
) -> AuditResult:
    """``run_audit`` on an executor made here, reusing and filling the ensemble store at
    ``ensembles``; a stop leaves the result marked ``cancelled``."""
    from .audit.executors import make_executor
    from .audit.pipeline import run_audit

    with make_executor(executor, workers) as ex:
        return run_audit(
            data,
            arch,
            recipe,
            split,
            methods,
            models=models,
            seed=seed,
            executor=ex,
            relearn=relearn,
            progress=progress,
            should_stop=should_stop,
            metrics=metrics,
            attacks=attacks,
            reuse=True,
            ensembles=ensembles,
        )


def sweep(
    *,
    data: Dataset,
    model: nn.Module,
    recipe: TrainConfig,
    split: ForgetSplit,
    method: str,
    trials: int,
    sampler: str,
    seed: int,
    executor: str,
    workers: int,
    progress: Progress,
    emit: Emit,
    should_stop: Callable[[], bool],
) -> SweepResult:
    """``tune`` on an executor made here; each finished trial is emitted as ``("trial", t)``."""
    from .audit.executors import make_executor
    from .audit.sweep import tune

    with make_executor(executor, workers) as ex:
        return tune(
            data,
            model,
            recipe,
            split,
            method,
            trials=trials,
            sampler=sampler,
            seed=seed,
            executor=ex,
            progress=progress,
            should_stop=should_stop,
            on_trial=lambda t: emit("trial", t),
        )

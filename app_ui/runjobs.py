"""The work of the training and comparison jobs (``app_ui.jobs`` starts, reopens, adopts and
polls them): each runs in a server thread that hands the computing to a worker process
(``jobs.job_workers``, off the interpreter lock the pages need), stores its result itself and
survives its tab.

Training stores the model in the run store and the disk cache under its settings key, which
becomes the session's model when the settings are still the same (``jobs.TRAIN``). The
comparison worker saves the finished (or cancelled) comparison to the run store and registers it, so
a run whose tab was closed is still stored, and a reload finds the job in the server-wide job
registry (its id is in the URL while it runs). Cancel raises from the job's progress callback,
which the library calls at least every batch (``unlearn_core.runtime.progress.checkpoint``); the
library hands back the methods that had finished, the others marked cancelled, and that part
is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from uuid import uuid4

from app_ui import jobs
from app_ui.persist import remember_dataset, run_store, save_model_entry
from app_ui.registries import (
    ModelEntry,
    comparison_registry,
    dataset_spec,
    model_key,
    model_registry,
    model_store,
    multi_registry,
    stored_runs,
)
from app_ui.state import (
    ARCH,
    CHOSEN_METHODS,
    INCLUDE_RETRAIN,
    METHODS,
    MODEL_KEY,
    RECIPE,
    TRAIN_SEED,
    UNLEARN_N_SEEDS,
    UNLEARN_SEED,
)
from unlearn_core import job_calls
from unlearn_core.data import Dataset
from unlearn_core.experiment import REFERENCE, STOPPED, Comparison, MultiComparison
from unlearn_core.forget import ForgetSplit
from unlearn_core.runtime.estimates import comparison_estimate, record_outcome
from unlearn_core.runtime.jobs import Job, JobCancelled
from unlearn_core.store import RunStoreError
from unlearn_core.training import TrainConfig

#: the error text of a method that had not finished when the run was cancelled
CANCELLED = STOPPED


def is_cancelled(res) -> bool:
    return CANCELLED in (getattr(res, "error", None) or "")


class _FirstSeedModels(MultiComparison):
    """A several-seed result that offers its first seed's models to the run store, so a
    reopened run draws the detail views (embeddings, attacks) of that seed."""

    def models(self) -> dict:
        return self.comparisons[0].models() if self.comparisons else {}


# scikit-learn's SVC (the membership attack; its first import takes seconds) is imported with
# the other pages' modules at the first interaction (app_ui.first_paint.LATER): imported here,
# when the first page imported this module, it held the server through a second tab's visit


def start_training(data: Dataset, *, estimate: str = "") -> Job:
    """Train the current settings' model in a background job (stored when done); its result
    is the settings key, the session's model once it finishes if the settings still are."""
    key, arch, seed = model_key(), ARCH.get(), int(TRAIN_SEED.get())
    recipe = TrainConfig.from_dict(RECIPE.get())
    spec = json.loads(json.dumps(dataset_spec()))

    def work(job: Job) -> str:
        model, hist, acc = jobs.job_workers().call(
            job_calls.train,
            {"data": data, "arch": arch, "recipe": recipe, "seed": seed},
            progress=job.report,
        )
        entry = ModelEntry(
            model=model, recipe=recipe, history=hist.to_dict(), test_acc=acc, source="trained"
        )
        try:  # the run store is where models last; the URL names this id
            mid = save_model_entry(entry, data, spec, arch=arch, seed=seed)
            entry = replace(entry, model_id=mid)
        except (RunStoreError, OSError) as exc:
            job.message = f"trained, but not stored: {exc}"
        model_registry()[key] = entry  # whole: the sessions see it only now
        meta = {
            "train_config": recipe.to_dict(),
            "history": hist.to_dict(),
            "test_acc": acc,
            "seed": seed,
        }
        model_store().put(key, model.cpu(), data, meta)
        return key

    context = {"settings": key, "previous_model": MODEL_KEY.get(), "estimate": estimate}
    return jobs.start(jobs.TRAIN, f"Training {arch}", work, context=context)


def start_comparison(
    *,
    data: Dataset,
    spec: dict,
    entry: ModelEntry,
    arch: str,
    train_seed: int,
    split: ForgetSplit,
    methods: dict[str, dict],
    seeds: list[int],
    include_retrain: bool,
    plan: list[tuple[str, str]],
    model_id: str | None,
    forget_id: str | None,
    ctx: dict,
    repair: dict | None = None,
) -> Job:
    """Start the comparison job (one seed: ``compare`` on the trained model; several:
    ``compare_seeds``, the trained model standing for its own seed). ``repair``: a repair
    scenario's settings (``app_ui.repair_view``): the job corrupts the data and trains its own
    originals on it."""
    model, recipe = entry.model, entry.recipe
    est = None
    if len(seeds) == 1:  # what the Unlearn page promised; the real time teaches the next one
        est = comparison_estimate(
            data.n_train, split.n_forget, arch, recipe, list(methods), data.input_shape,
            data.num_classes, include_retrain=include_retrain, n_test=data.n_test,
        )  # fmt: skip

    def save(result: Comparison | MultiComparison, *, note: str = "") -> str:
        store = run_store()
        remember_dataset(spec, data, store)
        single = isinstance(result, Comparison)
        to_store = result if single else _FirstSeedModels(comparisons=result.comparisons)
        rec = store.save_comparison(
            to_store,
            dataset=data,
            recipe=recipe.to_dict() if hasattr(recipe, "to_dict") else recipe,
            original_model_id=model_id if single else None,
            forget_id=forget_id,
            note=note,
        )
        keep(rec.id, result)
        stored_runs().add(rec.id)
        return rec.id

    def keep(cid: str, result: Comparison | MultiComparison) -> None:
        single = isinstance(result, Comparison)
        comparison_registry()[cid] = result if single else result.comparisons[0]
        if not single:
            multi_registry()[cid] = result

    def work(job: Job) -> str:
        t0 = time.perf_counter()
        stopped: list[Comparison | MultiComparison] = []
        events = {"result": job.add_partial, "stop": stopped.append}
        modules = job_calls.method_modules(methods)
        try:
            result = jobs.job_workers().call(
                job_calls.comparison,
                {
                    "data": data,
                    "model": model,
                    "arch": arch,
                    "recipe": recipe,
                    "split": split,
                    "methods": methods,
                    "seeds": seeds,
                    "train_seed": train_seed,
                    "include_retrain": include_retrain,
                    "modules": modules or (),
                    "repair": repair,
                },
                progress=job.report,
                on_event=lambda name, payload: events[name](payload),
                here=modules is None,  # a method defined where a worker cannot import it
            )
        except JobCancelled:
            job.message = "cancelled"
            if stopped:
                job.result = _save_stopped(stopped[0], job)
            raise
        try:
            cid = save(result)
            if est is not None:
                record_outcome(est, time.perf_counter() - t0)
            return cid
        except (RunStoreError, OSError) as exc:  # keep the result in memory all the same
            cid = uuid4().hex[:12]
            keep(cid, result)
            job.error = f"the run finished but could not be stored: {exc}"
            return cid

    def _save_stopped(part: Comparison | MultiComparison, job: Job) -> str | None:
        if isinstance(part, Comparison):
            note = "cancelled: the unfinished methods were not run"
        elif any(is_cancelled(r) for c in part.comparisons for r in c.results):
            note = f"cancelled during seed {part.seeds[0]}: the unfinished methods were not run"
        else:
            note = f"cancelled: only seeds {part.seeds} of {seeds} finished"
        try:
            return save(part, note=note)
        except (RunStoreError, OSError) as exc:
            job.error = f"the finished part could not be stored: {exc}"
            return None

    context = {
        **ctx,
        "plan": [list(p) for p in plan],
        # the Unlearn page's choices, shown again by a session that reopens the job
        "choices": {
            CHOSEN_METHODS: list(methods),
            METHODS: {n: dict(v) for n, v in methods.items()},
            UNLEARN_SEED: int(seeds[0]),
            UNLEARN_N_SEEDS: len(seeds),
            INCLUDE_RETRAIN: bool(include_retrain),
        },
    }
    return jobs.start(
        jobs.COMPARE, "Unlearning", work, context=context,
        estimate_s=est.seconds if est is not None else None,
    )  # fmt: skip


__all__ = ["CANCELLED", "REFERENCE", "is_cancelled", "start_comparison", "start_training"]

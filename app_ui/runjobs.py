"""The comparison job: runs in a server thread, stores its result itself, survives its tab.

The worker saves the finished (or cancelled) comparison to the run store and registers it, so
a run whose tab was closed is still stored, and a reload finds the job in the server-wide job
registry (its id is in the URL while it runs). Cancel raises at the method's next progress
report; the methods that had finished are kept and the others are marked cancelled.
"""

from __future__ import annotations

from app_ui.common import comparison_registry, remember_job
from app_ui.persist import (
    job_context,
    multi_registry,
    remember_dataset,
    run_store,
    stored_runs,
)
from unlearn_core.data import Dataset
from unlearn_core.experiment import (
    REFERENCE,
    Comparison,
    MethodResult,
    MultiComparison,
    compare,
    compare_seeds,
    model_logits,
    score_model,
)
from unlearn_core.forget import ForgetSplit
from unlearn_core.jobs import Job, JobCancelled, start_job
from unlearn_core.runstore import RunStoreError

#: the error text of a method that had not finished when the run was cancelled
CANCELLED = "cancelled before it finished"


def is_cancelled(res) -> bool:
    return getattr(res, "error", None) == CANCELLED or CANCELLED in (
        getattr(res, "error", None) or ""
    )


class _FirstSeedModels(MultiComparison):
    """A several-seed result that offers its first seed's models to the run store, so a
    reopened run draws the detail views (embeddings, attacks) of that seed."""

    def models(self) -> dict:
        return self.comparisons[0].models() if self.comparisons else {}


def _cancelled_comparison(
    data: Dataset, model, split: ForgetSplit, seed: int, plan: list, done: list[MethodResult]
) -> Comparison:
    """A single-seed comparison from the methods that finished; the rest marked cancelled."""
    original = MethodResult(
        method="original",
        label="Original (before unlearning)",
        family="none",
        metrics=score_model(model_logits(model, data, split), data, split, seed=seed),
        model=model,
    )
    finished = {r.method: r for r in done}
    results = [
        finished.get(name) or MethodResult(method=name, label=label, family="?", error=CANCELLED)
        for name, label in plan
    ]
    return Comparison(
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
        results=results,
    )


def start_comparison(
    *,
    data: Dataset,
    spec: dict,
    entry: dict,
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
) -> Job:
    """Start the comparison job (one seed: ``compare`` on the trained model; several:
    ``compare_seeds``, the trained model standing for its own seed)."""
    model, recipe = entry["model"], entry["recipe"]

    def save(result, *, note: str = "") -> str:
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
        if single:
            comparison_registry()[rec.id] = result
        else:
            comparison_registry()[rec.id] = result.comparisons[0]
            multi_registry()[rec.id] = result
        stored_runs().add(rec.id)
        return rec.id

    def work(job: Job) -> str:
        finished_seeds: list[Comparison] = []
        try:
            if len(seeds) == 1:
                result = compare(
                    data,
                    model,
                    recipe,
                    split,
                    methods,
                    seed=seeds[0],
                    include_retrain=include_retrain,
                    on_result=job.add_partial,
                    progress=job.report,
                )
            else:
                result = compare_seeds(
                    data,
                    arch,
                    recipe,
                    split,
                    methods,
                    seeds=seeds,
                    originals={train_seed: model} if train_seed in seeds else None,
                    include_retrain=include_retrain,
                    on_result=job.add_partial,
                    on_comparison=finished_seeds.append,
                    progress=job.report,
                    keep_models=True,
                )
        except JobCancelled:
            job.message = "cancelled"
            try:
                if len(seeds) == 1:
                    part = _cancelled_comparison(
                        data, model, split, seeds[0], plan, list(job.partial)
                    )
                    job.result = save(part, note="cancelled: unfinished methods not run")
                elif finished_seeds:
                    done = [c.seed for c in finished_seeds]
                    job.result = save(
                        MultiComparison(comparisons=finished_seeds),
                        note=f"cancelled: only seeds {done} finished",
                    )
            except (RunStoreError, OSError) as exc:
                job.error = f"the finished part could not be stored: {exc}"
            raise
        try:
            return save(result)
        except (RunStoreError, OSError) as exc:  # keep the result in memory all the same
            from uuid import uuid4

            cid = uuid4().hex[:12]
            comparison_registry()[cid] = (
                result if isinstance(result, Comparison) else result.comparisons[0]
            )
            if isinstance(result, MultiComparison):
                multi_registry()[cid] = result
            job.error = f"the run finished but could not be stored: {exc}"
            return cid

    job = remember_job("compare", start_job("Unlearning", work))
    job_context()[job.id] = {**ctx, "job": job.id, "plan": [list(p) for p in plan]}
    return job


__all__ = ["CANCELLED", "REFERENCE", "is_cancelled", "start_comparison"]

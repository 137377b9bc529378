"""The Audit page's server-side work: the audit job and the sweep job, their registries, the
cost estimate shown before a run, and reopening a stored audit from the URL.

Both jobs run in a worker thread (``unlearn_core.jobs.start_job``). Cancel is read through
``should_stop`` (the library leaves unstarted models / trials undone and hands back what
finished); the progress callback never raises, so the finished part is kept: an audit is
stored in the run store (kind "audit") even when cancelled, a sweep stays in the session.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import streamlit as st

from app_ui.common import remember_job
from app_ui.persist import _open_dataset, remember_dataset, run_store
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.audit.records import AUDIT_KIND, AuditResult
from unlearn_core.audit.sweep import SweepResult, tune
from unlearn_core.data import Dataset
from unlearn_core.estimates import (
    comparison_estimate,
    format_duration,
    training_estimate,
)
from unlearn_core.forget import ForgetSplit
from unlearn_core.jobs import Job, JobCancelled, start_job
from unlearn_core.runstore import RunStoreError, UnknownRunError

S = st.session_state
#: session keys: the shown audit's id, and the purposes of the two jobs in ``S["jobs"]``
AUDIT_ID = "audit_id"
AUDIT_JOB = "audit"
SWEEP_JOB = "sweep"
#: relearning steps and models per relearning call: a small fixed cost (seconds per model)
RELEARN_S_PER_MODEL = 1.0


@dataclass
class ShownAudit:
    """An audit as the page shows it: the record, its dataset and the dataset's app spec."""

    result: AuditResult
    data: Dataset
    spec: dict
    stored: bool = True


@st.cache_resource
def audit_registry() -> dict[str, ShownAudit]:
    """audit id -> the audit (finished jobs and audits reopened from the run store)."""
    return {}


@st.cache_resource
def sweep_registry() -> dict[str, SweepResult]:
    """sweep job id -> its result (sweeps are not stored; they live for the server)."""
    return {}


def ray_available() -> bool:
    """Whether the Ray executor can be offered (the optional extra is installed)."""
    return importlib.util.find_spec("ray") is not None


def audit_estimate(
    data: Dataset, split: ForgetSplit, arch: str, recipe, methods: list[str], k: int,
    workers: int, relearn: bool,
) -> tuple[float, str]:  # fmt: skip
    """Estimated seconds of an audit and what the figure rests on: per seed one original on
    the whole training set plus one comparison (retrain, each method, scoring), K seeds over
    ``workers`` parallel workers, plus the relearning calls."""
    shape, n_cls = data.input_shape, data.num_classes
    orig = training_estimate(data.n_train, arch, recipe, shape, n_cls).seconds
    comp = comparison_estimate(
        data.n_train, split.n_forget, arch, recipe, methods, shape, n_cls
    ).seconds
    per_seed = orig + comp
    relearn_s = (len(methods) + 2) * RELEARN_S_PER_MODEL if relearn else 0.0
    total = k * per_seed / max(workers, 1) + relearn_s
    basis = (
        f"{k} seeds x (original ~{format_duration(orig)} + retrain and "
        f"{len(methods)} method(s) ~{format_duration(comp)}) over {workers} worker(s)"
        + (f", relearning ~{format_duration(relearn_s)}" if relearn else "")
    )
    return total, basis


def _safe_report(job: Job):
    """A progress callback that never raises (cancel is read through ``should_stop``)."""

    def report(fraction: float, message: str = "") -> None:
        if job.cancel_requested:
            job.message = "cancelling: finishing the work already started"
            return
        job.report(fraction, message)

    return report


def start_audit(
    *, data: Dataset, spec: dict, arch: str, recipe, split: ForgetSplit, methods: list[str],
    models: int, seed: int, executor: str, workers: int, relearn: str | None,
) -> Job:  # fmt: skip
    """Start the audit job; it stores the audit (also a cancelled one's finished part) and
    returns the stored id."""
    from unlearn_core.audit.executors import make_executor

    def work(job: Job) -> str:
        ex = make_executor(executor, workers)
        try:
            result = run_audit(
                data,
                arch,
                recipe,
                split,
                methods,
                models=models,
                seed=seed,
                executor=ex,
                relearn=relearn or False,
                progress=_safe_report(job),
                should_stop=lambda: job.cancel_requested,
            )
        finally:
            ex.close()
        aid = _store(job, result, data, spec, recipe)
        if result.cancelled:
            job.result = aid
            raise JobCancelled(job.title)
        return aid

    return remember_job(AUDIT_JOB, start_job("Audit", work))


def _store(job: Job, result: AuditResult, data: Dataset, spec: dict, recipe) -> str:
    from uuid import uuid4

    try:
        store = run_store()
        remember_dataset(spec, data, store)
        note = "cancelled: the unfinished models were not run" if result.cancelled else ""
        rec = store.save_comparison(
            result, dataset=data, recipe=recipe.to_dict(), save_models=False, note=note
        )
        aid, stored = rec.id, True
    except (RunStoreError, OSError) as exc:  # kept for this server all the same
        aid, stored = f"audit-{uuid4().hex[:8]}", False
        job.error = f"the audit finished but could not be stored: {exc}"
    audit_registry()[aid] = ShownAudit(result, data, dict(spec), stored)
    return aid


def start_sweep(
    *, data: Dataset, model, recipe, split: ForgetSplit, method: str, trials: int,
    sampler: str, seed: int, executor: str, workers: int,
) -> Job:  # fmt: skip
    """Start a sweep job over ``method``'s registry knobs; ``job.partial`` grows by one
    ``Trial`` per finished trial and ``job.result`` is the job id (see ``sweep_registry``)."""
    from unlearn_core.audit.executors import make_executor

    def work(job: Job) -> str:
        ex = make_executor(executor, workers)
        try:
            result = tune(
                data,
                model,
                recipe,
                split,
                method,
                trials=trials,
                sampler=sampler,
                seed=seed,
                executor=ex,
                progress=_safe_report(job),
                should_stop=lambda: job.cancel_requested,
                on_trial=job.add_partial,
            )
        finally:
            ex.close()
        sweep_registry()[job.id] = result
        if result.stopped and job.cancel_requested:
            job.result = job.id
            raise JobCancelled(job.title)
        return job.id

    return remember_job(SWEEP_JOB, start_job(f"Sweep of {method}", work))


def restore_audit(aid: str) -> None:
    """Reopen a stored audit (the URL's ``audit`` id) as the Audit page's current one."""
    reg = audit_registry()
    if aid not in reg:
        doc = run_store().read_comparison(aid)
        body = doc["comparison"]
        if body.get("kind") != AUDIT_KIND:
            raise UnknownRunError(f"run {aid} is a comparison, not an audit")
        rec = doc["record"]
        spec, data = _open_dataset(rec.get("fingerprint"), rec.get("dataset", ""))
        reg[aid] = ShownAudit(AuditResult.from_dict(body), data, spec)
    S[AUDIT_ID] = aid


def current_audit() -> tuple[str, ShownAudit] | None:
    aid = S.get(AUDIT_ID)
    shown = audit_registry().get(aid) if aid else None
    return (aid, shown) if shown is not None else None


def stored_audit_id() -> str | None:
    """The shown audit's id when the run store holds it (for the URL)."""
    got = current_audit()
    return got[0] if got is not None and got[1].stored else None


__all__ = [
    "AUDIT_ID",
    "AUDIT_JOB",
    "SWEEP_JOB",
    "ShownAudit",
    "audit_estimate",
    "audit_registry",
    "current_audit",
    "ray_available",
    "restore_audit",
    "start_audit",
    "start_sweep",
    "stored_audit_id",
    "sweep_registry",
]

"""The Audit page's server-side work: the audit job and the sweep job, their registries, the
cost estimate shown before a run, and what the URL names (running jobs, stored results).

Both jobs run in a worker thread (``unlearn_core.runtime.jobs.start_job``) and belong to the server.
Cancel is read through ``should_stop`` (the library leaves unstarted models / trials undone and
hands back what finished); the progress callback never raises, so the finished part is kept:
an audit is stored in the run store (kind "audit") even when cancelled, a sweep (kind "sweep")
when at least one trial ran. The URL carries a running job's id (``ajob`` / ``sjob``) and the
shown audit's and sweep's ids (``audit`` / ``sweep``), so a reload, a new tab or a server
restart (for the stored results) shows them again.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import streamlit as st

from app_ui.persist import _open_dataset, remember_dataset, run_store
from app_ui.registries import job_for, job_registry, remember_job
from app_ui.state import AU_SEEN, AUDIT_ID, JOBS, SWEEP_ID, URL_PARAMS
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.audit.records import AUDIT_KIND, AuditResult
from unlearn_core.audit.sweep import SWEEP_KIND, SweepError, SweepResult, tune
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetSplit
from unlearn_core.runtime.estimates import (
    comparison_estimate,
    format_duration,
    training_estimate,
)
from unlearn_core.runtime.jobs import Job, JobCancelled, start_job
from unlearn_core.store import CorruptRunError, RunStoreError, UnknownRunError

#: the purposes of the two jobs in ``state.JOBS``
AUDIT_JOB = "audit"
SWEEP_JOB = "sweep"
#: URL key -> the purpose of the running job it names
JOB_URL_KEYS = {p.name: p.job for p in URL_PARAMS if p.job in (AUDIT_JOB, SWEEP_JOB)}
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


@dataclass
class ShownSweep:
    """A sweep as the page shows it, and whether the run store holds it."""

    result: SweepResult
    stored: bool = True


@st.cache_resource
def sweep_registry() -> dict[str, ShownSweep]:
    """sweep id -> the sweep (finished jobs and sweeps reopened from the run store)."""
    return {}


@st.cache_resource
def job_purposes() -> dict[str, str]:
    """job id -> "audit" or "sweep", for the audit and sweep jobs this server started."""
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
    ``workers`` parallel workers, plus the relearning calls (every seed's models)."""
    shape, n_cls = data.input_shape, data.num_classes
    orig = training_estimate(data.n_train, arch, recipe, shape, n_cls).seconds
    comp = comparison_estimate(
        data.n_train, split.n_forget, arch, recipe, methods, shape, n_cls
    ).seconds
    per_seed = orig + comp
    relearn_s = k * (len(methods) + 2) * RELEARN_S_PER_MODEL / max(workers, 1) if relearn else 0.0
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
        with make_executor(executor, workers) as ex:
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
        aid = _store(job, result, data, spec, recipe)
        if result.cancelled:
            job.result = aid
            raise JobCancelled(job.title)
        return aid

    return _remember(AUDIT_JOB, start_job("Audit", work))


def _remember(purpose: str, job: Job) -> Job:
    job_purposes()[job.id] = purpose
    return remember_job(purpose, job)


def _save(job: Job, result, data: Dataset, spec: dict, recipe, note: str, what: str) -> str | None:
    """Store an audit or a sweep in the run store; its id, or None (said in ``job.error``)."""
    try:
        store = run_store()
        remember_dataset(spec, data, store)
        rec = store.save_comparison(
            result, dataset=data, recipe=recipe.to_dict(), save_models=False, note=note
        )
        return rec.id
    except (RunStoreError, OSError) as exc:  # kept for this server all the same
        job.error = f"the {what} finished but could not be stored: {exc}"
        return None


def _store(job: Job, result: AuditResult, data: Dataset, spec: dict, recipe) -> str:
    from uuid import uuid4

    note = "cancelled: the unfinished models were not run" if result.cancelled else ""
    rid = _save(job, result, data, spec, recipe, note, "audit")
    aid = rid or f"audit-{uuid4().hex[:8]}"
    audit_registry()[aid] = ShownAudit(result, data, dict(spec), rid is not None)
    return aid


def start_sweep(
    *, data: Dataset, spec: dict, model, recipe, split: ForgetSplit, method: str, trials: int,
    sampler: str, seed: int, executor: str, workers: int,
) -> Job:  # fmt: skip
    """Start a sweep job over ``method``'s registry knobs; ``job.partial`` grows by one
    ``Trial`` per finished trial. The sweep is stored (also a cancelled one's trials that ran)
    and ``job.result`` is its id in ``sweep_registry``."""
    from unlearn_core.audit.executors import make_executor

    def work(job: Job) -> str:
        with make_executor(executor, workers) as ex:
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
        sid = _store_sweep(job, result, data, spec, recipe)
        if result.stopped and job.cancel_requested:
            job.result = sid
            raise JobCancelled(job.title)
        return sid

    return _remember(SWEEP_JOB, start_job(f"Sweep of {method}", work))


def _store_sweep(job: Job, result: SweepResult, data: Dataset, spec: dict, recipe) -> str:
    """Store a sweep whose trials ran (kept for this server when none ran or storing fails)."""
    note = "cancelled: the trials not started were not run" if result.stopped else ""
    rid = _save(job, result, data, spec, recipe, note, "sweep") if result.ran else None
    sid, stored = rid or f"sweep-{job.id}", rid is not None
    sweep_registry()[sid] = ShownSweep(result, stored)
    return sid


def _read_stored(rid: str, kind: str) -> tuple[dict, dict]:
    """(record, body) of stored run ``rid``; refuses a run of another kind."""
    doc = run_store().read_comparison(rid)
    body = doc["comparison"]
    if body.get("kind") != kind:
        other = body.get("kind") or "comparison"
        other = "comparison" if other == "multi_comparison" else other
        raise UnknownRunError(
            f"run {rid} is a stored {other}, not {'an' if kind == AUDIT_KIND else 'a'} {kind}"
        )
    return doc["record"], body


def restore_audit(aid: str) -> None:
    """Reopen a stored audit (the URL's ``audit`` id) as the Audit page's current one."""
    reg = audit_registry()
    if aid not in reg:
        rec, body = _read_stored(aid, AUDIT_KIND)
        spec, data = _open_dataset(rec.get("fingerprint"), rec.get("dataset", ""))
        reg[aid] = ShownAudit(AuditResult.from_dict(body), data, spec)
    AUDIT_ID.set(aid)


def restore_sweep(sid: str) -> None:
    """Reopen a stored sweep (the URL's ``sweep`` id) as the Audit page's current one; it
    needs no dataset (its trials and scores are in the record)."""
    reg = sweep_registry()
    if sid not in reg:
        _, body = _read_stored(sid, SWEEP_KIND)
        try:
            reg[sid] = ShownSweep(SweepResult.from_dict(body))
        except SweepError as exc:
            raise CorruptRunError(f"run {sid}: {exc}") from exc
    SWEEP_ID.set(sid)


def restore_job(key: str, jid: str) -> None:
    """Show running job ``jid`` (the URL's ``ajob`` / ``sjob``) on the Audit page."""
    purpose = JOB_URL_KEYS[key]
    if job_purposes().get(jid) != purpose or jid not in job_registry():
        raise UnknownRunError(
            f"no {purpose} job {jid} is running on this server (it ended with an earlier "
            "server, or it was never started here)"
        )
    JOBS.setdefault()[purpose] = jid


def adopt_finished(purpose: str) -> Job | None:
    """This session's job of ``purpose``; once it has finished, its stored result becomes the
    shown audit / sweep (once per job, so a result opened later is not replaced)."""
    job = job_for(purpose)
    if job is None or not job.done:
        return job
    adopted = AU_SEEN.setdefault()
    if adopted.get(purpose) != job.id:
        adopted[purpose] = job.id
        if job.result:
            (AUDIT_ID if purpose == AUDIT_JOB else SWEEP_ID).set(job.result)
    return job


def current_audit() -> tuple[str, ShownAudit] | None:
    aid = AUDIT_ID.get()
    shown = audit_registry().get(aid) if aid else None
    return (aid, shown) if shown is not None else None


def current_sweep() -> tuple[str, ShownSweep] | None:
    sid = SWEEP_ID.get()
    shown = sweep_registry().get(sid) if sid else None
    return (sid, shown) if shown is not None else None


def stored_audit_id() -> str | None:
    """The shown audit's id when the run store holds it (for the URL)."""
    got = current_audit()
    return got[0] if got is not None and got[1].stored else None


#: the stored kinds the Audit page shows -> the session key of the shown one
STORED_KINDS = {AUDIT_KIND: AUDIT_ID, SWEEP_KIND: SWEEP_ID}


def open_stored(kind: str, rid: str) -> None:
    """Reopen stored run ``rid`` of ``kind`` ("audit" or "sweep") on the Audit page."""
    (restore_audit if kind == AUDIT_KIND else restore_sweep)(rid)


def is_shown(rid: str) -> bool:
    """Whether the Audit page shows stored audit or sweep ``rid``."""
    return any(key.get() == rid for key in STORED_KINDS.values())


def drop_deleted(rid: str) -> None:
    """Forget a deleted audit or sweep: this session no longer shows it, the server drops it."""
    for key in STORED_KINDS.values():
        if key.get() == rid:
            key.set(None)
    audit_registry().pop(rid, None)
    sweep_registry().pop(rid, None)


def page_has_work() -> bool:
    """Whether the Audit page has something to show without a model: a shown audit or sweep,
    or an audit / sweep job of this session."""
    return (
        current_audit() is not None
        or current_sweep() is not None
        or any(job_for(p) is not None for p in (AUDIT_JOB, SWEEP_JOB))
    )


def url_ids() -> dict[str, str]:
    """What the URL names for the Audit page: the running audit / sweep job (``ajob`` /
    ``sjob``) and the shown, stored audit and sweep (``audit`` / ``sweep``). A job that
    finished meanwhile is adopted first, so its result's id replaces the job's."""
    out = {}
    for key, purpose in JOB_URL_KEYS.items():
        job = adopt_finished(purpose)
        if job is not None and not job.done:
            out[key] = job.id
    if stored_audit_id():
        out["audit"] = stored_audit_id()
    got = current_sweep()
    if got is not None and got[1].stored:
        out["sweep"] = got[0]
    return out


__all__ = [
    "AUDIT_ID",
    "AUDIT_JOB",
    "JOB_URL_KEYS",
    "SWEEP_ID",
    "SWEEP_JOB",
    "ShownAudit",
    "ShownSweep",
    "STORED_KINDS",
    "adopt_finished",
    "audit_estimate",
    "audit_registry",
    "current_audit",
    "current_sweep",
    "drop_deleted",
    "is_shown",
    "job_purposes",
    "open_stored",
    "page_has_work",
    "ray_available",
    "restore_audit",
    "restore_job",
    "restore_sweep",
    "start_audit",
    "start_sweep",
    "stored_audit_id",
    "sweep_registry",
    "url_ids",
]

"""The Audit page's server-side work: what the audit job and the sweep job compute (``app_ui.jobs``
starts, reopens, adopts and polls them: kinds ``AUDIT`` and ``SWEEP``), the cost estimate
shown before a run, and the shown audit's and sweep's stored ids.

Both jobs belong to the server: a server thread hands the computing to a job worker process
(``jobs.job_workers``). Cancel is read through ``should_stop`` there (the library leaves
unstarted models / trials undone and hands back what finished), so the finished part is kept:
an audit is stored in the run store (kind "audit") even when cancelled, a sweep (kind "sweep")
when at least one trial ran. The URL carries a running job's id (``ajob`` / ``sjob``) and the
shown audit's and sweep's ids (``audit`` / ``sweep``), so a reload, a new tab or a server
restart (for the stored results) shows them again.
"""

from __future__ import annotations

import importlib.util
import time

from app_ui import jobs
from app_ui.jobs import job_workers
from app_ui.persist import _open_dataset, remember_dataset, run_store
from app_ui.registries import ShownAudit, ShownSweep, audit_registry, sweep_registry
from app_ui.state import AUDIT_ID, SWEEP_ID
from unlearn_core import job_calls
from unlearn_core.audit.records import AUDIT_KIND, AuditResult
from unlearn_core.audit.sweep import SWEEP_KIND, SweepError, SweepResult
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetSplit
from unlearn_core.runtime.estimates import Estimate
from unlearn_core.runtime.jobs import Job, JobCancelled
from unlearn_core.store import CorruptRunError, RunStoreError, UnknownRunError


def ray_available() -> bool:
    """Whether the Ray executor can be offered (the optional extra is installed)."""
    return importlib.util.find_spec("ray") is not None


def audit_estimate(
    data: Dataset, split: ForgetSplit, arch: str, recipe, methods: list[str], k: int,
    workers: int, relearn: bool,
) -> Estimate:  # fmt: skip
    """The audit's estimate (``runtime.estimates.audit_estimate``: the pool's start, both
    rounds of calls over the workers, scoring, relearning), with its range."""
    from unlearn_core.runtime.estimates import audit_estimate as estimate

    return estimate(
        data.n_train, split.n_forget, arch, recipe, methods, data.input_shape, data.num_classes,
        models=k, workers=workers, relearn=relearn, n_test=data.n_test,
    )  # fmt: skip


def _report(job: Job):
    """The progress callback of an audit or sweep in its worker: after a cancel it says the
    work already started is being finished, and raises (the worker is then told to stop)."""

    def report(fraction: float, message: str = "") -> None:
        if job.cancel_requested:
            job.message = "cancelling: finishing the work already started"
            raise JobCancelled(job.title)
        job.report(fraction, message)

    return report


def start_audit(
    *, data: Dataset, spec: dict, arch: str, recipe, split: ForgetSplit, methods: list[str],
    models: int, seed: int, executor: str, workers: int, relearn: str | None,
    metrics: list[str] | tuple[str, ...] = ("eps",), attacks: list[str] | tuple[str, ...] = (),
    estimate: Estimate | None = None,
) -> Job:  # fmt: skip
    """Start the audit job; it stores the audit (also a cancelled one's finished part) and
    returns the stored id. ``metrics`` / ``attacks``: the lenses (``run_audit``'s; relearning
    is ``relearn``). ``estimate``: the job's estimate when the image audit's does not apply
    (text: ``app_ui.text_audit_job``)."""
    from unlearn_core.runtime.estimates import record_outcome

    est = estimate or audit_estimate(
        data, split, arch, recipe, methods, models, workers, bool(relearn)
    )

    def work(job: Job) -> str:
        t0 = time.perf_counter()
        result = job_workers().call(
            job_calls.audit,
            {
                "data": data,
                "arch": arch,
                "recipe": recipe,
                "split": split,
                "methods": list(methods),
                "models": models,
                "seed": seed,
                "executor": executor,
                "workers": workers,
                "relearn": relearn or False,
                "metrics": list(metrics),
                "attacks": [a for a in attacks if a != "relearn"],
                "ensembles": str(run_store().home),  # any session's stored ensembles
            },
            progress=_report(job),
            here=job_calls.method_modules(methods) is None,
        )
        aid = _store(job, result, data, spec, recipe)
        reused = any(n for n, _ in result.reused.values())
        if not result.cancelled and executor == "local" and not reused:  # estimates learn
            record_outcome(est, time.perf_counter() - t0)
        if result.cancelled:
            job.result = aid
            raise JobCancelled(job.title)
        return aid

    return jobs.start(jobs.AUDIT, "Audit", work, estimate_s=est.seconds)


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

    def work(job: Job) -> str:
        result = job_workers().call(
            job_calls.sweep,
            {
                "data": data,
                "model": model,
                "recipe": recipe,
                "split": split,
                "method": method,
                "trials": trials,
                "sampler": sampler,
                "seed": seed,
                "executor": executor,
                "workers": workers,
            },
            progress=_report(job),
            on_event=lambda _name, trial: job.add_partial(trial),
            here=job_calls.method_modules([method]) is None,
        )
        sid = _store_sweep(job, result, data, spec, recipe)
        if result.stopped and job.cancel_requested:
            job.result = sid
            raise JobCancelled(job.title)
        return sid

    return jobs.start(jobs.SWEEP, f"Sweep of {method}", work)


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
        or any(jobs.of(k) is not None for k in (jobs.AUDIT, jobs.SWEEP))
    )


def url_ids() -> dict[str, str]:
    """What the URL names for the Audit page's results: the shown, stored audit and sweep
    (``audit`` / ``sweep``; a running job's ``ajob`` / ``sjob`` are ``jobs.url_ids``)."""
    out = {}
    if stored_audit_id():
        out["audit"] = stored_audit_id()
    got = current_sweep()
    if got is not None and got[1].stored:
        out["sweep"] = got[0]
    return out


__all__ = [
    "STORED_KINDS",
    "ShownAudit",
    "ShownSweep",
    "audit_estimate",
    "current_audit",
    "current_sweep",
    "drop_deleted",
    "is_shown",
    "open_stored",
    "page_has_work",
    "ray_available",
    "restore_audit",
    "restore_sweep",
    "start_audit",
    "start_sweep",
    "stored_audit_id",
    "url_ids",
]

"""Every background job the app runs, in one place: the kinds of job, starting one, finding a
session's job, reopening a running one from the URL, adopting a finished one's result into
the session, and drawing its live progress (one polling fragment for all of them).

A job runs in a server thread (``unlearn_core.runtime.queue.JobQueue``) and belongs to the
server (``registries.job_registry()``, with what each job is in ``registries.job_records()``);
a session points at its latest job of each kind (``state.JOBS``). What a kind does around its
work is declared once, in a :class:`JobKind`:

- ``url``: a query parameter in ``state.URL_PARAMS`` whose ``job`` is the kind's name carries a
  running job's id, so a reload, a new tab or a shared link follows the same job
  (:func:`restore`, :func:`url_ids`);
- ``result_key`` / ``accepts`` / ``on_adopt``: a finished job's result becomes the session's
  (once per job, on whichever page is open: :func:`adopt_all` runs before and after each page);
- ``on_restore``: what a session that reopens a running job takes from its context;
- ``sidebar``: a live line with Cancel on every page while it runs.

Every job goes through the server's one queue (:func:`job_queue`, ``runtime.queue.JobQueue``):
at most ``UNLEARN_MAX_JOBS`` (default: one per core) run at once, the next taken round-robin
over the sessions' owner ids (``owners.owner_id``); a waiting job's progress line says its
place and an estimate of the wait, its Cancel takes it out of the queue, and the URL carries
it like a running one. The records a job stores belong to the session's owner.

A new kind of work (repair, inversion, language models ...) declares its kind with
:func:`declare` and starts its work with :func:`start`; reload, adoption, the sidebar and the
progress follow. The work itself (what the thread computes) stays with its track
(``runjobs``, ``audit_jobs``, ``compare_data``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app_ui.owners import owner_id
from app_ui.registries import JobRecord, job_records, job_registry, memory_line, model_key
from app_ui.state import (
    AUDIT_ID,
    COMPARISON_ID,
    DATASET,
    FORGET,
    INVERSION_ID,
    JOB_NOTES,
    JOBLINE,
    JOBS,
    JOBS_ADOPTED,
    JOBS_SHOWN,
    MODEL_KEY,
    P1_ORIGIN,
    SWEEP_ID,
    URL_PARAMS,
    Key,
    UrlParam,
)
from unlearn_core.runtime.estimates import format_duration, summarise
from unlearn_core.runtime.jobs import Job
from unlearn_core.runtime.queue import JobQueue
from unlearn_core.runtime.workers import WorkerPool
from unlearn_core.store import UnknownRunError
from unlearn_core.store.owners import owned_by

#: seconds between the progress fragment's polls of a running job. Each poll re-renders the
#: progress in the browser; at 0.5 s, with the browser on the same 2 cores, training the
#: digits MLP took 13 s instead of 4 s.
POLL_S = 1.0
#: the same while the server has more jobs than slots (a class at once): every poll is a script
#: run the pages' interpreter lock and the browsers' renders pay for, so waiting and running
#: jobs are polled less often then
BUSY_POLL_S = 3.0
#: the longest progress message shown in the sidebar
MESSAGE_CHARS = 48

#: ``accepts``' answer for a result that is not adopted and needs no word
SILENT = ""


@dataclass(frozen=True)
class JobKind:
    """What the app does around one kind of job (see the module's description)."""

    #: the kind's name: its entry in ``state.JOBS`` and a URL parameter's ``job``
    name: str
    #: what the work is called on a progress line ("Unlearning", "Audit", ...)
    label: str
    #: its Cancel button in the sidebar: "Cancel the <noun>"
    noun: str
    #: what a cancel keeps, said when Cancel is pressed in the sidebar
    kept: str = "finished work is kept"
    #: a live line with Cancel in the sidebar on every page while it runs
    sidebar: bool = False
    #: the session key a finished job's result becomes (None: nothing is adopted)
    result_key: Key | None = None
    #: whether a finished job's result is adopted: None for yes, else why not (shown once by
    #: the page, :func:`note`; :data:`SILENT` for nothing to say); default: done or cancelled
    #: with a result
    accepts: Callable[[Job, dict], str | None] | None = None
    #: more to do when the result is adopted (the result key is already set)
    on_adopt: Callable[[Job, dict], None] | None = None
    #: what a session that reopens the running job from the URL takes from its context
    on_restore: Callable[[dict], None] | None = None

    @property
    def url(self) -> UrlParam | None:
        """The query parameter carrying a running job of this kind (``state.URL_PARAMS``)."""
        return next((p for p in URL_PARAMS if p.job == self.name), None)


KINDS: dict[str, JobKind] = {}


def declare(kind: JobKind) -> JobKind:
    """Add a kind of job (once per name)."""
    if kind.name in KINDS:
        raise ValueError(f"job kind {kind.name!r} is declared twice")
    KINDS[kind.name] = kind
    return kind


# ---------------------------------------------------------------- the kinds
def _has_result(job: Job, ctx: dict) -> str | None:
    return None if job.state in ("done", "cancelled") and job.result else SILENT


def _for_these_settings(job: Job, ctx: dict) -> str | None:
    """A trained model is the session's when the settings it was trained for are still the
    session's (a switch during training leaves it in the cache for those settings)."""
    return None if job.state == "done" and job.result == model_key() else SILENT


def _trained(job: Job, ctx: dict) -> None:
    P1_ORIGIN.set("trained")
    if ctx.get("previous_model") != job.result and COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        _add_note(TRAIN, "The model changed: the previous comparison was cleared.")


def _fits_the_session(job: Job, ctx: dict) -> str | None:
    """A comparison is the session's when it was run on the session's model and forget set."""
    if _has_result(job, ctx) is not None:
        return SILENT
    if ctx.get("model_key") == MODEL_KEY.get() and ctx.get("forget") == FORGET.get():
        return None
    return "That run was for another model or forget set; run again for this one."


def _reopen_comparison(ctx: dict) -> None:
    """The running comparison's model, forget set, dataset and the Unlearn page's choices."""
    MODEL_KEY.set(ctx.get("model_key", MODEL_KEY.get()))
    FORGET.set(ctx.get("forget", FORGET.get()))
    if ctx.get("dataset"):
        DATASET.set(ctx["dataset"])
    for key, value in (ctx.get("choices") or {}).items():
        key.set(value)


TRAIN = declare(
    JobKind(
        "train", "Training", "training", result_key=MODEL_KEY,
        accepts=_for_these_settings, on_adopt=_trained,
    )
)  # fmt: skip
COMPARE = declare(
    JobKind(
        "compare", "Unlearning", "run", kept="the finished methods are kept", sidebar=True,
        result_key=COMPARISON_ID, accepts=_fits_the_session, on_restore=_reopen_comparison,
    )
)  # fmt: skip
AUDIT = declare(JobKind("audit", "Audit", "audit", sidebar=True, result_key=AUDIT_ID))
SWEEP = declare(JobKind("sweep", "Sweep", "sweep", sidebar=True, result_key=SWEEP_ID))
#: the Inversion page's attack (app_ui.inversion_store stores its result)
INVERSION = declare(
    JobKind("inversion", "Inversion attack", "inversion attack", sidebar=True,
            result_key=INVERSION_ID)
)  # fmt: skip
#: the Compare page's aligned-UMAP frames: shared by the server's sessions, found by
#: (comparison id, method)
UMAP = declare(JobKind("umap", "Aligned UMAP", "UMAP"))


# ---------------------------------------------------------------- the queue
@st.cache_resource
def job_queue() -> JobQueue:
    """The server's one queue of jobs (its limit: ``UNLEARN_MAX_JOBS``, else one per core)."""
    return JobQueue()


@st.cache_resource
def job_workers() -> WorkerPool:
    """The server's job worker processes, one per slot of :func:`job_queue` (training and
    comparisons run there, off the interpreter lock the pages need)."""
    return WorkerPool(job_queue().limit)


@st.cache_resource
def _durations() -> dict[str, list[float]]:
    """kind -> seconds this server's finished jobs of that kind took (the last 20)."""
    return {}


#: a waiting job's guess for a job with no estimate of its own and none of its kind yet
UNKNOWN_S = 30.0


def typical_seconds(kind: JobKind) -> float | None:
    """The median time this server's jobs of ``kind`` took (``estimates.summarise``)."""
    seen = _durations().get(kind.name) or []
    return summarise(seen)[0] if seen else None


def waiting_text(job: Job) -> str | None:
    """``"Waiting for a free slot: 2 jobs ahead, about 40 s"`` for a job in the queue; None
    for one that runs or ended."""
    q = job_queue()
    ahead = q.ahead(job)
    if ahead is None:
        return None
    wait = q.wait_estimate(job, default_s=UNKNOWN_S)
    jobs_ahead = "no job" if ahead == 0 else f"{ahead} job{'s' if ahead > 1 else ''}"
    soon = f"about {format_duration(wait)}" if wait and wait >= 1 else "any moment"
    return (
        f"Waiting for a free slot ({q.running()} of {q.limit} running): {jobs_ahead} ahead, {soon}"
    )


# ---------------------------------------------------------------- starting and finding
def start(
    kind: JobKind,
    title: str,
    work: Callable[[Job], Any],
    *,
    context: dict | None = None,
    tag: Hashable | None = None,
    estimate_s: float | None = None,
) -> Job:
    """Queue ``work(job)`` to run in a server thread as this session's job of ``kind``;
    ``context`` is what the pages and a reopening session need to show it, ``tag`` finds it
    from any session (:func:`find`), ``estimate_s`` (else the kind's typical time) tells the
    jobs queued behind it how long they wait. What it stores belongs to the session's owner."""
    owner = owner_id()
    durations = _durations()

    def owned(job: Job) -> Any:
        with owned_by(owner):
            result = work(job)
        seen = durations.setdefault(kind.name, [])
        seen.append(job.elapsed)
        del seen[:-20]
        return result

    est = estimate_s if estimate_s is not None else typical_seconds(kind)
    job = job_queue().submit(title, owned, owner=owner, estimate_s=est)
    job_records()[job.id] = JobRecord(kind.name, dict(context or {}), tag)
    job_registry()[job.id] = job
    JOBS.setdefault()[kind.name] = job.id
    return job


def of(kind: JobKind) -> Job | None:
    """This session's latest job of ``kind`` (running or finished), if the server has it."""
    jid = JOBS.get().get(kind.name)
    return job_registry().get(jid) if jid else None


def running(kind: JobKind) -> Job | None:
    job = of(kind)
    return job if job is not None and not job.done else None


def find(kind: JobKind, tag: Hashable) -> Job | None:
    """The server's latest job of ``kind`` started with ``tag`` (any session's)."""
    reg = job_registry()
    found = [jid for jid, rec in job_records().items() if rec.kind == kind.name and rec.tag == tag]
    return next((reg[jid] for jid in reversed(found) if jid in reg), None)


def drop(kind: JobKind, tag: Hashable) -> None:
    """Forget the server's jobs of ``kind`` with ``tag`` (a failed one, to try again)."""
    for jid, rec in list(job_records().items()):
        if rec.kind == kind.name and rec.tag == tag:
            job_records().pop(jid, None)
            job_registry().pop(jid, None)


def context(job: Job | None) -> dict:
    """What the job was started with (its plan, model, forget set, estimate ...)."""
    rec = job_records().get(job.id) if job is not None else None
    return rec.context if rec is not None else {}


# ---------------------------------------------------------------- reopening from the URL
def restore(param: str, jid: str) -> None:
    """Follow running job ``jid``, named by URL parameter ``param``, in this session."""
    url = next(p for p in URL_PARAMS if p.name == param)
    kind = KINDS[url.job]
    rec = job_records().get(jid)
    if rec is None or rec.kind != kind.name or jid not in job_registry():
        raise UnknownRunError(
            f"no {url.words} {jid} is running on this server (it ended with an earlier "
            "server, or it was never started here)"
        )
    JOBS.setdefault()[kind.name] = jid
    if kind.on_restore is not None:
        kind.on_restore(dict(rec.context))


def url_ids() -> dict[str, str]:
    """URL parameter -> id of this session's running job, for each kind with a parameter."""
    out = {}
    for kind in KINDS.values():
        job = running(kind)
        if job is not None and kind.url is not None:
            out[kind.url.name] = job.id
    return out


# ---------------------------------------------------------------- adopting a finished job
def adopt(kind: JobKind) -> Job | None:
    """This session's job of ``kind``; the first time it is seen finished, its result becomes
    the session's (``kind.result_key``) if the kind accepts it, else the reason is kept for
    the page (:func:`note`)."""
    job = of(kind)
    if job is None or not job.done:
        return job
    adopted = JOBS_ADOPTED.setdefault()
    if adopted.get(kind.name) == job.id:
        return job
    adopted[kind.name] = job.id
    if kind.result_key is None:
        return job
    ctx = context(job)
    why = (kind.accepts or _has_result)(job, ctx)
    if why is None:
        kind.result_key.set(job.result)
        if kind.on_adopt is not None:
            kind.on_adopt(job, ctx)
    elif why:
        _add_note(kind, why)
    return job


def adopt_all() -> None:
    for kind in KINDS.values():
        adopt(kind)


def _add_note(kind: JobKind, text: str) -> None:
    JOB_NOTES.setdefault()[kind.name] = text


def note(kind: JobKind) -> str | None:
    """What adopting ``kind``'s last job left to say (once)."""
    return JOB_NOTES.setdefault().pop(kind.name, None)


# ---------------------------------------------------------------- live progress
def standard_text(job: Job) -> str:
    return f"{job.message or 'starting'} · {job.elapsed:.0f} s"


def progress(
    job: Job,
    *,
    text: Callable[[Job], str] = standard_text,
    extra: Callable[[Job], None] | None = None,
    cancel_key: str | None = None,
    cancel_label: str = "Cancel",
    toast: str | None = None,
) -> None:
    """A running job's live progress bar (``text``), what ``extra`` draws under it, and a
    Cancel button (with ``cancel_key``); polled every :data:`POLL_S`, and the whole app reruns
    when the job ends (the page then shows, and adopts, its result). The sidebar then shows a
    plain line for it, not a second live one."""
    rec = job_records().get(job.id)
    if rec is not None and rec.kind in KINDS and KINDS[rec.kind].sidebar:
        JOBS_SHOWN.setdefault().add(job.id)
    _poll(job.id, text, extra, cancel_key, cancel_label, toast, None)


def _poll(*args) -> None:
    """The live progress fragment, polled every :data:`POLL_S`, or :data:`BUSY_POLL_S` while
    jobs wait for a slot."""
    q = job_queue()
    (_poll_busy if q.waiting() > 0 else _poll_often)(*args)


@st.fragment(run_every=POLL_S)
def _poll_often(*args) -> None:
    _poll_body(*args)


@st.fragment(run_every=BUSY_POLL_S)
def _poll_busy(*args) -> None:
    _poll_body(*args)


def _poll_body(
    job_id: str,
    text: Callable[[Job], str],
    extra: Callable[[Job], None] | None,
    cancel_key: str | None,
    cancel_label: str,
    toast: str | None,
    cancel_help: str | None,
) -> None:
    job = job_registry().get(job_id)
    if job is None or job.done:
        st.rerun()  # the whole app
    waiting = waiting_text(job)
    if waiting is not None:  # in the queue: its place and wait instead of its progress
        st.progress(0.0, text=f"**{job.title}** · {waiting}")
        # a waiting job can always leave the queue (its page's Cancel key, or one of its own)
        cancel_key = cancel_key or JOBLINE.of("leave", job.id)
        cancel_label, toast, cancel_help = "Leave the queue", None, None
    else:
        st.progress(job.fraction, text=text(job))
        if extra is not None:
            extra(job)
    if cancel_key is not None and st.button(cancel_label, key=cancel_key, help=cancel_help):
        job.cancel()
        if toast:
            st.toast(toast)


def short(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters at a word, with an ellipsis when cut."""
    if len(message) <= limit:
        return message
    cut = message[: limit - 1].rsplit(" ", 1)[0].rstrip(":,;")
    return f"{cut}…"


def line(job: Job, kind: JobKind) -> None:
    """The running job's compact line in the current container (the sidebar): progress,
    message, "Cancel the <noun>"; a plain line when the page shows the job in full."""
    shown = JOBS_SHOWN.get()
    if job.id in shown:
        shown.discard(job.id)
        st.markdown(f"**{kind.label}** · running: its progress is on this page")
        return
    _poll(
        job.id,
        lambda j: f"**{kind.label}** · {j.fraction:.0%} · {j.elapsed:.0f} s",
        lambda j: st.caption(short(j.message)) if j.message else None,
        JOBLINE.of(kind.name, "cancel"),
        f"Cancel the {kind.noun}",
        f"Cancelling: {kind.kept}.",
        "Stops soon",
    )


def sidebar_line(kind: JobKind) -> bool:
    """Draw this session's running job of ``kind`` in the sidebar; whether there was one."""
    job = running(kind)
    if job is None:
        return False
    line(job, kind)
    return True


def status_line() -> str:
    """The server in one line: memory and caches, jobs running and waiting, e.g.
    ``"Memory 812 MB · models 3/16 · ... · job worker processes: 1, 402 MB · Jobs: 2 running,
    3 waiting (at most 2 at once)"`` (the workers part once one is started)."""
    q = job_queue()
    pool = job_workers()
    n, mb = len(pool.processes()), pool.memory_mb()
    workers = (
        f" · job worker processes: {n}" + (f", {mb:.0f} MB" if mb is not None else "") if n else ""
    )
    return (
        f"{memory_line()}{workers} · Jobs: {q.running()} running, {q.waiting()} waiting "
        f"(at most {q.limit} at once)"
    )

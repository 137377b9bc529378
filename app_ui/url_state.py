"""What the URL says: reopening what a link or reload names (runs, models, forget sets,
running jobs, audits, sweeps), writing the session's ids back, and adopting a finished
comparison job. Above :mod:`app_ui.persist` and :mod:`app_ui.audit_jobs`, which it calls."""

from __future__ import annotations

import streamlit as st

from app_ui.audit_jobs import restore_audit, restore_sweep, url_ids
from app_ui.audit_jobs import restore_job as restore_audit_job
from app_ui.persist import (
    KIND_WORDS,
    URL_KEYS,
    forget_id_for,
    restore_forget,
    restore_job,
    restore_model,
    restore_run,
    save_model_entry,
    stored_runs,
)
from app_ui.registries import current_dataset_quiet, current_model, job_for
from app_ui.state import (
    ARCH,
    COMPARISON_ID,
    DATASET,
    FORGET,
    MODEL_KEY,
    P3_CTX,
    P3_SEEN,
    TRAIN_SEED,
    URL_IDS,
    URL_KNOWN,
    URL_MESSAGES,
)
from unlearn_core.store import RunStoreError


def _restore_audit_job(key: str):
    def restore(jid: str) -> None:
        restore_audit_job(key, jid)

    return restore


def restore_from_url() -> None:
    """Reopen what the URL names when it differs from what this session shows."""
    qp = st.query_params
    want = {k: qp.get(k) for k in URL_KEYS if qp.get(k)}
    # only ids this session has not shown yet: within a session the URL changes only by
    # write_url, so an id it wrote once (even if the URL now lags behind) is not reopened
    known = URL_KNOWN.setdefault()
    todo = {k: v for k, v in want.items() if v not in known}
    known.extend(todo.values())
    if not todo:
        return
    steps = (
        ("run", restore_run),
        ("model", restore_model),
        ("forget", restore_forget),
        ("job", restore_job),
        ("audit", restore_audit),
        ("sweep", restore_sweep),
        ("ajob", _restore_audit_job("ajob")),
        ("sjob", _restore_audit_job("sjob")),
    )
    done_run = False
    for key, fn in steps:
        if key not in todo or (done_run and key in ("model", "forget")):
            continue
        try:
            fn(todo[key])
            done_run = done_run or key == "run"
        except RunStoreError as exc:
            URL_MESSAGES.setdefault().append(
                f"The link names {KIND_WORDS[key]} `{todo[key]}`, which cannot be opened "
                f"({_plain(exc)}). The app continues with the defaults."
            )
            del qp[key]
    URL_IDS.set({k: qp.get(k) for k in URL_KEYS if qp.get(k)})


def _plain(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def show_url_messages() -> None:
    for msg in URL_MESSAGES.pop([]):
        st.warning(msg)


def session_ids() -> dict[str, str]:
    """The ids of what this session shows, storing a model / forget set the first time."""
    out: dict[str, str] = {}
    data = current_dataset_quiet()
    entry = current_model()
    spec = DATASET.get()
    try:
        if data is not None and entry is not None:
            out["model"] = save_model_entry(
                entry, data, spec, arch=ARCH.get(), seed=int(TRAIN_SEED.get())
            )
        if data is not None:
            fid = forget_id_for(data, spec)
            if fid:
                out["forget"] = fid
    except (RunStoreError, OSError, ValueError):
        pass  # the session goes on; the URL just names less
    cid = COMPARISON_ID.get()
    if cid and cid in stored_runs():
        out["run"] = cid
    job = job_for("compare")
    if job is not None and not job.done:
        out["job"] = job.id
    out.update(url_ids())
    return out


def write_url() -> None:
    """Put the session's ids in the URL (only what changed)."""
    ids = session_ids()
    qp = st.query_params
    for k in URL_KEYS:
        if ids.get(k):
            if qp.get(k) != ids[k]:
                qp[k] = ids[k]
        elif k in qp:
            del qp[k]
    URL_IDS.set(ids)
    known = URL_KNOWN.setdefault()
    known.extend(v for v in ids.values() if v not in known)


def adopt_finished_job() -> None:
    """Show a comparison job's stored result on whichever page is open when it finishes (a
    reload during a run may land anywhere), if it is still for the session's model and
    forget set."""
    job = job_for("compare")
    ctx = P3_CTX.get() or {}
    if job is None or not job.done or not job.result or ctx.get("job") != job.id:
        return
    if P3_SEEN.get() == job.id:
        return
    if ctx.get("model_key") == MODEL_KEY.get() and ctx.get("forget") == FORGET.get():
        P3_SEEN.set(job.id)
        COMPARISON_ID.set(job.result)

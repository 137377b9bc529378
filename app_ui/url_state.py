"""What the URL says: reopening what a link or reload names (``state.URL_PARAMS``: the
browser's owner id, runs, models, forget sets, audits, sweeps, inversion attacks and running or
waiting jobs) and writing the session's ids back.
Above :mod:`app_ui.persist`, :mod:`app_ui.audit_jobs`, :mod:`app_ui.inversion_store` and
:mod:`app_ui.jobs`, which it calls."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import streamlit as st

from app_ui import jobs
from app_ui.audit_jobs import restore_audit, restore_sweep, url_ids
from app_ui.inversion_store import restore_inversion
from app_ui.inversion_store import url_ids as inversion_url_ids
from app_ui.owners import adopt_owner, owner_id, remember_owner, url_owner
from app_ui.persist import (
    forget_id_for,
    restore_forget,
    restore_model,
    restore_run,
    save_model_entry,
)
from app_ui.registries import current_dataset_quiet, current_model, stored_runs
from app_ui.state import (
    ARCH,
    COMPARISON_ID,
    DATASET,
    TRAIN_SEED,
    URL_IDS,
    URL_KNOWN,
    URL_MESSAGES,
    URL_PARAMS,
)
from unlearn_core.store import RunStoreError
from unlearn_core.store.owners import owned_by

#: the query parameters, in restoring order
URL_KEYS = tuple(p.name for p in URL_PARAMS)
#: what reopens each parameter's id in a session (a running job's: ``jobs.restore``)
RESTORE: dict[str, Callable[[str], None]] = {
    "owner": adopt_owner,
    "run": restore_run,
    "model": restore_model,
    "forget": restore_forget,
    "audit": restore_audit,
    "sweep": restore_sweep,
    "inversion": restore_inversion,
    **{p.name: partial(jobs.restore, p.name) for p in URL_PARAMS if p.job},
}


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
    done_run = False
    for param in URL_PARAMS:
        key = param.name
        if key not in todo or (done_run and key in ("model", "forget")):
            continue  # a run brings its own model and forget set
        try:
            RESTORE[key](todo[key])
            done_run = done_run or key == "run"
        except RunStoreError as exc:
            URL_MESSAGES.setdefault().append(
                f"The link names {param.words} `{todo[key]}`, which cannot be opened "
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
    me = owner_id()
    out: dict[str, str] = {"owner": url_owner() or ""}
    data = current_dataset_quiet()
    entry = current_model()
    spec = DATASET.get()
    try:
        with owned_by(me):
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
    jobs.adopt_all()  # a job that finished meanwhile: its result's id replaces the job's
    out.update(jobs.url_ids())
    out.update(url_ids())
    out.update(inversion_url_ids())
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
    remember_owner()
    known = URL_KNOWN.setdefault()
    known.extend(v for v in ids.values() if v not in known)

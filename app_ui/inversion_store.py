"""The Inversion page's server-side bookkeeping: its job kind, the attacks it shows (finished
jobs and attacks reopened from the run store) and their stored ids.

A finished attack is stored in the run store as a run of kind ``"inversion"``
(``unlearn_core.inversion.stored``), owned by the session that started it; the job's result is
then its run id, which becomes the session's shown attack (``state.INVERSION_ID``). The URL
carries that id (``inversion``) and a running job's id (``ijob``), so a reload, a new tab or a
server restart (for the stored attack) shows it again; the Runs page lists it (kind
"inversion") and opens it here. Reopening needs neither the dataset nor a model: the stored
record holds the images and the class names.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app_ui import jobs
from app_ui.persist import run_store
from app_ui.state import INVERSION_ID
from unlearn_core.inversion.records import InversionResult
from unlearn_core.inversion.stored import INVERSION_KIND, load_inversion, save_inversion
from unlearn_core.runtime.jobs import Job
from unlearn_core.store import RunStoreError

#: the inversion attack's job (declared in ``app_ui.jobs``): a sidebar line with Cancel; its
#: result (a registry id) becomes the session's shown attack
INVERSION = jobs.INVERSION


@dataclass
class ShownInversion:
    """An attack as the Inversion page shows it: the result, the dataset's class names (None:
    labels by number) and whether the run store holds it."""

    result: InversionResult
    classes: list[str] | None
    stored: bool = True


@st.cache_resource
def inversion_registry() -> dict[str, ShownInversion]:
    """inversion id (a run id when stored) -> the attack."""
    return {}


def store_inversion(job: Job, res: InversionResult, data, recipe) -> str:
    """Store a finished attack (the job's owner owns it); its id in :func:`inversion_registry`
    (a run id, or a server-only id when storing failed: said in ``job.error``)."""
    rid = None
    try:
        rec = save_inversion(run_store(), res, data, recipe=recipe)
        rid = rec.id
    except (RunStoreError, OSError) as exc:  # shown on this server all the same
        job.error = f"the inversion attack finished but could not be stored: {exc}"
    iid = rid or f"inversion-{job.id}"
    inversion_registry()[iid] = ShownInversion(res, [str(c) for c in data.classes], rid is not None)
    return iid


def restore_inversion(rid: str) -> None:
    """Reopen stored attack ``rid`` (the URL's ``inversion``, the Runs page's Open) as the
    Inversion page's shown one; raises ``RunStoreError`` for an unknown id or another kind."""
    reg = inversion_registry()
    if rid not in reg:
        res, classes, _ = load_inversion(run_store(), rid)
        reg[rid] = ShownInversion(res, classes)
    INVERSION_ID.set(rid)


def current_inversion() -> tuple[str, ShownInversion] | None:
    iid = INVERSION_ID.get()
    shown = inversion_registry().get(iid) if iid else None
    return (iid, shown) if shown is not None else None


def url_ids() -> dict[str, str]:
    """What the URL names for the Inversion page: the shown, stored attack (``inversion``; a
    running job's ``ijob`` is ``jobs.url_ids``)."""
    got = current_inversion()
    return {"inversion": got[0]} if got is not None and got[1].stored else {}


def is_shown(rid: str) -> bool:
    return INVERSION_ID.get() == rid


def drop_deleted(rid: str) -> None:
    """Forget a deleted attack: this session no longer shows it, the server drops it."""
    if INVERSION_ID.get() == rid:
        INVERSION_ID.set(None)
    inversion_registry().pop(rid, None)


__all__ = [
    "INVERSION",
    "INVERSION_KIND",
    "ShownInversion",
    "current_inversion",
    "drop_deleted",
    "inversion_registry",
    "is_shown",
    "restore_inversion",
    "store_inversion",
    "url_ids",
]

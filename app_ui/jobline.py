"""A running comparison on every page: a compact live progress line and a Cancel button in the
sidebar while a job of this session runs (the Unlearn page, which shows the run in full,
gets the plain line only, so one poll per second redraws the progress, not two)."""

from __future__ import annotations

import streamlit as st

from app_ui.common import POLL_S, job_registry
from unlearn_core.jobs import Job

#: session key: the job the page being drawn already shows in full (set by the Unlearn page)
SHOWN_ON_PAGE = "_job_shown_on_page"
#: the longest progress message shown in the sidebar
MESSAGE_CHARS = 48


def mark_shown_on_page(job: Job) -> None:
    """Called by a page that draws ``job``'s progress itself, during this script run."""
    st.session_state[SHOWN_ON_PAGE] = job.id


def short(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters at a word, with an ellipsis when cut."""
    if len(message) <= limit:
        return message
    cut = message[: limit - 1].rsplit(" ", 1)[0].rstrip(":,;")
    return f"{cut}…"


def job_line(job: Job) -> None:
    """Draw the running job's line in the current container (the sidebar)."""
    if st.session_state.pop(SHOWN_ON_PAGE, None) == job.id:
        st.markdown("**Unlearning** · running: its progress is on this page")
        return
    _live(job.id)


@st.fragment(run_every=POLL_S)
def _live(job_id: str) -> None:
    job = job_registry().get(job_id)
    if job is None or job.done:
        st.rerun()  # the whole app: the page then shows (and adopts) the result
    st.progress(job.fraction, text=f"**Unlearning** · {job.fraction:.0%} · {job.elapsed:.0f} s")
    if job.message:
        st.caption(short(job.message))
    if st.button("Cancel the run", key="jobline_cancel", help="Stops within about a second"):
        job.cancel()
        st.toast("Cancelling: the finished methods are kept.")

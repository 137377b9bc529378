"""Running work on every page: a compact live progress line and a Cancel button in the sidebar
while a comparison, audit or sweep of this session runs (the page that shows a job in full, the
Unlearn or the Audit page, gets the plain line only, so one poll per second redraws the
progress, not two)."""

from __future__ import annotations

import streamlit as st

from app_ui.registries import POLL_S, job_registry
from app_ui.state import JOBLINE, JOBS_SHOWN
from unlearn_core.runtime.jobs import Job

#: the longest progress message shown in the sidebar
MESSAGE_CHARS = 48


def mark_shown_on_page(job: Job) -> None:
    """Called by a page that draws ``job``'s progress itself, during this script run."""
    JOBS_SHOWN.setdefault().add(job.id)


def short(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters at a word, with an ellipsis when cut."""
    if len(message) <= limit:
        return message
    cut = message[: limit - 1].rsplit(" ", 1)[0].rstrip(":,;")
    return f"{cut}…"


def job_line(
    job: Job, label: str = "Unlearning", *, purpose: str = "compare", noun: str = "run",
    kept: str = "",
) -> None:  # fmt: skip
    """Draw the running job's line in the current container (the sidebar). ``label`` names
    the work, ``noun`` its Cancel button ("Cancel the run"), ``purpose`` keeps the buttons of
    several jobs apart, ``kept`` says what a cancel keeps."""
    shown = JOBS_SHOWN.get()
    if job.id in shown:
        shown.discard(job.id)
        st.markdown(f"**{label}** · running: its progress is on this page")
        return
    _live(job.id, label, purpose, noun, kept or "the finished methods are kept")


@st.fragment(run_every=POLL_S)
def _live(job_id: str, label: str, purpose: str, noun: str, kept: str) -> None:
    job = job_registry().get(job_id)
    if job is None or job.done:
        st.rerun()  # the whole app: the page then shows (and adopts) the result
    st.progress(job.fraction, text=f"**{label}** · {job.fraction:.0%} · {job.elapsed:.0f} s")
    if job.message:
        st.caption(short(job.message))
    if st.button(f"Cancel the {noun}", key=JOBLINE.of(purpose, "cancel"), help="Stops soon"):
        job.cancel()
        st.toast(f"Cancelling: {kept}.")

"""Audit: many-model forget quality, the epsilon embedding and instance view, relearning, and
sweeps of a method's settings (a thin page over ``app_ui.audit_view`` / ``app_ui.sweep_view``)."""

import streamlit as st

from app_ui import jobs
from app_ui.audit_jobs import current_audit, page_has_work
from app_ui.audit_view import audit_form, job_progress, show_audit
from app_ui.common import (
    current_model,
    current_split,
    page_link,
    require_data_and_model,
)
from app_ui.entry import through_app
from app_ui.registries import current_dataset_quiet
from app_ui.state import ARCH, AU
from app_ui.sweep_view import sweep_section
from app_ui.text import split_summary

through_app()  # a cold server's deep link runs the app's navigation first

st.title("Audit: is it really forgotten?")
st.caption(
    "One model pair can mislead. The audit trains K originals and K retrained models, runs each "
    "method on every original, and asks per forget sample whether the unlearned models can be "
    "told from the retrained ones (the NeurIPS-23 unlearning challenge's forget quality, and "
    "the KLoM, U-LiRA and RMIA lenses, side by side with a per-sample drill-down); the "
    "relearning and quantisation attacks ask whether the data comes back."
)

busy = page_has_work()  # a shown audit or sweep, or a job: drawn without a model too
if not busy:  # nothing to show yet: the run forms need a model and forget set
    require_data_and_model()
data = current_dataset_quiet()
if data is not None and data.kind == "text":  # the text audit (small K) and a cheap lens
    from app_ui.text_audit import audit_page

    audit_page(data)
    st.stop()
entry = current_model()
split = current_split(data) if data is not None else None
if not busy and split is None:
    st.warning("No forget set is in use yet: mark one on the Forget set page first.")
    page_link("pages/forget_set.py", "Go to Forget set")
    st.stop()
if split is not None and entry is not None:
    summary = split_summary(split, data.classes)
    st.markdown(f"**Forget set** · {summary} · **model** · {ARCH.get()} ({entry['source']})")
    audit_form(data, entry, split)
job_progress(jobs.AUDIT, AU.CANCEL)

shown = current_audit()
if shown is not None and shown[1].result.model == "tinylm":  # a text audit (another dataset's page)
    from app_ui.text_audit_job import show_text_audit

    show_text_audit(*shown)
elif shown is not None:
    show_audit(*shown, entry)
sweep_section(data, entry, split)

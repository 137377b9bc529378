"""The Compare page's Embeddings tab: the penultimate features of the embedding sample under
the original, the method in view and retrain, in one PCA frame at once and in an aligned-UMAP
frame once its background job is done, and how far each model moved the samples."""

from __future__ import annotations

import streamlit as st

from app_ui import compare_data as D
from app_ui import jobs
from app_ui.common import chart
from app_ui.state import CMP
from app_ui.tables import Column, show_table
from unlearn_core.analysis.views import REFERENCE, shift_rows
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetSplit
from unlearn_core.plots import results as P
from unlearn_core.plots.style import FORGET_MARKER_NAME
from unlearn_core.runtime.jobs import Job

#: the embedding-shift table, one row per model
SHIFT_TABLE = (
    Column("model", "model", text=True),
    Column("forget_mean", "forget: mean shift", "", ".3f"),
    Column("forget_median", "forget: median", "", ".3f"),
    Column("retain_mean", "retain: mean shift", "", ".3f"),
    Column("retain_median", "retain: median", "", ".3f"),
    Column("n_forget", "forget samples", "", ".0f"),
    Column("n_retain", "retain samples", "", ".0f"),
)


def umap_progress(job: Job) -> None:
    """The UMAP job's progress; the page reruns when it is done, the UMAP frame replacing PCA."""
    est = jobs.context(job).get("estimate")
    jobs.progress(
        job,
        text=lambda j: f"Aligned UMAP: {j.message or 'running'}",
        extra=lambda j: st.caption(
            "The PCA frame below is shown meanwhile"
            + (f"; the UMAP frame takes {est} (estimate)." if est else ".")
        ),
    )


def frames_of(cid: str, method: str, view) -> tuple[list, str]:
    """The view's frames and how they were made: the aligned UMAP once its job is done, PCA
    meanwhile (starting the job, showing its progress, or its failure with a retry)."""
    done = D.umap_frame(cid, method)
    if done is not None:
        return done["frames"], "aligned UMAP"
    job = D.umap_job(cid, method, view)
    if job.state in ("failed", "cancelled"):
        st.warning(f"Aligned UMAP did not finish ({job.error}); showing PCA.")
        if st.button("Try UMAP again", key=CMP.UMAP_RETRY):
            D.retry_umap(cid, method)
            st.rerun()
    else:
        umap_progress(job)
    return view.pca, "PCA (aligned UMAP on its way)"


def show_embeddings(cid: str, method: str, data: Dataset, split: ForgetSplit) -> None:
    view = D.embedding_inputs(cid, method, data, split)
    st.caption(
        f"Penultimate features of {len(view.ids)} training samples "
        f"({view.n_forget} forget samples, drawn as "
        f"{FORGET_MARKER_NAME}) under "
        "each model, projected into one frame so positions can be compared."
    )
    frames, how = frames_of(cid, method, view)
    named = dict(zip(view.names, frames, strict=True))
    chart(
        P.embedding_panels(
            named,
            view.labels,
            view.is_forget,
            data.classes,
            ids=view.ids,
            title=f"Penultimate features: {how}",
        ),
        key=CMP.EMBED,
    )
    shifts = D.shifts(cid, data, split)
    moved = shifts["moved"]
    shown = {n: moved[n] for n in (method, REFERENCE) if n in moved}
    chart(P.displacement_chart(shown, shifts["is_forget"]), key=CMP.MOVED)
    show_table(shift_rows(moved, shifts["is_forget"]), SHIFT_TABLE, notes=False)
    st.caption(P.displacement_caption(shown, shifts["is_forget"]))

"""The Compare page's Hidden states tab for text (issue 22): the hidden state at the end of
each forget and retained question under the original, the unlearned model in view and
retrain, in the shared embedding view the image track's Embeddings tab draws: one PCA frame at
once and the aligned-UMAP frame (the same background job, ``compare_data.umap_job``) once it
is done; then how far each model moved the questions. The states are the library's
(``unlearn_core.text_app.question_features``), cached per model of a comparison."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_ui.common import chart
from app_ui.embedding_view import SHIFT_TABLE, frames_of
from app_ui.registries import cache_size, comparison_registry
from app_ui.state import CMP, TX
from app_ui.tables import show_table
from unlearn_core.analysis.views import (
    REFERENCE,
    EmbeddingView,
    displacements,
    embedding_view,
    in_focus,
    shift_rows,
)
from unlearn_core.plots import results as P
from unlearn_core.plots.style import FORGET_MARKER_NAME
from unlearn_core.text_app import fact_kinds, question_features, question_ids, question_labels


def _models(cid: str) -> dict:
    return comparison_registry()[cid].models()


@st.cache_resource(max_entries=8)
def ids_of(cid: str, _data, _split) -> np.ndarray:
    """The training rows drawn (every forget question, the same draw of the others)."""
    return question_ids(_data, _split)


@st.cache_resource(max_entries=cache_size("embeddings"), show_spinner="Reading hidden states…")
def states_of(cid: str, name: str, _data, _split) -> np.ndarray:
    """One model's hidden states of :func:`ids_of`'s questions (each model read once)."""
    return question_features(_models(cid)[name], _data, ids_of(cid, _data, _split))


@st.cache_resource(max_entries=cache_size("embeddings"))
def view_of(cid: str, method: str, _data, _split) -> EmbeddingView:
    """The embedding view of ``method``: original, the method and retrain (PCA frame)."""
    ids = ids_of(cid, _data, _split)
    feats = {n: states_of(cid, n, _data, _split) for n in in_focus(_models(cid), method)}
    return embedding_view(feats, ids, question_labels(_data, ids), _split.forget_idx.numpy())


def _pick(comp) -> str | None:
    methods = [r.method for r in comp.results if r.ok and r.method != REFERENCE]
    methods = [m for m in methods if m in comp.models()]
    if not methods:
        return None
    if CMP.METHOD.get() not in methods:
        CMP.METHOD.set(methods[0])
    return st.selectbox(
        "Unlearned model", methods, format_func=lambda n: comp.get(n).label, key=CMP.METHOD,
        help="The method whose hidden states are compared with the original's and retrain's.",
    )  # fmt: skip


def show_states(comp, data, split, cid: str) -> None:
    """The tab: pick the unlearned model, draw the frame, the shifts."""
    method = _pick(comp)
    if method is None:
        st.info("No unlearning method finished, so there is no unlearned model to compare.")
        return
    view = view_of(cid, method, data, split)
    st.caption(
        f"The hidden state at the end of {len(view.ids)} questions ({view.n_forget} forget "
        f"questions, drawn as {FORGET_MARKER_NAME}; the retained ones coloured by kind of "
        "fact) under each model: where it stands when it starts to answer. One frame for "
        "every model, so positions compare."
    )
    frames, how = frames_of(cid, method, view)
    named = dict(zip(view.names, frames, strict=True))  # method names: their colours
    chart(
        P.embedding_panels(
            named, view.labels, view.is_forget, fact_kinds(data), ids=view.ids,
            title=f"Hidden states at each question's end: {how}",
            hover=[data.qa_train[i].question for i in view.ids.tolist()],
        ),
        key=TX.STATES,
    )  # fmt: skip
    names = [n for n in ("original", *[r.method for r in comp.results if r.ok]) if n in view.names]
    moved = displacements({n: states_of(cid, n, data, split) for n in names})
    shown = {n: moved[n] for n in (method, REFERENCE) if n in moved}
    chart(P.displacement_chart(shown, view.is_forget), key=TX.MOVED)
    show_table(shift_rows(shown, view.is_forget), SHIFT_TABLE, notes=False)
    st.caption(
        P.displacement_caption(shown, view.is_forget)
        + " An unlearning that moves the forget questions away from where the original keeps "
        "them, while the retained ones stay, changed what the model holds about those people."
    )

"""Page 2 · Forget set: mark whole classes, a random fraction, or samples picked by hand."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from pages.common import (
    load_spec,
    model_registry,
    require_data_and_model,
)
from unlearn_core.analysis.embeddings import pca_frame
from unlearn_core.forget import ForgetError, ForgetRequest, make_split
from unlearn_core.plots import setup as plots
from unlearn_core.selection import (
    apply_selection,
    filter_by_class,
    ids_from_selection,
    page_count,
    page_of,
    selection_signature,
    valid_ids,
)
from unlearn_core.training import predict_features

S = st.session_state
MODES = ["Whole classes", "Random fraction", "Pick samples"]
KIND_TO_MODE = {"class": 0, "fraction": 1, "fraction_in_class": 1, "indices": 2}
PER_PAGE = 30
SHOW_MARKED = 30
CHART_KEY = "forget_scatter"

st.title("Forget set")
st.caption("Step 2: mark the training samples the model must forget.")

data, entry = require_data_and_model()

confirmed = S.get("forget")
if confirmed:
    try:
        current = make_split(data, ForgetRequest.from_dict(confirmed))
        st.success(
            f"Confirmed forget set: {current.request.describe(data.classes)} · "
            f"{current.n_forget} samples. Change it below, or go on to Unlearn."
        )
    except ForgetError as exc:
        st.warning(f"The confirmed forget set no longer fits this dataset ({exc}); choose again.")
        S["forget"] = confirmed = None

names = list(data.classes)
fmt_class = names.__getitem__


def _init(key: str, value) -> None:
    if key not in S:
        S[key] = value


req0 = ForgetRequest.from_dict(confirmed) if confirmed else None
_init("p2_mode", MODES[KIND_TO_MODE.get(req0.kind, 0)] if req0 else MODES[0])
mode = st.radio("What to forget", MODES, key="p2_mode", horizontal=True)

# ------------------------------------------------------------------ the three ways to mark
if mode == "Whole classes":
    _init("p2_classes", list(req0.classes) if req0 and req0.kind == "class" else [])
    chosen = st.multiselect(
        "Classes to forget",
        list(range(data.num_classes)),
        key="p2_classes",
        format_func=fmt_class,
        help="Every training sample of these classes is forgotten (class-wise unlearning).",
    )
    request = ForgetRequest(classes=tuple(chosen))
elif mode == "Random fraction":
    in_class = req0 is not None and req0.kind == "fraction_in_class"
    _init("p2_fraction", float(req0.fraction) if req0 and req0.fraction else 0.1)
    _init("p2_fraction_class", req0.classes[0] if in_class else None)
    _init("p2_fraction_seed", int(req0.seed) if req0 else 0)
    c1, c2, c3 = st.columns([3, 2, 1])
    frac = c1.slider("Fraction of samples", 0.01, 1.0, step=0.01, key="p2_fraction")
    within = c2.selectbox(
        "Drawn from",
        [None, *range(data.num_classes)],
        key="p2_fraction_class",
        format_func=lambda c: "the whole training set" if c is None else f"class {names[c]}",
    )
    fseed = c3.number_input("Seed", 0, 2**31 - 1, step=1, key="p2_fraction_seed")
    request = ForgetRequest(
        fraction=float(frac), classes=() if within is None else (int(within),), seed=int(fseed)
    )
else:
    n = data.n_train
    picked = valid_ids(S.get("picked", []), n)
    # a new lasso / box selection (the chart's event from the last interaction) is applied once
    event = S.get(CHART_KEY)
    sig = selection_signature(event)
    if sig and sig != S.get("_p2_sig"):
        S["_p2_sig"] = sig
        action = "remove" if S.get("p2_lasso_action", "").startswith("Remove") else "add"
        picked = apply_selection(picked, valid_ids(ids_from_selection(event), n), action)
    S["picked"] = picked

    @st.cache_resource(max_entries=4, show_spinner="Projecting the training set…")
    def _coords(key: str, spec_json: str) -> tuple[np.ndarray, tuple[str, str]]:
        """2-D coordinates of the training set: raw for 2-D points, else PCA of the
        original model's penultimate features (cached by model key)."""
        d = load_spec(json.loads(spec_json))
        if d.kind == "points2d":
            return d.x_train.numpy()[:, :2], ("x₁", "x₂")
        feats = predict_features(model_registry()[key]["model"], d.x_train)
        return pca_frame([feats.numpy()])[0], ("PC 1 of the model's features", "PC 2")

    lasso_tab, tick_tab = st.tabs(["Lasso on the embedding", "Tick thumbnails"])
    with lasso_tab:
        st.radio(
            "A lasso or box selection will",
            ["Add to the marked samples", "Remove from the marked samples"],
            key="p2_lasso_action",
            horizontal=True,
        )
        coords, axes = _coords(S["model_key"], json.dumps(S["dataset"], sort_keys=True))
        fig = plots.embedding_scatter(
            coords,
            data.y_train.numpy(),
            names,
            marked=picked,
            axis_titles=axes,
            title="Training set, coloured by class (draw a lasso or a box to pick)",
        )
        st.plotly_chart(
            fig,
            on_select="rerun",
            selection_mode=("lasso", "box", "points"),
            key=CHART_KEY,
            width="stretch",
        )
        st.caption(
            "Use the lasso / box tools in the chart's toolbar. Each point is one training "
            "sample; ringed points are already marked."
        )

    with tick_tab:

        def _toggle(i: int) -> None:
            on = bool(S.get(f"p2_tick_{i}"))
            S["picked"] = apply_selection(S.get("picked", []), [i], "add" if on else "remove")

        def _tick_page(ids: list[int], on: bool) -> None:
            S["picked"] = apply_selection(S.get("picked", []), ids, "add" if on else "remove")

        f1, f2 = st.columns([2, 1])
        cls = f1.selectbox(
            "Show class",
            [None, *range(data.num_classes)],
            key="p2_tick_class",
            format_func=lambda c: "all classes" if c is None else names[c],
        )
        pool = filter_by_class(data.y_train.numpy(), cls)
        pages = page_count(len(pool), PER_PAGE)
        if S.get("p2_tick_page", 1) > pages:
            S["p2_tick_page"] = 1
        page = f2.number_input(f"Page (of {pages})", 1, pages, step=1, key="p2_tick_page")
        shown = page_of(pool, int(page), PER_PAGE)
        b1, b2, _ = st.columns([1, 1, 3])
        b1.button(
            "Tick all on this page", key="p2_tick_all", on_click=_tick_page, args=(shown, True)
        )
        b2.button("Untick this page", key="p2_untick_all", on_click=_tick_page, args=(shown, False))
        marked_set = set(S["picked"])
        cols = st.columns(10)
        for k, i in enumerate(shown):
            S[f"p2_tick_{i}"] = i in marked_set
            with cols[k % 10]:
                st.image(plots.thumbnail(data.image(i), 48), width=48)
                st.checkbox(
                    f"{names[int(data.y_train[i])]} #{i}",
                    key=f"p2_tick_{i}",
                    on_change=_toggle,
                    args=(i,),
                )

    if st.button("Clear selection", key="p2_clear", disabled=not S["picked"]):
        S["picked"] = []
        st.rerun()
    request = ForgetRequest(indices=tuple(S["picked"]))

# ------------------------------------------------------------------ preview and confirm
st.divider()
try:
    preview = make_split(data, request)
    problem = None
except ForgetError as exc:
    preview, problem = None, str(exc)

if preview is None:
    if (
        request.kind == "class"
        and not request.classes
        or mode == "Pick samples"
        and not S["picked"]
    ):
        st.info("Nothing is marked yet.")
    else:
        st.warning(f"This forget set cannot be used: {problem}")
else:
    fc = np.bincount(data.y_train[preview.forget_idx].numpy(), minlength=data.num_classes)
    per_class = ", ".join(f"{names[c]}: {int(k)}" for c, k in enumerate(fc) if k)
    st.markdown(
        f"**{preview.n_forget} samples marked** ({100 * preview.n_forget / data.n_train:.1f}% of "
        f"the training set; {preview.n_retain} retained) · {per_class}"
    )
    if preview.forgotten_classes:
        whole = ", ".join(names[c] for c in preview.forgotten_classes)
        st.caption(f"Whole classes in the forget set: {whole}.")
    first = preview.forget_idx[:SHOW_MARKED].tolist()
    st.image(
        [plots.thumbnail(data.image(i), 48) for i in first],
        caption=[f"{names[int(data.y_train[i])]} #{i}" for i in first],
        width=48,
    )
    if preview.n_forget > SHOW_MARKED:
        st.caption(f"…showing the first {SHOW_MARKED} of {preview.n_forget}.")

if st.button("Use this forget set", key="p2_confirm", type="primary"):
    try:
        make_split(data, request)
    except ForgetError as exc:
        st.error(f"Cannot use this forget set: {exc}")
    else:
        new = request.to_dict()
        if new != S.get("forget"):
            S["forget"] = new
            if S.get("comparison_id"):
                S["comparison_id"] = None
                st.info("The forget set changed: the previous comparison was cleared.")
        st.success(f"Forget set stored: {request.describe(data.classes)}.")
        st.page_link("pages/unlearn.py", label="Next: unlearn it", icon="🧽")
elif S.get("forget"):
    st.page_link("pages/unlearn.py", label="Next: unlearn it", icon="🧽")

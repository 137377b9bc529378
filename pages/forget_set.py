"""Page 2 · Forget set: mark whole classes, a random fraction, or samples picked by hand."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from app_ui.common import (
    chart,
    page_link,
    require_data_and_model,
)
from app_ui.entry import through_app
from app_ui.forget_summary import in_use_header, in_use_summary, put_in_use
from app_ui.registries import training_coords
from app_ui.repair_view import repair_section
from app_ui.state import (
    DATASET,
    FORGET,
    MODEL_KEY,
    P2,
    P2_SIG,
    PICKED,
    Key,
)
from app_ui.text import clause, plural, split_summary
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

through_app()  # a cold server's deep link runs the app's navigation first

MODES = ["Whole classes", "Random fraction", "Pick samples"]
KIND_TO_MODE = {"class": 0, "fraction": 1, "fraction_in_class": 1, "indices": 2}
PER_PAGE = 30
SHOW_MARKED = 30
#: the "any class" choice of the class pickers (None would show Streamlit's placeholder)
ALL = "all"

st.title("Forget set")
st.caption("Step 2: mark the training samples the model must forget.")

data, entry = require_data_and_model()
if data.kind == "text":  # people, a share of people or single facts
    from app_ui.text_view import forget_page

    forget_page(data)
    st.stop()

current = in_use_header(
    lambda d: make_split(data, ForgetRequest.from_dict(d)),
    lambda split: in_use_summary(split, data.classes),
)
confirmed = FORGET.get()

names = list(data.classes)
fmt_class = names.__getitem__


def _init(key: Key, value) -> None:
    key.setdefault(value)


req0 = ForgetRequest.from_dict(confirmed) if confirmed else None
_init(P2.MODE, MODES[KIND_TO_MODE.get(req0.kind, 0)] if req0 else MODES[0])
mode = st.radio("What to forget", MODES, key=P2.MODE, horizontal=True)

# ------------------------------------------------------------------ the three ways to mark
if mode == "Whole classes":
    _init(P2.CLASSES, list(req0.classes) if req0 and req0.kind == "class" else [])
    chosen = st.multiselect(
        "Classes to forget",
        list(range(data.num_classes)),
        key=P2.CLASSES,
        format_func=fmt_class,
        help="Every training sample of these classes is forgotten (class-wise unlearning).",
    )
    request = ForgetRequest(classes=tuple(chosen))
elif mode == "Random fraction":
    in_class = req0 is not None and req0.kind == "fraction_in_class"
    _init(P2.FRACTION, float(req0.fraction) if req0 and req0.fraction else 0.1)
    _init(P2.FRACTION_CLASS, req0.classes[0] if in_class else ALL)
    if P2.FRACTION_CLASS.get() is None:  # a value stored by an earlier version
        P2.FRACTION_CLASS.set(ALL)
    _init(P2.FRACTION_SEED, int(req0.seed) if req0 else 0)
    c1, c2, c3 = st.columns([3, 2, 1])
    frac = c1.slider("Fraction of samples", 0.01, 1.0, step=0.01, key=P2.FRACTION)
    within = c2.selectbox(
        "Drawn from",
        [ALL, *range(data.num_classes)],
        key=P2.FRACTION_CLASS,
        format_func=lambda c: "the whole training set" if c == ALL else f"class {names[c]}",
    )
    fseed = c3.number_input("Seed", 0, 2**31 - 1, step=1, key=P2.FRACTION_SEED)
    request = ForgetRequest(
        fraction=float(frac), classes=() if within == ALL else (int(within),), seed=int(fseed)
    )
else:
    n = data.n_train
    picked = valid_ids(PICKED.get(), n)
    # a new lasso / box selection (the chart's event from the last interaction) is applied once
    event = P2.SCATTER.get()
    sig = selection_signature(event)
    if sig and sig != P2_SIG.get():
        P2_SIG.set(sig)
        action = "remove" if (P2.LASSO_ACTION.get() or "").startswith("Remove") else "add"
        picked = apply_selection(picked, valid_ids(ids_from_selection(event), n), action)
    PICKED.set(picked)

    lasso_tab, tick_tab = st.tabs(["Lasso on the embedding", "Tick thumbnails"])
    with lasso_tab:
        st.radio(
            "A lasso or box selection will",
            ["Add to the marked samples", "Remove from the marked samples"],
            key=P2.LASSO_ACTION,
            horizontal=True,
        )
        ids, coords, axes = training_coords(
            MODEL_KEY.get(), json.dumps(DATASET.get(), sort_keys=True)
        )
        if len(ids) < n:
            st.caption(
                f"The chart draws {len(ids):,} of the {n:,} training samples (each class in "
                "its share, the same draw every time); a lasso picks drawn samples by id. "
                "Tick thumbnails (next tab) reaches any sample."
            )
        fig = plots.embedding_scatter(
            coords,
            data.y_train.numpy()[ids],
            names,
            ids=ids,
            marked=picked,
            axis_titles=axes,
            title="The training set by class",
        )
        chart(
            fig,
            tools=True,  # the lasso and box tools
            on_select="rerun",
            selection_mode=("lasso", "box", "points"),
            key=P2.SCATTER,
        )
        st.caption(
            "Draw a lasso or a box around points to pick them (the tools are in the chart's "
            "toolbar, top right). Each point is one training sample; ringed points are "
            "already marked."
        )

    with tick_tab:

        def _toggle(i: int) -> None:
            on = bool(P2.TICK.get(i))
            PICKED.set(apply_selection(PICKED.get(), [i], "add" if on else "remove"))

        def _tick_page(ids: list[int], on: bool) -> None:
            PICKED.set(apply_selection(PICKED.get(), ids, "add" if on else "remove"))

        f1, f2 = st.columns([2, 1])
        cls = f1.selectbox(
            "Show class",
            [ALL, *range(data.num_classes)],
            key=P2.TICK_CLASS,
            format_func=lambda c: "all classes" if c == ALL else names[c],
        )
        pool = filter_by_class(data.y_train.numpy(), None if cls == ALL else cls)
        pages = page_count(len(pool), PER_PAGE)
        if (P2.TICK_PAGE.get() or 1) > pages:
            P2.TICK_PAGE.set(1)
        page = f2.number_input(f"Page (of {pages})", 1, pages, step=1, key=P2.TICK_PAGE)
        shown = page_of(pool, int(page), PER_PAGE)
        b1, b2, _ = st.columns([1, 1, 3])
        b1.button("Tick all on this page", key=P2.TICK_ALL, on_click=_tick_page, args=(shown, True))
        b2.button("Untick this page", key=P2.UNTICK_ALL, on_click=_tick_page, args=(shown, False))
        marked_set = set(PICKED.get())
        image_data = data.kind == "image"
        per_row = 10 if image_data else 5
        cols = st.columns(per_row)
        for k, i in enumerate(shown):
            P2.TICK.set(i, value=i in marked_set)
            with cols[k % per_row]:
                label = f"{names[int(data.y_train[i])]} #{i}"
                if image_data:
                    st.image(plots.tile(data.image(i), 48), width=58)
                else:  # points and rows: the values, not a picture
                    values = data.x_train[i].flatten()[:3].tolist()
                    label += " · (" + ", ".join(f"{v:.2f}" for v in values) + ")"
                st.checkbox(label, key=P2.TICK.of(i), on_change=_toggle, args=(i,))

    if st.button("Clear selection", key=P2.CLEAR, disabled=not PICKED.get()):
        PICKED.set([])
        st.rerun()
    request = ForgetRequest(indices=tuple(PICKED.get()))

# ------------------------------------------------------------------ preview and confirm
st.divider()
try:
    preview = make_split(data, request)
    problem = None
except ForgetError as exc:
    preview, problem = None, clause(str(exc))
same = preview is not None and request.to_dict() == FORGET.get()

if preview is None:
    empty = (request.kind == "class" and not request.classes) or (
        mode == "Pick samples" and not PICKED.get()
    )
    if empty:
        st.info("Nothing is marked yet.")
    else:  # said once, here; the button below stays off
        st.warning(f"This forget set cannot be used: {problem}.")
else:
    fc = np.bincount(data.y_train[preview.forget_idx].numpy(), minlength=data.num_classes)
    per_class = ", ".join(f"{names[c]}: {int(k)}" for c, k in enumerate(fc) if k)
    heading = "In use" if same else "Preview, not in use yet"
    st.markdown(
        f"**{heading}:** **{plural(preview.n_forget, 'sample')} marked** "
        f"({100 * preview.n_forget / data.n_train:.1f}% of the training set; "
        f"{preview.n_retain} retained) · {per_class}"
    )
    if preview.forgotten_classes:
        whole = ", ".join(names[c] for c in preview.forgotten_classes)
        st.caption(f"Whole classes in the forget set: {whole}.")
    first = preview.forget_idx[:SHOW_MARKED].tolist()
    if data.kind == "image":
        caps = [f"{names[int(data.y_train[i])]} #{i}" for i in first]
        images, width = plots.tiles([data.image(i) for i in first], caps, 48)
        st.image(images, caption=caps, width=width)
        if preview.n_forget > SHOW_MARKED:
            st.caption(f"…showing the first {SHOW_MARKED} of {preview.n_forget}.")
    else:
        chart(
            plots.feature_scatter(
                data.x_train.numpy(),
                data.y_train.numpy(),
                names,
                marked=preview.forget_idx.tolist(),
                title="The marked samples (ringed) among the training set",
                height=380,
            ),
            key=P2.PREVIEW,
        )


clicked = st.button(
    "Use this forget set",
    key=P2.CONFIRM,
    type="primary",
    disabled=preview is None or same,
    help="Unlearning runs on the forget set in use.",
    on_click=put_in_use,
    args=(request.to_dict(),),
)
if clicked and preview is not None and FORGET.get() != request.to_dict():
    put_in_use(request.to_dict())  # a click whose run did not run the callback
    st.rerun()

if FORGET.get() and same:
    st.success(f"Forget set stored: {split_summary(preview, names)}. Unlearning will use it.")
    page_link("pages/unlearn.py", "Next: unlearn it")
elif current is not None:
    st.warning(
        f"Unlearning still uses {split_summary(current, names)}: press *Use this forget set* "
        "to switch to the preview above."
    )

repair_section(data)  # or repair: a corruption scenario's found samples

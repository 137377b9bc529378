"""The Compare page's Attributions tab: which input features speak for the true class of a few
chosen forget samples under the original, the method in view and retrain."""

from __future__ import annotations

import streamlit as st

from app_ui import compare_data as D
from app_ui.common import chart
from app_ui.state import CMP
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetSplit
from unlearn_core.plots import results as P
from unlearn_core.plots import setup as P_setup


def show_attributions(cid: str, method: str, data: Dataset, split: ForgetSplit) -> None:
    forget_ids = split.forget_idx.tolist()
    if not set(CMP.ATTR_SAMPLES.get() or [None]) <= set(forget_ids):
        CMP.ATTR_SAMPLES.set(forget_ids[:2])
    if data.kind == "image":
        st.caption("Some forget samples and their ids:")
        first = forget_ids[:12]
        caps = [f"#{i}" for i in first]
        images, width = P_setup.tiles([data.image(i) for i in first], caps, 48)
        st.image(images, caption=caps, width=width)
    picked = st.multiselect(
        "Forget samples to explain",
        forget_ids,
        max_selections=4,
        key=CMP.ATTR_SAMPLES,
        help="Pick by id; the thumbnails above show a few of them.",
    )
    if not picked:
        st.info("Pick at least one sample.")
        return
    chosen = sorted(int(i) for i in picked)
    grid = D.attributions(cid, method, tuple(chosen), data)
    st.caption(
        "Integrated gradients, saliency and the LRP (ε-rule) attribution for the true class, "
        "original vs unlearned vs retrained. Red = evidence for the class, blue = against."
    )
    for msg in dict.fromkeys(grid.get("notes", {}).values()):
        st.info(msg)
    for k, i in enumerate(chosen):
        maps = {
            m: {n: (None if v is None else v[k]) for n, v in per_model.items()}
            for m, per_model in grid["maps"].items()
        }
        chart(
            P.attribution_figure(
                maps,
                image=data.image(i) if data.kind == "image" else None,
                title=f"Sample #{i} ({data.classes[int(data.y_train[i])]})",
            ),
            key=CMP.ATTR.of(i),
        )

"""Learn: the taxonomy of unlearning, every registered method, and how to read the metrics."""

from pathlib import Path

import streamlit as st

from app_ui.common import page_link
from app_ui.entry import through_app
from app_ui.learn_story import verification_story
from app_ui.repair_story import repair_story
from app_ui.tables import Column, show_table
from unlearn_core.methods import list_methods

through_app()  # a cold server's deep link runs the app's navigation first

st.title("Learn: unlearning in one page")
st.caption(
    "For a class or a stakeholder: what exact and approximate unlearning promise, what each "
    "method trades off, and how to read every number the workbench shows."
)

text = (Path(__file__).resolve().parent.parent / "assets" / "learn.md").read_text(encoding="utf-8")
intro, _, rest = text.partition("## How to read each metric")

st.markdown(intro)

st.markdown("## The methods in this workbench")
st.caption(
    "Generated from the method registry: a short table, then what each method does in full "
    "(a summary in a table cell would be cut off or squeezed)."
)
methods = list_methods()
show_table(
    [
        {
            "name": s.name,
            "label": s.label,
            "family": s.family,
            "origin": s.origin_text,
            "needs": ", ".join(s.needs),
            "paper": s.paper,
        }
        for s in methods
    ],
    [
        Column("name", "name", text=True),
        Column("label", "method", text=True),
        Column("family", "family", text=True),
        Column("origin", "origin", text=True),
        Column("needs", "needs", text=True),
        Column("paper", "paper", text=True),
    ],
    notes=False,
)
for s in methods:
    st.markdown(f"**{s.label}** (`{s.name}`, {s.family}, {s.origin_text}) — {s.summary}")
with st.expander("Each method's parameters"):
    for s in list_methods():
        params = ", ".join(f"`{p.name}` = {p.default}" for p in s.params) or "none"
        st.markdown(f"**{s.label}** (`{s.name}`): {params}")

metrics, _, story = rest.partition("## Verification is fragile")
st.markdown("## How to read each metric" + metrics)
before, _, after = story.partition("<!-- story figures -->")
st.markdown("## Verification is fragile" + before)
verification_story()
st.markdown(after)
repair_story()  # forgetting vs restoring: attack success, restoration, Warnecke
page_link("pages/audit.py", "Audit a method yourself")
page_link("pages/data_model.py", "Start: pick data and a model")

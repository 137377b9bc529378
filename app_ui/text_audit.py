"""The Audit page for text (issue 22): the many-model audit at a small K
(:mod:`app_ui.text_audit_job`; its cost measured by ``benchmarks/text_audit_cost.py`` and
``benchmarks/text_audit.py``), and the lens that is cheap: per forget question of the
current comparison, where the unlearned model's score of the true answer sits between
retrain's and the original's (:func:`unlearn_core.text.membership.question_lens`)."""

from __future__ import annotations

import streamlit as st

from app_ui.common import (
    chart,
    comparison_split,
    current_comparison,
    current_split,
    page_link,
)
from app_ui.state import COMPARISON_ID, TX
from app_ui.tables import Column, show_table
from app_ui.text_attack import scores
from unlearn_core.experiment import REFERENCE
from unlearn_core.plots.text import position_histogram
from unlearn_core.text.membership import question_lens

#: forget rows listed as still closest to the original
SHOWN = 8

TEXT_AUDIT_NOTE = (
    "A cheaper look, without training anything: per forget question of the current "
    "comparison (one seed's original, unlearned and retrained model), where the unlearned "
    "model's score of the true answer sits between retrain's and the original's."
)


def audit_page(data) -> None:
    """The Audit page for text data (the page file calls only this): the many-model audit
    (``app_ui.text_audit_job``), then the cheap per-question lens on the current comparison."""
    from app_ui.text_audit_job import audit_section

    audit_section(data, current_split(data))
    st.divider()
    st.caption(TEXT_AUDIT_NOTE)
    comp = current_comparison()
    if comp is None or comp.dataset != data.name:
        st.info(
            "The per-question lens reads a comparison's models: run the language methods on "
            "the Unlearn page first."
        )
        page_link("pages/unlearn.py", "Go to 3 · Unlearn")
        return
    split = comparison_split(data, comp)
    if split is None:
        return
    lens_section(comp, data, split, COMPARISON_ID.get())


def lens_section(comp, data, split, cid: str) -> None:
    st.subheader("Per forget question: closer to retrain or to the original?")
    models = comp.models()
    methods = [r.method for r in comp.results if r.ok and r.method != REFERENCE]
    methods = [m for m in methods if m in models]
    if "original" not in models or REFERENCE not in models or not methods:
        st.info(
            "The lens needs the original, an unlearned model and retrain: run the comparison "
            "with *Retrain* switched on and at least one method."
        )
        return
    labels = {
        "original": "original",
        REFERENCE: "retrain",
        **{m: comp.get(m).label for m in methods},
    }
    if TX.AUDIT_METHOD.get() not in methods:
        TX.AUDIT_METHOD.set(methods[0])
    method = st.selectbox(
        "Unlearned model", methods, format_func=labels.__getitem__, key=TX.AUDIT_METHOD
    )
    got = {n: scores(cid, n, data, split) for n in ("original", method, REFERENCE)}
    ids = split.forget_idx.tolist()
    lens = question_lens(got, method, ids, "loss")
    share = lens.shares()
    c1, c2, c3 = st.columns(3)
    c1.metric("Closer to retrain", f"{share['forgotten']:.0%}", help="position below 0.5")
    c2.metric("Closer to the original", f"{share['remembered']:.0%}", help="position 0.5 or more")
    c3.metric("Median position", f"{share['median']:.2f}", help="0 = retrain's, 1 = original's")
    st.caption(
        "Each forget question's score is the LOSS attack's: how likely the model finds the "
        "true answer (mean log-probability). The position is 0 at retrain's score and 1 at "
        f"the original's (beyond −1 or 2: drawn at the edge): {labels[method]} forgot a "
        "question when it lands near 0. One seed's "
        "models: a single retrained model is itself one draw, which is what the audit's K "
        "models would average out."
    )
    chart(position_histogram(lens.position, model=method, label=labels[method]), key=TX.AUDIT_LENS)
    pos = lens.position
    order = [int(k) for k in (-pos).argsort(kind="stable") if pos[k] == pos[k]][:SHOWN]
    if not order:
        return
    st.markdown(f"**The forget questions {labels[method]} still answers most like the original**")
    rows = [
        {
            "question": data.qa_train[ids[k]].question,
            "answer": data.qa_train[ids[k]].answer,
            "original": lens.original[k],
            "unlearned": lens.unlearned[k],
            "retrain": lens.retrain[k],
            "position": pos[k],
        }
        for k in order
    ]
    show_table(
        rows,
        [
            Column("question", "question", text=True),
            Column("answer", "answer", text=True),
            Column("original", "original", fmt=".2f"),
            Column("unlearned", labels[method], fmt=".2f"),
            Column("retrain", "retrain", fmt=".2f"),
            Column("position", "position", fmt=".2f"),
        ],
        notes=False,
    )

"""The Attack page for text (issue 22): membership inference on the language models of a
comparison with the text track's four attacks (LOSS, zlib, Min-K%, Min-K%++), the forget
rows (the people being unlearned: members of the original's training data) against the
held-out people (never trained on: non-members), for the original, an unlearned model and
retrain: ROC curves and AUCs, every model's AUCs and PrivLeak, and the forget questions the
attack still finds most member-like. The numbers are the library's
(:mod:`unlearn_core.text.membership`); here they are cached per model of a comparison."""

from __future__ import annotations

import streamlit as st

from app_ui.common import chart, page_link
from app_ui.registries import comparison_registry
from app_ui.state import TX
from app_ui.tables import Column, show_table
from unlearn_core.experiment import REFERENCE
from unlearn_core.plots.text import membership_roc
from unlearn_core.text.membership import (
    ATTACK_HELP,
    ATTACK_NAMES,
    ATTACKS,
    ROW_KEYS,
    MembershipScores,
    attack_rows,
    curves,
    membership_scores,
    most_member_like,
)

#: forget questions listed as most member-like
WORST = 8


@st.cache_resource(max_entries=32, show_spinner="Scoring the forget rows and held-out people…")
def scores(cid: str, name: str, _data, _split) -> MembershipScores:
    """The four attacks' scores of one model of a comparison (computed once per model)."""
    return membership_scores(comparison_registry()[cid].models()[name], _data, _split)


def _table_columns(attack: str) -> list[Column]:
    return [
        Column("model", "model", text=True),
        *(Column(ROW_KEYS[a], f"{ATTACK_NAMES[a]} AUC", fmt=".3f") for a in ATTACKS),
        Column(
            f"privleak_{attack}", f"PrivLeak, {ATTACK_NAMES[attack]}", "%", ".1f",
            help=f"MUSE's PrivLeak on the {ATTACK_NAMES[attack]} AUC: (AUC − retrain's) / "
            "retrain's; 0 is ideal, above 0 the forget rows still look like training data, "
            "below 0 the model over-forgot (which an attacker can notice too)",
        ),
    ]  # fmt: skip


def _metric(col, title: str, value: float, ref: float | None) -> None:
    delta = None
    if ref is not None and value == value and ref == ref:
        d = value - ref
        delta = "same as retrain" if round(d, 3) == 0 else f"{d:+.3f} vs retrain"
    col.metric(title, f"{value:.3f}" if value == value else "n/a", delta=delta,
               delta_color="off", delta_arrow="off")  # fmt: skip


def attack_page(comp, data, split, cid: str) -> None:
    """The whole Attack page for a text comparison (the page file calls only this)."""
    st.caption(
        "For a language model the attacker reads how likely the model finds each answer. "
        "**Members** are the forget rows (the original was trained on them); **non-members** "
        "are the facts of held-out people, which no model ever saw. An AUC near 1 means the "
        "attack tells them apart: the model still shows that it learned those people. Read "
        "every number against **retrain's**, which never saw the forget rows either."
    )
    if not data.n_val or not split.n_forget:
        st.info(
            "This dataset has no held-out people (a file of your own has none), so there are "
            "no non-members to compare the forget rows with: the membership attacks cannot run."
            if not data.n_val
            else "The forget set is empty: there is nothing to attack."
        )
        return
    models = comp.models()
    names = [n for n in ["original", *[r.method for r in comp.results if r.ok]] if n in models]
    labels = {n: n if n in ("original", REFERENCE) else comp.get(n).label for n in names}
    methods = [n for n in names if n not in ("original", REFERENCE)]
    if not names:
        st.warning("This run's models were not stored (or cannot be read): nothing to attack.")
        return
    c1, c2 = st.columns([2, 3])
    with c1:
        if methods:
            if TX.ATTACK_METHOD.get() not in methods:
                TX.ATTACK_METHOD.set(methods[0])
            method = st.selectbox(
                "Unlearned model", methods, format_func=labels.__getitem__,
                key=TX.ATTACK_METHOD,
                help="Drawn beside the original and retrain; the table lists every model.",
            )  # fmt: skip
        else:
            method = None
            st.info("No unlearning method finished: the original and retrain are attacked.")
    with c2:
        if TX.ATTACK_SCORE.get() not in ATTACKS:
            TX.ATTACK_SCORE.set(ATTACKS[0])
        attack = st.radio(
            "Attack", list(ATTACKS), format_func=ATTACK_NAMES.__getitem__, horizontal=True,
            key=TX.ATTACK_SCORE,
        )  # fmt: skip
    st.caption(f"**{ATTACK_NAMES[attack]}** — score: {ATTACK_HELP[attack]}.")

    got = {n: scores(cid, n, data, split) for n in names}
    focus = [n for n in ("original", method, REFERENCE) if n in got]
    shown = {n: got[n] for n in focus}
    ref_auc = got[REFERENCE].auc(attack) if REFERENCE in got else None
    for col, n in zip(st.columns(len(focus)), focus, strict=True):
        _metric(col, f"{labels[n]}: AUC", got[n].auc(attack), ref_auc if n != REFERENCE else None)
    if REFERENCE not in got:
        st.warning(
            "No retrained reference in this comparison: run it again with *Retrain* switched "
            "on to read the AUCs against the model that never saw the forget rows."
        )
    chart(
        membership_roc(curves(shown, attack), labels=labels, attack=ATTACK_NAMES[attack]),
        key=TX.ATTACK_ROC,
    )
    st.caption(
        f"Each curve: the rule *member if the {ATTACK_NAMES[attack]} score is at or above a "
        "threshold*, every threshold. Over the diagonal: the forget rows score higher than "
        "unseen people's. The unlearned model's curve should lie on retrain's, not the "
        f"original's ({split.n_forget} forget rows, {data.n_val} held-out rows: with few "
        "rows the curves move in coarse steps)."
    )

    st.subheader("Every model, every attack")
    rows = attack_rows(got, reference=REFERENCE)
    for r in rows:
        r["model"] = labels[r["model"]]
    show_table(rows, _table_columns(attack))

    if method is None:
        return
    st.subheader(f"Forget questions {labels[method]} still gives away")
    st.caption(
        f"The forget rows with the highest {ATTACK_NAMES[attack]} score under "
        f"{labels[method]}: the answers it still finds most likely, beside the other models' "
        "scores of the same rows (higher = more member-like)."
    )
    ids = split.forget_idx.tolist()
    pos = {i: k for k, i in enumerate(ids)}
    worst = most_member_like(got[method], attack, ids, k=WORST)
    table = []
    for i, s in worst:
        qa = data.qa_train[i]
        row = {"question": qa.question, "answer": qa.answer}
        for n in focus:
            row[n] = float(got[n].members[attack][pos[i]]) if n != method else s
        table.append(row)
    show_table(
        table,
        [Column("question", "question", text=True), Column("answer", "answer", text=True),
         *(Column(n, labels[n], fmt=".3g") for n in focus)],
        notes=False,
    )  # fmt: skip
    page_link("pages/compare.py", "Back to 4 · Compare")

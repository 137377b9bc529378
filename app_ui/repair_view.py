"""The Forget set page's repair choice: corrupt the training data (label noise, a backdoor, a
spurious feature), see what changed, and put the corrupted samples a user has found in use as
the forget set. The Unlearn page then runs the comparison on the corrupted data
(``job_calls.comparison``'s ``repair``): the original trains on it, ``clean`` on the clean data,
and the results carry attack success, true-label accuracy and restoration."""

from __future__ import annotations

import streamlit as st

from app_ui.state import COMPARISON_ID, FORGET, P2, P2_NOTE, REPAIR
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetRequest
from unlearn_core.plots import setup as plots
from unlearn_core.repair import KINDS, Scenario, ScenarioError, make_scenario

LABELS = {
    "label-noise": "Label noise (flipped labels)",
    "backdoor": "Backdoor (a trigger patch relabelled to a target)",
    "feature": "Spurious feature (a patch on one class)",
}
RANDOM = "random"
SHOW = 12


def active_repair() -> dict | None:
    """The repair scenario's settings while the forget set it put in use is still in use."""
    rep = REPAIR.get()
    return rep["settings"] if rep and rep.get("forget") == FORGET.get() else None


def _settings(data: Dataset) -> dict:
    names = list(data.classes)
    kind = st.selectbox("Scenario", KINDS, format_func=LABELS.get, key=P2.REPAIR_KIND)
    default = 0.05 if kind == "backdoor" else 0.2 if kind == "label-noise" else 0.5
    fraction = st.slider("Share corrupted", 0.01, 1.0, default, 0.01, key=P2.REPAIR_FRACTION)
    out: dict = {"kind": kind, "fraction": float(fraction), "seed": 0}
    cls = list(range(data.num_classes))
    if kind == "backdoor":
        out["target_class"] = st.selectbox(
            "Target class", cls, format_func=names.__getitem__, key=P2.REPAIR_TARGET
        )
    else:
        out["from_class"] = st.selectbox(
            "Class affected", cls, index=min(3, len(cls) - 1), format_func=names.__getitem__,
            key=P2.REPAIR_FROM,
        )  # fmt: skip
    if kind == "label-noise":
        to = st.selectbox(
            "Relabelled as", [RANDOM, *cls], index=min(6, len(cls)),
            format_func=lambda c: "a random other class" if c == RANDOM else names[c],
            key=P2.REPAIR_TO,
        )  # fmt: skip
        out["to_class"] = None if to == RANDOM else int(to)
    out["detection_rate"] = float(
        st.slider(
            "Share of the corrupted samples found (the forget set)",
            0.1,
            1.0,
            1.0,
            0.05,
            key=P2.REPAIR_DETECT,
        )  # fmt: skip
    )
    return out


def _preview(data: Dataset, sc: Scenario) -> None:
    names = list(data.classes)
    s = sc.summary()
    st.markdown(
        f"**{s['description']}**: {s['n_corrupted']} training samples corrupted, "
        f"{s['n_found']} found (the forget set)."
    )
    idx = sc.corrupted_idx[:SHOW].tolist()
    given = sc.corrupted.y_train
    if data.kind == "image":
        caps = [f"{names[int(data.y_train[i])]}→{names[int(given[i])]} #{i}" for i in idx]
        images = [sc.corrupted.image(i) for i in idx]
        tiles, width = plots.tiles(images, caps, 48)
        st.image(tiles, caption=caps, width=width)
        st.caption(
            "Corrupted training samples as the original model sees them: true → given label."
        )
        if sc.patch is not None:
            xt, yt = sc.triggered_test()
            trig = Dataset("triggered", xt[:6], yt[:6], xt[:0], yt[:0], names, kind="image")
            caps = [f"test: {names[int(y)]}" for y in yt[:6]]
            tiles, width = plots.tiles([trig.image(i) for i in range(len(caps))], caps, 48)
            st.image(tiles, caption=caps, width=width)
            st.caption(
                "Triggered test images of the other classes: the share the model puts in class "
                f"{names[sc.probe_class()]} is the attack success (reliance for a feature)."
            )
    else:
        st.caption(
            f"First corrupted samples (true → given): {', '.join(f'#{i}: {names[int(data.y_train[i])]}→{names[int(given[i])]}' for i in idx)}"
        )


def _use(settings: dict, forget: dict) -> None:
    """Put the scenario's found samples in use as the forget set (a callback, as the page's)."""
    FORGET.set(forget)
    REPAIR.set({"settings": settings, "forget": forget})
    if COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        P2_NOTE.set("The forget set changed: the previous comparison was cleared.")


def repair_section(data: Dataset) -> None:
    """The repair choice, in an expander below the forget-set modes."""
    label = "Repair: corrupt the training data, then undo the damage"
    with st.expander(label, expanded=active_repair() is not None):  # open while in use
        st.caption(
            "Forgetting removes what some samples taught; repairing must also restore what the "
            "model would know had they been right. The original trains on the corrupted data, a "
            "'clean' model on the clean data; the results add attack success, accuracy on the "
            "corrupted samples' true labels and restoration = (after − before) / (clean − before)."
        )
        settings = _settings(data)
        try:
            sc = make_scenario(data, **settings)
        except ScenarioError as exc:
            st.warning(f"This scenario cannot be built: {exc}.")
            return
        _preview(data, sc)
        forget = ForgetRequest(indices=tuple(sc.found_idx.tolist())).to_dict()
        in_use = active_repair() == settings
        st.button(
            "Use this repair scenario",
            key=P2.REPAIR_USE,
            disabled=in_use,
            help="Unlearning then runs on the corrupted data, with these samples as the forget set.",
            on_click=_use,
            args=(settings, forget),
        )
        if in_use:
            st.success("Repair scenario in use: the Unlearn page runs it on the corrupted data.")


def repair_note() -> None:
    """On the Unlearn page: a repair in use runs on the corrupted data with its own originals."""
    settings = active_repair()
    if settings is not None:
        st.info(
            "Repair scenario in use: each seed's original trains on the corrupted data (not the "
            "model above), retrain without the found samples and a 'clean' model on the clean "
            "data; the results add attack success, true-label accuracy and restoration."
        )

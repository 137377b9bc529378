"""The Forget set page's repair choice: corrupt the training data (label noise, a backdoor, a
spurious feature), see what changed, and put the corrupted samples a user has found in use as
the forget set. The Unlearn page then runs the comparison on the corrupted data
(``job_calls.comparison``'s ``repair``): the original trains on it, ``clean`` on the clean data,
and the results carry attack success, true-label accuracy and restoration."""

from __future__ import annotations

import streamlit as st

from app_ui.forget_summary import active_repair, put_in_use
from app_ui.state import P2, REPAIR
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


#: the share corrupted a scenario starts at (the issue's settings: 5 % backdoor, 20 % noise)
DEFAULT_FRACTION = {"backdoor": 0.05, "label-noise": 0.2, "feature": 0.5}


def _kind_changed() -> None:
    """A new scenario starts at its own default share (the slider kept the previous one: a
    backdoor chosen after label noise ran on 20 %)."""
    P2.REPAIR_FRACTION.set(DEFAULT_FRACTION[P2.REPAIR_KIND.get()])


def _settings(data: Dataset) -> dict:
    names = list(data.classes)
    kind = st.selectbox(
        "Scenario", KINDS, format_func=LABELS.get, key=P2.REPAIR_KIND, on_change=_kind_changed
    )
    default = DEFAULT_FRACTION[kind]
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
    put_in_use(forget)
    REPAIR.set({"settings": settings, "forget": forget})


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


# ---------------------------------------------------------------- Compare page, a repair run
#: triggered test images offered as thumbnails above the picker
TRIGGER_THUMBS = 12


def repair_charts(comp, data: Dataset, rows=(), tables=None) -> None:
    """The Compare overview's repair scores: attack success (or reliance on the feature), the
    accuracy on triggered images and the attribution on the patch; restoration on clean test
    accuracy and on the corrupted samples' true labels. Every model beside retrain, the
    original and the ``clean`` model (a comparison's mean view draws seed spreads as bars).
    ``tables``: the repair score tables (``evaluation.tables.split_repair``) of ``rows``, each
    drawn above its charts."""
    from app_ui.common import chart
    from app_ui.state import RPR
    from app_ui.tables import show_table
    from unlearn_core.plots import repair as PR

    tables = tables or {}
    sc = PR.scenario_of(comp) or {}
    st.markdown(
        "**Is the damage undone?** Forgetting the corrupted samples is not enough: a repaired "
        "model should behave like the *clean* model (trained without the corruption, dashed). "
        "Retrain (dotted) is what deleting the found samples achieves exactly."
    )
    if "attack" in tables:
        show_table(rows, tables["attack"])
    if sc.get("kind") in ("backdoor", "feature"):
        chart(PR.attack_bars(comp, data.classes), key=RPR.ATTACK)
        what = (
            "attack success: triggered test images of the other classes put in the target class"
            if sc.get("kind") == "backdoor"
            else "reliance: stamped test images of the other classes put in the class that "
            "carried the patch"
        )
        st.caption(
            f"Left, {what} (lower is better; the original shows the damage). Middle, the "
            "accuracy on those images against their true classes. Right, where shown, the share "
            "of saliency on the patch's pixels (first 32 triggered test images)."
        )
    if "restoration" in tables:
        show_table(rows, tables["restoration"])
    chart(PR.restoration_bars(comp), key=RPR.RESTORE)
    gap = PR.damage_gap(comp)
    tla_gap = PR.damage_gap(comp, "true_label_acc")
    notes = []
    if gap is not None:
        n = gap / 100 * len(data.y_test)
        notes.append(
            f"the clean model beats the original by {gap:.2f} points of test accuracy (about "
            f"{n:.0f} of {len(data.y_test)} test images), so restoration on test accuracy "
            f"moves in steps of about {1 / n:.2f} per image and can swing far past 0 and 1"
            if n >= 0.5
            else "the clean model is no better than the original on test accuracy, so "
            "restoration on test accuracy is not defined (n/a; not drawn when no row has it)"
        )
    if tla_gap is not None:
        notes.append(
            f"on the corrupted samples' true labels the gap is {tla_gap:.1f} points, the "
            "damage this scenario did"
        )
    st.caption(
        "Restoration = (after − before) / (clean − before) (Warnecke et al.): 0 = no better than "
        "the original, 1 = as good as the clean model, below 0 = worse than before, above 1 = "
        "beyond the clean model on that measure. "
        + ("; ".join(notes).capitalize() + "." if notes else "")
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def _scenario(cid: str, _data: Dataset, summary_key: str):
    """The scenario of comparison ``cid``, rebuilt from its summary (seeded: the same one)."""
    import json

    from unlearn_core.repair.explain import scenario_from_summary

    return scenario_from_summary(_data, json.loads(summary_key))


@st.cache_resource(max_entries=16, show_spinner="Explaining the triggered images…")
def _explained(cid: str, method: str, ids: tuple[int, ...], _models: dict, _sc) -> dict:
    from unlearn_core.repair.explain import patch_shares, triggered_attributions

    grid = triggered_attributions(_models, _sc, ids)
    grid["share_many"] = patch_shares(_models, _sc)
    return grid


def repair_inputs(cid: str, data: Dataset, comp) -> Dataset:
    """``data`` with the training inputs the repair run's models were trained on (patched for a
    backdoor or a feature) and the true labels: the forget samples as the models saw them,
    explained for their true class (the session's dataset holds the clean inputs)."""
    import json
    from dataclasses import replace

    from unlearn_core.plots import repair as PR

    summary = PR.scenario_of(comp) or {}
    if summary.get("kind") not in ("backdoor", "feature"):
        return data
    sc = _scenario(cid, data, json.dumps(summary, sort_keys=True, default=str))
    return replace(data, x_train=sc.corrupted.x_train)


def repair_attributions(cid: str, method: str, data: Dataset, comp) -> None:
    """A triggered test image before and after: the original's attribution should sit on the
    patch, a repaired model's on the digit, like the clean model's. Each model is explained for
    the class it predicts; the share of the attribution on the patch is given per model, for the
    chosen images and over the first 32 triggered test images."""
    import json

    from app_ui.common import chart
    from app_ui.state import RPR
    from unlearn_core.plots import repair as PR
    from unlearn_core.plots import results as P
    from unlearn_core.repair.explain import SHARE_SAMPLES

    summary = PR.scenario_of(comp) or {}
    if summary.get("kind") not in ("backdoor", "feature") or data.kind != "image":
        return
    models = comp.models()
    names = [n for n in dict.fromkeys(("original", method, "retrain", "clean")) if n in models]
    if len(names) < 2:
        st.info("This run's models were not kept, so its triggered images cannot be explained.")
        return
    st.markdown("#### A triggered test image, before and after")
    sc = _scenario(cid, data, json.dumps(summary, sort_keys=True, default=str))
    xt, yt = sc.triggered_test()
    cls = list(data.classes)
    shown = Dataset("triggered", xt, yt, xt[:0], yt[:0], cls, kind="image")
    first = list(range(min(TRIGGER_THUMBS, len(xt))))
    caps = [f"#{i}: {cls[int(yt[i])]}" for i in first]
    tiles, width = plots.tiles([shown.image(i) for i in first], caps, 48)
    st.image(tiles, caption=caps, width=width)
    st.caption(
        "Test images of the other classes with the patch stamped in (#position: true class)."
    )
    options = list(range(len(xt)))
    if not set(RPR.TRIGGERED.get() or [None]) <= set(options):
        RPR.TRIGGERED.set(first[:1])
    picked = st.multiselect(
        "Triggered test images to explain",
        options,
        max_selections=3,
        format_func=lambda i: f"#{i} ({cls[int(yt[i])]})",
        key=RPR.TRIGGERED,
    )
    if not picked:
        st.info("Pick at least one triggered image.")
        return
    ids = tuple(sorted(int(i) for i in picked))
    grid = _explained(cid, method, ids, {n: models[n] for n in names}, sc)
    target = cls[int(sc.probe_class())]
    st.caption(
        f"Each model is explained for the class it predicts (red = evidence for it, blue = "
        f"against); the green square is the patch. The poisoned original predicts {target} "
        "and looks at the patch; a repaired model predicts the true class and looks at the digit. "
        "Integrated gradients start from a black image, so they credit every bright pixel a "
        "little, the white patch too: compare each share with the clean model's."
    )
    for msg in dict.fromkeys(grid["notes"].values()):
        st.info(msg)
    for k, i in enumerate(ids):
        maps = {m: {n: (None if v is None else v[k]) for n, v in per.items()}
                for m, per in grid["maps"].items()}  # fmt: skip
        fig = P.attribution_figure(
            maps,
            image=shown.image(i),
            title=f"Triggered test image #{i} (true class {cls[int(yt[i])]})",
        )
        chart(PR.outline_patch(fig, grid["mask"]), key=RPR.ATTR.of(i))
        said = [
            f"**What each model predicts for image #{i}** (share of its saliency on the patch):"
        ]
        for n in names:
            share = grid["share"]["saliency"].get(n)
            pct = "" if share is None else f" · {share[k]:.0f} % on the patch"
            said.append(f"- {n} → **{cls[int(grid['pred'][n][k])]}**{pct}")
        st.markdown("\n".join(said))
    uniform = 100.0 * float(grid["mask"].mean())
    chart(
        PR.patch_share_bars(
            grid["share_many"],
            uniform=uniform,
            title=f"Saliency on the patch, first {SHARE_SAMPLES} triggered test images",
            axis="share of |gradient| on the patch (%)",
        ),
        key=RPR.PATCH,
    )
    st.caption(
        "The share of the absolute saliency (for each model's predicted class) on the patch's "
        f"pixels; the patch covers {uniform:.1f} % of them (dotted). The original's share is the "
        "backdoor at work; a repair should bring it down to the clean model's."
    )

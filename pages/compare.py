"""Compare: what each method changed, read against the retrained model."""

import numpy as np
import streamlit as st

from app_ui import compare_data as D
from app_ui.attribution_view import show_attributions
from app_ui.common import chart, require_comparison
from app_ui.embedding_view import show_embeddings
from app_ui.entry import through_app
from app_ui.registries import multi_registry
from app_ui.repair_view import repair_attributions, repair_charts, repair_inputs
from app_ui.seeds import add_error_bars, mean_view
from app_ui.state import CMP
from app_ui.tables import show_table
from app_ui.text import clause, split_summary
from unlearn_core.evaluation.tables import RESULT_COLUMNS, columns_for, split_repair
from unlearn_core.experiment import REFERENCE
from unlearn_core.methods.lrp_npp import describe_log
from unlearn_core.plots import results as P
from unlearn_core.plots.style import FORGET_COLOUR_NAME, FORGET_MARKER_NAME, OTHER_UNIT_COLOUR_NAME

through_app()  # a cold server's deep link runs the app's navigation first

#: the overview's metric table: the results-table spec the CLI and the HTML report share
METRIC_TABLE = RESULT_COLUMNS
st.title("Compare: what changed, and how close to retraining")

comp, data, split, cid = require_comparison()
multi = multi_registry().get(cid)
if multi is not None:  # several seeds: headline numbers are means, detail tabs the first seed
    comp = mean_view(multi, comp)
models = comp.models()
ref = comp.reference
if data.kind == "text":  # metric table, answers side by side, attributions, hidden states
    from app_ui.text_view import compare_page

    compare_page(comp, multi, data, split, cid)
    st.stop()
scenario = (comp.forget or {}).get("scenario")  # a repair run: what was corrupted and found
forgot = (
    f"repair of {scenario['description']} ({scenario['n_found']} of "
    f"{scenario['n_corrupted']} corrupted samples found and forgotten)"
    if scenario
    else f"forget {split_summary(split, data.classes)}"
)
st.caption(
    f"{comp.dataset} · {comp.model} · {forgot} · device {comp.device}"
    + (
        f" · {len(multi.seeds)} seeds ({', '.join(map(str, multi.seeds))}): the overview shows "
        f"mean ± standard deviation, the other tabs seed {multi.seeds[0]}"
        if multi is not None
        else ""
    )
)
if not models:
    st.warning(
        "This run's models were not stored (or cannot be read), so only the overview can be drawn."
    )


CHART_KEYS = {"mia": CMP.MIA, "avg_gap": CMP.GAP, "loss_auc": CMP.AUC}


def _bars(fig, key: str | None = None):
    return add_error_bars(fig, multi, key) if multi is not None else fig


# ---------------------------------------------------------------- the method in focus
unlearned = [r for r in comp.results if r.ok and r.method != REFERENCE and r.model is not None]
failed = [r for r in comp.results if not r.ok]
for r in failed:
    st.error(f"{r.label} failed: {r.error}")

tab_names = ["Overview", "Per class", "Embeddings", "Attributions", "Predictions", "Layers"]
#: results whose log holds LRP relevance per neuron (the LRP neuron-path perturbation method)
lrp_results = [r for r in unlearned if "relevance_mean" in r.log and "neurons" in r.log]
if lrp_results:
    tab_names.append("Neurons")
if data.kind == "points2d":
    tab_names.append("Decision boundary")
tabs = dict(zip(tab_names, st.tabs(tab_names, key=CMP.TAB, on_change="rerun"), strict=True))


def pick_method(where: str) -> str | None:
    """The unlearned method a detailed view is about (shared across tabs)."""
    if not unlearned:
        st.info("No unlearning method finished, so there is nothing to compare in detail.")
        return None
    names = [r.method for r in unlearned]
    if CMP.METHOD.get() not in names:
        CMP.METHOD.set(names[0])
    return st.selectbox(
        "Unlearned model",
        names,
        format_func=lambda n: comp.get(n).label,
        key=CMP.METHOD,
        help=f"The method whose {where} is compared with the original and retrained models.",
    )


# ---------------------------------------------------------------- overview
with tabs["Overview"]:
    if tabs["Overview"].open:
        st.markdown(
            "**How to read it:** the target for every column is the **retrain** row, not the "
            "highest number — a method is good when it lands close to retrain (small *gap to "
            "retrain*) and takes a small part of its time (small *time / retrain*)."
        )
        rows = P.metric_rows(comp)
        columns, repair_tables = columns_for(rows, METRIC_TABLE), {}
        if scenario:  # the repair scores in tables of their own: one would not fit 1024 px
            columns, repair_tables = split_repair(columns)
        show_table(rows, columns)
        if ref is None:
            st.warning(
                "No retrained reference in this comparison: gaps and speed-ups are blank. "
                "Run it again with *Retrain* switched on to read the others against it."
            )
        if scenario:  # a repair run: attack success and restoration beside retrain and clean
            repair_charts(comp, data, rows, repair_tables)
        # one chart per row: legible at 1024 px, and every chart keeps each method's colour
        chart(_bars(P.accuracy_bars(comp)), key=CMP.ACC)
        for key, title, unit, spec, extra in (
            (
                "mia",
                "MIA efficacy (target: retrain's)",
                "forget samples called unseen (%)",
                ".1f",
                {},
            ),
            (
                "avg_gap",
                "Average gap to retrain (lower is better, 0 = retrain)",
                "percentage points",
                ".2f",
                {"reference_line": False, "with_original": False},
            ),
            ("loss_auc", "Loss-attack AUC (target: retrain's)", "AUC", ".3f", {}),
        ):
            fig = P.metric_bars(comp, key, title, unit=unit, spec=spec, **extra)
            chart(_bars(fig, key), key=CHART_KEYS[key])
        chart(P.time_bars(comp), key=CMP.TIME)

# ---------------------------------------------------------------- per class
with tabs["Per class"]:
    if tabs["Per class"].open:
        chart(P.per_class_chart(comp, data.classes), key=CMP.PER_CLASS)
        st.caption(
            "Test accuracy per class before (original) and after each method; retrain is the "
            "target. A forgotten class should drop to retrain's level while the others stay."
        )

# ---------------------------------------------------------------- embeddings
with tabs["Embeddings"]:
    if tabs["Embeddings"].open:
        method = pick_method("feature space")
        if method is not None:
            show_embeddings(cid, method, data, split)

# ---------------------------------------------------------------- attributions
with tabs["Attributions"]:
    if tabs["Attributions"].open:
        method = pick_method("attributions")
        if method is not None:
            if scenario:  # a repair run: a triggered image before and after; the forget
                repair_attributions(cid, method, data, comp)  # samples as the models saw them
            seen = repair_inputs(cid, data, comp) if scenario else data
            show_attributions(cid, method, seen, split)

# ---------------------------------------------------------------- prediction matrices
with tabs["Predictions"]:
    if tabs["Predictions"].open:
        st.caption(
            "Confusion matrix on the test set per model (row = true class, numbers = counts, "
            "shade = share of the row). After forgetting a class, its row should spread out "
            "like retrain's."
        )
        shown = [comp.original, *[r for r in comp.results if r.ok]]
        for start in range(0, len(shown), 2):  # two a row: a third is too narrow at 1024 px
            cols = st.columns(2)
            for col, r in zip(cols, shown[start : start + 2], strict=False):
                cm = r.metrics.get("confusion_test")
                if cm is not None:
                    with col:
                        chart(
                            P.confusion_heatmap(np.asarray(cm), data.classes, r.label),
                            key=CMP.CM.of(r.method),
                        )

# ---------------------------------------------------------------- layer similarity
with tabs["Layers"]:
    if tabs["Layers"].open:
        method = pick_method("layers")
        if method is not None:
            try:
                cka = D.layer_cka(cid, method, data)
            except ValueError as exc:
                st.info(
                    f"No layer-wise similarity for {comp.get(method).label}: {clause(str(exc))}."
                )
                cka = None
            if cka:
                layers = list(next(iter(cka.values())))
                chart(
                    P.cka_chart(layers, {k: list(v.values()) for k, v in cka.items()}),
                    key=CMP.CKA,
                )
            st.caption(
                "Linear CKA of each layer's activations on the test set: 1 = the same "
                "representation up to rotation and scale. Compare the unlearned model with the "
                "original and with retrain: many fast methods only change the last layers."
            )

# ---------------------------------------------------------------- LRP neurons
if "Neurons" in tabs:
    with tabs["Neurons"]:
        if tabs["Neurons"].open:
            for r in lrp_results:
                log = r.log
                said = describe_log(log, list(data.classes), r.metrics.get("forget_acc"))
                st.markdown(f"**{r.label}** {said}")
                per_class = log.get("per_class") or [
                    {"class": None, **{k: log[k] for k in ("relevance_mean", "neurons")}}
                ]
                for pc in per_class:
                    name = "" if pc["class"] is None else f" · class {data.classes[pc['class']]}"
                    fig = P.relevance_bars(
                        pc["relevance_mean"], pc["neurons"], counts=pc.get("counts")
                    )
                    fig.update_layout(title_text=f"Relevance per neuron{name}")
                    chart(fig, key=CMP.NEURONS.of(r.method, pc["class"]))
                st.caption(
                    "Top: mean LRP relevance of each unit for the images' predicted class; "
                    f"bottom: how often the unit was in an image's top-k. {FORGET_COLOUR_NAME.capitalize()}: "
                    f"the perturbed units; {OTHER_UNIT_COLOUR_NAME}: the others."
                )

# ---------------------------------------------------------------- decision boundary
if "Decision boundary" in tabs:
    with tabs["Decision boundary"]:
        if tabs["Decision boundary"].open:
            method = pick_method("decision boundary")
            if method is not None:
                grids = D.boundary_grids(cid, method, data)
                is_forget = np.zeros(data.n_train, dtype=bool)
                is_forget[split.forget_idx.numpy()] = True
                chart(
                    P.decision_boundary_panels(
                        grids,
                        data.x_train.numpy(),
                        data.y_train.numpy(),
                        is_forget,
                        data.classes,
                    ),
                    key=CMP.BOUNDARY,
                )
                st.caption(
                    f"Predicted class over the plane; {FORGET_MARKER_NAME} are the forget samples. "
                    "Compare the unlearned model's regions with retrain's."
                )

D.prefetch_umap(cid, data, split)  # the UMAP worker lays out retrain and original meanwhile

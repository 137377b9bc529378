"""Compare: what each method changed, read against the retrained model."""

import time

import numpy as np
import streamlit as st

from app_ui import jobs
from app_ui.common import (
    chart,
    comparison_registry,
    require_comparison,
    umap_process,
)
from app_ui.entry import through_app
from app_ui.registries import ATTRIBUTIONS_KEPT, attribution_grids, multi_registry, umap_frames
from app_ui.seeds import add_error_bars, mean_view
from app_ui.state import CMP
from app_ui.tables import Column, show_table
from app_ui.text import clause, split_summary
from unlearn_core.analysis.embeddings import BASE
from unlearn_core.evaluation.tables import RESULT_COLUMNS, columns_for
from unlearn_core.experiment import REFERENCE
from unlearn_core.methods.lrp_npp import describe_log
from unlearn_core.plots import results as P
from unlearn_core.plots import setup as P_setup
from unlearn_core.plots.style import FORGET_COLOUR_NAME
from unlearn_core.runtime.jobs import Job

through_app()  # a cold server's deep link runs the app's navigation first

#: the most training samples drawn in the embedding views (forget samples always included)
EMBED_MAX = 1500
#: attribution methods shown side by side
ATTR_METHODS = ("integrated_gradients", "saliency", "lrp")
#: the overview's metric table: the results-table spec the CLI and the HTML report share
METRIC_TABLE = RESULT_COLUMNS
#: the embedding-shift table, one row per model
SHIFT_TABLE = (
    Column("model", "model", text=True),
    Column("forget_mean", "forget: mean shift", "", ".3f"),
    Column("forget_median", "forget: median", "", ".3f"),
    Column("retain_mean", "retain: mean shift", "", ".3f"),
    Column("retain_median", "retain: median", "", ".3f"),
    Column("n_forget", "forget samples", "", ".0f"),
    Column("n_retain", "retain samples", "", ".0f"),
)

st.title("Compare: what changed, and how close to retraining")

comp, data, split, cid = require_comparison()
multi = multi_registry().get(cid)
if multi is not None:  # several seeds: headline numbers are means, detail tabs the first seed
    comp = mean_view(multi, comp)
models = comp.models()
ref = comp.reference
st.caption(
    f"{comp.dataset} · {comp.model} · forget {split_summary(split, data.classes)} · "
    f"device {comp.device}"
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


# ---------------------------------------------------------------- cached analyses
@st.cache_resource(max_entries=8)
def embedding_ids(comparison_id: str) -> np.ndarray:
    """The training samples drawn in the embedding views: every forget sample, then a seeded
    draw of retain samples up to :data:`EMBED_MAX` (the same for every method)."""
    forget = split.forget_idx.numpy()
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(np.arange(data.n_train), forget)
    room = max(EMBED_MAX - len(forget), 0)
    keep = rest if len(rest) <= room else rng.choice(rest, room, replace=False)
    return np.sort(np.concatenate([forget, keep]))


@st.cache_resource(max_entries=32, show_spinner="Reading the penultimate features…")
def model_features_of(comparison_id: str, name: str) -> np.ndarray:
    """One model's penultimate features of :func:`embedding_ids` (each model read once)."""
    from unlearn_core.analysis.embeddings import model_features

    model = comparison_registry()[comparison_id].models()[name]
    return model_features([model], data.x_train[embedding_ids(comparison_id)])[0]


@st.cache_resource(max_entries=16)
def embedding_inputs(comparison_id: str, method: str) -> dict:
    """Sample ids, labels, forget mask, features of original / method / retrain and PCA frame."""
    from unlearn_core.analysis.embeddings import pca_frame

    ms = comparison_registry()[comparison_id].models()
    ids = embedding_ids(comparison_id)
    names = [n for n in ("original", method, REFERENCE) if n in ms]
    feats = [model_features_of(comparison_id, n) for n in names]
    return {
        "ids": ids,
        "names": names,
        "labels": data.y_train[ids].numpy(),
        "is_forget": np.isin(ids, split.forget_idx.numpy()),
        "features": feats,
        "pca": pca_frame(feats),
    }


@st.cache_resource(max_entries=8, show_spinner="Measuring how far the samples moved…")
def shift_rows(comparison_id: str) -> dict:
    """Each model's per-sample displacement from the original's position, every model
    measured once on its own (its PCA frame rotated onto the original's), so no row depends on
    which method is being looked at. The ids are :func:`embedding_inputs`' sample."""
    from unlearn_core.analysis.embeddings import displacement, pca_frame

    c = comparison_registry()[comparison_id]
    ms = c.models()
    names = [n for n in ("original", *[r.method for r in c.results if r.ok]) if n in ms]
    ids = embedding_ids(comparison_id)
    is_forget = np.isin(ids, split.forget_idx.numpy())
    if len(names) < 2:
        return {"moved": {}, "is_forget": is_forget}
    feats = [model_features_of(comparison_id, n) for n in names]
    frames = pca_frame(feats)  # frame i depends only on model i and the original
    moved = dict(zip(names[1:], displacement(frames)[1:], strict=True))
    return {"moved": moved, "is_forget": is_forget}


def start_umap(comparison_id: str, method: str, inputs: dict, estimate: str) -> Job:
    from unlearn_core.runtime.estimates import eta_text

    def work(job: Job) -> dict:
        n, k = len(inputs["ids"]), len(inputs["names"])
        job.report(0.0, f"{n} samples x {k} models: waiting for the UMAP worker")
        named = dict(zip(inputs["names"], inputs["features"], strict=True))
        base = [b for b in BASE if b in named] or inputs["names"][:1]
        start = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            job.report(fraction, f"{message}{eta_text(fraction, time.perf_counter() - start)}")

        got = umap_process().frames(comparison_id, named, base, seed=0, progress=report)
        frames = [got[name] for name in inputs["names"]]
        umap_frames()[(comparison_id, method)] = {"frames": frames, "ids": inputs["ids"]}
        return {"frames": frames}

    tag, ctx = (comparison_id, method), {"estimate": estimate}
    return jobs.start(jobs.UMAP, f"UMAP for {method}", work, tag=tag, context=ctx)


def attributions(comparison_id: str, method: str, sample_ids: tuple[int, ...]) -> dict:
    """Attribution maps of original / method / retrain for the chosen samples; computed with
    an estimate first and a progress bar (time left) that moves per batch, then kept."""
    from unlearn_core.analysis.attributions import attribution_grid
    from unlearn_core.runtime.estimates import attribution_estimate, eta_text, observe

    key = (comparison_id, method, sample_ids)
    store = attribution_grids()
    if key in store:
        return store[key]
    ms = comparison_registry()[comparison_id].models()
    chosen = {n: ms[n] for n in ("original", method, REFERENCE) if n in ms}
    idx = list(sample_ids)
    est = attribution_estimate(len(idx), len(chosen), ATTR_METHODS, arch=comp.model)
    bar = st.progress(0.0, text=f"Computing attributions: {est.text()}")
    start = time.perf_counter()

    def report(fraction: float, message: str) -> None:
        left = eta_text(fraction, time.perf_counter() - start)
        bar.progress(min(fraction, 1.0), text=f"Attributions: {message}{left}")

    grid = attribution_grid(
        chosen, data.x_train[idx], data.y_train[idx], methods=ATTR_METHODS, batch_size=1,
        progress=report,
    )  # fmt: skip
    from unlearn_core.analysis.attributions import PASSES

    passes = len(idx) * len(chosen) * sum(PASSES[m] for m in ATTR_METHODS)
    observe(f"attribution_pass:{comp.model}", passes, time.perf_counter() - start)
    bar.empty()
    if len(store) >= ATTRIBUTIONS_KEPT:
        store.pop(next(iter(store)))
    store[key] = grid
    return grid


@st.cache_resource(max_entries=16, show_spinner="Comparing layer activations…")
def layer_cka(comparison_id: str, method: str) -> dict:
    from unlearn_core.analysis.similarity import layerwise_cka

    ms = comparison_registry()[comparison_id].models()
    x = data.x_test
    out = {"vs original": layerwise_cka(ms[method], ms["original"], x)}
    if REFERENCE in ms and method != REFERENCE:
        out["vs retrain"] = layerwise_cka(ms[method], ms[REFERENCE], x)
    return out


@st.cache_resource(max_entries=16, show_spinner="Evaluating the models over the plane…")
def boundary_grids(comparison_id: str, method: str) -> dict:
    from unlearn_core.analysis.boundary import decision_grid

    ms = comparison_registry()[comparison_id].models()
    return {
        n: decision_grid(ms[n], data.x_train) for n in ("original", method, REFERENCE) if n in ms
    }


def umap_progress(job: Job) -> None:
    """The UMAP job's progress; the page reruns when it is done, the UMAP frame replacing PCA."""
    est = jobs.context(job).get("estimate")
    jobs.progress(
        job,
        text=lambda j: f"Aligned UMAP: {j.message or 'running'}",
        extra=lambda j: st.caption(
            "The PCA frame below is shown meanwhile"
            + (f"; the UMAP frame takes {est} (estimate)." if est else ".")
        ),
    )


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
        show_table(rows, columns_for(rows, METRIC_TABLE))
        if ref is None:
            st.warning(
                "No retrained reference in this comparison: gaps and speed-ups are blank. "
                "Run it again with *Retrain* switched on to read the others against it."
            )
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
            inputs = embedding_inputs(cid, method)
            st.caption(
                f"Penultimate features of {len(inputs['ids'])} training samples "
                f"({int(inputs['is_forget'].sum())} forget samples, drawn as "
                f"{FORGET_COLOUR_NAME} crosses) under "
                "each model, projected into one frame so positions can be compared."
            )
            done = umap_frames().get((cid, method))
            if done is None:
                job = jobs.find(jobs.UMAP, (cid, method))
                if job is None:
                    from unlearn_core.runtime.estimates import umap_estimate

                    fresh = not any(k[0] == cid for k in umap_frames())
                    new = len(inputs["names"]) if fresh else 1
                    est = umap_estimate(len(inputs["ids"]), new)
                    job = start_umap(cid, method, inputs, est.text())
                if job.state in ("failed", "cancelled"):
                    st.warning(f"Aligned UMAP did not finish ({job.error}); showing PCA.")
                    if st.button("Try UMAP again", key=CMP.UMAP_RETRY):
                        jobs.drop(jobs.UMAP, (cid, method))
                        st.rerun()
                else:
                    umap_progress(job)
                frames, how = inputs["pca"], "PCA (aligned UMAP on its way)"
            else:
                frames, how = done["frames"], "aligned UMAP"
            named = dict(zip(inputs["names"], frames, strict=True))
            chart(
                P.embedding_panels(
                    named,
                    inputs["labels"],
                    inputs["is_forget"],
                    data.classes,
                    ids=inputs["ids"],
                    title=f"Penultimate features: {how}",
                ),
                key=CMP.EMBED,
            )
            from unlearn_core.analysis.embeddings import shift_summary

            shifts = shift_rows(cid)
            moved = shifts["moved"]
            shown = {n: moved[n] for n in (method, REFERENCE) if n in moved}
            chart(P.displacement_chart(shown, shifts["is_forget"]), key=CMP.MOVED)
            show_table(
                [{"model": n, **shift_summary(d, shifts["is_forget"])} for n, d in moved.items()],
                SHIFT_TABLE,
                notes=False,
            )
            st.caption(
                "Distance of each sample from where the original model put it, each model "
                "measured in its own PCA frame rotated onto the original's (so a row never "
                "depends on the method in view). Under retrain the forget samples move and the "
                "retain samples mostly stay; a method that leaves the forget samples in place "
                "changed its outputs, not its features."
            )

# ---------------------------------------------------------------- attributions
with tabs["Attributions"]:
    if tabs["Attributions"].open:
        method = pick_method("attributions")
        if method is not None:
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
            else:
                grid = attributions(cid, method, tuple(sorted(int(i) for i in picked)))
                st.caption(
                    "Integrated gradients, saliency and LRP for the true class, original vs "
                    "unlearned vs retrained. Red = evidence for the class, blue = against."
                )
                for msg in dict.fromkeys(grid.get("notes", {}).values()):
                    st.info(msg)
                for k, i in enumerate(sorted(int(i) for i in picked)):
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

# ---------------------------------------------------------------- prediction matrices
with tabs["Predictions"]:
    if tabs["Predictions"].open:
        st.caption(
            "Confusion matrix on the test set per model (row = true class, numbers = counts, "
            "shade = share of the row). After forgetting a class, its row should spread out "
            "like retrain's."
        )
        shown = [comp.original, *[r for r in comp.results if r.ok]]
        for start in range(0, len(shown), 3):
            cols = st.columns(3)
            for col, r in zip(cols, shown[start : start + 3], strict=False):
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
                cka = layer_cka(cid, method)
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
                st.markdown(f"**{r.label}** {describe_log(log, list(data.classes))}")
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
                    f"bottom: how often the unit was in an image's top-k. {FORGET_COLOUR_NAME.capitalize()} "
                    "units were perturbed."
                )

# ---------------------------------------------------------------- decision boundary
if "Decision boundary" in tabs:
    with tabs["Decision boundary"]:
        if tabs["Decision boundary"].open:
            method = pick_method("decision boundary")
            if method is not None:
                grids = boundary_grids(cid, method)
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
                    "Predicted class over the plane; black crosses are the forget samples. "
                    "Compare the unlearned model's regions with retrain's."
                )

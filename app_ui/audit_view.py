"""The Audit page's Streamlit parts: the run form (with its cost up front), a job's live
progress with Cancel, and the results: scores, the epsilon embedding with its instance view,
relearning curves. The sweep section is in :mod:`app_ui.sweep_view`. Figures come from
:mod:`unlearn_core.plots.audit`."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from app_ui import jobs
from app_ui.audit_jobs import (
    ShownAudit,
    audit_estimate,
    current_audit,
    ray_available,
    start_audit,
)
from app_ui.audit_lenses_view import lens_choice, show_drilldown, show_lenses
from app_ui.common import chart
from app_ui.jobs import JobKind
from app_ui.registries import SharedCache
from app_ui.state import ARCH, AU, AU_INSTANCE, DATASET, RECIPE, TRAIN_SEED
from app_ui.tables import Column, show_table
from app_ui.text import clause
from unlearn_core.audit.executors import default_workers
from unlearn_core.audit.pipeline import DEFAULT_MODELS
from unlearn_core.audit.records import RELEARN_TARGET
from unlearn_core.audit.recovery import NOT_MEASURABLE, RelearnCurve, recovery_summary
from unlearn_core.data import Dataset
from unlearn_core.experiment import REFERENCE
from unlearn_core.forget import ForgetRequest, ForgetSplit, make_split
from unlearn_core.methods import list_methods
from unlearn_core.plots import audit as P
from unlearn_core.runtime.estimates import format_duration
from unlearn_core.selection import ids_from_selection
from unlearn_core.training import TrainConfig

#: the relearning choices: label -> ``run_audit``'s ``relearn``
RELEARN_CHOICES = {"off": None, "forget samples": "forget", "retain only": "retain"}
#: retained samples drawn behind the forget samples on the embedding
CONTEXT_SAMPLES = 600
#: the methods preselected (those the issue's CLI example names, where offered)
DEFAULT_AUDIT_METHODS = ("scrub", "salun", "finetune")

SCORE_COLUMNS = (
    Column("method", "model", text=True),
    Column("forget_quality", "forget quality", fmt=".3f",
           help="NeurIPS-23 score over the K models (0-1, higher: closer to retrain)"),
    Column("final_score", "final score", fmt=".3f",
           help="forget quality x retain and test accuracy ratios to retrain"),
    Column("privacy_score", "worst-case privacy", fmt=".3f",
           help="Unlearning Comparator's single-model score (1: no threshold attack tells "
           "it from retrain)"),
    Column("forget_acc", "forget acc", "%"),
    Column("retain_acc", "retain acc", "%"),
    Column("test_acc", "test acc", "%"),
    Column("mia", "MIA", "%"),
    Column("relearning", "relearning", text=True,
           help="median over the seeds of the steps to the relearning target and the Anamnesis "
           "Index (steps / retrain's; 1: like retrain); 'not measurable' when retrain starts "
           "near the original (see Relearning below)"),
    Column("failed_models", "failed models", fmt=".0f"),
)  # fmt: skip


def audit_options(split: ForgetSplit) -> dict[str, str]:
    """name -> label of the methods an audit offers (the demonstration included, labelled)."""
    specs = [s for s in list_methods(demonstrations=True) if s.name != REFERENCE]
    return {s.name: s.label for s in specs if split.is_class_wise or "forget_class" not in s.needs}


# ------------------------------------------------------------------ form
def audit_form(data: Dataset, entry: dict, split: ForgetSplit) -> None:
    """Methods, K, seed, executor, relearning, the estimate, and Run."""
    options = audit_options(split)
    AU.METHODS.setdefault([m for m in DEFAULT_AUDIT_METHODS if m in options])
    AU.METHODS.set([m for m in AU.METHODS.get() if m in options])
    AU.K.setdefault(DEFAULT_MODELS)
    AU.SEED.setdefault(int(TRAIN_SEED.get()))
    AU.WORKERS.setdefault(default_workers())
    methods = st.multiselect(
        "Methods to audit", list(options), key=AU.METHODS, format_func=options.get
    )
    cols = st.columns(4)
    with cols[0]:
        k = int(
            st.number_input(
                "K (models per side)", 2, 64, step=1, key=AU.K,
                help="The audit trains K originals and K retrained models and runs each "
                "method on each original. More models resolve epsilon finer, at K times the cost.",
            )
        )  # fmt: skip
    with cols[1]:
        seed = int(
            st.number_input(
                "First seed", 0, 2**31 - 1, step=1, key=AU.SEED,
                help="Seeds run from this one up; with your model's training seed, the first "
                "original is your model's recipe and seed.",
            )
        )  # fmt: skip
    with cols[2]:
        executors = ["local"] + (["ray"] if ray_available() else [])
        executor = st.radio(
            "Executor", executors, key=AU.EXECUTOR, horizontal=True,
            help=None if len(executors) > 1 else "Ray is offered when it is installed "
            '(pip install -e ".[ray]").',
        )  # fmt: skip
    with cols[3]:
        workers = int(
            st.number_input(
                "Workers", 1, max(default_workers(), 1), step=1,
                key=AU.WORKERS, help="Parallel processes (one torch thread each).",
            )
        )  # fmt: skip
    relearn_label = st.radio(
        "Relearning attack", list(RELEARN_CHOICES), key=AU.RELEARN, horizontal=True,
        help="Fine-tune every seed's models on a few forget samples (plus retain samples), or "
        "on retain samples only, and count the steps until forget accuracy (on the forget "
        "samples not relearned on) reaches a target relative to retrain's start.",
    )  # fmt: skip
    relearn = RELEARN_CHOICES[relearn_label]
    metrics, attacks = lens_choice()
    recipe = TrainConfig.from_dict(RECIPE.get())
    running = jobs.running(jobs.AUDIT) is not None
    if methods and not running:
        est = audit_estimate(
            data, split, ARCH.get(), recipe, list(methods), k, workers, relearn is not None
        )
        st.caption(f"Estimated time: {est.text()} ({est.basis}).")
    if st.button(
        "Run the audit", key=AU.RUN, type="primary", disabled=running or not methods,
        help="Runs in the background; the result is stored in the run store.",
    ):  # fmt: skip
        start_audit(
            data=data, spec=dict(DATASET.get()), arch=ARCH.get(), recipe=recipe, split=split,
            methods=list(methods), models=k, seed=seed, executor=executor, workers=workers,
            relearn=relearn, metrics=metrics, attacks=attacks,
        )  # fmt: skip
        st.rerun()


def job_progress(kind: JobKind, cancel_key: str) -> None:
    """A running audit or sweep job's progress (moving) and Cancel; a finished one's outcome.
    The job may have been started in another session (the URL's ``ajob`` / ``sjob``)."""
    job = jobs.adopt(kind)  # a finished job's stored result becomes the shown one (once)
    if job is None:
        return
    if not job.done:
        toast = "Cancelling: work already started finishes, the rest is not run."
        jobs.progress(job, cancel_key=cancel_key, toast=toast)
    elif job.state == "failed":
        st.error(f"It failed: {clause(job.error or 'no reason given')}.")
    elif job.state == "cancelled":
        st.warning("Cancelled: what had finished is shown below; the rest was not run.")
    elif job.error:
        st.warning(clause(job.error) + ".")


# ------------------------------------------------------------------ results
def score_rows(result) -> list[dict]:
    rows = [result.reference_row("original"), result.reference_row(REFERENCE)]
    rows += [{**result.method_row(m), "method": m.label} for m in result.methods]
    if result.relearn_mode:
        spread = {s.model: s for s in result.relearn_spread()}
        names = ["original", REFERENCE, *(m.method for m in result.methods)]
        for name, row in zip(names, rows, strict=True):
            row["relearning"] = _relearn_cell(spread.get(name))
    return rows


def _relearn_cell(s) -> str | None:
    if s is None or not s.seeds:
        return None
    if s.status == NOT_MEASURABLE:
        return NOT_MEASURABLE
    return f"{s.steps_text().split(' (')[0]} steps · AIN {s.ain_text().split(' (')[0]}"


def show_scores(result) -> None:
    st.markdown("#### Scores against retrain")
    k = result.models_per_side
    q = next((m.quality for m in result.methods if m.quality), None)
    top = f"; with K = {k} the largest finite epsilon is {q.max_finite_epsilon:.2f}" if q else ""
    st.caption(
        "How to read it: forget quality near 1 means each forget sample's outputs under the K "
        "unlearned models cannot be told from the K retrained models' (per-sample epsilon near "
        f"0){top}. The original and retrain rows are the references (mean over their K models)."
    )
    rows = score_rows(result)
    failed = any(r.get("failed_models") for r in rows)
    show_table(rows, [c for c in SCORE_COLUMNS if failed or c.key != "failed_models"])
    for m in result.methods:
        if m.error:
            st.error(f"{m.label}: {clause(m.error)}.")
    if result.cancelled:
        st.warning("This audit was cancelled: the models not run are counted as failed.")


def _split_of(shown: ShownAudit) -> ForgetSplit:
    return make_split(shown.data, ForgetRequest.from_dict(shown.result.forget))


def _first_original(aid: str, shown: ShownAudit, entry: dict | None):
    """The first seed's original: the session's model when it has the audit's recipe, seed,
    architecture and dataset, else trained again with them (once per server)."""
    r = shown.result
    same = (
        entry is not None
        and ARCH.get() == r.model
        and int(TRAIN_SEED.get()) == r.seeds[0]
        and TrainConfig.from_dict(RECIPE.get()).to_dict() == r.train_config
        and DATASET.get() == shown.spec
    )
    if same:
        return entry["model"], "your trained model (the audit's recipe and first seed)"

    def train():
        from unlearn_core.training import train_new_model

        with st.spinner("Training the audit's first original for the embedding…"):
            return train_new_model(
                shown.data, r.model, TrainConfig.from_dict(r.train_config), seed=r.seeds[0]
            )[0]

    model = _originals().get_or_build(aid, train)  # once, whichever sessions ask at once
    return model, f"the audit's first original (seed {r.seeds[0]}, trained again here)"


@st.cache_resource
def _originals() -> SharedCache:
    """audit id -> its first original, trained again (the least recently used dropped)."""
    return SharedCache("models")


@st.cache_resource
def _frames() -> SharedCache:
    """(audit id, frame kind) -> (ids, 2-D coordinates, axis titles)."""
    return SharedCache("embeddings")


def _frame(aid: str, shown: ShownAudit, model, kind: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    def build() -> tuple[np.ndarray, np.ndarray, tuple]:
        from unlearn_core.analysis.embeddings import model_features, pca_frame

        split = _split_of(shown)
        rng = np.random.default_rng(0)
        retain = split.retain_idx.numpy()
        ctx = np.sort(rng.choice(retain, min(CONTEXT_SAMPLES, len(retain)), replace=False))
        ids = np.concatenate([np.asarray(shown.result.forget_ids), ctx])
        feats = model_features([model], shown.data.x_train[torch.as_tensor(ids)])[0]
        if kind == "UMAP":
            from app_ui.common import umap_process

            xy = umap_process().fit([feats])[0]
            axes = ("UMAP 1", "UMAP 2")
        else:
            xy = pca_frame([feats])[0]
            axes = ("PC 1 of the features", "PC 2")
        return ids, np.asarray(xy), axes  # whole before any session sees it

    return _frames().get_or_build((aid, kind), build)  # once, whole, for every session


def show_embedding(aid: str, shown: ShownAudit, entry: dict | None) -> None:
    r = shown.result
    scored = [m for m in r.methods if m.quality]
    st.markdown("#### Where the hard samples are: epsilon on the embedding")
    if not scored:
        st.info("No method has per-sample epsilons (none finished on enough models).")
        return
    cols = st.columns([2, 1])
    with cols[0]:
        method = st.selectbox(
            "Epsilons of", [m.method for m in scored], key=AU.EMB_METHOD,
            format_func=lambda n: r.get(n).label,
        )  # fmt: skip
    with cols[1]:
        kind = st.radio("Frame", ["PCA", "UMAP"], key=AU.FRAME, horizontal=True)
    model, source = _first_original(aid, shown, entry)
    with st.spinner(f"Computing the {kind} frame…"):
        ids, xy, axes = _frame(aid, shown, model, kind)
    n_f = len(r.forget_ids)
    q = r.get(method).quality
    names = shown.data.classes
    labels = [str(names[int(y)]) for y in shown.data.y_train[torch.as_tensor(ids)].tolist()]
    # a click reruns the page with the selection already in the widget's state: resolve it
    # first (a forget point drawn over a retained sample wins), so the figure rings it
    picked = ids_from_selection(AU.SCATTER.get())
    if picked:
        AU_INSTANCE.set(P.clicked_sample(picked, xy[:n_f], ids[:n_f], context_xy=xy[n_f:],
                                         context_ids=ids[n_f:]))  # fmt: skip
    fig = P.epsilon_embedding(
        xy[:n_f], ids[:n_f], q.epsilons, labels[:n_f],
        context_xy=xy[n_f:], context_ids=ids[n_f:], context_labels=labels[n_f:],
        epsilon_max=q.max_finite_epsilon,
        title=f"Per-sample epsilon of {r.get(method).label} on the features of the original",
        axes=axes, opened=AU_INSTANCE.get(),
    )  # fmt: skip
    st.caption(
        f"How to read it: each coloured point is a forget sample on {source}'s features; dark "
        "red = its outputs under this method's models are easy to tell from retrained models' "
        f"(high epsilon; colours saturate at {max(q.max_finite_epsilon, P.EPSILON_FLOOR):.2f}; "
        f"K = {r.models_per_side} models resolve epsilons up to {q.max_finite_epsilon:.2f} short "
        "of full separation). Click any point for its instance view."
    )
    chart(fig, AU.SCATTER, tools=True, on_select="rerun", selection_mode=("points",))
    if AU_INSTANCE.get() is not None:
        instance_view(shown, int(AU_INSTANCE.get()), method)


def instance_probabilities(shown: ShownAudit, sample: int, method: str) -> dict[str, np.ndarray]:
    """The class probabilities of training sample ``sample`` under the first seed's original,
    unlearned (``method``) and retrained models, from the logits the audit kept."""
    r = shown.result
    if sample in r.forget_ids:
        part, row = "forget", r.forget_ids.index(sample)
    else:
        retain = _split_of(shown).retain_idx.tolist()
        if sample not in retain:
            raise ValueError(f"sample {sample} is not in this audit's training set")
        part, row = "retain", retain.index(sample)
    out = {}
    for name in ("original", method, REFERENCE):
        logits = r.logits.get(name)
        if logits is not None:
            out[name] = torch.softmax(torch.tensor(getattr(logits, part)[row]), 0).numpy()
    return out


def instance_view(shown: ShownAudit, sample: int, method: str) -> None:
    data, r = shown.data, shown.result
    if not 0 <= sample < data.n_train:
        st.warning(f"Sample {sample} is not in this dataset.")
        return
    probs = instance_probabilities(shown, sample, method)
    label = int(data.y_train[sample])
    where = "forget" if sample in r.forget_ids else "retained"
    st.markdown(f"##### Sample {sample} · class {data.classes[label]} · {where}")
    cols = st.columns([1, 4])
    with cols[0]:
        if data.kind == "image":
            st.image(data.image(sample), width=120, caption=f"sample {sample}")
        else:
            vec = data.x_train[sample].flatten().tolist()
            st.table({"feature": list(range(len(vec))), "value": [f"{v:.3f}" for v in vec]})
        if where == "forget":
            m = r.get(method)
            eps = m.quality.epsilons[r.forget_ids.index(sample)] if m and m.quality else None
            text = "—" if eps is None else f"{eps:.2f}"
            if eps is not None and eps > m.quality.max_finite_epsilon:
                text += " (told apart by every threshold: beyond what K models resolve)"
            st.caption(f"epsilon: {text}")
    with cols[1]:
        fig = P.instance_probabilities(
            probs, data.classes, label=label, labels={method: f"unlearned: {method}"},
            title=f"Class probabilities of sample {sample} under each model (first seed)",
        )  # fmt: skip
        chart(fig, AU.INSTANCE_CHART)
    st.caption(
        "How to read it: a forgotten sample should get about the probabilities retrain gives "
        "it; an unlearned model that still favours the true class, like the original, kept it."
    )


def relearn_curves(result, seed: int | None = None) -> list[RelearnCurve]:
    """One seed's finished curves (default: the first): original, retrain, each method."""
    return result.relearn_curves_of(seed)


def show_relearning(result) -> None:
    st.markdown("#### Relearning: does the forgotten data come back?")
    if not result.relearn_mode:
        st.caption("Not run for this audit (choose a relearning attack before running).")
        return
    if not relearn_curves(result):
        st.warning("No relearning curve finished.")
        return
    what = (
        "a few forget samples plus retain samples"
        if result.relearn_mode == "forget"
        else ("retain samples only")
    )
    legacy = any(c.scored is None for c in result.relearn_curves)
    st.caption(
        f"How to read it: every seed's original, retrain and unlearned models are fine-tuned on "
        f"{what}. Target: {RELEARN_TARGET}. A method that reaches it much faster than retrain "
        "(Anamnesis Index well below 1) did not remove the knowledge, whatever its forget "
        "accuracy says; where retrain already starts at the target (a random request it "
        "predicts by generalising) the result is not measurable, for every model."
        + (
            " This audit was stored before relearning scored only the forget samples not "
            "relearned on and ran every seed: its curves are the first seed's, scored on every "
            "forget sample."
            if legacy
            else ""
        )
    )
    labels = {m.method: m.label for m in result.methods}
    spreads = result.relearn_spread()
    show_table(
        [
            {
                "model": labels.get(x.model, x.model),
                "measured": f"{x.measurable} of {x.seeds}",
                "steps": x.steps_text(),
                "ain": x.ain_text(),
                "reading": x.reading,
            }
            for x in spreads
        ],
        (
            Column("model", "model", text=True),
            Column("measured", "seeds measured", text=True,
                   help="seeds on which retrain starts below the target (the others are not "
                   "measurable)"),
            Column("steps", "steps to target: median (range)", text=True,
                   help=">budget: not reached within the budget"),
            Column("ain", "AIN: median (range)", text=True,
                   help="steps / retrain's steps on the same seed; <= or >=: a bound (one side "
                   "did not reach the target within the budget)"),
            Column("reading", "reading", text=True),
        ),
        notes=False,
    )  # fmt: skip
    if any(x.measurable for x in spreads):
        fig = P.recovery_spread(spreads, title="Relearning over the seeds", labels=labels)
        chart(fig, AU.RELEARN_SPREAD)
    seeds = list(dict.fromkeys(c.seed for c in result.relearn_curves if c.ok))
    seed = seeds[0]
    if len(seeds) > 1:
        seed = st.selectbox("Seed whose curves are drawn", seeds, key=AU.RELEARN_SEED)
    curves = relearn_curves(result, seed)
    fig = P.recovery_curves(
        curves, title=f"Forget accuracy while relearning (seed {seed})", labels=labels
    )
    chart(fig, AU.RELEARN_CHART)
    rows = [
        {**s.to_dict(), "model": labels.get(s.model, s.model)} for s in recovery_summary(curves)
    ]
    show_table(
        rows,
        (
            Column("model", "model", text=True),
            Column("status", "status", text=True),
            Column("steps_to_recover", "steps to target", fmt=".0f"),
            Column("ain", "AIN", fmt=".2f"),
            Column("reading", "reading", text=True),
        ),
        notes=False,
    )


def show_audit(aid: str, shown: ShownAudit, entry: dict | None) -> None:
    r = shown.result
    st.subheader("Results")
    st.caption(
        f"{r.dataset} / {r.model}, forget {r.forget.get('description', '')}, K = "
        f"{r.models_per_side} (seeds {r.seeds[0]}–{r.seeds[-1]}), {r.executor} with "
        f"{r.workers} worker(s), {format_duration(r.seconds or 0.0)}"
        + (f" · stored as `{aid}`" if shown.stored else " · not stored")
        + (f" · {reuse}" if (reuse := getattr(r, "reuse_line", lambda: "")()) else "")
    )
    show_scores(r)
    show_embedding(aid, shown, entry)
    show_relearning(r)
    show_lenses(shown)
    show_drilldown(shown)


__all__ = [
    "RELEARN_CHOICES",
    "SCORE_COLUMNS",
    "audit_form",
    "audit_options",
    "current_audit",
    "instance_probabilities",
    "job_progress",
    "relearn_curves",
    "score_rows",
    "show_audit",
]

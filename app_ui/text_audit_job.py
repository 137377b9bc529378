"""The many-model audit on the Audit page for text (issue 22): the form (language methods, a
small K, the lenses), its estimate from the measured per-model cost
(:func:`unlearn_core.text.audit_scores.estimate_seconds`), the queued job (the image audit's:
``app_ui.audit_jobs.start_audit`` -> ``job_calls.audit`` in a job worker process, progress
and Cancel by ``audit_view.job_progress``) and the stored result's scores and lenses. What each
lens reads on a language model (the true answer's sequence log-likelihood) is said in
:mod:`unlearn_core.text.audit_scores`."""

from __future__ import annotations

import streamlit as st

from app_ui import jobs
from app_ui.audit_jobs import current_audit, start_audit
from app_ui.audit_lenses_view import lens_choice, show_lenses
from app_ui.audit_view import job_progress, show_scores
from app_ui.registries import ShownAudit
from app_ui.state import ARCH, AU, DATASET, RECIPE, TRAIN_SEED
from app_ui.tables import Column, show_table
from unlearn_core.audit import drilldown as D
from unlearn_core.audit.executors import default_workers
from unlearn_core.forget import ForgetSplit
from unlearn_core.methods import list_methods
from unlearn_core.runtime.estimates import Estimate, format_duration
from unlearn_core.text.audit_scores import ARCH as TEXT_ARCH
from unlearn_core.text.audit_scores import estimate_seconds
from unlearn_core.training import TrainConfig

#: the K offered on text (each model is a tinylm trained from scratch)
K_CHOICES = (2, 3, 4)
#: methods chosen at first
DEFAULT_METHODS = ("npo",)
#: forget questions listed in the result, least like retraining first
SHOWN = 8

TEXT_AUDIT_INTRO = (
    "The audit trains K tinylm originals and K retrained models, runs each method on every "
    "original, and asks per forget question whether the unlearned models can be told from "
    "the retrained ones. On text each lens reads the model's log-likelihood of the true "
    "answer (the sum over its tokens) where a classifier's lens reads the true class's score: "
    "our adaptation of lenses defined for classifiers. Every model trains from scratch, so K "
    "is kept small here: the estimate below comes from the measured cost of one tinylm."
)


def text_audit_options() -> dict[str, str]:
    """name -> label of the language methods an audit offers on text."""
    return {s.name: s.label for s in list_methods("language")}


def text_audit_estimate(data, recipe: TrainConfig, methods: list[str], k: int,
                        workers: int) -> Estimate:  # fmt: skip
    """The quiet figure as the estimate, the loaded one as the top of its range."""
    quiet, loaded = estimate_seconds(data, recipe.epochs, k, len(methods), workers)
    basis = (
        f"{2 * k} tinylm trainings and {k * len(methods)} unlearning runs over {workers} "
        "worker(s), from the measured cost of one tinylm (quiet 2-core machine; the top of "
        "the range: under a load of 7-10)"
    )
    return Estimate(seconds=quiet, basis=basis, low=quiet, high=loaded)


def audit_section(data, split: ForgetSplit | None) -> None:
    """The form (with a forget set in use), the running job, and the shown text audit."""
    st.subheader("Many-model audit (K models per side)")
    st.caption(TEXT_AUDIT_INTRO)
    if split is None:
        st.info("Mark a forget set on the Forget set page to audit it.")
    else:
        _form(data, split)
    job_progress(jobs.AUDIT, AU.CANCEL)
    shown = current_audit()
    if shown is not None and shown[1].result.model == TEXT_ARCH:
        show_text_audit(*shown)


def _form(data, split: ForgetSplit) -> None:
    options = text_audit_options()
    AU.METHODS.setdefault([m for m in DEFAULT_METHODS if m in options])
    AU.METHODS.set([m for m in AU.METHODS.get() if m in options])
    if AU.K.get() not in K_CHOICES:
        AU.K.set(K_CHOICES[0])
    methods = st.multiselect(
        "Methods to audit", list(options), key=AU.METHODS, format_func=options.get
    )
    c1, c2 = st.columns(2)
    with c1:
        k = int(
            st.select_slider(
                "K (models per side)", K_CHOICES, key=AU.K,
                help="K originals and K retrained tinylm models, each trained from scratch; "
                "each method runs on every original.",
            )
        )  # fmt: skip
    with c2:
        workers = max(1, min(default_workers(), 2 * k))
        st.metric("Workers", workers, help="Parallel processes (one torch thread each).")
    metrics, attacks = lens_choice()
    recipe = TrainConfig.from_dict(RECIPE.get())
    running = jobs.running(jobs.AUDIT) is not None
    if methods and not running:
        est = text_audit_estimate(data, recipe, list(methods), k, workers)
        st.caption(
            f"Estimated time: about {format_duration(est.seconds)} on a quiet machine, up to "
            f"{format_duration(est.high or est.seconds)} when the machine is busy ({est.basis})."
        )
    if st.button(
        "Run the audit", key=AU.RUN, type="primary", disabled=running or not methods,
        help="Runs in the background as a queued job; the result is stored in the run store.",
    ):  # fmt: skip
        start_text_audit(data, split, list(methods), k, workers, metrics, attacks, recipe)
        st.rerun()


def start_text_audit(data, split: ForgetSplit, methods: list[str], k: int, workers: int,
                     metrics, attacks, recipe: TrainConfig):  # fmt: skip
    """The audit job on text (the image audit's job path, with the text estimate)."""
    return start_audit(
        data=data, spec=dict(DATASET.get() or {}), arch=ARCH.get() or TEXT_ARCH, recipe=recipe,
        split=split, methods=methods, models=k, seed=int(TRAIN_SEED.get() or 0),
        executor="local", workers=workers, relearn=None, metrics=metrics,
        attacks=[a for a in attacks if a != "relearn"],
        estimate=text_audit_estimate(data, recipe, methods, k, workers),
    )  # fmt: skip


def question_rows(shown: ShownAudit, method: str) -> list[dict]:
    """The forget questions ``method``'s models read least like retraining (KLoM, then
    epsilon), with their per-question lens values."""
    r, data = shown.result, shown.data
    rows = []
    for sample in D.sample_order(r, method)[:SHOWN]:
        d = D.drill(r, method, sample)
        qa = data.qa_train[sample] if data is not None else None
        rows.append(
            {
                "question": qa.question if qa else str(sample),
                "answer": qa.answer if qa else "",
                "klom": d.klom,
                "epsilon": d.epsilon,
                "ulira": d.ulira_acc,
                "rmia": d.rmia_auc,
            }
        )
    return rows


def show_text_audit(aid: str, shown: ShownAudit) -> None:
    r = shown.result
    st.markdown("#### Audit result")
    st.caption(
        f"{r.dataset} / {r.model}, forget {r.forget.get('description', '')}, K = "
        f"{r.models_per_side} (seeds {r.seeds[0]}–{r.seeds[-1]}), "
        f"{format_duration(r.seconds or 0.0)}"
        + (f" · stored as `{aid}`" if shown.stored else " · not stored")
    )
    show_scores(r)
    show_lenses(shown)
    methods = [m.method for m in r.methods if D.has_drilldown(r, m.method)]
    if not methods or shown.data is None:
        return
    label = r.get(methods[0]).label
    st.markdown(f"##### The forget questions {label} reads least like retraining")
    show_table(
        question_rows(shown, methods[0]),
        [
            Column("question", "question", text=True),
            Column("answer", "answer", text=True),
            Column("klom", "KLoM", fmt=".2f"),
            Column("epsilon", "epsilon", fmt=".2f"),
            Column("ulira", "U-LiRA (%)", fmt=".0f"),
            Column("rmia", "RMIA AUC", fmt=".2f"),
        ],
        notes=False,
    )

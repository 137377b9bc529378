"""Page 3 · Unlearn: choose methods and their settings, run them (with retrain as reference)."""

from __future__ import annotations

import streamlit as st

from app_ui import jobs
from app_ui.common import (
    comparison_estimate_text,
    current_comparison,
    current_split,
    page_link,
    require_data_and_model,
)
from app_ui.entry import through_app
from app_ui.forget_summary import active_repair, in_use_summary
from app_ui.persist import forget_id_for, save_model_entry
from app_ui.repair_view import repair_note
from app_ui.runjobs import start_comparison
from app_ui.seeds import cancelled_message
from app_ui.state import (
    ARCH,
    CHOSEN_METHODS,
    COMPARISON_ID,
    DATASET,
    FORGET,
    INCLUDE_RETRAIN,
    METHODS,
    MODEL_KEY,
    P3,
    RUN_ASAP,
    TRAIN_SEED,
    UNLEARN_N_SEEDS,
    UNLEARN_SEED,
    WRITTEN_P3,
    bind,
    wrote,
)
from app_ui.text import clause, split_summary
from app_ui.text_view import hidden_methods_note, method_specs
from app_ui.unlearn_view import param_control, show_results, show_status
from unlearn_core.experiment import REFERENCE
from unlearn_core.methods.base import preset_info
from unlearn_core.methods.robustness import robustness_cards
from unlearn_core.selection import default_methods
from unlearn_core.store import RunStoreError

through_app()  # a cold server's deep link runs the app's navigation first


def _bind(widget: str, value) -> None:
    bind(widget, value, WRITTEN_P3)


def _wrote(widget: str, value) -> None:
    wrote(widget, value, WRITTEN_P3)


# ------------------------------------------------------------------ prerequisites
st.title("Unlearn")
st.caption("Step 3: run unlearning methods on the forget set, with retraining as the reference.")

data, entry = require_data_and_model()
split = current_split(data)
if split is None:
    st.warning(
        "No forget set is in use yet: mark one on the Forget set page and press "
        "*Use this forget set*."
    )
    page_link("pages/forget_set.py", "Go to Forget set")
    st.stop()
st.markdown(
    f"**Model** · {ARCH.get()} ({entry['source']}, test acc {entry['test_acc']:.1f}%) · "
    f"**Forget set** · {in_use_summary(split, data.classes)}, {split.n_retain} retained"
)

# ------------------------------------------------------------------ methods and settings
specs = {s.name: s for s in method_specs(data) if s.name != REFERENCE}
if hidden_methods_note(data):  # text: the language methods, the image ones hidden
    st.caption(hidden_methods_note(data))
class_only = [n for n, s in specs.items() if "forget_class" in s.needs]
options = [n for n in specs if split.is_class_wise or n not in class_only]
if not split.is_class_wise and class_only:
    st.caption(
        "Not offered here: "
        + ", ".join(specs[n].label for n in class_only)
        + " — they forget whole classes only, and this forget set is "
        f"{split_summary(split, data.classes)}."
    )
# the box shows what the user chose last (an empty box included); defaults only before that
picked = CHOSEN_METHODS.get()
if picked is None:
    picked = default_methods(options, split.is_class_wise)
_bind(P3.METHODS, [m for m in picked if m in options])
if any(m not in options for m in P3.METHODS.get()):
    P3.METHODS.set([m for m in P3.METHODS.get() if m in options])
chosen = st.multiselect(
    "Methods",
    options,
    default=P3.METHODS.get(),
    key=P3.METHODS,
    format_func=lambda n: specs[n].label,
)  # fmt: skip (the default too: a widget drawn afresh starts at the session's value)
_wrote(P3.METHODS, list(chosen))
if CHOSEN_METHODS.get() is not None or list(chosen) != [m for m in picked if m in options]:
    CHOSEN_METHODS.set(list(chosen))

settings: dict[str, dict] = {}
for name in chosen:
    spec = specs[name]
    old = METHODS.get().get(name, {})
    preset = preset_info(name, ARCH.get())
    with st.expander(f"{spec.label} — how it works and its settings"):
        st.markdown(spec.summary)
        st.caption(f"{spec.family.capitalize()} unlearning · {spec.origin_text} · {spec.paper}")
        st.caption(
            f"Preset: **{preset.name}** ({preset.status}) — the settings start from it. "
            f"Source: {preset.source}"
        )
        kind = "class" if split.is_class_wise else "random"  # the card of this kind of request
        for card in [c for c in robustness_cards(name, ARCH.get()) if c.request == kind] or [None]:
            st.caption(
                f"On data splits it was not chosen on: {card.describe()}."
                if card
                else "Not yet measured on held-out data splits."
            )
        cols = st.columns(3)
        values = {}
        for k, p in enumerate(spec.params):
            key = P3.PARAM.of(name, p.name)
            value = old.get(p.name, preset.params.get(p.name, p.default))
            _bind(key, float(value) if p.type is float else value)
            with cols[k % 3]:
                values[p.name] = param_control(p, key)
            _wrote(key, values[p.name])
        if not spec.params:
            st.caption("No settings.")
    settings[name] = values
METHODS.set(settings)

_bind(P3.RETRAIN, bool(INCLUDE_RETRAIN.get()))
include_retrain = st.toggle(
    "Retrain from scratch as the reference", bool(INCLUDE_RETRAIN.get()), key=P3.RETRAIN
)
_wrote(P3.RETRAIN, include_retrain)
INCLUDE_RETRAIN.set(include_retrain)
if not include_retrain:
    st.info(
        "Without the retrained reference there is no gold standard: the gap to retrain and "
        "the time ratio (speed-up) are not available."
    )
cols = st.columns(2)
with cols[0]:
    _bind(P3.SEED, int(UNLEARN_SEED.get()))
    seed = int(st.number_input("Seed", 0, 2**31 - 1, int(UNLEARN_SEED.get()), step=1, key=P3.SEED))
    _wrote(P3.SEED, seed)
with cols[1]:
    _bind(P3.N_SEEDS, int(UNLEARN_N_SEEDS.get()))
    n_seeds = int(
        st.number_input(
            "Seeds (runs)",
            1,
            10,
            int(UNLEARN_N_SEEDS.get()),
            step=1,
            key=P3.N_SEEDS,
            help="How many times the whole comparison runs, with seeds Seed, Seed+1, ...; "
            "with more than one, each seed trains its own original model (yours stands for "
            "its own training seed) and the tables show mean ± standard deviation.",
        )
    )
    _wrote(P3.N_SEEDS, n_seeds)
UNLEARN_SEED.set(seed)
UNLEARN_N_SEEDS.set(n_seeds)
seeds = list(range(seed, seed + n_seeds))

# ------------------------------------------------------------------ run / progress / results
repair_note()
job = jobs.adopt(jobs.COMPARE)  # a finished run for this model and forget set is shown
running = job is not None and not job.done
plan = ([(REFERENCE, "Retrain from scratch")] if include_retrain else []) + [
    (n, specs[n].label) for n in chosen
]
if plan and not running:
    st.caption(comparison_estimate_text(data, split, list(chosen), include_retrain, n_seeds))
# the click is kept by a callback (at the start of the click's run: a newer run stopping
# that one cannot lose it); the flag is cleared once the job has started
clicked = st.button(
    "Run",
    key=P3.RUN,
    type="primary",
    disabled=running or not plan,
    help="Runs in background",
    on_click=RUN_ASAP.set,
    args=(True,),
)
if running:
    RUN_ASAP.pop()  # a click already served (its run was stopped after the start)
if (clicked or RUN_ASAP.get()) and plan and not running:
    spec_now = dict(DATASET.get())
    try:
        model_id = save_model_entry(
            entry, data, spec_now, arch=ARCH.get(), seed=int(TRAIN_SEED.get())
        )
        forget_id = forget_id_for(data, spec_now)
    except (RunStoreError, OSError) as exc:
        model_id = forget_id = None
        st.warning(f"The run store cannot be written ({exc}); the run is kept for this session.")
    ctx = {"model_key": MODEL_KEY.get(), "forget": FORGET.get(), "dataset": spec_now}
    job = start_comparison(
        data=data,
        spec=spec_now,
        entry=entry,
        arch=ARCH.get(),
        train_seed=int(TRAIN_SEED.get()),
        split=split,
        methods={n: dict(settings[n]) for n in chosen},
        seeds=seeds,
        include_retrain=include_retrain,
        plan=plan,
        model_id=None if active_repair() else model_id,  # a repair trains its own original
        forget_id=forget_id,
        ctx=ctx,
        repair=active_repair(),
    )
    RUN_ASAP.pop()
    st.rerun()

ctx = jobs.context(job)
if running:
    job_plan = [tuple(p) for p in ctx["plan"]]
    jobs.progress(
        job,
        extra=lambda j: show_status(job_plan, list(j.partial), live=True),
        cancel_key=P3.CANCEL,
        toast="Cancelling: the method now running stops within about a second.",
    )
elif job is not None:
    adopted_note = jobs.note(jobs.COMPARE)
    if adopted_note:
        st.info(adopted_note)
    if job.state == "failed":
        st.error(f"The run failed: {clause(job.error or 'no reason given')}.")
    elif job.state == "cancelled":
        st.warning(cancelled_message(ctx, job.partial, stored=bool(job.result)))
    elif job.error:
        st.warning(clause(job.error) + ".")

comp = current_comparison()
if comp is not None and not running:
    show_results(comp, COMPARISON_ID.get())

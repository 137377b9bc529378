"""The Audit page's Sweep section: search one method's registry knobs on the session's model
and forget set (a server-side job), show the trials and the gap against each knob, and apply
the best settings to the Unlearn page. The shown sweep is a stored one (``?sweep=ID``), so it
is drawn without a model or forget set too."""

from __future__ import annotations

import streamlit as st

from app_ui import jobs
from app_ui.audit_jobs import ShownSweep, current_sweep, start_sweep
from app_ui.audit_view import job_progress
from app_ui.common import chart, page_link
from app_ui.state import CHOSEN_METHODS, DATASET, METHODS, RECIPE, SW, TRAIN_SEED
from app_ui.tables import Column, show_table
from unlearn_core.audit.executors import default_workers
from unlearn_core.audit.sweep import SAMPLERS, SweepError, SweepResult, search_space, trials_table
from unlearn_core.data import Dataset
from unlearn_core.experiment import REFERENCE
from unlearn_core.forget import ForgetRequest, ForgetSplit
from unlearn_core.methods import list_methods
from unlearn_core.plots import audit as P
from unlearn_core.selection import default_methods
from unlearn_core.training import TrainConfig

#: trials offered by default (a grid of 3 x 3 over two knobs plus a few)
DEFAULT_TRIALS = 12


def tunable_methods(split: ForgetSplit) -> dict[str, str]:
    """name -> label of the unlearning methods with knobs the registry marks for search."""
    out = {}
    for s in list_methods():
        if s.name == REFERENCE or (not split.is_class_wise and "forget_class" in s.needs):
            continue
        try:
            search_space(s.name)
        except SweepError:
            continue
        out[s.name] = s.label
    return out


def apply_best(result: SweepResult, class_wise: bool) -> dict:
    """Write the best trial's settings where the Unlearn page reads a method's overrides
    (``methods[name]``) and add the method to its chosen methods (``class_wise``: the default
    methods of a class-wise request); returns the settings."""
    best = dict(result.best.params)
    methods = dict(METHODS.get() or {})
    methods[result.method] = {**methods.get(result.method, {}), **result.fixed, **best}
    METHODS.set(methods)
    chosen = CHOSEN_METHODS.get()
    if chosen is None:
        names = [s.name for s in list_methods() if s.name != REFERENCE]
        chosen = default_methods(names, class_wise)
    if result.method not in chosen:
        chosen = [*chosen, result.method]
    CHOSEN_METHODS.set(list(chosen))
    return best


def sweep_section(data: Dataset | None, entry: dict | None, split: ForgetSplit | None) -> None:
    """The run form (with a model and forget set), the sweep job's progress and the shown
    sweep; nothing at all when none of them applies."""
    job = jobs.of(jobs.SWEEP)
    ready = data is not None and entry is not None and split is not None
    if not ready and job is None and current_sweep() is None:
        return
    st.divider()
    st.subheader("Sweep: search a method's settings")
    st.caption(
        "Each trial runs the method with other settings on your model and forget set and "
        "scores its gap to one retrained model (mean absolute difference over forget, retain "
        "and test accuracy and MIA, in points; smaller is closer)."
    )
    if ready:
        sweep_form(data, entry, split, running=job is not None and not job.done)
    job_progress(jobs.SWEEP, SW.CANCEL)
    got = current_sweep()
    if got is not None:
        show_sweep(*got)


def sweep_form(data: Dataset, entry: dict, split: ForgetSplit, *, running: bool) -> None:
    options = tunable_methods(split)
    if not options:
        st.info("No method offered here has settings marked for search.")
        return
    SW.TRIALS.setdefault(DEFAULT_TRIALS)
    # the method on a row of its own: its label ("Fine-tune (FT) ...") is cut in a quarter row
    method = st.selectbox("Method", list(options), key=SW.METHOD, format_func=options.get)
    cols = st.columns(3)
    with cols[0]:
        trials = int(st.number_input("Trials", 1, 200, step=1, key=SW.TRIALS))
    with cols[1]:
        sampler = st.radio("Sampler", list(SAMPLERS), key=SW.SAMPLER, horizontal=True,
                           help="optuna: seeded TPE; grid: evenly over each declared range")  # fmt: skip
    with cols[2]:
        SW.WORKERS.setdefault(default_workers())
        workers = int(st.number_input("Workers", 1, max(default_workers(), 1), key=SW.WORKERS))
    space = search_space(method)
    st.caption(
        "Searched: "
        + ", ".join(
            f"`{d.name}` {d.low:g}–{d.high:g}{' (log)' if d.log else ''}"
            if d.kind != "categorical"
            else f"`{d.name}` in {list(d.choices)}"
            for d in space
        )
    )
    if st.button("Run the sweep", key=SW.RUN, disabled=running):
        start_sweep(
            data=data, spec=dict(DATASET.get()), model=entry["model"],
            recipe=TrainConfig.from_dict(RECIPE.get()), split=split, method=method,
            trials=trials, sampler=sampler, seed=int(TRAIN_SEED.get()), executor="local",
            workers=workers,
        )  # fmt: skip
        st.rerun()


def show_sweep(sid: str, shown: ShownSweep) -> None:
    result = shown.result
    rows = trials_table(result)
    params = [d.name for d in result.space]
    ok = sum(1 for t in result.trials if t.ok)
    where = f"{result.dataset or 'its dataset'} / {result.arch}"
    if result.forget.get("description"):
        where += f", forget {result.forget['description']}"
    st.markdown(
        f"**{result.method}** · {len(result.trials)} trials ({ok} finished) by {result.sampler} "
        f"in {result.seconds:.0f} s · {where}"
        + (f" · stored as `{sid}`" if shown.stored else " · not stored")
    )
    st.caption(
        "How to read it: the best trial (first row) is the one closest to retrain; a trial "
        "whose retain accuracy collapsed has a large gap however well it forgot."
    )
    columns = [Column("trial", "trial", fmt=".0f")]
    columns += [Column(p, p, fmt=".4g") for p in params]
    columns += [
        Column("gap", "gap to retrain", "points"),
        Column("forget_acc", "forget acc", "%"),
        Column("retain_acc", "retain acc", "%"),
        Column("test_acc", "test acc", "%"),
        Column("mia", "MIA", "%"),
        Column("seconds", "time", "s"),
        Column("error", "error", text=True, optional=True),
    ]
    if not any(r.get("error") for r in rows):
        columns = columns[:-1]
    show_table(rows, columns, notes=False)
    best = result.best.number if result.best else None
    fig = P.sweep_gap_by_param(
        rows, params, log={d.name: d.log for d in result.space}, best=best,
        title=f"Gap to retrain against each searched setting of {result.method}",
    )  # fmt: skip
    chart(fig, SW.GAP)
    if result.best is None:
        st.warning("No trial finished, so there are no best settings to apply.")
        return
    settings = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                         for k, v in result.best.params.items())  # fmt: skip
    if st.button(f"Apply the best settings to Unlearn ({settings})", key=SW.APPLY):
        apply_best(result, _class_wise(result))
        st.success(f"{result.method} now starts from {settings} on the Unlearn page.")
        page_link("pages/unlearn.py", "Go to 3 · Unlearn")


def _class_wise(result: SweepResult) -> bool:
    """Whether the sweep's forget request was class-wise (whole classes forgotten)."""
    try:
        kind = ForgetRequest.from_dict(result.forget).kind
    except (TypeError, ValueError):
        return False
    return kind == "class" and bool(result.forget.get("forgotten_classes"))


__all__ = ["apply_best", "show_sweep", "sweep_form", "sweep_section", "tunable_methods"]

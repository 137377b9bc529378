"""The Unlearn page's parts: the widget of a method's parameter (drawn from its registry
entry), the one-line status of each method in a run, and the Results of the shown comparison
(one seed's numbers, or the mean ± standard deviation over several)."""

from __future__ import annotations

import streamlit as st

from app_ui.common import page_link
from app_ui.icons import CANCELLED, DAMAGED, DONE, FAILED, RUNNING, WAITING
from app_ui.registries import multi_registry
from app_ui.runjobs import is_cancelled
from app_ui.seeds import seed_rows, seeds_caption
from app_ui.tables import show_table
from app_ui.text import clause
from unlearn_core.evaluation.tables import RESULT_COLUMNS, columns_for
from unlearn_core.experiment import Comparison, MethodResult
from unlearn_core.methods import Param
from unlearn_core.selection import float_format, param_step


def param_control(p: Param, key: str):
    """The widget for one hyper-parameter, drawn from its registry entry."""
    help_ = p.help or None
    if p.log_scale and help_:
        help_ += " (log scale: change it by factors of 10)"
    if p.type is bool:
        return st.checkbox(p.name, key=key, help=help_)
    if p.choices is not None:
        return st.selectbox(p.name, list(p.choices), key=key, help=help_)
    if p.type is int:
        lo, hi = (int(p.range[0]), int(p.range[1])) if p.range else (None, None)
        return int(st.number_input(p.name, lo, hi, step=1, key=key, help=help_))
    if p.type is float:
        lo, hi = (float(p.range[0]), float(p.range[1])) if p.range else (None, None)
        return float(
            st.number_input(
                p.name,
                lo,
                hi,
                step=param_step(float(p.default), lo, hi),
                format=float_format(float(p.default), p.log_scale),
                key=key,
                help=help_,
            )
        )
    return st.text_input(p.name, key=key, help=help_)


def _status_line(name: str, label: str, res: MethodResult | None, running: bool) -> str:
    if res is None:
        return f"{RUNNING} **{label}** — running…" if running else f"{WAITING} {label} — waiting"
    if is_cancelled(res):
        return f"{CANCELLED} {label} — cancelled, not run"
    if res.ok:
        flag = f" · {DAMAGED} damaged the model" if res.damaged else ""
        took = f"{res.seconds:.2f} s" if res.seconds is not None else "done"
        return f"{DONE} **{label}** — {took}{flag}"
    return f"{FAILED} **{label}** — failed: {clause(res.error or 'no reason given')}"


def show_status(plan: list[tuple[str, str]], results: list[MethodResult], live: bool) -> None:
    done = {r.method: r for r in results}
    first_open = next((n for n, _ in plan if n not in done), None)
    st.markdown(
        "  \n".join(_status_line(n, lbl, done.get(n), live and n == first_open) for n, lbl in plan)
    )


def show_results(comp: Comparison, cid: str) -> None:
    """The shown comparison's status lines, failures and results table (the shared
    results-table spec, the CLI's and the HTML report's), and the damaged-model warnings."""
    multi = multi_registry().get(cid)
    st.subheader("Results")
    if multi is not None:
        st.caption(seeds_caption(multi.seeds))
    show_status([(r.method, r.label) for r in comp.results], comp.results, live=False)
    for r in comp.results:
        if not r.ok and not is_cancelled(r):
            st.error(f"{r.label} failed: {r.error}")
    if multi is not None:
        labels = {r.method: r.label for r in [comp.original, *comp.results]}
        rows = seed_rows(multi, labels)
        damaged = [s.label for s in multi.results if s.damaged]
    else:
        rows = [
            {
                **{k: v for k, v in r.metrics.items() if not isinstance(v, list | tuple | dict)},
                "method": r.label,
                "avg_gap": r.avg_gap,
                "seconds": r.seconds,
                "time_ratio": r.time_ratio,
            }
            for r in [comp.original, *comp.results]
        ]
        damaged = [r.label for r in comp.results if r.damaged]
    show_table(rows, columns_for(rows, RESULT_COLUMNS), notes=False)
    for label in damaged:
        st.warning(
            f"{DAMAGED} **{label} damaged the model**: its retain accuracy is more than 10 "
            "points below retrain's. Its settings are too strong for this model."
        )
    page_link("pages/compare.py", "See what changed: Compare")

"""Stored runs side by side: the main results charts with one colour group per run.

Input is what the run store keeps for each comparison: flat result rows
(``ComparisonRecord.rows``: ``method``, the numbers in percent, ``<key>_std`` for several
seeds, ``error``). Each panel has one row per method (the original first) and one bar per
run in that run's colour and hatch; with several seeds a bar carries its standard deviation
as an error bar. A method a run did not have, or whose run failed, has no bar there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluation.tables import number as _num
from .style import bar_height, log_axis, style

#: run colours (Okabe & Ito), each run also hatched differently so print and colour-blind
#: readers can tell them apart
RUN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
RUN_PATTERNS = ("", "/", ".", "x", "-", "+")


@dataclass(frozen=True)
class RunRows:
    """One stored run as the charts read it: a short label for the legend and its rows."""

    label: str
    rows: Sequence[Mapping]


@dataclass(frozen=True)
class Panel:
    """One panel: the row key, the axis title, and whether the axis is logarithmic."""

    key: str
    title: str
    log: bool = False


ACCURACY_PANELS = (
    Panel("forget_acc", "forget acc (%)"),
    Panel("retain_acc", "retain acc (%)"),
    Panel("test_acc", "test acc (%)"),
)
ATTACK_PANELS = (Panel("mia", "MIA (%)"), Panel("avg_gap", "gap to retrain (pts)"))
TIME_PANELS = (Panel("seconds", "time (s, log scale)", log=True),)


def methods_of(runs: Sequence[RunRows]) -> list[str]:
    """Every method of the runs, in the order they first appear (the original first)."""
    names = list(dict.fromkeys(str(r.get("method")) for run in runs for r in run.rows))
    return sorted(names, key=lambda n: n != "original")


def _values(run: RunRows, methods: Sequence[str], key: str) -> tuple[list, list]:
    by = {str(r.get("method")): r for r in run.rows if not r.get("error")}
    vals = [_num(by[m].get(key)) if m in by else None for m in methods]
    stds = [_num(by[m].get(f"{key}_std")) if m in by else None for m in methods]
    return vals, stds


def run_bars(runs: Sequence[RunRows], panels: Sequence[Panel], title: str) -> go.Figure:
    """Grouped horizontal bars: one panel per :class:`Panel`, one row per method, one bar per
    run (the legend names the runs). Panels where no run has a value still show their axis."""
    if not runs:
        raise ValueError("give at least one run")
    methods = methods_of(runs)
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.05)
    for j, panel in enumerate(panels, start=1):
        everything = []
        for i, run in enumerate(runs):
            vals, stds = _values(run, methods, panel.key)
            everything += [v + (s or 0) for v, s in zip(vals, stds, strict=True) if v is not None]
            error = None
            if any(s is not None for s in stds):
                error = {
                    "type": "data",
                    "array": [s or 0.0 for s in stds],
                    "visible": True,
                    "thickness": 1.5,
                }
                if panel.log:  # a log axis cannot show a bar reaching below 0
                    error["symmetric"] = False
                    error["arrayminus"] = [
                        min(s or 0.0, 0.9 * (v or 0.0)) for s, v in zip(stds, vals, strict=True)
                    ]
            fig.add_bar(
                y=methods,
                x=vals,
                orientation="h",
                name=run.label,
                legendgroup=run.label,
                showlegend=j == 1,
                marker={
                    "color": RUN_COLOURS[i % len(RUN_COLOURS)],
                    "pattern": {
                        "shape": RUN_PATTERNS[i % len(RUN_PATTERNS)],
                        "solidity": 0.35,
                        "size": 6,
                    },
                    "line": {"width": 0},
                },
                error_x=error,
                customdata=[
                    "n/a" if v is None else f"{v:.3g}" + (f" ± {s:.2g}" if s is not None else "")
                    for v, s in zip(vals, stds, strict=True)
                ],
                hovertemplate="%{y}: %{customdata}<extra>" + run.label + "</extra>",
                row=1,
                col=j,
            )
        if panel.log:
            fig.update_xaxes(title=panel.title, row=1, col=j, **log_axis(everything, room=1.5))
        else:
            lo = min([0.0, *everything])
            hi = max([1.0, *everything])
            fig.update_xaxes(title=panel.title, range=[lo, hi * 1.05], row=1, col=j)
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=methods[::-1], ticksuffix="  "
    )
    rows = len(methods) * max(1, min(len(runs), 3))
    return style(fig, title, height=bar_height(rows))


def side_by_side_figures(runs: Sequence[RunRows]) -> list[go.Figure]:
    """The main charts for runs side by side: accuracies, MIA and gap to retrain, and time."""
    return [
        run_bars(runs, ACCURACY_PANELS, "Accuracy on forget / retain / test, run by run"),
        run_bars(runs, ATTACK_PANELS, "Membership attack and gap to retrain, run by run"),
        run_bars(runs, TIME_PANELS, "Time per method, run by run"),
    ]

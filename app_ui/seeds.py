"""Several seeds on the result pages: a mean view of a ``MultiComparison`` (so the shared
tables print ``mean ± std``) and error bars on the bar charts."""

from __future__ import annotations

import copy

import plotly.graph_objects as go

from unlearn_core.experiment import ROW_KEYS, Comparison, MultiComparison
from unlearn_core.plots.results import ACCURACY_SETS

_ATTRS = ("avg_gap", "seconds", "time_ratio")


def mean_view(multi: MultiComparison, first: Comparison) -> Comparison:
    """``first`` (the first seed, with its models and per-class details) with every headline
    number replaced by its mean over the seeds and ``<key>_std`` beside it."""
    out = copy.copy(first)
    out.original = copy.copy(first.original)
    out.results = [copy.copy(r) for r in first.results]
    for r in [out.original, *out.results]:
        s = multi.get(r.method)
        if s is None:
            continue
        r.metrics = dict(r.metrics)
        for k in ROW_KEYS:
            mean, std = s.mean(k), s.std(k)
            if k in _ATTRS:
                setattr(r, k, mean)
            else:
                r.metrics[k] = mean
            r.metrics[f"{k}_std"] = std
        if s.damaged and "damaged" not in r.flags:
            r.flags = [*r.flags, "damaged"]
    return out


def add_error_bars(fig: go.Figure, multi: MultiComparison, key: str | None = None) -> go.Figure:
    """Standard deviations over the seeds as error bars on the horizontal bar traces of one of
    the results charts (``key`` for a one-metric chart; the accuracy chart maps its panels)."""
    by_label = {label: k for k, label in ACCURACY_SETS}
    for trace in fig.data:
        if trace.type != "bar":
            continue
        k = key or by_label.get(trace.name)
        if k is None:
            continue
        stds = []
        for name in trace.y:
            s = multi.get(str(name))
            stds.append((s.std(k) if s is not None else None) or 0.0)
        trace.error_x = {"type": "data", "array": stds, "visible": True, "thickness": 1.5}
    return fig

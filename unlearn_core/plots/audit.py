"""Figures of the audit (plotly only, no Streamlit): the embedding painted with per-sample
epsilon, one sample's class probabilities under each model, relearning curves and their spread
over seeds (steps to the target, Anamnesis Index), a sweep's gap
against each searched parameter, and the Learn page's "verification is fragile" checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import (
    ORIGINAL,
    REFERENCE,
    RETRAIN_COLOUR,
    bar_marker,
    method_colour,
    reference_legend,
    style,
)

#: epsilon colour scale: low (indistinguishable from retrain) light, high dark red
EPSILON_SCALE = "YlOrRd"
#: the least top of the epsilon colour scale (K = 2 resolves no finite epsilon above 0)
EPSILON_FLOOR = 0.5
#: the colour of context (retained) samples on the epsilon embedding
CONTEXT_COLOUR = "#C8C8C8"


#: the house colour of a model (fixed greys for the original and retrain)
model_colour = method_colour


def epsilon_embedding(
    xy: np.ndarray,
    ids: Sequence[int],
    epsilons: Sequence[float | None],
    labels: Sequence[str],
    *,
    context_xy: np.ndarray | None = None,
    context_ids: Sequence[int] = (),
    context_labels: Sequence[str] = (),
    epsilon_max: float | None = None,
    title: str = "",
    axes: tuple[str, str] = ("PC 1", "PC 2"),
    opened: int | None = None,
) -> go.Figure:
    """Forget samples at ``xy`` coloured by their epsilon (retained samples in grey behind
    them); every point carries its training-set id in ``customdata`` for selection. A click
    leaves every point as drawn (plotly would fade all but the clicked one); the sample open
    in the instance view (``opened``) gets a black ring instead. :func:`clicked_sample`
    resolves a click that landed on a retained sample hidden under a forget point to the
    forget point drawn on top."""
    eps = np.array([np.nan if e is None else float(e) for e in epsilons], dtype=float)
    fig = go.Figure()
    if context_xy is not None and len(context_ids):
        fig.add_scattergl(
            x=context_xy[:, 0],
            y=context_xy[:, 1],
            mode="markers",
            name="retained samples",
            marker={"color": CONTEXT_COLOUR, "size": 5},
            selected={"marker": {"opacity": 1.0}},
            unselected={"marker": {"opacity": 1.0}},
            customdata=np.asarray(context_ids).reshape(-1, 1),
            text=list(context_labels),
            hovertemplate="sample %{customdata[0]} · class %{text}<extra>retained</extra>",
        )
    top = epsilon_max if epsilon_max is not None else float(np.nanmax(eps)) if len(eps) else 1.0
    fig.add_scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name="forget samples (colour: epsilon)",
        marker={
            "color": np.nan_to_num(eps, nan=0.0),
            "colorscale": EPSILON_SCALE,
            "cmin": 0.0,
            "cmax": max(top, EPSILON_FLOOR),
            "size": 8,
            "line": {"width": 0.5, "color": "#555555"},
            "colorbar": {"title": {"text": "epsilon"}, "thickness": 14, "tickformat": ".2f"},
        },
        selected={"marker": {"opacity": 1.0}},
        unselected={"marker": {"opacity": 1.0}},
        customdata=np.column_stack([np.asarray(ids), np.nan_to_num(eps, nan=-1.0)]),
        text=list(labels),
        hovertemplate=(
            "sample %{customdata[0]} · class %{text}<br>epsilon %{customdata[1]:.2f}"
            "<extra>forget</extra>"
        ),
    )
    where = None
    if opened is not None:
        all_ids = [int(i) for i in ids] + [int(i) for i in context_ids]
        if int(opened) in all_ids:
            k = all_ids.index(int(opened))
            where = xy[k] if k < len(ids) else np.asarray(context_xy)[k - len(ids)]
    if where is not None:  # WebGL like the points: an SVG ring would be drawn under them
        fig.add_scattergl(
            x=[float(where[0])],
            y=[float(where[1])],
            mode="markers",
            name="open in the instance view",
            marker={"symbol": "circle-open", "size": 18, "color": "#000000",
                    "line": {"width": 2.5, "color": "#000000"}},
            hoverinfo="skip",
        )  # fmt: skip
    style(fig, title, height=460, toolbar=True)
    fig.update_xaxes(title_text=axes[0])
    fig.update_yaxes(title_text=axes[1])
    return fig


#: how near (a share of each axis's span) a retained sample must lie to a forget point for a
#: click on it to count as a click on the forget point drawn over it (a forget marker's
#: radius on a chart about 600 x 330 px)
HIDDEN_RADIUS = 0.015


def clicked_sample(
    picked: Sequence[int],
    xy: np.ndarray,
    ids: Sequence[int],
    *,
    context_xy: np.ndarray | None = None,
    context_ids: Sequence[int] = (),
    radius: float = HIDDEN_RADIUS,
) -> int | None:
    """The sample a click on :func:`epsilon_embedding` opens, from the picked ids (in the
    order the selection gave them): a forget sample first (they are drawn on top); a retained
    sample only when no forget point covers it (within ``radius`` of each axis's span of the
    drawn points), else the nearest forget point, the one the user saw and clicked."""
    picked = [int(i) for i in picked]
    if not picked:
        return None
    forget = {int(i): k for k, i in enumerate(ids)}
    for i in picked:
        if i in forget:
            return i
    first = picked[0]
    ctx = {int(i): k for k, i in enumerate(context_ids)}
    if first not in ctx or context_xy is None or not len(ids):
        return first
    xy = np.asarray(xy, dtype=float)
    drawn = np.vstack([xy, np.asarray(context_xy, dtype=float)])
    span = np.ptp(drawn, axis=0)
    span[span == 0] = 1.0
    d = (xy - np.asarray(context_xy, dtype=float)[ctx[first]]) / span
    dist = np.hypot(d[:, 0], d[:, 1])
    k = int(np.argmin(dist))
    return int(ids[k]) if dist[k] <= radius * np.sqrt(2) else first


def instance_probabilities(
    probs: Mapping[str, Sequence[float]],
    classes: Sequence[str],
    *,
    label: int,
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """One sample's class probabilities under each model (grouped bars, one colour a model:
    ``probs`` is keyed by the model's registry name, which picks the colour every chart gives
    it; ``labels`` name the legend entries); the sample's true class is marked in the axis
    labels."""
    labels = dict(labels or {})
    names = [f"{c} (true)" if i == label else str(c) for i, c in enumerate(classes)]
    fig = go.Figure()
    for model, p in probs.items():
        name = labels.get(model, model)
        fig.add_bar(
            x=names,
            y=[100.0 * float(v) for v in p],
            name=name,
            marker_color=model_colour(model),
            hovertemplate="%{x}: %{y:.1f}%<extra>" + name + "</extra>",
        )
    style(fig, title, height=320)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="probability (%)", range=[0, 100])
    return fig


def recovery_curves(
    curves: Sequence[object], *, title: str = "", labels: Mapping[str, str] | None = None
) -> go.Figure:
    """Forget accuracy after each relearning step, one line per model (``RelearnCurve``s of
    one seed, named by ``labels`` where given); the dotted line is the recovery target (relative
    to retrain's start), absent when the seed is not measurable."""
    labels = dict(labels or {})
    fig = go.Figure()
    for c in curves:
        name = labels.get(c.model, c.model)
        dash = "dash" if c.model in (ORIGINAL, REFERENCE) else "solid"
        fig.add_scatter(
            x=list(c.steps),
            y=list(c.forget_acc),
            mode="lines+markers",
            name=name,
            line={"color": model_colour(c.model), "dash": dash, "width": 2},
            marker={"size": 4},
            hovertemplate="step %{x}: %{y:.1f}%<extra>" + name + "</extra>",
        )
    target = next((c.target for c in curves if c.target is not None), None)
    if target is not None:
        fig.add_hline(y=target, line={"color": "#666666", "dash": "dot", "width": 2})
        reference_legend(fig, f"target: {target:.1f}% forget acc", "#666666")
    elif curves:
        reference_legend(fig, "no target: not measurable (retrain starts near the original)",
                         "#666666")  # fmt: skip
    style(fig, title, height=380)
    fig.update_xaxes(title_text="relearning step")
    fig.update_yaxes(title_text="forget acc (%)", range=[-2, 102])
    return fig


def recovery_spread(
    spreads: Sequence[object], *, title: str = "", labels: Mapping[str, str] | None = None
) -> go.Figure:
    """Each model's relearning over the audit's seeds (``RelearnSpread``s), one row a model:
    steps to the target per seed (a seed that did not reach it drawn at budget + 1, beyond
    the dotted budget line) and the Anamnesis Index per seed (the dashed line at 1 is
    retrain), one dot per seed, the median as a tick. Seeds that are not measurable are left
    out and counted under the model's name."""
    labels = dict(labels or {})
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.06, shared_yaxes=True,
        subplot_titles=("steps to the target", "Anamnesis Index"),
    )  # fmt: skip
    budget = max((s.budget for s in spreads), default=0)
    for s in spreads:
        name = labels.get(s.model, s.model)
        if s.not_measurable:
            name += f" ({s.not_measurable}/{s.seeds} n.m.)"
        rows = [r for r in s.per_seed if r.status not in (None, "not measurable")]
        steps = [r.budget + 1 if r.steps_to_recover is None else r.steps_to_recover for r in rows]
        ains = [(r.ain, r.ain_kind) for r in rows if r.ain is not None]
        colour = model_colour(s.model)
        for col, xs, med, texts in (
            (1, steps, s.steps_median, [f"seed {r.seed}" for r in rows]),
            (2, [a for a, _ in ains] if s.model != REFERENCE else [],
             s.ain_median, [f"{k}" for _, k in ains]),
        ):  # fmt: skip
            fig.add_scatter(
                y=[name] * len(xs), x=xs, mode="markers", name=name, showlegend=False,
                marker={"color": colour, "size": 8, "opacity": 0.7}, text=texts,
                hovertemplate="%{x:.3g} (%{text})<extra>" + name + "</extra>",
                row=1, col=col,
            )  # fmt: skip
            if med is not None:
                fig.add_scatter(
                    y=[name], x=[med], mode="markers", name=name, showlegend=False,
                    marker={"color": colour, "symbol": "line-ns-open", "size": 22,
                            "line": {"width": 3}},
                    hovertemplate="median %{x:.3g}<extra>" + name + "</extra>",
                    row=1, col=col,
                )  # fmt: skip
    if budget:
        fig.add_vline(x=budget + 0.5, line={"color": "#999999", "dash": "dot"}, row=1, col=1)
    fig.add_vline(x=1.0, line={"color": RETRAIN_COLOUR, "dash": "dash"}, row=1, col=2)
    style(fig, title, height=140 + 44 * max(len(spreads), 1))
    fig.update_xaxes(rangemode="tozero")
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def sweep_gap_by_param(
    rows: Sequence[Mapping],
    params: Sequence[str],
    *,
    log: Mapping[str, bool] | None = None,
    best: int | None = None,
    title: str = "",
) -> go.Figure:
    """The gap to retrain of each finished trial against each searched parameter (one panel
    per parameter; log axes where the parameter is searched on a log scale); the best trial
    is drawn larger and dark."""
    log = dict(log or {})
    ok = [r for r in rows if r.get("gap") is not None and not r.get("error")]
    n = max(len(params), 1)
    fig = make_subplots(rows=1, cols=n, shared_yaxes=True, horizontal_spacing=0.06)
    for k, p in enumerate(params, start=1):
        xs = [r.get(p) for r in ok]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        fig.add_scatter(
            x=xs if numeric else [str(x) for x in xs],
            y=[r["gap"] for r in ok],
            mode="markers",
            name="trial",
            showlegend=k == 1,
            marker={
                "size": [14 if r.get("trial") == best else 8 for r in ok],
                "color": [RETRAIN_COLOUR if r.get("trial") == best else "#0072B2" for r in ok],
            },
            customdata=[[r.get("trial")] for r in ok],
            hovertemplate=f"{p} %{{x}}<br>gap %{{y:.2f}}<extra>trial %{{customdata[0]}}</extra>",
            row=1,
            col=k,
        )
        fig.update_xaxes(title_text=p, type="log" if log.get(p) and numeric else None, row=1, col=k)
    if best is not None:
        fig.add_scatter(
            x=[None], y=[None], mode="markers", name="best trial",
            marker={"size": 14, "color": RETRAIN_COLOUR},
        )  # fmt: skip
    style(fig, title, height=340)
    fig.update_yaxes(title_text="gap to retrain (points)", row=1, col=1)
    return fig


#: the Learn page's checks, (row key, panel title): the cheap ones on the first row, those
#: that expose an output-only "unlearning" on the second
STORY_CHECKS: tuple[tuple[str, str], ...] = (
    ("forget_acc", "forget acc (%)"),
    ("mia", "MIA (%)"),
    ("privacy_score", "privacy score, 1 model"),
    ("relearn_steps", "relearn steps"),
    ("forget_quality", "forget quality, K models"),
    ("params_changed", "params changed (%)"),
)
STORY_COLUMNS = 3


def verification_checks(
    rows: Sequence[Mapping], *, budget: int | None = None, labels: Mapping[str, str] | None = None
) -> go.Figure:
    """One panel per check, one bar per model (named by ``labels`` where given): the cheap
    checks (forget accuracy, MIA) the demonstration passes next to the ones that expose it
    (relearning, forget quality). A model that did not reach the relearning target within the
    budget is drawn at ``budget + 1``; one whose relearning is not measurable gets no bar."""
    n_rows = math.ceil(len(STORY_CHECKS) / STORY_COLUMNS)
    fig = make_subplots(
        rows=n_rows, cols=STORY_COLUMNS, subplot_titles=[t for _, t in STORY_CHECKS],
        horizontal_spacing=0.08, vertical_spacing=0.2,
    )  # fmt: skip
    names = [str(r["method"]) for r in rows]
    shown = [(labels or {}).get(n, n) for n in names]
    for k, (key, _) in enumerate(STORY_CHECKS):
        ys, texts = [], []
        for r in rows:
            v = r.get(key)
            if key == "relearn_steps" and r.get("relearn_status") == "not measurable":
                ys.append(None)
                texts.append("not measurable")
            elif key == "relearn_steps" and v is None and budget is not None:
                ys.append(budget + 1)
                texts.append(f"> {budget}")
            else:
                ys.append(None if v is None or not math.isfinite(float(v)) else float(v))
                texts.append("—" if ys[-1] is None else f"{ys[-1]:.3g}")
        fig.add_bar(
            x=shown,
            y=ys,
            text=texts,
            textposition="outside",
            marker=bar_marker(names),
            showlegend=False,
            hovertemplate="%{x}: %{text}<extra></extra>",
            row=k // STORY_COLUMNS + 1,
            col=k % STORY_COLUMNS + 1,
        )
    style(fig, None, height=300 * n_rows, legend=None, top_labels=True)
    fig.update_yaxes(rangemode="tozero")
    fig.update_traces(cliponaxis=False)
    return fig


__all__ = [
    "EPSILON_SCALE",
    "HIDDEN_RADIUS",
    "STORY_CHECKS",
    "clicked_sample",
    "epsilon_embedding",
    "instance_probabilities",
    "model_colour",
    "recovery_curves",
    "recovery_spread",
    "sweep_gap_by_param",
    "verification_checks",
]

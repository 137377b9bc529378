"""Plotly figures for a comparison's results and the membership-inference audit.

Plain arrays / :class:`~unlearn_core.experiment.Comparison` objects in, ``go.Figure`` out; no
Streamlit here, so a notebook draws the same charts as the app. Every chart follows
:mod:`unlearn_core.plots.style` (one colour per method, title and legend apart, legible
labels). The reading rule shown on every chart: the target is the retrained model's value, not
the highest bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..experiment import REFERENCE, Comparison, MethodResult
from .style import (
    FORGET_COLOUR,
    ORIGINAL_COLOUR,
    RETRAIN_COLOUR,
    SET_COLOURS,
    bar_height,
    bar_marker,
    class_colour,
    fmt,
    log_axis,
    log_ticks,
    method_colour,
    method_colours,
    reference_legend,
    style,
    tick_text,
    zoom_range,
)

__all__ = [
    "FORGET_COLOUR",
    "ORIGINAL_COLOUR",
    "RETRAIN_COLOUR",
    "accuracy_bars",
    "attribution_figure",
    "cka_chart",
    "colour_map",
    "confusion_heatmap",
    "decision_boundary_panels",
    "displacement_chart",
    "embedding_panels",
    "metric_bars",
    "metric_rows",
    "per_class_chart",
    "relevance_bars",
    "roc_chart",
    "score_histograms",
    "time_bars",
    "worst_leaking",
]

#: the dotted line of retrain's value and its legend entry
REF_LINE = {"color": RETRAIN_COLOUR, "dash": "dot", "width": 2}
REF_NAME = "retrain's value (the target)"


# ----------------------------------------------------------------------------- helpers


def _num(v) -> float | None:
    """``v`` as a finite float, else None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _results(comp: Comparison, *, with_original: bool = True) -> list[MethodResult]:
    rows = [comp.original] if with_original else []
    return rows + [r for r in comp.results if r.ok]


def _value(r: MethodResult, key: str) -> float | None:
    """``metrics[key]`` or the result's attribute ``key`` (``avg_gap``, ``seconds``...)."""
    if key in r.metrics:
        return _num(r.metrics.get(key))
    return _num(getattr(r, key, None))


def colour_map(names: Sequence[str]) -> dict[str, str]:
    """One stable colour per model name (the same on every chart; see ``style``)."""
    return method_colours(names)


def _hbars(
    fig: go.Figure,
    names: Sequence[str],
    values: Sequence[float | None],
    spec: str,
    *,
    label_x: float,
    suffix: str = "",
    label: str = "",
    row: int | None = None,
    col: int | None = None,
) -> None:
    """One horizontal bar per model in its colour, and its value in a column of labels that
    starts at ``label_x`` (just past the longest bar): reference lines, which never go past
    the bars, cannot cross a label, and the labels read like a table column."""
    fig.add_bar(
        y=list(names),
        x=[v if v is not None else 0 for v in values],
        orientation="h",
        marker=bar_marker(names),
        name=label,
        showlegend=False,
        customdata=[fmt(v, spec) + suffix if v is not None else "n/a" for v in values],
        hovertemplate="%{y}: %{customdata}<extra>" + label + "</extra>",
        row=row,
        col=col,
    )
    fig.add_scatter(
        y=list(names),
        x=[label_x] * len(names),
        mode="text",
        text=[fmt(v, spec) + suffix if v is not None else "n/a" for v in values],
        textposition="middle right",
        textfont={"size": 12},
        cliponaxis=False,
        showlegend=False,
        hoverinfo="skip",
        name=f"{label} values",
        row=row,
        col=col,
    )


def _linear_room(values: Sequence[float | None], top: float | None = None) -> tuple[float, list]:
    """Where the value labels start and the axis range for bars of ``values`` (from 0, or
    from the smallest negative value), leaving room for the labels on the right."""
    finite = [v for v in values if v is not None]
    hi = top if top is not None else max(finite + [0.0]) or 1.0
    lo = min(finite + [0.0])
    return hi + 0.02 * (hi - lo), [lo, hi + 0.4 * (hi - lo)]


def _category_rows(fig: go.Figure, names: Sequence[str]) -> None:
    """Models top to bottom in the given order (original first)."""
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=list(names)[::-1], ticksuffix="  "
    )


# ----------------------------------------------------------------------------- table


def metric_rows(comp: Comparison) -> list[dict]:
    """One row per model (original first): accuracies, attacks, gap, time and speed-up.

    Accuracies and MIA efficacy are percent; ``speed_up`` is retrain's seconds / the method's
    seconds (the inverse of ``time_ratio``). Missing values are ``None``.
    """
    rows = []
    for r in [comp.original, *comp.results]:
        m = r.metrics
        ratio = _num(r.time_ratio)
        scalars = {k: v for k, v in m.items() if not isinstance(v, list | tuple | dict)}
        rows.append(
            {
                **scalars,  # e.g. test_forgotten_acc, *_std: the shared table spec reads them
                "method": r.method,
                "label": r.label,
                "family": r.family,
                "forget_acc": _num(m.get("forget_acc")),
                "retain_acc": _num(m.get("retain_acc")),
                "test_acc": _num(m.get("test_acc")),
                "mia": _num(m.get("mia")),
                "loss_auc": _num(m.get("loss_auc")),
                "avg_gap": _num(r.avg_gap),
                "seconds": _num(r.seconds),
                "time_ratio": ratio,
                "speed_up": (1.0 / ratio) if ratio else None,
                "error": r.error,
            }
        )
    return rows


# ----------------------------------------------------------------------------- bar charts

ACCURACY_SETS = (
    ("forget_acc", "forget acc"),
    ("retain_acc", "retain acc"),
    ("test_acc", "test acc"),
)


def accuracy_bars(comp: Comparison) -> go.Figure:
    """Forget / retain / test accuracy side by side, one bar per model in its colour, with
    retrain's value as a dotted line in each panel."""
    res = _results(comp)
    names = [r.method for r in res]
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.05)
    ref = comp.reference
    for j, (key, label) in enumerate(ACCURACY_SETS, start=1):
        vals = [_value(r, key) for r in res]
        at, rng = _linear_room(vals, top=100.0)
        _hbars(fig, names, vals, ".1f", label_x=at, label=label, row=1, col=j)
        fig.update_xaxes(title=f"{label} (%)", range=rng, tickvals=[0, 50, 100], row=1, col=j)
        v = _value(ref, key) if ref is not None else None
        if v is not None:
            fig.add_vline(x=v, line=REF_LINE, layer="below", row=1, col=j)
    if ref is not None:
        reference_legend(fig, REF_NAME, RETRAIN_COLOUR)
    _category_rows(fig, names)
    return style(
        fig,
        "Accuracy on forget / retain / test (target: retrain's value)",
        height=bar_height(len(names)),
        legend="below" if ref is not None else None,
    )


def metric_bars(
    comp: Comparison,
    key: str,
    title: str,
    *,
    unit: str = "",
    spec: str = ".3g",
    with_original: bool = True,
    reference_line: bool = True,
) -> go.Figure:
    """One horizontal bar per model for ``metrics[key]`` (or the result attribute ``key``,
    e.g. ``avg_gap``), retrain's value dotted."""
    res = _results(comp, with_original=with_original)
    names = [r.method for r in res]
    vals = [_value(r, key) for r in res]
    fig = go.Figure()
    at, rng = _linear_room(vals)
    _hbars(fig, names, vals, spec, label_x=at, label=unit or key)
    fig.update_xaxes(title=unit or key, range=rng)
    ref = comp.reference
    v = _value(ref, key) if ref is not None and reference_line else None
    if v is not None:
        fig.add_vline(x=v, line=REF_LINE, layer="below")
        reference_legend(fig, REF_NAME, RETRAIN_COLOUR)
    _category_rows(fig, names)
    return style(
        fig, title, height=bar_height(len(names)), legend="below" if v is not None else None
    )


def time_bars(comp: Comparison) -> go.Figure:
    """Wall time per model (seconds) and speed-up against retraining, both on log axes so a
    900x speed-up does not flatten the rest."""
    res = [r for r in comp.results if r.ok and _num(r.seconds) is not None]
    names = [r.method for r in res]
    secs = [_num(r.seconds) for r in res]
    speed = [(1.0 / r.time_ratio) if _num(r.time_ratio) else None for r in res]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06)
    for j, (vals, suffix, label) in enumerate(
        ((secs, " s", "seconds"), (speed, "×", "speed-up")), start=1
    ):
        axis = log_axis(vals + ([1.0] if j == 2 else []), room=8.0)
        top = max([v for v in vals if v is not None] + [1e-9])
        _hbars(
            fig, names, vals, ".3g", label_x=top * 1.15, suffix=suffix, label=label, row=1, col=j
        )
        title = "seconds (log scale)" if j == 1 else "speed-up against retrain (×, log scale)"
        fig.update_xaxes(title=title, row=1, col=j, **axis)
    has_ref = any(s is not None for s in speed)
    if has_ref:
        fig.add_vline(x=1.0, line=REF_LINE, layer="below", row=1, col=2)
        reference_legend(fig, "retrain (1×)", RETRAIN_COLOUR)
    _category_rows(fig, names)
    return style(
        fig,
        "Time and speed-up against retraining",
        height=bar_height(len(names)),
        legend="below" if has_ref else None,
    )


def per_class_chart(comp: Comparison, classes: Sequence[str]) -> go.Figure:
    """Per-class test accuracy as a grid: one row per model (original first), one column per
    class, the accuracy written in each cell; forgotten classes outlined. The shade is the
    difference from retrain's value in that class (white = as retrain, the target; red =
    above, blue = below), so what still needs forgetting stands out with every method shown.
    Without a retrained reference the shade is the accuracy itself."""
    res = [r for r in _results(comp) if r.metrics.get("per_class_test") is not None]
    names = [r.method for r in res]
    x = [str(c) for c in classes]
    z = [[_num(v) for v in r.metrics["per_class_test"]] for r in res]
    ref = comp.reference
    ref_row = ref.metrics.get("per_class_test") if ref is not None else None
    if ref_row is not None:
        base = [_num(v) for v in ref_row]
        shade = [
            [None if v is None or b is None else v - b for v, b in zip(row, base, strict=False)]
            for row in z
        ]
        colour = {"colorscale": "RdBu_r", "zmid": 0, "zmin": -100, "zmax": 100}
        hover = "%{y} · class %{x}: %{text}% (%{z:+.1f} against retrain)<extra></extra>"
        title = "Per-class test accuracy (%); shade: difference from retrain"
    else:
        shade = z
        colour = {"colorscale": "Blues", "zmin": 0, "zmax": 100}
        hover = "%{y} · class %{x}: %{text}%<extra></extra>"
        title = "Per-class test accuracy (%), before and after"
    fig = go.Figure(
        go.Heatmap(
            z=shade,
            x=x,
            y=names,
            showscale=False,
            text=[[fmt(v, ".0f") for v in row] for row in z],
            texttemplate="%{text}",
            textfont={"size": 12},
            hovertemplate=hover,
            xgap=2,
            ygap=2,
            **colour,
        )
    )
    forgotten = [int(c) for c in comp.forget.get("forgotten_classes", []) or [] if 0 <= c < len(x)]
    for c in forgotten:
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=c - 0.5,
            x1=c + 0.5,
            y0=0,
            y1=1,
            line={"color": RETRAIN_COLOUR, "width": 3},
        )
    if forgotten:
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="forgotten class (outlined)",
            marker={"symbol": "square-open", "size": 14, "color": RETRAIN_COLOUR},
        )
    fig.update_xaxes(title="class", type="category", side="bottom")
    _category_rows(fig, names)
    return style(
        fig,
        title,
        height=150 + 30 * max(len(names), 2),
        legend="below" if forgotten else None,
    )


# ----------------------------------------------------------------------------- embeddings


def _column_label_colours(fig: go.Figure, names: Sequence[str]) -> None:
    """Colour the subplot column labels (the first ``len(names)`` annotations) by model; other
    labels (such as "input") keep the text colour."""
    for ann, name in zip(fig.layout.annotations, names, strict=False):
        model = name in ("original", REFERENCE) or name in _registered()
        ann.font = {"color": method_colour(name), "size": 14} if model else {"size": 14}


def _registered() -> set[str]:
    from ..methods import list_methods

    return {s.name for s in list_methods(demonstrations=True)}


def embedding_panels(
    frames: Mapping[str, np.ndarray],
    labels: np.ndarray,
    is_forget: np.ndarray,
    classes: Sequence[str],
    *,
    ids: np.ndarray | None = None,
    title: str = "Penultimate features in one aligned frame",
) -> go.Figure:
    """Side-by-side 2-D scatter panels (one per model); retain samples coloured by class, forget
    samples drawn on top as crosses. Axes are shared so positions compare."""
    names = list(frames)
    labels = np.asarray(labels)
    is_forget = np.asarray(is_forget, dtype=bool)
    ids = np.arange(len(labels)) if ids is None else np.asarray(ids)
    fig = make_subplots(
        rows=1,
        cols=len(names),
        column_titles=names,
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
    _column_label_colours(fig, names)
    for col, name in enumerate(names, start=1):
        xy = np.asarray(frames[name])
        for c in np.unique(labels[~is_forget]):
            sel = (~is_forget) & (labels == c)
            fig.add_scattergl(
                x=xy[sel, 0],
                y=xy[sel, 1],
                mode="markers",
                marker={"size": 4, "color": class_colour(c), "opacity": 0.55},
                name=str(classes[int(c)]),
                legendgroup=f"c{c}",
                showlegend=col == 1,
                customdata=ids[sel],
                hovertemplate="id %{customdata}<extra>" + str(classes[int(c)]) + "</extra>",
                row=1,
                col=col,
            )
        if is_forget.any():
            fig.add_scattergl(
                x=xy[is_forget, 0],
                y=xy[is_forget, 1],
                mode="markers",
                marker={
                    "size": 7,
                    "symbol": "x",
                    "color": FORGET_COLOUR,
                    "line": {"width": 1, "color": "black"},
                },
                name="forget samples",
                legendgroup="forget",
                showlegend=col == 1,
                customdata=ids[is_forget],
                hovertemplate="forget id %{customdata}<extra></extra>",
                row=1,
                col=col,
            )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return style(fig, title, height=480, legend="below", top_labels=True, left=24)


def displacement_chart(displacement: Mapping[str, np.ndarray], is_forget: np.ndarray) -> go.Figure:
    """How far each sample moved from its position under the original model: box plots of the
    distance for forget vs retain samples, one group per model."""
    is_forget = np.asarray(is_forget, dtype=bool)
    fig = go.Figure()
    for group, sel in (("forget", is_forget), ("retain", ~is_forget)):
        xs, ys = [], []
        for name, d in displacement.items():
            d = np.asarray(d, dtype=float)[sel]
            d = d[np.isfinite(d)]  # UMAP may leave disconnected samples as NaN
            xs.extend([name] * len(d))
            ys.extend(d.tolist())
        if ys:
            fig.add_box(
                x=xs,
                y=ys,
                name=f"{group} samples",
                marker_color=SET_COLOURS[group],
                boxmean=True,
            )
    fig.update_xaxes(title="model", type="category")
    fig.update_yaxes(title="distance moved")
    return style(
        fig, "How far the samples moved from the original's position", height=380
    ).update_layout(boxmode="group")


# ----------------------------------------------------------------------------- attributions


def attribution_figure(
    maps: Mapping[str, Mapping[str, np.ndarray | None]],
    *,
    image: np.ndarray | None = None,
    title: str = "Attributions",
) -> go.Figure:
    """A grid of heatmaps: rows = attribution methods, columns = models (plus the input image
    first if given). ``maps[method][model]`` is an ``H x W`` (or ``C x H x W``, summed over
    channels) array, or None when unavailable (the cell stays empty, its column says "n/a").
    Each row shares one symmetric colour range, red = evidence for the class, blue = against.
    Models label the columns once at the top, attribution methods the rows at the right."""
    methods = list(maps)
    models: list[str] = []
    for m in methods:
        for k in maps[m]:
            if k not in models:
                models.append(k)
    extra = 1 if image is not None else 0
    missing = {k for k in models if all(maps[m].get(k) is None for m in methods)}
    col_titles = (["input"] if extra else []) + [
        k + (" (n/a)" if k in missing else "") for k in models
    ]
    fig = make_subplots(
        rows=len(methods),
        cols=len(models) + extra,
        column_titles=col_titles,
        row_titles=[m.replace("_", " ") for m in methods],
        horizontal_spacing=0.02,
        vertical_spacing=0.04 if len(methods) > 1 else 0.0,
    )
    _column_label_colours(fig, (["input"] if extra else []) + models)
    for i, m in enumerate(methods, start=1):
        if image is not None:
            img = np.asarray(image, dtype=float)
            if img.ndim == 3:
                img = img.mean(axis=-1)
            fig.add_heatmap(
                z=img, colorscale="gray", showscale=False, hoverinfo="skip", row=i, col=1
            )
        arrays = {k: _to_2d(v) for k, v in maps[m].items() if v is not None}
        vmax = max((float(np.nanmax(np.abs(a))) for a in arrays.values()), default=1.0) or 1.0
        for j, k in enumerate(models, start=1 + extra):
            if k not in arrays:
                continue
            fig.add_heatmap(
                z=arrays[k],
                zmin=-vmax,
                zmax=vmax,
                colorscale="RdBu_r",
                showscale=False,
                name=f"{m} · {k}",
                hovertemplate="(%{x}, %{y}): %{z:.3g}<extra></extra>",
                row=i,
                col=j,
            )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(
        showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor=None
    )
    return style(
        fig,
        title,
        height=80 + 190 * len(methods),
        legend=None,
        top_labels=True,
        left=16,
        right=40,
        bottom=16,
    )


def _to_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    while a.ndim > 2:
        a = a.sum(axis=0)
    if a.ndim == 1:
        a = a[None, :]
    return a


def relevance_bars(
    relevance: Sequence[float], chosen: Sequence[int], *, counts: Sequence[float] | None = None
) -> go.Figure:
    """Relevance per neuron (LRP) with the perturbed neurons highlighted; if ``counts`` (how often
    a neuron was in a sample's top-k) is given it is drawn in a second panel."""
    rel = np.asarray(relevance, dtype=float)
    chosen_set = {int(c) for c in chosen}
    colours = [FORGET_COLOUR if i in chosen_set else "#9ecae1" for i in range(len(rel))]
    rows = 2 if counts is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    fig.add_bar(
        x=np.arange(len(rel)),
        y=rel,
        marker_color=colours,
        showlegend=False,
        hovertemplate="neuron %{x}: %{y:.3g}<extra></extra>",
        row=1,
        col=1,
    )
    fig.update_yaxes(title="mean relevance", row=1, col=1)
    if counts is not None:
        cnt = np.asarray(counts, dtype=float)
        fig.add_bar(
            x=np.arange(len(cnt)),
            y=cnt,
            marker_color=colours[: len(cnt)],
            showlegend=False,
            hovertemplate="neuron %{x}: in %{y:.0f} top-k sets<extra></extra>",
            row=2,
            col=1,
        )
        fig.update_yaxes(title="times in top-k", row=2, col=1)
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"color": FORGET_COLOUR, "symbol": "square", "size": 10},
        name=f"perturbed neurons ({len(chosen_set)})",
    )
    fig.update_xaxes(title="neuron", row=rows, col=1)
    return style(fig, "Neurons relevant to the forgotten class", height=240 + 170 * rows)


# ----------------------------------------------------------------------------- 2-D boundary


def decision_boundary_panels(
    grids: Mapping[str, Mapping[str, np.ndarray]],
    points: np.ndarray,
    labels: np.ndarray,
    is_forget: np.ndarray,
    classes: Sequence[str],
) -> go.Figure:
    """Predicted class over a 2-D grid for each model, with the training points on top.

    ``grids[name]`` holds ``xs`` (W,), ``ys`` (H,) and ``pred`` (H x W predicted class) and
    optionally ``confidence`` (H x W, shades the map)."""
    names = list(grids)
    k = len(classes)
    fig = make_subplots(
        rows=1,
        cols=len(names),
        column_titles=names,
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
    _column_label_colours(fig, names)
    scale = []
    for c in range(k):
        col = class_colour(c)
        scale += [[c / k, col], [(c + 1) / k, col]]
    pts = np.asarray(points)
    labels = np.asarray(labels)
    is_forget = np.asarray(is_forget, dtype=bool)
    for j, name in enumerate(names, start=1):
        g = grids[name]
        fig.add_heatmap(
            x=np.asarray(g["xs"]),
            y=np.asarray(g["ys"]),
            z=np.asarray(g["pred"]) + 0.5,
            zmin=0,
            zmax=k,
            colorscale=scale,
            opacity=0.35,
            showscale=False,
            hoverinfo="skip",
            row=1,
            col=j,
        )
        for c in range(k):
            sel = (labels == c) & ~is_forget
            fig.add_scattergl(
                x=pts[sel, 0],
                y=pts[sel, 1],
                mode="markers",
                marker={"size": 4, "color": class_colour(c), "line": {"width": 0}},
                name=str(classes[c]),
                legendgroup=f"c{c}",
                showlegend=j == 1,
                row=1,
                col=j,
            )
        if is_forget.any():
            fig.add_scattergl(
                x=pts[is_forget, 0],
                y=pts[is_forget, 1],
                mode="markers",
                marker={"size": 7, "symbol": "x", "color": "black"},
                name="forget samples",
                legendgroup="forget",
                showlegend=j == 1,
                row=1,
                col=j,
            )
    return style(fig, "Decision regions before / after", height=480, top_labels=True)


# ----------------------------------------------------------------------------- matrices


def confusion_heatmap(cm: np.ndarray, classes: Sequence[str], title: str) -> go.Figure:
    """Row-normalised confusion matrix (row = true class), counts in the cells (up to 12
    classes; beyond that in the hover only, where they would not fit)."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) * 100
    names = [str(c) for c in classes]
    cell_text = len(names) <= 12
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=names,
            y=names,
            zmin=0,
            zmax=100,
            colorscale="Blues",
            customdata=cm,
            text=[[f"{int(v)}" if v else "" for v in row] for row in cm],
            texttemplate="%{text}" if cell_text else None,
            textfont={"size": 11},
            hovertemplate="true %{y} → predicted %{x}: %{customdata} (%{z:.0f}%)<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(title="predicted", type="category")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    return style(fig, title, height=360, legend=None, left=50)


def cka_chart(layers: Sequence[str], series: Mapping[str, Sequence[float]]) -> go.Figure:
    """Linear CKA per layer for each comparison (e.g. "vs original", "vs retrain"); 1 = same
    representation up to rotation and scale. The axis zooms to the values: on a 0-1 axis the
    differences that matter (0.95 against 0.99) would vanish."""
    fig = go.Figure()
    colours = {"vs original": ORIGINAL_COLOUR, "vs retrain": RETRAIN_COLOUR}
    everything: list[float | None] = []
    columns = {n: [_num(v) for v in vals] for n, vals in series.items()}
    # per layer, the highest value is labelled above its point and the others below, so two
    # close values never print over each other
    top = [
        max((v, n) for n, ys in columns.items() if i < len(ys) and (v := ys[i]) is not None)[1]
        if any(i < len(ys) and ys[i] is not None for ys in columns.values())
        else None
        for i in range(len(layers))
    ]
    for name, ys in columns.items():
        everything += ys
        fig.add_scatter(
            x=list(layers),
            y=ys,
            mode="lines+markers+text",
            text=[fmt(v, ".3f") for v in ys],
            textposition=[
                "top center" if top[i] == name else "bottom center" for i in range(len(ys))
            ],
            textfont={"size": 11, "color": colours.get(name, "#555")},
            name=name,
            line={"color": colours.get(name, "#555"), "width": 2.5},
            marker={"size": 8},
            cliponaxis=False,
        )
    lo, hi = zoom_range(everything, ceil=1.0, pad=0.3, min_span=0.01)
    span = hi - lo
    fig.update_yaxes(
        title="linear CKA (zoomed to the values)", range=[lo - 0.1 * span, hi + 0.15 * span]
    )
    fig.update_xaxes(title="layer", type="category")
    return style(fig, "Layer-wise similarity of the unlearned model", height=380)


# ----------------------------------------------------------------------------- attack

#: the smallest distance from 0 or 1 a logit axis resolves (float64 confidences reach ~1e-16)
_EPS = 1e-12
#: at most this many labelled ticks on a transformed score axis
_MAX_TICKS = 7


def score_scale(values: np.ndarray) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """How to lay out an attack score so its mass is not crushed into one bin.

    ``"logit"`` for a 0-1 score piled up near 0 or 1 (confidence), ``"log"`` for a positive
    score spanning decades (loss, entropy near zero), else ``"linear"``. Returns the name and the
    transform from score to axis position.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "linear", lambda a: np.asarray(a, dtype=float)
    if v.min() >= 0 and v.max() <= 1 and np.mean((v < 0.02) | (v > 0.98)) > 0.4:

        def logit(a):
            a = np.clip(np.asarray(a, dtype=float), _EPS, 1 - _EPS)
            return np.log10(a) - np.log10(1 - a)

        return "logit", logit
    pos = v[v > 0]
    if v.min() >= 0 and len(pos) > 0.5 * len(v):
        q_lo, q_hi = np.quantile(pos, [0.05, 0.95])
        if q_hi / max(q_lo, 1e-300) > 100:
            floor = max(float(np.quantile(pos, 0.001)), 1e-12)
            return "log", lambda a: np.log10(np.maximum(np.asarray(a, dtype=float), floor))
    return "linear", lambda a: np.asarray(a, dtype=float)


def _prob_label(p: float) -> str:
    """0.001, 0.5, 0.999 or, past three nines, 10^-6 and 1 - 10^-6 in superscript."""
    if 1e-3 <= p <= 1 - 1e-3:
        return f"{p:g}" if p >= 0.5 else tick_text(p)
    k = round(-math.log10(min(p, 1 - p)))
    return f"10<sup>−{k}</sup>" if p < 0.5 else f"1 − 10<sup>−{k}</sup>"


def _thin(pairs: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """At most :data:`_MAX_TICKS` of ``pairs`` (position, label), evenly picked, ends kept."""
    if len(pairs) <= _MAX_TICKS:
        return pairs
    keep = np.unique(np.round(np.linspace(0, len(pairs) - 1, _MAX_TICKS)).astype(int))
    return [pairs[i] for i in keep]


def _scale_ticks(kind: str, lo: float, hi: float) -> dict:
    """Tick positions and labels (in score units) for a transformed axis over ``[lo, hi]``."""
    if kind == "logit":
        probs = [10.0**-k for k in range(12, 0, -1)] + [0.5] + [1 - 10.0**-k for k in range(1, 13)]
        pairs = []
        for p in probs:
            pos = math.log10(p) - math.log10(1 - p)
            if lo - 1e-9 <= pos <= hi + 1e-9:
                pairs.append((pos, _prob_label(p)))
    elif kind == "log":
        vals, _ = log_ticks(10**lo, 10**hi)
        pairs = [(math.log10(v), tick_text(v)) for v in vals]
    else:
        return {}
    pairs = _thin(pairs)
    return {
        "tickmode": "array",
        "tickvals": [p for p, _ in pairs],
        "ticktext": [t for _, t in pairs],
        "tickangle": 0,
    }


def score_histograms(
    scores: Mapping[str, np.ndarray],
    *,
    score_name: str,
    threshold: float | None = None,
    nbins: int = 40,
) -> go.Figure:
    """Histograms (share of each set per bin) of an attack score for forget / retain / test
    samples, on a scale that spreads where the samples are (see :func:`score_scale`)."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in scores.items()}
    finite = [a[np.isfinite(a)] for a in arrays.values() if len(a)]
    allv = np.concatenate(finite) if finite else np.zeros(1)
    kind, t = score_scale(allv)
    tv = t(allv)
    lo, hi = float(np.min(tv)), float(np.max(tv))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, nbins + 1)
    width = edges[1] - edges[0]
    fig = go.Figure()
    for name, a in arrays.items():
        a = a[np.isfinite(a)]
        counts, _ = np.histogram(t(a), bins=edges)
        share = counts / max(len(a), 1)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=share,
            width=width,
            name=f"{name} ({len(a)})",
            opacity=0.55,
            marker_color=SET_COLOURS.get(name),
            hovertemplate=f"{name}: %{{y:.1%}} of the set<extra></extra>",
        )
    if threshold is not None:
        x = float(t(np.asarray([threshold]))[0])
        fig.add_vline(x=x, line={"color": "black", "dash": "dash", "width": 2})
        reference_legend(fig, f"threshold {threshold:.3g}", "black", "dash")
    suffix = {"logit": " (logit scale)", "log": " (log scale)"}.get(kind, "")
    fig.update_xaxes(
        title=score_name + suffix, range=[lo - width, hi + width], **_scale_ticks(kind, lo, hi)
    )
    fig.update_yaxes(title="share of the set", tickformat=".0%")
    return style(fig, f"Attack score: {score_name}", height=380).update_layout(
        barmode="overlay", bargap=0
    )


def roc_chart(
    fpr: np.ndarray,
    tpr: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    auc: float | None = None,
    model: str | None = None,
    attack: str = "threshold attack",
) -> go.Figure:
    """ROC curve of a threshold attack (member = retain, non-member = test) for ``model`` (drawn
    in its colour), with the current threshold's (FPR, TPR) marked; the legend names the
    attack its AUC belongs to."""
    name = attack if auc is None else f"{attack}: AUC {auc:.3f}"
    colour = method_colour(model) if model else "#0072B2"
    fig = go.Figure()
    fig.add_scatter(x=fpr, y=tpr, mode="lines", name=name, line={"color": colour, "width": 3})
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "#999"}
    )
    if point is not None:
        fig.add_scatter(
            x=[point[0]],
            y=[point[1]],
            mode="markers",
            name="current threshold",
            marker={"size": 12, "color": "black", "symbol": "circle-open", "line": {"width": 2}},
        )
    fig.update_xaxes(title="false-positive rate (test called member)", range=[0, 1])
    fig.update_yaxes(title="true-positive rate (retain called member)", range=[0, 1.02])
    title = "ROC of the threshold attack" + (f" on {model}" if model else "")
    return style(fig, title, height=400)


def worst_leaking(
    forget_scores: np.ndarray, forget_ids: np.ndarray, *, higher_is_member: bool, k: int = 8
) -> list[tuple[int, float]]:
    """The ``k`` forget samples whose score looks most like a member's: ``(sample id, score)``."""
    s = np.asarray(forget_scores, dtype=float)
    ids = np.asarray(forget_ids)
    order = np.argsort(-s if higher_is_member else s, kind="stable")[:k]
    return [(int(ids[i]), float(s[i])) for i in order]

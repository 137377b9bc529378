"""Plotly figures for a comparison's results and the membership-inference audit.

Plain arrays / :class:`~unlearn_core.experiment.Comparison` objects in, ``go.Figure`` out; no
Streamlit here, so a notebook draws the same charts as the app. The reading rule shown on every
chart: the target is the retrained model's value, not the highest bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..experiment import REFERENCE, Comparison, MethodResult
from ..metrics import finite_or_none as _num
from .setup import class_colour

__all__ = [
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

ORIGINAL_COLOUR = "#7f7f7f"
RETRAIN_COLOUR = "#2ca02c"
FORGET_COLOUR = "#d62728"
_PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
_SET_COLOURS = {"forget": FORGET_COLOUR, "retain": "#1f77b4", "test": "#ff7f0e"}


# ----------------------------------------------------------------------------- helpers


def _layout(
    fig: go.Figure, title: str, height: int = 380, *, legend_below: bool = False, **kw
) -> go.Figure:
    """Title, height, margins and a horizontal legend (above the plot, or below it for
    multi-panel figures whose subplot titles sit where the legend would)."""
    legend = {"orientation": "h", "xanchor": "right", "x": 1.0}
    if legend_below:
        legend.update(yanchor="top", y=-0.04, xanchor="left", x=0.0)
    else:
        legend.update(yanchor="bottom", y=1.0)
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 50, "r": 20, "t": 60, "b": 40},
        legend=legend,
        **kw,
    )
    return fig


def _results(comp: Comparison, *, with_original: bool = True) -> list[MethodResult]:
    rows = [comp.original] if with_original else []
    return rows + [r for r in comp.results if r.ok]


def colour_map(names: Sequence[str]) -> dict[str, str]:
    """One stable colour per model name: original grey, retrain green, methods from a palette."""
    out: dict[str, str] = {}
    i = 0
    for n in names:
        if n == "original":
            out[n] = ORIGINAL_COLOUR
        elif n == REFERENCE:
            out[n] = RETRAIN_COLOUR
        else:
            out[n] = _PALETTE[i % len(_PALETTE)]
            i += 1
    return out


def _label(name: str) -> str:
    return "original" if name == "original" else name


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
        rows.append(
            {
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


def accuracy_bars(comp: Comparison) -> go.Figure:
    """Forget / retain / test accuracy grouped by model, with retrain's values as dashed lines."""
    res = _results(comp)
    names = [_label(r.method) for r in res]
    fig = go.Figure()
    sets = [("forget_acc", "forget", FORGET_COLOUR), ("retain_acc", "retain", "#1f77b4")]
    sets.append(("test_acc", "test", "#ff7f0e"))
    for key, name, colour in sets:
        vals = [_num(r.metrics.get(key)) for r in res]
        fig.add_bar(
            x=names,
            y=vals,
            name=f"{name} acc",
            marker_color=colour,
            text=[f"{v:.1f}" if v is not None else "" for v in vals],
            textposition="outside",
        )
    ref = comp.reference
    if ref is not None:
        for key, name, colour in sets:
            v = _num(ref.metrics.get(key))
            if v is not None:
                fig.add_hline(
                    y=v,
                    line_dash="dot",
                    line_color=colour,
                    opacity=0.6,
                    annotation_text=f"retrain {name} {v:.1f}",
                    annotation_position="top left",
                    annotation_font_size=10,
                )
    fig.update_yaxes(title="accuracy (%)", range=[0, 112])
    return _layout(
        fig, "Accuracy on forget / retain / test (target: retrain's value)", barmode="group"
    )


def metric_bars(
    comp: Comparison,
    key: str,
    title: str,
    *,
    unit: str = "",
    with_original: bool = True,
    reference_line: bool = True,
    ideal: float | None = None,
) -> go.Figure:
    """One bar per model for ``metrics[key]`` (or the result attribute ``key``, e.g. avg_gap)."""
    res = _results(comp, with_original=with_original)
    names = [_label(r.method) for r in res]
    vals = [_num(r.metrics.get(key, getattr(r, key, None))) for r in res]
    colours = colour_map(names)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=vals,
            marker_color=[colours[n] for n in names],
            text=[f"{v:.3g}" if v is not None else "n/a" for v in vals],
            textposition="outside",
            showlegend=False,
        )
    )
    ref = comp.reference
    if reference_line and ref is not None:
        v = _num(ref.metrics.get(key, getattr(ref, key, None)))
        if v is not None:
            fig.add_hline(
                y=v, line_dash="dot", line_color=RETRAIN_COLOUR, annotation_text=f"retrain {v:.3g}"
            )
    if ideal is not None:
        fig.add_hline(
            y=ideal, line_dash="dash", line_color="#444", annotation_text=f"ideal {ideal}"
        )
    fig.update_yaxes(title=unit or key)
    return _layout(fig, title, height=340)


def time_bars(comp: Comparison) -> go.Figure:
    """Wall time per method (seconds, log scale) and speed-up against retraining."""
    res = [r for r in comp.results if r.ok and r.seconds is not None]
    names = [r.method for r in res]
    colours = colour_map(names)
    secs = [float(r.seconds) for r in res]
    speed = [(1.0 / r.time_ratio) if _num(r.time_ratio) else None for r in res]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("seconds (log scale)", "speed-up vs retrain (x)")
    )
    fig.add_bar(
        x=names,
        y=secs,
        marker_color=[colours[n] for n in names],
        text=[f"{s:.2f}s" for s in secs],
        textposition="outside",
        showlegend=False,
        row=1,
        col=1,
    )
    fig.add_bar(
        x=names,
        y=speed,
        marker_color=[colours[n] for n in names],
        text=[f"{s:.1f}x" if s is not None else "n/a" for s in speed],
        textposition="outside",
        showlegend=False,
        row=1,
        col=2,
    )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.add_hline(y=1.0, line_dash="dot", line_color=RETRAIN_COLOUR, row=1, col=2)
    return _layout(fig, "Time and speed-up against retraining", height=340)


def per_class_chart(comp: Comparison, classes: Sequence[str]) -> go.Figure:
    """Per-class test accuracy for the original, every method and retrain (forgotten classes
    shaded)."""
    res = _results(comp)
    names = [_label(r.method) for r in res]
    colours = colour_map(names)
    fig = go.Figure()
    x = [str(c) for c in classes]
    for r, n in zip(res, names, strict=True):
        vals = r.metrics.get("per_class_test")
        if vals is None:
            continue
        fig.add_bar(x=x, y=[_num(v) for v in vals], name=n, marker_color=colours[n])
    for c in comp.forget.get("forgotten_classes", []) or []:
        if 0 <= int(c) < len(x):
            fig.add_vrect(
                x0=int(c) - 0.5,
                x1=int(c) + 0.5,
                fillcolor=FORGET_COLOUR,
                opacity=0.08,
                line_width=0,
                annotation_text="forgotten",
                annotation_position="top",
            )
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="test accuracy (%)", range=[0, 105])
    return _layout(fig, "Per-class test accuracy before / after", barmode="group", height=400)


# ----------------------------------------------------------------------------- embeddings


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
    samples drawn on top as red-edged crosses. Axes are shared so positions compare."""
    names = list(frames)
    labels = np.asarray(labels)
    is_forget = np.asarray(is_forget, dtype=bool)
    ids = np.arange(len(labels)) if ids is None else np.asarray(ids)
    fig = make_subplots(
        rows=1,
        cols=len(names),
        subplot_titles=names,
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
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
    return _layout(fig, title, height=440, legend_below=True)


def displacement_chart(displacement: Mapping[str, np.ndarray], is_forget: np.ndarray) -> go.Figure:
    """How far each sample moved from its position under the original model: box plots of the
    distance for forget vs retain samples, one group per model."""
    is_forget = np.asarray(is_forget, dtype=bool)
    fig = go.Figure()
    for group, sel, colour in (
        ("forget", is_forget, FORGET_COLOUR),
        ("retain", ~is_forget, "#1f77b4"),
    ):
        xs, ys = [], []
        for name, d in displacement.items():
            d = np.asarray(d, dtype=float)[sel]
            d = d[np.isfinite(d)]  # UMAP may leave disconnected samples as NaN
            xs.extend([name] * len(d))
            ys.extend(d.tolist())
        if ys:
            fig.add_box(x=xs, y=ys, name=f"{group} samples", marker_color=colour, boxmean=True)
    fig.update_yaxes(title="distance from the original's position")
    return _layout(fig, "How far the samples moved", boxmode="group", height=360)


# ----------------------------------------------------------------------------- attributions


def attribution_figure(
    maps: Mapping[str, Mapping[str, np.ndarray | None]],
    *,
    image: np.ndarray | None = None,
    title: str = "Attributions",
) -> go.Figure:
    """A grid of heatmaps: rows = attribution methods, columns = models (plus the input image
    first if given). ``maps[method][model]`` is an ``H x W`` (or ``C x H x W``, summed over
    channels) array, or None when unavailable (the cell is left empty and titled "n/a").
    Each row shares one symmetric colour range, red = evidence for the class, blue = against."""
    methods = list(maps)
    models: list[str] = []
    for m in methods:
        for k in maps[m]:
            if k not in models:
                models.append(k)
    extra = 1 if image is not None else 0
    cols = len(models) + extra
    titles = []
    for m in methods:
        if extra:
            titles.append("input")
        for k in models:
            titles.append(f"{m} · {k}" + (" (n/a)" if maps[m].get(k) is None else ""))
    fig = make_subplots(
        rows=len(methods),
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.02,
        vertical_spacing=0.1 if len(methods) > 1 else 0.0,
    )
    for i, m in enumerate(methods, start=1):
        if image is not None:
            img = np.asarray(image, dtype=float)
            if img.ndim == 3:
                img = img.mean(axis=-1)
            fig.add_heatmap(z=img, colorscale="gray", showscale=False, row=i, col=1)
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
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    return _layout(fig, title, height=max(260, 220 * len(methods)))


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
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("mean relevance per neuron", "times in a sample's top-k")[:rows],
        vertical_spacing=0.12,
    )
    fig.add_bar(
        x=np.arange(len(rel)),
        y=rel,
        marker_color=colours,
        showlegend=False,
        hovertemplate="neuron %{x}: %{y:.3g}<extra></extra>",
        row=1,
        col=1,
    )
    if counts is not None:
        cnt = np.asarray(counts, dtype=float)
        fig.add_bar(
            x=np.arange(len(cnt)),
            y=cnt,
            marker_color=colours[: len(cnt)],
            showlegend=False,
            row=2,
            col=1,
        )
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"color": FORGET_COLOUR, "symbol": "square"},
        name=f"perturbed ({len(chosen_set)})",
    )
    fig.update_xaxes(title="neuron", row=rows, col=1)
    return _layout(fig, "Neurons relevant to the forgotten class", height=260 + 160 * rows)


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
        subplot_titles=names,
        shared_yaxes=True,
        horizontal_spacing=0.03,
    )
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
    return _layout(fig, "Decision regions before / after", height=440, legend_below=True)


# ----------------------------------------------------------------------------- matrices


def confusion_heatmap(cm: np.ndarray, classes: Sequence[str], title: str) -> go.Figure:
    """Row-normalised confusion matrix (row = true class), counts in the hover."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) * 100
    names = [str(c) for c in classes]
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
            texttemplate="%{text}",
            hovertemplate="true %{y} → predicted %{x}: %{customdata} (%{z:.0f}%)<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(title="predicted", type="category")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    return _layout(fig, title, height=330)


def cka_chart(layers: Sequence[str], series: Mapping[str, Sequence[float]]) -> go.Figure:
    """Linear CKA per layer for each comparison (e.g. "vs original", "vs retrain"); 1 = same
    representation up to rotation and scale."""
    fig = go.Figure()
    colours = {"vs original": ORIGINAL_COLOUR, "vs retrain": RETRAIN_COLOUR}
    for i, (name, vals) in enumerate(series.items()):
        fig.add_scatter(
            x=list(layers),
            y=[_num(v) for v in vals],
            mode="lines+markers",
            name=name,
            line={"color": colours.get(name, _PALETTE[i % len(_PALETTE)])},
        )
    fig.update_yaxes(title="linear CKA", range=[0, 1.05])
    fig.update_xaxes(title="layer", type="category")
    return _layout(fig, "Layer-wise similarity of the unlearned model", height=360)


# ----------------------------------------------------------------------------- attack


def score_histograms(
    scores: Mapping[str, np.ndarray],
    *,
    score_name: str,
    threshold: float | None = None,
    nbins: int = 40,
) -> go.Figure:
    """Overlaid, normalised histograms of an attack score for forget / retain / test samples."""
    fig = go.Figure()
    finite = [np.asarray(s, dtype=float) for s in scores.values() if len(s)]
    allv = np.concatenate(finite) if finite else np.zeros(1)
    lo, hi = float(np.min(allv)), float(np.max(allv))
    size = (hi - lo) / nbins if hi > lo else 1.0
    for name, s in scores.items():
        fig.add_histogram(
            x=np.asarray(s, dtype=float),
            name=f"{name} ({len(s)})",
            histnorm="probability",
            opacity=0.55,
            marker_color=_SET_COLOURS.get(name),
            xbins={"start": lo, "end": hi + size, "size": size},
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold, line_dash="dash", line_color="black", annotation_text="threshold"
        )
    fig.update_xaxes(title=score_name)
    fig.update_yaxes(title="share of samples")
    return _layout(fig, f"Attack score: {score_name}", barmode="overlay", height=360)


def roc_chart(
    fpr: np.ndarray,
    tpr: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    auc: float | None = None,
) -> go.Figure:
    """ROC curve of the threshold attack (member = retain, non-member = test) with the
    current threshold's (FPR, TPR) marked."""
    name = "attack" if auc is None else f"attack (AUC {auc:.3f})"
    fig = go.Figure()
    fig.add_scatter(x=fpr, y=tpr, mode="lines", name=name, line={"color": "#1f77b4"})
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "#999"}
    )
    if point is not None:
        fig.add_scatter(
            x=[point[0]],
            y=[point[1]],
            mode="markers",
            name="threshold",
            marker={"size": 12, "color": "black", "symbol": "circle-open", "line": {"width": 2}},
        )
    fig.update_xaxes(title="false-positive rate (test called member)", range=[0, 1])
    fig.update_yaxes(title="true-positive rate (retain called member)", range=[0, 1.02])
    return _layout(fig, "ROC of the threshold attack", height=360)


def worst_leaking(
    forget_scores: np.ndarray, forget_ids: np.ndarray, *, higher_is_member: bool, k: int = 8
) -> list[tuple[int, float]]:
    """The ``k`` forget samples whose score looks most like a member's: ``(sample id, score)``."""
    s = np.asarray(forget_scores, dtype=float)
    ids = np.asarray(forget_ids)
    order = np.argsort(-s if higher_is_member else s, kind="stable")[:k]
    return [(int(ids[i]), float(s[i])) for i in order]

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
    FORGET_MARKER,
    FORGET_MARKER_NAME,
    ORIGINAL_COLOUR,
    OTHER_UNIT_COLOUR,
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
    scale_colour,
    style,
    text_colour,
    tick_text,
    wrap,
    zoom_range,
)

__all__ = [
    "FORGET_COLOUR",
    "FORGET_MARKER_NAME",
    "ORIGINAL_COLOUR",
    "RETRAIN_COLOUR",
    "accuracy_bars",
    "ATTRIBUTION_LABELS",
    "attribution_figure",
    "cka_chart",
    "colour_map",
    "confusion_heatmap",
    "decision_boundary_panels",
    "displacement_caption",
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


def _std(r: MethodResult, key: str) -> float | None:
    """The standard deviation over seeds beside ``key`` (``metrics[key + "_std"]``, which a
    several-seed mean view carries), else None."""
    v = _num(r.metrics.get(f"{key}_std"))
    return v if v else None


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
    errors: Sequence[float | None] | None = None,
    row: int | None = None,
    col: int | None = None,
) -> None:
    """One horizontal bar per model in its colour, and its value in a column of labels that
    starts at ``label_x`` (just past the longest bar and its error bar): reference lines and
    error bars, which never go past it, cannot cross a label, and the labels read like a table
    column. ``errors`` (standard deviations over seeds) are drawn as error bars."""
    hover = [fmt(v, spec) + suffix if v is not None else "n/a" for v in values]
    bar: dict = {}
    if errors is not None and any(e for e in errors):
        errs = [e or 0.0 for e in errors]
        bar["error_x"] = {"type": "data", "array": errs, "visible": True, "thickness": 1.5}
        hover = [h + (f" ± {fmt(e, spec)}" if e else "") for h, e in zip(hover, errs, strict=True)]
    fig.add_bar(
        y=list(names),
        x=[v if v is not None else 0 for v in values],
        orientation="h",
        marker=bar_marker(names),
        name=label,
        showlegend=False,
        customdata=hover,
        hovertemplate="%{y}: %{customdata}<extra>" + label + "</extra>",
        row=row,
        col=col,
        **bar,
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


def _linear_room(
    values: Sequence[float | None],
    top: float | None = None,
    errors: Sequence[float | None] | None = None,
) -> tuple[float, list]:
    """Where the value labels start and the axis range for bars of ``values`` (from 0, or
    from the smallest negative value), leaving room for the labels on the right; the labels
    start past the longest bar's error bar (``errors``) too."""
    finite = [v for v in values if v is not None]
    ends = [v + (e or 0.0) for v, e in zip(values, errors or [None] * len(values), strict=True)
            if v is not None]  # fmt: skip
    hi = top if top is not None else max(finite + [0.0]) or 1.0
    hi = max([hi, *ends])
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
    retrain's value as a dotted line in each panel (and standard deviations over seeds as
    error bars where the metrics carry them)."""
    res = _results(comp)
    names = [r.method for r in res]
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.05)
    ref = comp.reference
    for j, (key, label) in enumerate(ACCURACY_SETS, start=1):
        vals = [_value(r, key) for r in res]
        errs = [_std(r, key) for r in res]
        at, rng = _linear_room(vals, top=100.0, errors=errs)
        _hbars(fig, names, vals, ".1f", label_x=at, label=label, errors=errs, row=1, col=j)
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
    e.g. ``avg_gap``), retrain's value dotted; with ``<key>_std`` in the metrics (several seeds)
    each bar carries its standard deviation as an error bar, clear of the value labels."""
    res = _results(comp, with_original=with_original)
    names = [r.method for r in res]
    vals = [_value(r, key) for r in res]
    errs = [_std(r, key) for r in res]
    fig = go.Figure()
    at, rng = _linear_room(vals, errors=errs)
    _hbars(fig, names, vals, spec, label_x=at, label=unit or key, errors=errs)
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


def _cell_text(
    fig: go.Figure,
    x: Sequence,
    y: Sequence,
    texts: Sequence[Sequence[str]],
    backgrounds: Sequence[Sequence[str]],
    *,
    size: int = 12,
) -> None:
    """Write ``texts[i][j]`` on the cell ``(x[j], y[i])`` in black or white, whichever reads
    better on that cell's colour ``backgrounds[i][j]`` (a scatter of text over the heatmap:
    plotly's own heatmap text takes one colour for every cell)."""
    xs, ys, ts, cs = [], [], [], []
    for i, row in enumerate(texts):
        for j, t in enumerate(row):
            if t:
                xs.append(x[j])
                ys.append(y[i])
                ts.append(t)
                cs.append(text_colour(backgrounds[i][j]))
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="text",
        text=ts,
        textfont={"size": size, "color": cs},
        hoverinfo="skip",
        showlegend=False,
        name="cell values",
    )


def per_class_chart(comp: Comparison, classes: Sequence[str]) -> go.Figure:
    """Per-class test accuracy as a grid: one row per model (original first), one column per
    class, the accuracy written in each cell (black or white, whichever reads on the shade);
    forgotten classes outlined. The shade is the difference from retrain's value in that class
    (white = as retrain, the target; red = above, blue = below), so what still needs forgetting
    stands out with every method shown; the colour bar gives the scale. Without a retrained
    reference the shade is the accuracy itself."""
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
        scale, lo, hi = "RdBu_r", -100.0, 100.0
        colour = {"colorscale": scale, "zmid": 0, "zmin": lo, "zmax": hi}
        bar = {"text": "difference from retrain (points)", "ticks": [-100, -50, 0, 50, 100]}
        hover = "%{y} · class %{x}: %{text}% (%{z:+.1f} against retrain)<extra></extra>"
        title = "Per-class test accuracy (%); shade: difference from retrain"
    else:
        shade = z
        scale, lo, hi = "Blues", 0.0, 100.0
        colour = {"colorscale": scale, "zmin": lo, "zmax": hi}
        bar = {"text": "test accuracy (%)", "ticks": [0, 25, 50, 75, 100]}
        hover = "%{y} · class %{x}: %{text}%<extra></extra>"
        title = "Per-class test accuracy (%), before and after"
    texts = [[fmt(v, ".0f") for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=shade,
            x=x,
            y=names,
            showscale=True,
            colorbar={
                "title": {"text": bar["text"], "side": "right"},
                "thickness": 12,
                "len": 1.0,
                "tickvals": bar["ticks"],
                "ticktext": [
                    f"{t:+d}" if ref_row is not None and t else str(t) for t in bar["ticks"]
                ],
                "outlinewidth": 0,
            },  # fmt: skip
            text=texts,
            hovertemplate=hover,
            xgap=2,
            ygap=2,
            **colour,
        )
    )
    cells = [
        [scale_colour(scale, v, lo, hi) if v is not None else "#FFFFFF" for v in row]
        for row in shade
    ]
    _cell_text(fig, x, names, texts, cells)
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
    fig.update_xaxes(title="class", type="category", side="bottom", categoryorder="array",
                     categoryarray=x, tickmode="array", tickvals=x)  # fmt: skip
    _category_rows(fig, names)
    return style(
        fig,
        title,
        height=170 + 30 * max(len(names), 2),
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
    hover: Sequence[str] | None = None,
) -> go.Figure:
    """Side-by-side 2-D scatter panels (one per model); retain samples coloured by class, forget
    samples drawn on top as :data:`~.style.FORGET_MARKER` (captions: ``FORGET_MARKER_NAME``).
    Axes are shared so positions compare. ``hover``: a text per sample shown on hover instead
    of its id (the text track's questions)."""
    names = list(frames)
    labels = np.asarray(labels)
    is_forget = np.asarray(is_forget, dtype=bool)
    ids = np.arange(len(labels)) if ids is None else np.asarray(ids)
    said = np.asarray(hover, dtype=object) if hover is not None else None
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
                marker={"size": 4, "color": class_colour(c), "opacity": 0.85},
                name=str(classes[int(c)]),
                legendgroup=f"c{c}",
                showlegend=col == 1,
                customdata=ids[sel],
                text=said[sel] if said is not None else None,
                hovertemplate=("%{text}" if said is not None else "id %{customdata}")
                + "<extra>"
                + str(classes[int(c)])
                + "</extra>",
                row=1,
                col=col,
            )
        if is_forget.any():
            fig.add_scattergl(
                x=xy[is_forget, 0],
                y=xy[is_forget, 1],
                mode="markers",
                marker=FORGET_MARKER,
                name="forget samples",
                legendgroup="forget",
                showlegend=col == 1,
                customdata=ids[is_forget],
                text=said[is_forget] if said is not None else None,
                hovertemplate=("forget: %{text}" if said is not None else "forget id %{customdata}")
                + "<extra></extra>",
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


def _medians(d: np.ndarray, is_forget: np.ndarray) -> tuple[float | None, float | None]:
    d = np.asarray(d, dtype=float)
    out = []
    for sel in (is_forget, ~is_forget):
        v = d[sel]
        v = v[np.isfinite(v)]
        out.append(float(np.median(v)) if len(v) else None)
    return out[0], out[1]


def _compared(forget: float, retain: float) -> str:
    """How far the forget samples moved against the retain samples, in words (within 20 %
    of each other reads "about as far")."""
    if forget > 1.2 * retain:
        return "further than the retain samples"
    if retain > 1.2 * forget:
        return "less far than the retain samples"
    return "about as far as the retain samples"


def displacement_caption(
    displacement: Mapping[str, np.ndarray], is_forget: np.ndarray, *, reference: str = REFERENCE
) -> str:
    """The caption of :func:`displacement_chart` for these numbers: what the boxes are, then
    what each drawn model's forget and retain samples did (medians, computed here, so the
    words cannot claim what the chart does not show)."""
    is_forget = np.asarray(is_forget, dtype=bool)
    parts = []
    for name, d in displacement.items():
        f, r = _medians(d, is_forget)
        if f is None or r is None:
            continue
        who = "retrain (the target)" if name == reference else name
        parts.append(
            f"under {who} the forget samples moved {_compared(f, r)} (median {f:.3g} "
            f"against {r:.3g})"
        )
    text = (
        "Distance of each sample from where the original model put it, each model measured in "
        "its own PCA frame rotated onto the original's (so a row never depends on the method "
        "in view). Boxes: quartiles and median; dashed line: mean."
    )
    if parts:
        text += " In this run " + "; ".join(parts) + "."
    text += (
        " Read a method against retrain: one whose forget samples barely move while retrain's "
        "do changed its outputs rather than its features."
    )
    return text


# ----------------------------------------------------------------------------- attributions


#: how the attribution methods are named on the figure: a row label never reads like a model
#: name (the LRP *attribution* against the LRP *unlearning method* ``lrp``)
ATTRIBUTION_LABELS = {
    "integrated_gradients": "Integrated gradients",
    "saliency": "Saliency (|gradient|)",
    "lrp": "LRP (ε-rule) attribution",
}
#: the chart width the attribution grid's height is planned for (the main column of a
#: 1024x768 window); wider, the cells keep their aspect and the grid is centred
ATTRIBUTION_WIDTH = 600


def _rgb(image: np.ndarray) -> np.ndarray:
    """``image`` (H x W grey, H x W x 3 or 3 x H x W; 0-255, or 0-1 floats) as H x W x 3
    uint8, so a colour input is drawn in colour."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    a = a.astype(float)
    if a.size and np.nanmax(a) <= 1.0:
        a = a * 255.0
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)


def _row_label(text: str, width: int = 14) -> str:
    """A row label on at most a few short lines (it is drawn turned, beside one row)."""
    return wrap(text, width)


def attribution_figure(
    maps: Mapping[str, Mapping[str, np.ndarray | None]],
    *,
    image: np.ndarray | None = None,
    title: str = "Attributions",
) -> go.Figure:
    """A grid of heatmaps: rows = attribution methods, columns = models (plus the input image
    first if given, in colour when it has colour). ``maps[method][model]`` is an ``H x W`` (or
    ``C x H x W``, summed over channels) array, or None when unavailable (the cell stays empty,
    its column says "n/a"). Each row shares one symmetric colour range, red = evidence for the
    class, blue = against. Models label the columns once at the top, attribution methods the
    rows at the right (:data:`ATTRIBUTION_LABELS`). Every cell keeps the image's aspect
    (square pixels), and the height is planned so that, at :data:`ATTRIBUTION_WIDTH`, the
    cells fill the width."""
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
    ncols = len(models) + extra
    rows = len(methods)
    hspace, vspace = 0.02, (0.06 if rows > 1 else 0.0)
    fig = make_subplots(
        rows=rows,
        cols=ncols,
        column_titles=col_titles,
        row_titles=[_row_label(ATTRIBUTION_LABELS.get(m, m.replace("_", " "))) for m in methods],
        horizontal_spacing=hspace,
        vertical_spacing=vspace,
    )
    _column_label_colours(fig, (["input"] if extra else []) + models)
    shapes = []
    rgb = _rgb(image) if image is not None else None
    for i, m in enumerate(methods, start=1):
        if rgb is not None:
            fig.add_image(z=rgb, hoverinfo="skip", name="input", row=i, col=1)
            shapes.append(rgb.shape[:2])
        arrays = {k: _to_2d(v) for k, v in maps[m].items() if v is not None}
        vmax = max((float(np.nanmax(np.abs(a))) for a in arrays.values()), default=1.0) or 1.0
        for j, k in enumerate(models, start=1 + extra):
            if k not in arrays:
                continue
            shapes.append(arrays[k].shape)
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
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
        constrain="domain",
    )  # fmt: skip
    for i in range(1, rows + 1):
        for j in range(1, ncols + 1):
            sp = fig.get_subplot(i, j)
            fig.update_yaxes(scaleanchor=sp.yaxis.anchor, scaleratio=1, row=i, col=j)
    aspect = max((h / w for h, w in shapes if w), default=1.0)
    left, right, bottom = 16, 56, 16
    cell_w = (ATTRIBUTION_WIDTH - left - right) * (1 - hspace * (ncols - 1)) / max(ncols, 1)
    plot_h = rows * cell_w * aspect / (1 - vspace * (rows - 1))
    fig = style(
        fig,
        title,
        height=int(plot_h + 90),
        legend=None,
        top_labels=True,
        left=left,
        right=right,
        bottom=bottom,
    )
    return fig


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
    """Relevance per neuron (LRP), the perturbed neurons in the forget colour (orange) and the
    others in :data:`~.style.OTHER_UNIT_COLOUR` (light blue), both in the legend; if ``counts``
    (how often a neuron was in a sample's top-k) is given it is drawn in a second panel."""
    rel = np.asarray(relevance, dtype=float)
    chosen_set = {int(c) for c in chosen}
    colours = [FORGET_COLOUR if i in chosen_set else OTHER_UNIT_COLOUR for i in range(len(rel))]
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
        name=f"perturbed units ({len(chosen_set)})",
    )
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"color": OTHER_UNIT_COLOUR, "symbol": "square", "size": 10},
        name=f"other units ({len(rel) - len(chosen_set & set(range(len(rel))))})",
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
    """Predicted class over a 2-D grid for each model, with the training points on top (the
    forget samples as :data:`~.style.FORGET_MARKER`, as on the embeddings).

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
                marker=FORGET_MARKER,
                name="forget samples",
                legendgroup="forget",
                showlegend=j == 1,
                row=1,
                col=j,
            )
    return style(fig, "Decision regions before / after", height=480, top_labels=True)


# ----------------------------------------------------------------------------- matrices


#: the chart width a confusion matrix is planned for: half the main column of a 1024x768
#: window (the Compare page draws them two a row)
CONFUSION_WIDTH = 270
#: characters a confusion matrix's title line holds at that width
CONFUSION_TITLE_CHARS = 24


def confusion_heatmap(cm: np.ndarray, classes: Sequence[str], title: str) -> go.Figure:
    """Row-normalised confusion matrix (row = true class), counts in the cells in black or
    white, whichever reads on the shade (up to 12 classes; beyond that in the hover only, where
    they would not fit). Every class is labelled on both axes; the title wraps to fit
    :data:`CONFUSION_WIDTH`, and the height gives each row about as much room as a column has
    at that width."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) * 100
    names = [str(c) for c in classes]
    n = len(names)
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=names,
            y=names,
            zmin=0,
            zmax=100,
            colorscale="Blues",
            customdata=cm,
            hovertemplate="true %{y} → predicted %{x}: %{customdata} (%{z:.0f}%)<extra></extra>",
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    if n <= 12:
        texts = [[f"{int(v)}" if v else "" for v in row] for row in cm]
        cells = [[scale_colour("Blues", v, 0, 100) for v in row] for row in share]
        widest = max((len(t) for row in texts for t in row), default=1)
        _cell_text(fig, names, names, texts, cells, size=10 if widest < 3 else 9)
    ticks = {"type": "category", "categoryorder": "array", "categoryarray": names,
             "tickmode": "array", "tickvals": names, "ticktext": names}  # fmt: skip
    fig.update_xaxes(title="predicted", **ticks)
    fig.update_yaxes(title="true", autorange="reversed", **ticks)
    longest = min(max((len(c) for c in names), default=1), 12)
    left = 36 + 7 * longest
    cell = (CONFUSION_WIDTH - left - 8) / max(n, 1)
    lines = max(wrap(title, CONFUSION_TITLE_CHARS).count("<br>") + 1, 2)
    height = int(42 + 22 * lines + cell * n + 50 + 7 * longest)
    return style(
        fig,
        title,
        height=max(height, 260),
        legend=None,
        left=left,
        right=8,
        title_chars=CONFUSION_TITLE_CHARS,
        title_lines=2,  # two a row: both plots start at the same height
    )


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

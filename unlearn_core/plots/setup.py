"""Plotly figures for the data, model and forget-set views (no Streamlit here).

Every function takes plain arrays / lists and returns a ``plotly.graph_objects.Figure`` (or,
for thumbnails, a uint8 image array), so a notebook can draw the same charts as the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

#: one colour per class; repeats after 20 classes
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
)
FORGET_COLOUR = "#111111"
#: above this many points the scatter uses WebGL
WEBGL_FROM = 5000


def class_colour(c: int) -> str:
    return PALETTE[int(c) % len(PALETTE)]


def _layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def thumbnail(image: np.ndarray, size: int = 64) -> np.ndarray:
    """Enlarge a small uint8 image (``H x W`` or ``H x W x 3``) by whole-pixel repetition to
    at least ``size`` pixels on its long side, so an 8x8 digit stays crisp on screen."""
    img = np.asarray(image)
    scale = max(1, int(np.ceil(size / max(img.shape[:2]))))
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(img.astype(np.uint8))


def class_balance(
    train_counts: Sequence[int], test_counts: Sequence[int], class_names: Sequence[str]
) -> go.Figure:
    """Grouped bars: samples per class in the training and the test set."""
    names = [str(c) for c in class_names]
    fig = go.Figure(
        [
            go.Bar(name="train", x=names, y=list(map(int, train_counts)), marker_color="#457b9d"),
            go.Bar(name="test", x=names, y=list(map(int, test_counts)), marker_color="#e76f51"),
        ]
    )
    fig.update_layout(barmode="group", xaxis_title="class", yaxis_title="samples")
    fig.update_xaxes(type="category")
    return _layout(fig, "Class balance", 300)


def training_curve(history: Mapping[str, Sequence[float]]) -> go.Figure:
    """Training loss (left axis) and training accuracy in percent (right axis) per epoch."""
    loss = list(history.get("loss", []))
    acc = list(history.get("accuracy", []))
    epochs = list(range(1, max(len(loss), len(acc)) + 1))
    fig = go.Figure()
    if loss:
        fig.add_trace(go.Scatter(x=epochs[: len(loss)], y=loss, name="loss", mode="lines+markers"))
    if acc:
        fig.add_trace(
            go.Scatter(
                x=epochs[: len(acc)],
                y=acc,
                name="train accuracy (%)",
                mode="lines+markers",
                yaxis="y2",
            )
        )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis={"title": "loss"},
        yaxis2={"title": "accuracy (%)", "overlaying": "y", "side": "right", "range": [0, 101]},
    )
    return _layout(fig, "Training curve", 300)


def per_class_accuracy(
    accuracy: Sequence[float], class_names: Sequence[str], overall: float | None = None
) -> go.Figure:
    """Test accuracy (percent) of each class as bars, with the overall accuracy as a line."""
    names = [str(c) for c in class_names]
    acc = [float(a) for a in accuracy]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=acc,
            marker_color=[class_colour(i) for i in range(len(names))],
            text=[f"{a:.0f}" if np.isfinite(a) else "" for a in acc],
            textposition="outside",
            name="per class",
            hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
        )
    )
    if overall is not None:
        fig.add_hline(
            y=float(overall),
            line_dash="dash",
            annotation_text=f"overall {overall:.1f}%",
            annotation_position="bottom right",
        )
    fig.update_layout(xaxis_title="class", yaxis_title="test accuracy (%)", yaxis_range=[0, 110])
    fig.update_xaxes(type="category")
    return _layout(fig, "Per-class test accuracy", 300)


def embedding_scatter(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    ids: Sequence[int] | np.ndarray | None = None,
    marked: Iterable[int] = (),
    title: str | None = None,
    axis_titles: tuple[str, str] = ("component 1", "component 2"),
    height: int = 520,
) -> go.Figure:
    """The training set as 2-D points, one trace per class, for lasso/box selection.

    Each point carries its sample id in ``customdata`` (selection events report indices per
    trace, so the id must travel with the point). ``marked`` ids (the forget set being built)
    are ringed in black in an extra trace that carries the ids too.
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels)
    ids = np.arange(len(coords)) if ids is None else np.asarray(ids)
    scatter = go.Scattergl if len(coords) >= WEBGL_FROM else go.Scatter
    fig = go.Figure()
    for c, name in enumerate(class_names):
        m = labels == c
        if not m.any():
            continue
        fig.add_trace(
            scatter(
                x=coords[m, 0],
                y=coords[m, 1],
                mode="markers",
                name=str(name),
                marker={"size": 6, "color": class_colour(c), "opacity": 0.75},
                customdata=ids[m].reshape(-1, 1),
                hovertemplate=f"{name} · sample %{{customdata[0]}}<extra></extra>",
            )
        )
    marked_ids = np.asarray(sorted({int(i) for i in marked}), dtype=int)
    pos = {int(v): k for k, v in enumerate(ids)}
    rows = np.asarray([pos[i] for i in marked_ids if i in pos], dtype=int)
    if len(rows):
        fig.add_trace(
            scatter(
                x=coords[rows, 0],
                y=coords[rows, 1],
                mode="markers",
                name=f"marked to forget ({len(rows)})",
                marker={
                    "size": 9,
                    "color": "rgba(0,0,0,0)",
                    "line": {"color": FORGET_COLOUR, "width": 1.6},
                },
                customdata=ids[rows].reshape(-1, 1),
                hovertemplate="marked · sample %{customdata[0]}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title=axis_titles[0],
        yaxis_title=axis_titles[1],
        dragmode="lasso",
        clickmode="event+select",
    )
    return _layout(fig, title, height)

"""Plotly figures for the data, model and forget-set views (no Streamlit here).

Every function takes plain arrays / lists and returns a ``plotly.graph_objects.Figure`` (or,
for thumbnails, a uint8 image array), so a notebook can draw the same charts as the app. The
style (title and legend apart, class colours, readable ticks) is :mod:`.style`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import CLASS_PALETTE, RETRAIN_COLOUR, class_colour, reference_legend, show_bar_labels
from .style import style as _style

__all__ = [
    "PALETTE",
    "class_balance",
    "class_colour",
    "caption_width",
    "embedding_scatter",
    "feature_scatter",
    "per_class_accuracy",
    "thumbnail",
    "tile",
    "tiles",
    "training_curve",
]

#: one colour per class (the style's class palette)
PALETTE = CLASS_PALETTE
#: the ring around samples marked to forget
MARKED_COLOUR = "#111111"
FORGET_COLOUR = MARKED_COLOUR  # the earlier name
#: above this many points the scatter uses WebGL
WEBGL_FROM = 5000
#: background and frame of thumbnail tiles (the page's background, a mid-grey frame)
TILE_BACKGROUND = (255, 255, 255)
TILE_FRAME = (170, 170, 170)


# ----------------------------------------------------------------------------- thumbnails


def thumbnail(image: np.ndarray, size: int = 64) -> np.ndarray:
    """Enlarge a small uint8 image (``H x W`` or ``H x W x 3``) by whole-pixel repetition to
    at least ``size`` pixels on its long side, so an 8x8 digit stays crisp on screen."""
    img = np.asarray(image)
    scale = max(1, int(np.ceil(size / max(img.shape[:2]))))
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(img.astype(np.uint8))


def tile(image: np.ndarray, size: int = 64, gap: int = 4, width: int | None = None) -> np.ndarray:
    """A thumbnail ready to sit in a row of others: enlarged (nearest neighbour, see
    :func:`thumbnail`), framed by a 1-pixel grey line and ``gap`` pixels of background on
    every side, so neighbouring dark images never merge into one strip; widened with
    background to ``width`` pixels when given (room for a caption). Always RGB."""
    img = thumbnail(image, size)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    framed = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    framed[0, :], framed[-1, :], framed[:, 0], framed[:, -1] = (TILE_FRAME,) * 4
    h, w = framed.shape[0] + 2 * gap, framed.shape[1] + 2 * gap
    w = max(w, int(width or 0))
    out = np.empty((h, w, 3), dtype=np.uint8)
    out[:] = TILE_BACKGROUND
    left = (w - framed.shape[1]) // 2
    out[gap : gap + framed.shape[0], left : left + framed.shape[1]] = framed
    return out


def tiles(
    images: Sequence[np.ndarray], captions: Sequence[str], size: int = 56, gap: int = 4
) -> tuple[list[np.ndarray], int]:
    """Tiles of ``images`` all as wide as the widest caption word needs (see
    :func:`caption_width`), and that width: pass both to ``st.image(..., width=width)`` so
    the images are shown at their own size, crisp, with captions unbroken."""
    first = tile(images[0], size, gap) if len(images) else np.zeros((1, 1, 3), np.uint8)
    width = max(first.shape[1], caption_width(captions, 0))
    return [tile(im, size, gap, width) for im in images], width


def caption_width(captions: Iterable[str], minimum: int = 56, px_per_char: float = 8.0) -> int:
    """Thumbnail width (pixels) at which no caption breaks inside a word: the longest word of
    any caption must fit on one line (about ``px_per_char`` per character at the caption
    font), and never narrower than ``minimum``."""
    longest = max((len(w) for c in captions for w in str(c).split()), default=0)
    return max(minimum, int(np.ceil(longest * px_per_char)) + 8)


# ----------------------------------------------------------------------------- charts


def class_balance(
    train_counts: Sequence[int], test_counts: Sequence[int], class_names: Sequence[str]
) -> go.Figure:
    """Grouped bars: samples per class in the training and the test set."""
    names = [str(c) for c in class_names]
    fig = go.Figure(
        [
            go.Bar(name="train", x=names, y=list(map(int, train_counts)), marker_color="#0072B2"),
            go.Bar(name="test", x=names, y=list(map(int, test_counts)), marker_color="#E69F00"),
        ]
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="samples")
    return _style(fig, "Class balance", height=340)


def training_curve(history: Mapping[str, Sequence[float]]) -> go.Figure:
    """Training loss (top) and training accuracy in percent (bottom) per epoch, in two panels
    sharing the epoch axis: no second y-axis whose ticks fall at odd values."""
    loss = list(history.get("loss", []))
    acc = list(history.get("accuracy", []))
    epochs = list(range(1, max(len(loss), len(acc)) + 1))
    rows = int(bool(loss)) + int(bool(acc)) or 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    row = 1
    if loss:
        fig.add_scatter(
            x=epochs[: len(loss)],
            y=loss,
            name="loss",
            mode="lines+markers",
            line={"color": "#0072B2"},
            row=row,
            col=1,
        )
        fig.update_yaxes(title="loss", rangemode="tozero", row=row, col=1)
        row += 1
    if acc:
        fig.add_scatter(
            x=epochs[: len(acc)],
            y=acc,
            name="train accuracy (%)",
            mode="lines+markers",
            line={"color": "#D55E00"},
            row=row,
            col=1,
        )
        fig.update_yaxes(
            title="accuracy (%)", range=[0, 102], tickvals=[0, 25, 50, 75, 100], row=row, col=1
        )
    fig.update_xaxes(title="epoch", row=rows, col=1)
    return _style(fig, "Training curve", height=200 + 130 * rows, legend=None)


def per_class_accuracy(
    accuracy: Sequence[float], class_names: Sequence[str], overall: float | None = None
) -> go.Figure:
    """Test accuracy (percent) of each class as bars, with the overall accuracy as a dashed
    line named in the legend (not written over the bars)."""
    names = [str(c) for c in class_names]
    acc = [float(a) for a in accuracy]
    labels = show_bar_labels(len(names))
    text = [f"{a:.0f}" if np.isfinite(a) else "" for a in acc]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=acc,
            marker_color=[class_colour(i) for i in range(len(names))],
            text=text if labels else None,
            textposition="none",  # the values go under the class names, clear of the line
            name="per class",
            showlegend=False,
            hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
        )
    )
    if labels:
        fig.update_xaxes(
            tickmode="array",
            tickvals=names,
            ticktext=[f"{n}<br><b>{t}</b>" if t else n for n, t in zip(names, text, strict=True)],
        )
    if overall is not None:
        fig.add_hline(y=float(overall), line={"color": RETRAIN_COLOUR, "dash": "dash"})
        reference_legend(fig, f"overall {overall:.1f}%", RETRAIN_COLOUR, "dash")
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="test accuracy (%)", range=[0, 103], tickvals=[0, 25, 50, 75, 100])
    return _style(
        fig, "Per-class test accuracy", height=340, legend="below" if overall is not None else None
    )


def embedding_scatter(
    coords: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    ids: Sequence[int] | np.ndarray | None = None,
    marked: Iterable[int] = (),
    title: str | None = None,
    axis_titles: tuple[str, str] = ("component 1", "component 2"),
    height: int = 540,
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
                    "line": {"color": MARKED_COLOUR, "width": 1.6},
                },
                customdata=ids[rows].reshape(-1, 1),
                hovertemplate="marked · sample %{customdata[0]}<extra></extra>",
            )
        )
    fig.update_layout(dragmode="lasso", clickmode="event+select")
    fig.update_xaxes(title=axis_titles[0])
    fig.update_yaxes(title=axis_titles[1])
    return _style(fig, title, height=height, toolbar=True)


def project_2d(x: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D coordinates of feature vectors: the first two features when there are at most two,
    else the top two principal components. Returns the coordinates and the axis titles."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    if x.shape[1] == 1:
        return np.column_stack([x[:, 0], np.zeros(len(x))]), ("x₁", "")
    if x.shape[1] == 2:
        return x, ("x₁", "x₂")
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = s**2 / max(float((s**2).sum()), 1e-12)
    coords = centred @ vt[:2].T
    return coords, (f"PC 1 ({share[0]:.0%} of the variance)", f"PC 2 ({share[1]:.0%})")


def feature_scatter(
    x: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    marked: Iterable[int] = (),
    title: str = "The training set",
    height: int = 420,
) -> go.Figure:
    """Points or tabular rows as a scatter coloured by class (raw axes for 2-D data, the first
    two principal components otherwise): what a thumbnail cannot show for non-image data."""
    coords, axes = project_2d(x)
    fig = embedding_scatter(
        coords, labels, class_names, marked=marked, title=title, axis_titles=axes, height=height
    )
    return _style(fig, title, height=height).update_layout(dragmode="zoom", clickmode="event")

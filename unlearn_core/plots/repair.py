"""Figures of a repair comparison (``unlearn_core.repair``): is the damage undone?

- :func:`attack_bars`: attack success of the backdoor (or reliance on the spurious feature),
  the accuracy on triggered images and the attribution on the patch, one bar per model;
- :func:`restoration_bars`: Warnecke et al.'s restoration ratio on clean test accuracy and on
  the corrupted samples' true labels;
- :func:`patch_share_bars` and :func:`outline_patch`: the attribution view's share of the
  attribution on the patch, and the patch drawn on an attribution grid.

They follow :mod:`.style` and draw the bars as :mod:`.results` does (one colour per model, the
original first, retrain's value as a dotted line, standard deviations over seeds as error bars
where the metrics carry ``<key>_std``); a repair adds the ``clean`` model (trained on the
uncorrupted data) as a row and as a dashed line: the model the repair should approach. No
Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..experiment import Comparison
from .results import REF_LINE, REF_NAME, _category_rows, _hbars, _linear_room, _results, _std
from .results import _value as _metric
from .style import (
    CLEAN,
    ORIGINAL_COLOUR,
    RETRAIN_COLOUR,
    bar_height,
    method_colour,
    reference_legend,
    style,
)

#: the dashed line of the clean model's value and its legend entry
CLEAN_DASH = "dash"
CLEAN_NAME = "clean model's value (trained without the corruption)"

#: the attack chart's panels: row key, axis title
ATTACK_PANELS = (
    ("asr", "attack success (%)"),
    ("trigger_acc", "accuracy, triggered (%)"),
    ("patch_attr", "attribution on patch (%)"),
)
#: the restoration chart's panels
RESTORATION_PANELS = (
    ("restoration", "restoration, test accuracy"),
    ("restoration_tla", "restoration, true labels"),
)


def scenario_of(comp: Comparison) -> dict | None:
    """The repair scenario a comparison ran (its summary), or None for a plain one."""
    return (comp.forget or {}).get("scenario") or None


def _class_name(c, classes: Sequence[str] | None) -> str:
    if c is None:
        return "?"
    return str(classes[int(c)]) if classes is not None else str(c)


def _room(values, top: float | None, errors) -> tuple[float, list]:
    """Where the value labels start and the axis range: as :func:`.results._linear_room`, with
    the labels a little further out, so a reference line just past the longest bar (clean's
    1.0 beside bars at 0) never runs into the first digit of a label."""
    at, rng = _linear_room(values, top=top, errors=errors)
    span = rng[1] - rng[0]
    return at + 0.03 * span, [rng[0], rng[1] + 0.03 * span]


def _panels(comp: Comparison, panels, *, top: float | None, spec: str, title: str):
    """One panel per key of ``panels`` that some row carries; bars per model, retrain dotted,
    clean dashed; the legend names the lines drawn."""
    res = _results(comp)
    names = [r.method for r in res]
    shown = [(k, t) for k, t in panels if any(_metric(r, k) is not None for r in res)]
    if not shown:
        raise ValueError(f"no row of this comparison carries {', '.join(k for k, _ in panels)}")
    fig = make_subplots(rows=1, cols=len(shown), shared_yaxes=True, horizontal_spacing=0.05)
    ref, clean = comp.reference, comp.get(CLEAN)
    lines = {"retrain": False, "clean": False}
    for j, (key, axis) in enumerate(shown, start=1):
        vals = [_metric(r, key) for r in res]
        errs = [_std(r, key) for r in res]
        at, rng = _room(vals, top, errs)
        _hbars(fig, names, vals, spec, label_x=at, label=axis, errors=errs, row=1, col=j)
        extra = {"tickvals": [0, 50, 100]} if top == 100.0 else {}
        fig.update_xaxes(title=axis, range=rng, row=1, col=j, **extra)
        v = _metric(ref, key) if ref is not None else None
        if v is not None:
            fig.add_vline(x=v, line=REF_LINE, layer="below", row=1, col=j)
            lines["retrain"] = True
        c = _metric(clean, key) if clean is not None and clean.ok else None
        if c is not None:
            line = {"color": method_colour(CLEAN), "dash": CLEAN_DASH, "width": 2}
            fig.add_vline(x=c, line=line, layer="below", row=1, col=j)
            lines["clean"] = True
    if lines["retrain"]:
        reference_legend(fig, REF_NAME, RETRAIN_COLOUR)
    if lines["clean"]:
        reference_legend(fig, CLEAN_NAME, method_colour(CLEAN), CLEAN_DASH)
    _category_rows(fig, names)
    any_line = lines["retrain"] or lines["clean"]
    return style(
        fig,
        title,
        height=bar_height(len(names), 1 if any_line else 0),
        legend="below" if any_line else None,
    )


def attack_bars(comp: Comparison, classes: Sequence[str] | None = None) -> go.Figure:
    """Attack success (``asr``), accuracy on triggered images (``trigger_acc``) and, where
    scored, the attribution on the patch (``patch_attr``) per model: the original first, then
    retrain, the methods and ``clean``. For the feature scenario the first panel is the
    reliance on the spurious patch. Raises ``ValueError`` when no row carries ``asr``."""
    sc = scenario_of(comp) or {}
    if sc.get("kind") == "feature":
        cls = _class_name(sc.get("from_class"), classes)
        title = f"Reliance on the spurious patch: stamped images put in class {cls}"
        panels = (("asr", "put in that class (%)"), *ATTACK_PANELS[1:])
    else:
        cls = _class_name(sc.get("target_class"), classes)
        title = f"Backdoor: triggered images put in target class {cls}"
        panels = ATTACK_PANELS
    if not any(_metric(r, "asr") is not None for r in _results(comp)):
        raise ValueError("no row of this comparison carries attack success (asr)")
    return _panels(comp, panels, top=100.0, spec=".1f", title=title)


def restoration_bars(comp: Comparison) -> go.Figure:
    """Restoration = (after − before) / (clean − before) per model on clean test accuracy
    (``restoration``) and on the corrupted samples' true labels (``restoration_tla``): 0 is the
    original (before), 1 the clean model; retrain's value dotted. A missing ratio (the clean
    model no better than the original) reads "n/a"."""
    return _panels(
        comp,
        RESTORATION_PANELS,
        top=1.0,
        spec=".2f",
        title="Restoration: share of the damage undone (0 = original, 1 = clean model)",
    )


def damage_gap(comp: Comparison, key: str = "test_acc") -> float | None:
    """``clean − original`` on ``key`` (points): the denominator of the restoration ratio. A
    gap of a few test images makes the ratio move in large steps."""
    clean = comp.get(CLEAN)
    if clean is None or not clean.ok:
        return None
    a, b = _metric(clean, key), _metric(comp.original, key)
    return None if a is None or b is None else a - b


def patch_share_bars(
    shares: Mapping[str, float | None],
    *,
    uniform: float | None = None,
    title: str = "Attribution on the patch",
    axis: str = "share of the attribution on the patch (%)",
) -> go.Figure:
    """One bar per model (its colour) of the share of attribution on the patch; ``uniform``
    (the patch's share of the input's coordinates) dotted: what an attribution that ignored
    the patch would put there on average."""
    names = list(shares)
    vals = [None if shares[n] is None else float(shares[n]) for n in names]
    fig = go.Figure()
    at, rng = _linear_room(vals + ([uniform] if uniform is not None else []))
    _hbars(fig, names, vals, ".1f", label_x=at, suffix=" %", label=axis)
    fig.update_xaxes(title=axis, range=rng)
    if uniform is not None:
        fig.add_vline(x=uniform, line={"color": ORIGINAL_COLOUR, "dash": "dot", "width": 2})
        reference_legend(fig, f"patch's share of the pixels ({uniform:.1f} %)", ORIGINAL_COLOUR)
    _category_rows(fig, names)
    return style(
        fig,
        title,
        height=bar_height(len(names), 1 if uniform is not None else 0),
        legend="below" if uniform is not None else None,
    )


def patch_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The patch's bounding box in pixel coordinates ``(x0, y0, x1, y1)`` (cell edges, as a
    heatmap draws pixel ``i`` from ``i - 0.5`` to ``i + 0.5``) of a ``(C x) H x W`` mask; None
    for a mask that is not an image's or is empty."""
    m = np.asarray(mask, dtype=bool)
    while m.ndim > 2:
        m = m.any(axis=0)
    if m.ndim != 2 or not m.any():
        return None
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    return cols[0] - 0.5, rows[0] - 0.5, cols[-1] + 0.5, rows[-1] + 0.5


def outline_patch(fig: go.Figure, mask: np.ndarray, colour: str = "#00A000") -> go.Figure:
    """Draw the patch's outline on every image / heatmap cell of ``fig`` (an attribution grid),
    so the eye finds the trigger in each model's map."""
    box = patch_box(mask)
    if box is None:
        return fig
    x0, y0, x1, y1 = box
    seen = set()
    for tr in fig.data:
        if tr.type not in ("heatmap", "image"):
            continue
        axes = (tr.xaxis or "x", tr.yaxis or "y")
        if axes in seen:
            continue
        seen.add(axes)
        fig.add_shape(
            type="rect", x0=x0, y0=y0, x1=x1, y1=y1, xref=axes[0], yref=axes[1],
            line={"color": colour, "width": 1.5}, fillcolor="rgba(0,0,0,0)",
        )  # fmt: skip
    return fig

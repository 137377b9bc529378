"""Checks on drawn plotly figures, shared by the figure-style test (plotly.js in Chromium) and
the browser walk-through (the app's charts): boxes that must not meet, colours per method."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import numpy as np

#: JS run on a ``.js-plotly-plot`` element: the screen boxes of what must stay apart
BOXES_JS = """
(gd) => {
  const box = el => {
    const b = el.getBoundingClientRect();
    return (b.width > 0 && b.height > 0) ? [b.left, b.top, b.right, b.bottom] : null;
  };
  const all = sel => Array.from(gd.querySelectorAll(sel)).map(box).filter(Boolean);
  const ticks = Array.from(gd.querySelectorAll('.xaxislayer-above .xtick text'))
    .map(box).filter(Boolean);
  return {
    title: all('.g-gtitle .gtitle'),
    legend: all('.legend > .bg'),
    xtitle: all('[class^="g-x"][class$="title"] text'),
    annotations: all('.annotation-text-g'),
    xticks: ticks,
    plot: all('.draglayer .nsewdrag'),
    figure: [box(gd)],
  };
}
"""


def _meet(a, b, pad: float = 0.5) -> bool:
    return a[0] < b[2] - pad and b[0] < a[2] - pad and a[1] < b[3] - pad and b[1] < a[3] - pad


def overlaps(boxes: Mapping) -> list[str]:
    """What collides in one drawn figure: the title with the legend or a label, the legend with
    the x-axis title or tick labels, two labels with each other."""
    found = []
    top = boxes["figure"][0][1] if boxes.get("figure") else None
    for t in boxes.get("title", []):
        if top is not None and t[1] < top - 0.5:
            found.append(f"title {t} is cut off above the figure (top {top})")
    pairs = [
        ("title", "plot"),
        ("title", "legend"),
        ("title", "annotations"),
        ("legend", "xtitle"),
        ("legend", "xticks"),
        ("legend", "annotations"),
    ]
    for a, b in pairs:
        for x in boxes.get(a, []):
            for y in boxes.get(b, []):
                if _meet(x, y):
                    found.append(f"{a} {x} meets {b} {y}")
    anns = boxes.get("annotations", [])
    for i, x in enumerate(anns):
        for y in anns[i + 1 :]:
            if _meet(x, y):
                found.append(f"label {x} meets label {y}")
    return found


def _items(v) -> list:
    if isinstance(v, list | tuple):
        return list(v)
    return [] if v is None else [v]


def method_colours(traces: Iterable[Mapping], names: Iterable[str]) -> dict[str, set[str]]:
    """Colour(s) each method is drawn in across ``traces`` (plotly trace dicts): a trace named
    after the method, or one bar per method (its category axis holding method names)."""
    names = set(names)
    out: dict[str, set[str]] = {}
    for t in traces:
        marker = t.get("marker") or {}
        colour = marker.get("color")
        line = (t.get("line") or {}).get("color")
        if isinstance(colour, list | tuple):
            cats = t.get("y") if t.get("orientation") == "h" else t.get("x")
            for cat, c in zip(_items(cats), colour, strict=False):
                if isinstance(cat, str) and cat in names:
                    out.setdefault(cat, set()).add(str(c).lower())
        elif t.get("name") in names and (colour or line):
            out.setdefault(t["name"], set()).add(str(colour or line).lower())
    return out


def plotly_array(v) -> np.ndarray:
    """A plotly array property, decoding plotly's typed-array JSON (``bdata``) if present."""
    if isinstance(v, dict) and "bdata" in v:
        raw = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = [int(n) for n in str(v.get("shape", len(raw))).split(",")]
        return raw.reshape(shape)
    return np.asarray(v)

"""One figure style for the app, notebooks and the HTML report (plotly only, no Streamlit).

The rules every chart follows, so a chart stays readable on a projector at 1024x768:

- The title sits in the top margin and the legend below the plot area (or there is none), so the
  two never meet; explanations go in legend entries, never in annotations over the data.
- Each method keeps one colour on every chart and page: ``original`` and ``retrain`` are fixed
  greys, the other methods take the colour of their place in the method registry from a
  16-colour colour-blind-safe palette; the second eight also carry a hatch, so hues that look
  alike still differ. The demonstrations come after the methods; unknown names get a stable
  colour from their hash. A figure is given the method's registry name (labels go in
  ``labels``), so a display label never turns into a colour of its own.
- Classes take Tableau 10's ten distinct hues (:data:`CLASS_PALETTE`); the forget samples are
  :data:`FORGET_MARKER` on every scatter, named :data:`FORGET_MARKER_NAME` in captions.
- Numbers written on coloured cells pick black or white, whichever contrasts more with the
  cell (:func:`text_colour`); a shaded grid carries its colour bar.
- Value labels are drawn only where they stay legible (horizontal bars always have a row of
  their own; vertical bars beyond :data:`MAX_BAR_LABELS` go without, the hover has them).
- Log axes are labelled at 1-2-5 in each decade once (only at powers of ten when the data spans
  more than three decades); axes zoom to the data where the natural 0-1 range hides it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

ORIGINAL = "original"
REFERENCE = "retrain"  # the same name as ``unlearn_core.experiment.REFERENCE``

#: 24 method colours in three groups of eight: the first two picked from Okabe & Ito's and
#: Paul Tol's colour-blind-safe sets, the third searched for the same rule (with 17 methods
#: registered, 16 no longer gave each its own). With the two greys, any two colours of one group
#: stay at least 13 CIELAB units apart under simulated protanopia, deuteranopia and tritanopia
#: (Machado et al. 2009; ``tests/test_figure_style.py`` checks it). The second group is hatched
#: ``/``, the third ``x`` (:data:`GROUP_PATTERNS`), which tells the groups apart.
METHOD_PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#332288",  # indigo
    "#BB5566",  # rose
    "#225522",  # dark green
    "#882255",  # wine
    "#117733",  # green (hatched from here on)
    "#AA4499",  # purple
    "#CCBB44",  # olive yellow
    "#66CCEE",  # cyan
    "#997700",  # ochre
    "#EE3377",  # magenta
    "#663333",  # brown
    "#6688DD",  # cornflower (searched; the plum here looked like slot 9's purple at bar size)
    "#118811",  # grass green (cross-hatched from here on)
    "#556633",  # olive drab
    "#7799CC",  # periwinkle
    "#AA6666",  # dusty rose
    "#AA0099",  # violet
    "#EE2211",  # red
    "#77AA55",  # leaf green
    "#6666CC",  # slate blue
)
#: the bar hatch of each group of eight palette colours
GROUP_PATTERNS = ("", "/", "x")
ORIGINAL_COLOUR = "#9A9A9A"
RETRAIN_COLOUR = "#222222"
#: a repair comparison's ``clean`` reference (``unlearn_core.repair.CLEAN``, trained on the
#: uncorrupted data): a fixed violet, at least 35 CIELAB units from every palette colour and
#: grey under the three simulated colour-vision deficiencies (it hashed onto a method's colour)
CLEAN = "clean"
CLEAN_COLOUR = "#9911FF"
#: forget / retain / test samples (attack histograms, displacement boxes)
SET_COLOURS = {"forget": "#D55E00", "retain": "#0072B2", "test": "#009E73"}
FORGET_COLOUR = SET_COLOURS["forget"]
#: how captions name :data:`FORGET_COLOUR` (Okabe-Ito vermillion reads as orange)
FORGET_COLOUR_NAME = "orange"
#: the forget samples on every scatter (embeddings, decision regions): crosses drawn on top
FORGET_MARKER = {
    "symbol": "x",
    "size": 8,
    "color": FORGET_COLOUR,
    "line": {"width": 1, "color": "black"},
}
#: how captions name :data:`FORGET_MARKER` (a dense cluster of them reads mostly black)
FORGET_MARKER_NAME = f"{FORGET_COLOUR_NAME} crosses edged in black"
#: the unperturbed units of the LRP neuron charts, and how captions name them
OTHER_UNIT_COLOUR = "#9ECAE1"
OTHER_UNIT_COLOUR_NAME = "light blue"
#: Tableau 10 (Maureen Stone's 2016 revision, Tableau's default categorical palette): ten
#: distinct hues, any two at least 18 CIEDE2000 units apart (``tests/test_figure_readability.py``
#: checks ΔE00 > 15). Reordered: the three nearest the forget crosses' vermillion (red, brown,
#: orange) come last, so data with up to 7 classes never draws a class in a forget-like colour
TABLEAU_10: tuple[str, ...] = (
    "#4E79A7",  # blue
    "#59A14F",  # green
    "#B07AA1",  # purple
    "#EDC948",  # yellow
    "#76B7B2",  # teal
    "#FF9DA7",  # pink
    "#BAB0AC",  # grey
    "#E15759",  # red
    "#9C755F",  # brown
    "#F28E2B",  # orange
)
#: class colours (scatter plots, class bars): Tableau 10 for the first ten classes, then the
#: method palette (hues repeat from class 11 on); cycles after 26 classes
CLASS_PALETTE: tuple[str, ...] = TABLEAU_10 + METHOD_PALETTE

FONT_SIZE = 13
TITLE_SIZE = 16
#: vertical bars in one chart above which value labels are left to the hover
MAX_BAR_LABELS = 24
#: labelled ticks on a log axis at most
MAX_TICKS = 8
#: pixels per horizontal bar row (keeps 12 px value labels legible for any number of methods)
ROW_PX = 26
TEMPLATE = "plotly_white"


# ----------------------------------------------------------------------------- colours


#: the palette's slots, in order, of the methods registered when it was laid out: a slot stays
#: with its method, so a method file added later (whatever its name sorts as) takes the next
#: free slot and moves no colour (slot 15, Warnecke second-order, was picked on purpose)
PINNED_SLOTS: tuple[str, ...] = (
    "finetune", "fisher", "neggrad", "neggrad_plus", "l1_sparse", "lrp", "lrp_class",
    "lrp_until", "random_labels", "salun", "scrub", "sisa", "ssd", "ssd_adaptive",
    "warnecke_first", "warnecke_second", "mia_guided", "logit_suppression",
)  # fmt: skip


def _registry_order() -> list[str]:
    """The palette order: :data:`PINNED_SLOTS`, then the other registered methods in registry
    order, the demonstrations after them."""
    from ..methods import list_methods  # at call time: methods registered later count too

    methods = [s.name for s in list_methods() if s.name not in (ORIGINAL, REFERENCE)]
    demos = [s.name for s in list_methods(demonstrations=True) if s.name not in methods]
    later = [n for n in methods + demos if n not in PINNED_SLOTS and n not in (ORIGINAL, REFERENCE)]
    return [*PINNED_SLOTS, *later]


def _language_order() -> list[str]:
    """The text track's methods (a text comparison shows no image method, so they take the
    palette from its first slot)."""
    from ..methods import list_methods
    from ..methods.base import LANGUAGE

    return [s.name for s in list_methods(LANGUAGE) if s.name not in (ORIGINAL, REFERENCE)]


def method_index(name: str) -> int:
    """The palette slot of ``name``: its place among the registered methods (original and
    retrain aside; the text track's among its own), or for an unregistered name a slot from a
    stable hash of it."""
    language = _language_order()
    if name in language:
        return language.index(name) % len(METHOD_PALETTE)
    order = _registry_order()
    if name in order:
        return order.index(name) % len(METHOD_PALETTE)
    free = [i for i in range(len(METHOD_PALETTE)) if i >= len(order)]
    pool = free or list(range(len(METHOD_PALETTE)))
    return pool[zlib.crc32(name.encode()) % len(pool)]


def method_colour(name: str) -> str:
    """The colour of ``name`` on every chart: fixed greys for original and retrain."""
    if name == ORIGINAL:
        return ORIGINAL_COLOUR
    if name == REFERENCE:
        return RETRAIN_COLOUR
    if name == CLEAN:
        return CLEAN_COLOUR
    return METHOD_PALETTE[method_index(name)]


def method_pattern(name: str) -> str:
    """The bar hatch of ``name`` ("" for none): the palette's second group of eight is hatched
    ``/``, its third ``x``."""
    if name in (ORIGINAL, REFERENCE, CLEAN):
        return ""
    return GROUP_PATTERNS[method_index(name) // 8]


def method_colours(names: Iterable[str]) -> dict[str, str]:
    return {n: method_colour(n) for n in names}


def class_colour(c: int) -> str:
    return CLASS_PALETTE[int(c) % len(CLASS_PALETTE)]


def _luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour given as 0-255 components."""
    c = np.asarray(rgb, dtype=float)[:3] / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def parse_colour(colour: str) -> tuple[float, float, float]:
    """``#RRGGBB`` or ``rgb(r, g, b)`` as 0-255 components."""
    colour = colour.strip()
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    inside = colour[colour.index("(") + 1 : colour.index(")")]
    return tuple(float(v) for v in inside.split(",")[:3])  # type: ignore[return-value]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1: the same; 21: black on white)."""
    la, lb = sorted((_luminance(parse_colour(a)), _luminance(parse_colour(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    white = contrast_ratio(background, "#FFFFFF")
    black = contrast_ratio(background, "#000000")
    return "#FFFFFF" if white > black else "#000000"


def scale_colour(colorscale: str, value: float, lo: float, hi: float) -> str:
    """The colour plotly paints ``value`` in on ``colorscale`` over ``[lo, hi]``."""
    from plotly.colors import get_colorscale, sample_colorscale

    t = 0.0 if hi <= lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
    return sample_colorscale(get_colorscale(colorscale), [t])[0]


def bar_marker(names: Sequence[str]) -> dict:
    """``marker`` for one bar per method: its colour and hatch."""
    return {
        "color": [method_colour(n) for n in names],
        "pattern": {"shape": [method_pattern(n) for n in names], "solidity": 0.35, "size": 6},
        "line": {"width": 0},
    }


# ----------------------------------------------------------------------------- layout


def wrap(text: str, width: int = 50) -> str:
    """``text`` broken into ``<br>``-separated lines of at most ``width`` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def style(
    fig: go.Figure,
    title: str | None,
    *,
    height: int = 360,
    legend: str | None = "below",
    top_labels: bool = False,
    toolbar: bool = False,
    left: int = 60,
    right: int = 24,
    bottom: int = 50,
    title_chars: int = 50,
    title_lines: int = 0,
) -> go.Figure:
    """Apply the house style: title in the top margin, legend below the plot area (``"below"``)
    or none (``None``), readable fonts, white template.

    ``top_labels`` leaves a line of the top margin free for subplot column labels;
    ``toolbar`` puts the title under the row plotly's toolbar takes (for charts drawn with
    their selection tools). Titles wrap at ``title_chars`` characters (50: clear of the app's
    fullscreen button; fewer for a chart drawn in a narrow column). Margins grow for tick labels
    and the legend (plotly's automargin). ``title_lines`` reserves room for at least that many
    title lines (charts drawn side by side then start their plots at the same height).
    """
    text = wrap(title, title_chars) if title else ""
    drawn = text.count("<br>") + 1 if text else 0
    lines = max(drawn, title_lines)
    below = 28 if toolbar else 0
    top = 14 + 22 * lines + (26 if top_labels else 0) + (6 if lines else 0) + below
    layout: dict = {
        "template": TEMPLATE,
        "height": height,
        "font": {"size": FONT_SIZE},
        "margin": {"l": left, "r": right, "t": top, "b": bottom, "autoexpand": True},
        "showlegend": legend is not None,
        "hoverlabel": {"font_size": FONT_SIZE},
    }
    if text:
        layout["title"] = {
            "text": text,
            "font": {"size": TITLE_SIZE},
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            # plotly sets a multi-line title about half a line too high: move it back down
            "pad": {"t": 10 + below + (12 if drawn > 1 else 0), "l": 12},
        }
    else:
        layout["title"] = {"text": ""}
    if legend == "below":
        layout["legend"] = {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            # anchored to the figure's bottom edge: plotly's automargin then shrinks the plot
            # area to make room, so the legend clears the x-axis title at every width
            "y": 0,
            "yanchor": "bottom",
            "yref": "container",
            "font": {"size": FONT_SIZE - 1},
            "itemsizing": "constant",
        }
    fig.update_layout(**layout)
    fig.update_xaxes(automargin=True, title_standoff=8)
    fig.update_yaxes(automargin=True, title_standoff=8)
    return fig


def reference_legend(fig: go.Figure, name: str, colour: str, dash: str = "dot") -> None:
    """A legend entry for reference lines drawn as shapes (the lines carry no labels)."""
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="lines",
        name=name,
        line={"color": colour, "dash": dash, "width": 2},
        hoverinfo="skip",
    )


# ----------------------------------------------------------------------------- axes


def tick_text(v: float) -> str:
    """A tick label without float noise: 0.001, 0.02, 0.5, 1, 20, 5,000; below 0.001 and from
    100,000 on as powers of ten (2×10<sup>−5</sup>), which stay short."""
    if v <= 0:
        return f"{v:g}"
    k = math.floor(math.log10(v) + 1e-9)
    if k < -3 or k >= 5:
        m = round(v / 10.0**k, 6)
        sign = "−" if k < 0 else ""
        power = f"10<sup>{sign}{abs(k)}</sup>"
        return power if m == 1 else f"{m:g}×{power}"
    if v >= 1:
        return f"{v:,.0f}" if v >= 1000 else f"{v:g}"
    return f"{v:.{-k}f}".rstrip("0").rstrip(".") if v != 10.0**k else f"{v:.{-k}f}"


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis over ``[lo, hi]`` (both > 0), each value once:
    1, 2 and 5 in every decade while that makes at most :data:`MAX_TICKS` labels, else the
    powers of ten (every other one, or sparser, over very wide spans)."""
    lo, hi = min(lo, hi), max(lo, hi)
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))

    def within(steps: tuple[int, ...]) -> list[float]:
        vals = [m * 10.0**k for k in range(k0, k1 + 1) for m in steps]
        return [v for v in vals if lo / 1.0001 <= v <= hi * 1.0001]

    vals = within((1, 2, 5))
    if len(vals) > MAX_TICKS:
        vals = within((1,))
        if len(vals) > MAX_TICKS:
            vals = vals[:: math.ceil(len(vals) / MAX_TICKS)]
    vals = vals or [10.0**k0]
    return vals, [tick_text(v) for v in vals]


def log_axis(values: Iterable[float | None], *, room: float = 3.0) -> dict:
    """``update_xaxes`` / ``update_yaxes`` arguments of a log axis over the positive
    ``values``, with ``room`` (a factor) past the largest for outside value labels."""
    vals = [float(v) for v in values if v is not None and np.isfinite(v) and v > 0]
    if not vals:
        return {"type": "log"}
    lo, hi = min(vals) / 1.5, max(vals) * room
    if hi / lo < 10:  # show at least one decade so the 1-2-5 ticks have something to label
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
    tv, tt = log_ticks(lo, hi)
    return {
        "type": "log",
        "range": [math.log10(lo), math.log10(hi)],
        "tickmode": "array",
        "tickvals": tv,
        "ticktext": tt,
    }


def zoom_range(
    values: Iterable[float | None],
    *,
    floor: float | None = None,
    ceil: float | None = None,
    pad: float = 0.12,
    min_span: float = 0.02,
) -> list[float]:
    """An axis range around the finite ``values`` (padded by ``pad`` of their span, at least
    ``min_span`` wide) and clipped to ``[floor, ceil]``: where a fixed 0-1 range would flatten
    the differences that matter."""
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return [floor if floor is not None else 0.0, ceil if ceil is not None else 1.0]
    lo, hi = min(vals), max(vals)
    span = max(hi - lo, min_span)
    a, b = lo - pad * span, hi + pad * span
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        a, b = mid - span / 2 - pad * span, mid + span / 2 + pad * span
    if floor is not None:
        a = max(a, floor)
    if ceil is not None:
        b = min(b, ceil)
    return [a, b]


def show_bar_labels(n_bars: int) -> bool:
    """Whether vertical bars get value labels: not beyond :data:`MAX_BAR_LABELS` bars."""
    return n_bars <= MAX_BAR_LABELS


def bar_height(n_rows: int, panels_below: int = 0, *, top: int = 70, bottom: int = 70) -> int:
    """Figure height for horizontal bars: :data:`ROW_PX` per row plus margins."""
    return top + bottom + ROW_PX * max(n_rows, 2) + 22 * panels_below


def fmt(v: float | None, spec: str) -> str:
    """``v`` formatted with ``spec`` or an empty string when missing."""
    if v is None or not np.isfinite(v):
        return ""
    return format(v, spec)

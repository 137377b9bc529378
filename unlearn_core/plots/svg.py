"""Small static charts as SVG text, for places where a chart must not wait for plotly.

The Data & model page is the first page a visitor sees; a plotly chart above its Train button
makes a new browser tab load and compile plotly.js before the button is drawn (about 3 s of a
2-core laptop's time, measured by ``benchmarks/app_speed.py``). An SVG string is drawn at once
(``st.image`` takes it as is) and needs no script. Same colours as :mod:`.setup`'s charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

TRAIN_COLOUR = "#0072B2"
TEST_COLOUR = "#E69F00"
TEXT = "#31333F"  # Streamlit's text colour
GRID = "#E6E9EF"
FONT = "font-family='Source Sans Pro, Source Sans 3, sans-serif'"  # the app's font first


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def class_balance_svg(
    train_counts: Sequence[int],
    test_counts: Sequence[int],
    class_names: Sequence[str],
    *,
    width: int = 720,
    height: int = 280,
) -> str:
    """Grouped bars of samples per class in the training and the test set (SVG markup).

    Each bar carries a tooltip (``<title>``) with its class and count; class names longer
    than the space under their bars are drawn slanted.
    """
    if len(train_counts) != len(class_names) or len(test_counts) != len(class_names):
        raise ValueError("one train count and one test count per class are needed")
    names = [str(c) for c in class_names]
    n = max(len(names), 1)
    ticks = nice_ticks(max([*map(int, train_counts), *map(int, test_counts), 1]))
    top = ticks[-1]
    left, right, title_h = 56, 12, 40
    slant = any(len(s) * 7 > (width - left - right) / n for s in names)
    bottom = 40 + (min(max(map(len, names), default=0), 16) * 5 if slant else 0)
    plot_w, plot_h = width - left - right, height - title_h - bottom
    base = title_h + plot_h

    def y(v: float) -> float:
        return base - plot_h * v / top

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='Class balance'>",
        f"<text x='0' y='18' {FONT} font-size='16' font-weight='600' fill='{TEXT}'>"
        "Class balance</text>",
    ]
    for i, (label, colour) in enumerate((("train", TRAIN_COLOUR), ("test", TEST_COLOUR))):
        x = width - right - 130 + i * 70
        parts.append(f"<rect x='{x}' y='7' width='12' height='12' fill='{colour}'/>")
        parts.append(
            f"<text x='{x + 17}' y='18' {FONT} font-size='13' fill='{TEXT}'>{label}</text>"
        )
    for t in ticks:
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y(t):.1f}' y2='{y(t):.1f}' "
            f"stroke='{GRID}'/>"
        )
        parts.append(
            f"<text x='{left - 6}' y='{y(t) + 4:.1f}' {FONT} font-size='12' fill='{TEXT}' "
            f"text-anchor='end'>{t:g}</text>"
        )
    parts.append(
        f"<text transform='translate(14 {title_h + plot_h / 2:.1f}) rotate(-90)' {FONT} "
        f"font-size='12' fill='{TEXT}' text-anchor='middle'>samples</text>"
    )
    group = plot_w / n
    bar = group * 0.38
    for k, name in enumerate(names):
        x0 = left + k * group + group * 0.12
        for j, (counts, colour, split) in enumerate(
            ((train_counts, TRAIN_COLOUR, "train"), (test_counts, TEST_COLOUR, "test"))
        ):
            v = int(counts[k])
            parts.append(
                f"<rect x='{x0 + j * bar:.1f}' y='{y(v):.1f}' width='{bar:.1f}' "
                f"height='{base - y(v):.1f}' fill='{colour}'><title>{escape(name)} · {split} "
                f"{v}</title></rect>"
            )
        cx = left + (k + 0.5) * group
        label = escape(name if len(name) <= 16 else name[:15] + "…")
        if slant:
            parts.append(
                f"<text transform='translate({cx:.1f} {base + 14}) rotate(-35)' {FONT} "
                f"font-size='12' fill='{TEXT}' text-anchor='end'>{label}</text>"
            )
        else:
            parts.append(
                f"<text x='{cx:.1f}' y='{base + 16}' {FONT} font-size='12' fill='{TEXT}' "
                f"text-anchor='middle'>{label}</text>"
            )
    parts.append(
        f"<text x='{left + plot_w / 2:.1f}' y='{height - 4}' {FONT} font-size='12' "
        f"fill='{TEXT}' text-anchor='middle'>class</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["class_balance_svg", "nice_ticks"]

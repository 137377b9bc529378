"""The SVG class-balance chart: well-formed, one bar per class and split, heights to scale."""

import xml.etree.ElementTree as ET

import pytest

from unlearn_core.plots.svg import class_balance_svg, nice_ticks

NS = "{http://www.w3.org/2000/svg}"


def test_bars_are_to_scale_and_carry_tooltips():
    svg = class_balance_svg([100, 50, 0], [20, 10, 5], ["a", "b<c", "d"])
    root = ET.fromstring(svg)  # well-formed, names escaped
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(bars) == 6
    heights = {r.find(f"{NS}title").text: float(r.get("height")) for r in bars}
    assert heights["a · train 100"] == pytest.approx(2 * heights["b<c · train 50"], rel=1e-2)
    assert heights["d · train 0"] == 0
    assert heights["a · test 20"] == pytest.approx(heights["a · train 100"] / 5, rel=1e-2)


def test_long_names_are_slanted_and_counts_must_match():
    svg = class_balance_svg([1] * 10, [1] * 10, [f"a very long class name {i}" for i in range(10)])
    assert "rotate(-35)" in svg
    with pytest.raises(ValueError, match="one train count"):
        class_balance_svg([1, 2], [1], ["a", "b"])


def test_nice_ticks_cover_the_top_in_round_steps():
    assert nice_ticks(183) == [0, 50, 100, 150, 200]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0) == [0.0, 1.0]

"""The figure style (``unlearn_core.plots.style``) and every figure drawn with it.

Colours: one per method, stable, distinct, colour-blind safe. Axes: 1-2-5 log ticks, zoomed
ranges. Layout: every figure drawn by plotly.js in headless Chromium at the chart widths of a
1024x768 and a 1600x1000 window, with every method selected: no title box meets a legend or a
label, no legend meets the x-axis title or tick labels.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import plotly
import plotly.io as pio
import pytest
from figure_checks import BOXES_JS, method_colours, overlaps

from browser_support import CHROMIUM_ARGS, chromium_path
from unlearn_core.experiment import REFERENCE
from unlearn_core.methods import list_methods
from unlearn_core.plots import results as P
from unlearn_core.plots import setup as S
from unlearn_core.plots import style

# ----------------------------------------------------------------------------- colours


def _lab_under(hexes: list[str], matrix: np.ndarray) -> np.ndarray:
    """CIELAB of ``hexes`` as seen through a colour-vision-deficiency ``matrix`` (linear RGB)."""
    c = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hexes], float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    sim = np.clip(lin @ matrix.T, 0, 1)
    xyz = (
        sim
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    )
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 216 / 24389, np.cbrt(t), (24389 / 27 * t + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


#: Machado, Oliveira & Fernandes (2009), severity 1.0
CVD = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def test_palette_has_24_colours_apart_under_colour_blindness():
    pal = list(style.METHOD_PALETTE)
    assert len(pal) >= 24 and len(set(pal)) == len(pal)
    greys = [style.ORIGINAL_COLOUR, style.RETRAIN_COLOUR]
    for half in (pal[:8], pal[8:16], pal[16:24]):  # groups are told apart by their hatching
        for name, m in CVD.items():
            lab = _lab_under(half + greys, m)
            worst = min(
                np.linalg.norm(lab[i] - lab[j])
                for i, j in itertools.combinations(range(len(lab)), 2)
            )
            assert worst > 12, (name, worst)
    # a hatched colour never repeats an unhatched one for normal vision
    lab = _lab_under(pal, CVD["normal"])
    assert min(np.linalg.norm(lab[i] - lab[j]) for i in range(8) for j in range(8, 24)) > 12
    assert min(np.linalg.norm(lab[i] - lab[j]) for i in range(8, 16) for j in range(16, 24)) > 12
    assert style.GROUP_PATTERNS[0] == "" and len(set(style.GROUP_PATTERNS)) == 3


def test_every_method_has_its_own_stable_colour():
    assert style.REFERENCE == REFERENCE
    names = [s.name for s in list_methods() if s.name != REFERENCE]
    colours = {n: style.method_colour(n) for n in names}
    assert len(set(colours.values())) == len(names)  # up to 24 methods: all different
    assert style.method_colour("original") == style.ORIGINAL_COLOUR
    assert style.method_colour(REFERENCE) == style.RETRAIN_COLOUR
    assert all(c not in (style.ORIGINAL_COLOUR, style.RETRAIN_COLOUR) for c in colours.values())
    # the same answer every time, and the hatch marks the palette's second and third groups
    assert colours == {n: style.method_colour(n) for n in names}
    for n in names:
        hatched = style.METHOD_PALETTE.index(colours[n]) >= 8
        assert (style.method_pattern(n) != "") == hatched
    # an unregistered name gets a stable colour, preferably one no registered method has
    unknown = style.method_colour("my_new_method")
    assert unknown == style.method_colour("my_new_method")
    if len(names) < len(style.METHOD_PALETTE):
        assert unknown not in colours.values()


def test_methods_registered_later_get_a_colour_of_their_own(monkeypatch):
    from unlearn_core.methods import base

    extra = NS(spec=NS(name="zz_later", family="approximate"))
    monkeypatch.setitem(base.REGISTRY, "zz_later", extra)
    names = [s.name for s in list_methods() if s.name != REFERENCE]
    assert "zz_later" in names
    assert len({style.method_colour(n) for n in names}) == min(
        len(names), len(style.METHOD_PALETTE)
    )


def test_a_method_added_later_moves_no_colour_whatever_its_name(monkeypatch):
    from unlearn_core.methods import base

    before = {s.name: style.method_colour(s.name) for s in list_methods()}
    extra = NS(spec=NS(name="aaa_first_by_name", family="approximate"))
    # registered first, as a method file whose name sorts first is imported first
    monkeypatch.setattr(base, "REGISTRY", {"aaa_first_by_name": extra, **base.REGISTRY})
    assert {n: style.method_colour(n) for n in before} == before
    assert style.method_colour("aaa_first_by_name") not in before.values()


def test_the_text_methods_have_colours_of_their_own_among_themselves():
    from unlearn_core.methods.base import LANGUAGE

    names = [s.name for s in list_methods(LANGUAGE) if s.name != REFERENCE]
    assert len(names) >= 7
    assert len({style.method_colour(n) for n in names}) == len(names)


# ----------------------------------------------------------------------------- axes


def test_log_ticks_label_each_value_once_at_1_2_5():
    vals, text = style.log_ticks(0.04, 9.0)
    assert vals == [0.05, 0.1, 0.2, 0.5, 1, 2, 5]
    assert text == ["0.05", "0.1", "0.2", "0.5", "1", "2", "5"]
    vals, text = style.log_ticks(0.004, 9.0)  # 1-2-5 would make 10 labels: decades only
    assert text == ["0.01", "0.1", "1"]
    vals, text = style.log_ticks(0.002, 2000.0)  # six decades: powers of ten only
    assert text == ["0.01", "0.1", "1", "10", "100", "1,000"]
    axis = style.log_axis([0.005, 0.2, 4.5])
    assert axis["type"] == "log" and axis["tickmode"] == "array"
    assert len(axis["ticktext"]) == len(set(axis["ticktext"])) <= style.MAX_TICKS
    assert style.tick_text(2e-5) == "2×10<sup>−5</sup>" and style.tick_text(0.05) == "0.05"


def test_zoom_range_shows_small_differences():
    lo, hi = style.zoom_range([0.97, 0.99, 0.995], ceil=1.0)
    assert 0.95 < lo < 0.97 and 0.995 < hi <= 1.0
    lo, hi = style.zoom_range([0.5, 0.5])
    assert hi - lo >= 0.02


def test_score_scale_spreads_piled_up_scores():
    rng = np.random.default_rng(0)
    conf = 1 - 10 ** rng.uniform(-9, -1, 500)  # confidences crowding at 1
    kind, t = P.score_scale(conf)
    assert kind == "logit"
    counts, _ = np.histogram(t(conf), bins=40)
    assert counts.max() < 0.2 * len(conf)  # on a 0-1 axis one bin would hold nearly all
    loss = 10 ** rng.uniform(-8, 0.5, 500)
    assert P.score_scale(loss)[0] == "log"
    assert P.score_scale(rng.normal(0, 1, 500))[0] == "linear"


# ----------------------------------------------------------------------------- every figure


def fake_comparison() -> NS:
    """Every registered method's results (no models): what the charts read."""
    rng = np.random.default_rng(0)
    names = [s.name for s in list_methods() if s.name != REFERENCE]

    def res(name, forget, seconds, ratio, gap):
        per_class = list(rng.uniform(85, 100, 10))
        per_class[3] = forget
        return NS(
            method=name,
            label=name,
            family="approximate",
            ok=True,
            error=None,
            seconds=seconds,
            time_ratio=ratio,
            avg_gap=gap,
            metrics={
                "forget_acc": forget,
                "retain_acc": float(rng.uniform(95, 100)),
                "test_acc": float(rng.uniform(84, 97)),
                "mia": float(rng.uniform(0, 100)),
                "loss_auc": float(rng.uniform(0.04, 0.55)),
                "per_class_test": per_class,
            },
        )

    ref = res(REFERENCE, 0.0, 4.2, 1.0, 0.0)
    ratios = np.geomspace(1 / 899, 0.3, len(names))
    results = [ref] + [
        res(n, float(rng.choice([0.0, 0.7, 12.0])), 4.2 * r, r, float(rng.uniform(0, 3)))
        for n, r in zip(names, ratios, strict=True)
    ]
    original = res("original", 100.0, None, None, None)
    return NS(
        original=original,
        results=results,
        reference=ref,
        forget={"forgotten_classes": [3], "n_forget": 146},
    )


def all_figures() -> dict[str, object]:
    rng = np.random.default_rng(1)
    comp = fake_comparison()
    classes = [f"class {c}" for c in range(10)]
    labels = rng.integers(0, 10, 300)
    is_forget = labels == 3
    frames = {n: rng.normal(size=(300, 2)) for n in ("original", "scrub", REFERENCE)}
    conf = {
        "forget": 1 - 10 ** rng.uniform(-3, -0.1, 146),
        "retain": 1 - 10 ** rng.uniform(-9, -2, 1200),
        "test": 1 - 10 ** rng.uniform(-6, -0.1, 359),
    }
    maps = {
        m: {n: rng.normal(size=(8, 8)) for n in ("original", "scrub", REFERENCE)}
        for m in ("integrated_gradients", "saliency", "lrp")
    }
    grid = {"xs": np.linspace(-2, 2, 30), "ys": np.linspace(-2, 2, 30)}
    grid["pred"] = (grid["xs"][None, :] + grid["ys"][:, None] > 0).astype(int)
    fpr = np.linspace(0, 1, 50)
    return {
        "class_balance": S.class_balance([140] * 10, [36] * 10, classes),
        "training_curve": S.training_curve(
            {"loss": list(np.geomspace(2, 0.01, 40)), "accuracy": list(np.linspace(30, 100, 40))}
        ),
        "per_class_accuracy": S.per_class_accuracy(rng.uniform(90, 100, 10), classes, 96.4),
        "forget_scatter": S.embedding_scatter(
            rng.normal(size=(300, 2)),
            labels,
            classes,
            marked=range(40),
            title="Training set, coloured by class (draw a lasso or a box to pick)",
        ),
        "feature_scatter": S.feature_scatter(rng.normal(size=(300, 5)), labels, classes),
        "accuracy_bars": P.accuracy_bars(comp),
        "mia_bars": P.metric_bars(comp, "mia", "MIA efficacy (target: retrain's)", unit="%"),
        "gap_bars": P.metric_bars(
            comp, "avg_gap", "Average gap to retrain", unit="points", reference_line=False
        ),
        "time_bars": P.time_bars(comp),
        "per_class_chart": P.per_class_chart(comp, classes),
        "embedding_panels": P.embedding_panels(frames, labels, is_forget, classes),
        "displacement": P.displacement_chart(
            {n: rng.uniform(0, 2, 300) for n in ("scrub", REFERENCE)}, is_forget
        ),
        "attributions": P.attribution_figure(maps, image=rng.integers(0, 255, (8, 8))),
        "relevance": P.relevance_bars(
            rng.normal(size=64), [3, 7, 9], counts=rng.integers(0, 9, 64)
        ),
        "boundary": P.decision_boundary_panels(
            {n: grid for n in ("original", "scrub", REFERENCE)},
            rng.normal(size=(300, 2)),
            labels % 2,
            is_forget,
            ["moon A", "moon B"],
        ),
        "confusion": P.confusion_heatmap(rng.integers(0, 40, (10, 10)), classes, "scrub"),
        "cka": P.cka_chart(
            ["fc1", "fc2", "head"],
            {"vs original": [0.99, 0.97, 0.91], "vs retrain": [0.95, 0.93, 0.88]},
        ),
        "attack_hist": P.score_histograms(conf, score_name="confidence", threshold=0.999),
        "attack_hist_loss": P.score_histograms(
            {k: -np.log(v) for k, v in conf.items()}, score_name="loss", threshold=0.01
        ),
        "roc": P.roc_chart(
            fpr, fpr**0.3, point=(0.2, 0.6), auc=0.81, model="scrub", attack="confidence attack"
        ),
    }


def test_method_colours_are_the_same_on_every_results_chart():
    figs = all_figures()
    names = ["original", REFERENCE, *(s.name for s in list_methods())]
    seen: dict[str, set[str]] = {}
    for fig in figs.values():
        for n, cs in method_colours(fig.to_plotly_json()["data"], names).items():
            seen.setdefault(n, set()).update(cs)
    assert {"original", REFERENCE, "scrub", "finetune"} <= set(seen)
    for n, cs in seen.items():
        assert cs == {style.method_colour(n).lower()}, (n, cs)


def test_vertical_bar_labels_are_left_out_when_too_many():
    many = [f"c{i}" for i in range(40)]
    fig = S.per_class_accuracy(np.full(40, 90.0), many)
    assert fig.data[0].text is None
    assert S.per_class_accuracy([90.0, 80.0], ["a", "b"]).data[0].text == ("90", "80")


def test_tiles_keep_thumbnails_apart_and_captions_whole():
    digit = np.zeros((8, 8), np.uint8)  # all black: without a gap two of them merge
    t = S.tile(digit, 56, gap=4)
    assert t.shape == (66, 66, 3)
    assert (t[:4] == 255).all() and (t[:, :4] == 255).all()  # background gap on the sides
    assert (t[4, 4:-4] == S.TILE_FRAME).all()  # a frame around the image
    tiles, width = S.tiles([digit, digit], ["horizontal bar", "ring"], 56)
    assert width >= 10 * 8 and all(x.shape[1] == width for x in tiles)  # "horizontal" fits


PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
#: the chart widths in a 1024x768 window (main column) and a 1600x1000 one
WIDTHS = (600, 1200)


@pytest.mark.skipif(chromium_path() is None, reason="no chromium installed")
def test_no_figure_has_overlapping_title_legend_or_labels():
    from playwright.sync_api import sync_playwright

    figs = all_figures()
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": max(WIDTHS) + 40, "height": 1000})
        page.set_content(
            "<html><body style='margin:0'><div id='g'></div><script>"
            + PLOTLY_JS.read_text()
            + "</script></body></html>"
        )
        # the layout the app had before: a title and a legend both at the top, colliding
        old = S.class_balance([140] * 10, [36] * 10, [str(c) for c in range(10)])
        old.layout.title = {"text": "Class balance"}
        old.update_layout(
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h", "yref": "paper", "y": 1.02, "yanchor": "bottom", "x": 0},
        )
        figs = {"control: the old layout": old, **figs}
        for width in WIDTHS:
            for name, fig in figs.items():
                spec = json.loads(pio.to_json(fig))
                page.evaluate(
                    "([d, l, w]) => { const g = document.getElementById('g'); g.style.width = w + 'px';"
                    " return Plotly.newPlot(g, d, l, {responsive: false}); }",
                    [spec["data"], spec["layout"], width],
                )
                boxes = page.evaluate(
                    BOXES_JS, page.query_selector("#g .js-plotly-plot") or page.query_selector("#g")
                )
                if fig.layout.title.text:
                    assert boxes["title"], f"{name}: title not drawn"
                found = overlaps(boxes)
                if name.startswith("control"):
                    assert found, "the check missed a title drawn over a legend"
                else:
                    problems += [f"{name} @ {width}px: {p}" for p in found]
        browser.close()
    assert not problems, "\n".join(problems)

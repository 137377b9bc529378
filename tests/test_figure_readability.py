"""What a new user could not read at 1024x768 (issue 23), pinned: confusion matrices two a row
with every class labelled, a per-class grid with a colour bar and legible numbers, error bars
clear of the value labels, square attribution cells (colour inputs in colour, no row named like
a model), class colours apart, one colour per method on the audit's charts too, the epsilon
scatter's clicks and selection, and captions computed from what is drawn."""

from __future__ import annotations

import itertools
import json

import numpy as np
import plotly.io as pio
import pytest
from figure_checks import method_colours
from test_figure_style import PLOTLY_JS, fake_comparison

from browser_support import CHROMIUM_ARGS, chromium_path
from unlearn_core.methods import list_methods
from unlearn_core.methods.lrp_npp import describe_log
from unlearn_core.plots import audit as A
from unlearn_core.plots import results as P
from unlearn_core.plots import style

CLASSES = [str(c) for c in range(10)]

# ----------------------------------------------------------------------------- colour distance


def _lab(hexes: list[str]) -> np.ndarray:
    c = np.array([style.parse_colour(h) for h in hexes], float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    t = (lin @ m.T) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 216 / 24389, np.cbrt(t), (24389 / 27 * t + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def delta_e2000(a: np.ndarray, b: np.ndarray) -> float:
    """CIEDE2000 colour difference of two CIELAB colours (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = a, b
    cb = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(cb**7 / (cb**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    if c1p * c2p == 0:
        dh = 0.0
    elif dh > 180:
        dh -= 360
    elif dh < -180:
        dh += 360
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    lbp, cbp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbp = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbp = (h1p + h2p) / 2
    else:
        hbp = (h1p + h2p + (360 if h1p + h2p < 360 else -360)) / 2
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    rt = (
        -np.sin(np.radians(60 * np.exp(-(((hbp - 275) / 25) ** 2))))
        * 2
        * np.sqrt(cbp**7 / (cbp**7 + 25**7))
    )
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc, sh = 1 + 0.045 * cbp, 1 + 0.015 * cbp * t
    dl, dc = (l2 - l1) / sl, (c2p - c1p) / sc
    return float(np.sqrt(dl**2 + dc**2 + (dhp / sh) ** 2 + rt * dc * (dhp / sh)))


def closest_pair(hexes: list[str]) -> float:
    lab = _lab(hexes)
    return min(delta_e2000(lab[i], lab[j]) for i, j in itertools.combinations(range(len(lab)), 2))


def test_delta_e2000_matches_published_pairs():
    # Sharma et al.'s test data, pairs 1 and 17
    assert delta_e2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])) == (
        pytest.approx(2.0425, abs=1e-3)
    )
    assert delta_e2000(np.array([50, 2.5, 0]), np.array([73, 25, -18])) == pytest.approx(
        27.1492, abs=1e-3
    )


def test_ten_class_colours_are_distinct_hues():
    """Tableau 10: any two of the first ten class colours at least 15 CIEDE2000 units apart;
    the palette before (two greens, three pinks) fails the same check."""
    assert list(style.CLASS_PALETTE[:10]) == list(style.TABLEAU_10)
    assert len(set(style.CLASS_PALETTE[:10])) == 10
    assert closest_pair(list(style.CLASS_PALETTE[:10])) > 15
    assert closest_pair(list(style.METHOD_PALETTE[:10])) < 15  # the old class palette
    assert [style.class_colour(c) for c in range(10)] == list(style.TABLEAU_10)
    # up to 7 classes, none near the forget crosses' vermillion (the crosses are not a class)
    lab = _lab([*style.CLASS_PALETTE[:7], style.FORGET_COLOUR])
    assert min(delta_e2000(lab[i], lab[-1]) for i in range(7)) > 25


# ----------------------------------------------------------------------------- one colour a method


def _bar_colours(fig) -> dict[str, set[str]]:
    names = ["original", "retrain", *(s.name for s in list_methods(demonstrations=True))]
    return method_colours(fig.to_plotly_json()["data"], names)


def test_the_audit_instance_view_colours_a_method_as_compare_does():
    """The instance view names the unlearned model "unlearned: scrub" in its legend but draws
    it in SCRUB's colour (a display label once got a hashed colour of its own)."""
    probs = {n: np.full(10, 0.1) for n in ("original", "scrub", "retrain")}
    fig = A.instance_probabilities(
        probs, CLASSES, label=3, labels={"scrub": "unlearned: scrub"}, title="sample 3"
    )
    bars = {t.name: t.marker.color for t in fig.data}
    assert set(bars) == {"original", "unlearned: scrub", "retrain"}
    compare = _bar_colours(P.accuracy_bars(fake_comparison()))
    assert bars["unlearned: scrub"] == style.method_colour("scrub")
    assert compare["scrub"] == {style.method_colour("scrub").lower()}
    assert bars["original"] == style.ORIGINAL_COLOUR and bars["retrain"] == style.RETRAIN_COLOUR


def test_the_demonstration_has_a_registry_slot_not_a_hashed_colour():
    names = [s.name for s in list_methods(demonstrations=True) if s.name != "retrain"]
    colours = [style.method_colour(n) for n in names]
    assert len(set(colours)) == len(names)  # the demonstration too: a slot of its own
    demo = [s.name for s in list_methods(demonstrations=True) if s.family == "demonstration"]
    regular = [s.name for s in list_methods() if s.name != "retrain"]
    for d in demo:
        assert style.method_index(d) >= len(regular)  # after the methods: none of them moved


# ----------------------------------------------------------------------------- contrast


def _cell_texts(fig) -> list[tuple[str, str, str]]:
    """(x, y, text colour) of every number written on a grid by ``_cell_text``."""
    t = next(t for t in fig.data if t.name == "cell values")
    return list(zip(t.x, t.y, t.textfont.color, strict=True))


def test_per_class_grid_has_a_colour_bar_and_numbers_that_read_on_their_cell():
    comp = fake_comparison()
    comp.results[1].metrics["per_class_test"][3] = 0.0  # as retrain: a white cell
    fig = P.per_class_chart(comp, CLASSES)
    heat = fig.data[0]
    assert heat.showscale and heat.colorbar.title.text
    assert heat.texttemplate is None  # plotly's one-colour text is not used
    base = comp.reference.metrics["per_class_test"]
    rows = {r.method: r.metrics["per_class_test"] for r in [comp.original, *comp.results]}
    for x, y, colour in _cell_texts(fig):
        shade = rows[y][int(x)] - base[int(x)]
        cell = style.scale_colour("RdBu_r", shade, -100, 100)
        assert style.contrast_ratio(cell, colour) >= 4.5, (x, y, cell, colour)
    # the forgotten class of the original (+100: dark red) is written in white, 0 in black
    texts = {(x, y): c for x, y, c in _cell_texts(fig)}
    assert texts[("3", "original")] == "#FFFFFF"
    assert texts[("3", comp.results[1].method)] == "#000000"


def test_confusion_matrix_labels_every_class_and_fits_half_a_column():
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 40, (10, 10)) + np.diag([300] * 10)
    fig = P.confusion_heatmap(cm, CLASSES, "Original (before unlearning)")
    assert list(fig.layout.xaxis.tickvals) == CLASSES == list(fig.layout.yaxis.tickvals)
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) == 2 and all(len(s) <= P.CONFUSION_TITLE_CHARS for s in lines)
    for x, y, colour in _cell_texts(fig):
        share = cm[int(y), int(x)] / cm[int(y)].sum() * 100
        cell = style.scale_colour("Blues", share, 0, 100)
        assert style.contrast_ratio(cell, colour) >= 4.5
    # the page draws two a row; a third of the column was about 65 px of plot
    assert fig.layout.height >= 10 * 20 + 100
    # side by side, a one-line title leaves the plot where a two-line one puts it
    short = P.confusion_heatmap(cm, CLASSES, "SCRUB")
    assert short.layout.margin.t == fig.layout.margin.t
    assert short.layout.height == fig.layout.height


# ----------------------------------------------------------------------------- error bars


def test_error_bars_end_before_the_value_labels():
    comp = fake_comparison()
    for r in [comp.original, *comp.results]:
        for k in ("forget_acc", "retain_acc", "test_acc", "mia", "loss_auc"):
            r.metrics[f"{k}_std"] = 7.0 if k != "loss_auc" else 0.2
    for fig, keys in (
        (P.accuracy_bars(comp), ("forget_acc", "retain_acc", "test_acc")),
        (P.metric_bars(comp, "mia", "MIA", unit="%"), ("mia",)),
        (P.metric_bars(comp, "loss_auc", "AUC", unit="AUC"), ("loss_auc",)),
    ):
        bars = [t for t in fig.data if t.type == "bar"]
        labels = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
        assert len(bars) == len(keys) == len(labels)
        for bar, lab in zip(bars, labels, strict=True):
            assert bar.error_x.visible
            ends = [x + e for x, e in zip(bar.x, bar.error_x.array, strict=True)]
            assert min(lab.x) > max(ends), (bar.name, min(lab.x), max(ends))


# ----------------------------------------------------------------------------- attributions


def test_attribution_rows_are_not_named_like_a_model_and_colour_inputs_stay_colour():
    rng = np.random.default_rng(0)
    maps = {
        m: {n: rng.normal(size=(8, 8)) for n in ("original", "lrp", "retrain")}
        for m in ("integrated_gradients", "saliency", "lrp")
    }
    colour = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
    fig = P.attribution_figure(maps, image=colour)
    texts = [a.text.replace("<br>", " ") for a in fig.layout.annotations]
    columns, rows = texts[:4], texts[4:]
    assert columns == ["input", "original", "lrp", "retrain"]
    assert "LRP (ε-rule) attribution" in rows and not set(rows) & set(columns)
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 3 and np.array_equal(np.asarray(images[0].z), colour)
    # a grey image is drawn grey, channels first or last
    grey = P._rgb(rng.integers(0, 255, (8, 8)))
    assert grey.shape == (8, 8, 3) and (grey[..., 0] == grey[..., 2]).all()
    assert P._rgb(np.transpose(colour, (2, 0, 1))).tolist() == colour.tolist()
    # every cell keeps square pixels
    layout = fig.layout.to_plotly_json()
    ys = [k for k in layout if k.startswith("yaxis")]
    assert len(ys) == 12 and all(layout[k].get("scaleanchor") for k in ys)


# ----------------------------------------------------------------------------- epsilon scatter


def test_a_click_on_a_forget_point_opens_it_not_the_retained_sample_under_it():
    xy = np.array([[0.0, 0.0], [5.0, 5.0]])
    ctx = np.array([[0.05, 0.0], [9.0, -9.0]])
    ids, cids = [10, 11], [20, 21]
    # the click hit the retained sample 20, drawn under forget point 10: 10 opens
    assert A.clicked_sample([20], xy, ids, context_xy=ctx, context_ids=cids) == 10
    # a retained sample nothing covers opens itself; a forget point in the pick wins
    assert A.clicked_sample([21], xy, ids, context_xy=ctx, context_ids=cids) == 21
    assert A.clicked_sample([11, 20], xy, ids, context_xy=ctx, context_ids=cids) == 11
    assert A.clicked_sample([], xy, ids) is None


def test_the_epsilon_scatter_keeps_every_point_visible_and_rings_the_open_one():
    xy = np.array([[0.0, 0.0], [5.0, 5.0]])
    fig = A.epsilon_embedding(
        xy, [10, 11], [0.1, 0.9], ["3", "3"], context_xy=np.array([[1.0, 1.0]]),
        context_ids=[20], context_labels=["4"], opened=11,
    )  # fmt: skip
    names = [t.name for t in fig.data]
    assert names.index("retained samples") < names.index("forget samples (colour: epsilon)")
    for t in fig.data[:2]:  # a selection fades nothing
        assert t.unselected.marker.opacity == 1.0
    ring = fig.data[-1]
    assert ring.name == "open in the instance view" and (ring.x[0], ring.y[0]) == (5.0, 5.0)
    assert ring.hoverinfo == "skip"  # it never takes a click itself


# ----------------------------------------------------------------------------- captions


def test_the_displacement_caption_says_what_the_numbers_show():
    is_forget = np.array([True] * 50 + [False] * 50)
    moved = {
        "scrub": np.r_[np.full(50, 6.0), np.full(50, 6.2)],
        "retrain": np.r_[np.full(50, 2.0), np.full(50, 8.0)],
    }
    text = P.displacement_caption(moved, is_forget)
    assert "mostly stay" not in text
    assert "under retrain (the target) the forget samples moved less far than the retain" in text
    assert "median 2 against 8" in text
    assert "under scrub the forget samples moved about as far as the retain samples" in text


def test_the_lrp_note_says_the_cap_was_reached_on_the_validation_images():
    log = {
        "n_samples": 15, "width": 128, "k": 13, "rule": "until forgotten", "n_max": 4,
        "analysed_split": "validation", "perturbed": "the units' weights", "neurons": [1, 2, 3, 4],
        "per_class": [{"class": 3, "neurons": [1, 2, 3, 4], "forgotten_on_analysed": False}],
    }  # fmt: skip
    said = describe_log(log, CLASSES, forget_acc=0.0)
    assert "until every analysed image gave" not in said  # the criterion was not met
    assert "reached its cap of 4 units before the criterion was met for class 3" in said
    assert "15 validation images" in said and "(0.0% here)" in said
    log["per_class"][0]["forgotten_on_analysed"] = True
    met = describe_log(log, CLASSES)
    assert "criterion was met for class 3 after 4 units" in met and "cap of 4" in met
    assert "reached its cap" not in met


def test_the_neuron_chart_names_both_colours_in_its_legend():
    fig = P.relevance_bars(np.arange(8.0), [1, 2], counts=np.arange(8))
    legend = {t.name: t.marker.color for t in fig.data if t.showlegend is not False}
    assert legend == {
        "perturbed units (2)": style.FORGET_COLOUR,
        "other units (6)": style.OTHER_UNIT_COLOUR,
    }


# ----------------------------------------------------------------------------- drawn in Chromium

DRAWN_JS = """() => {
  const gd = document.querySelector('#g .js-plotly-plot') || document.getElementById('g');
  const box = el => { const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  return {
    figure: box(gd),
    title: Array.from(gd.querySelectorAll('.g-gtitle .gtitle')).map(box),
    xticks: Array.from(gd.querySelectorAll('.xaxislayer-above .xtick text')).map(box),
    yticks: Array.from(gd.querySelectorAll('.yaxislayer-above .ytick text')).map(box),
    plots: Array.from(gd.querySelectorAll('.draglayer .nsewdrag')).map(box),
    cells: Array.from(gd.querySelectorAll('.scatterlayer .textpoint text')).map(box),
  };
}"""


def _draw(page, fig, width: int) -> dict:
    spec = json.loads(pio.to_json(fig))
    page.evaluate(
        "([d, l, w]) => { const g = document.getElementById('g'); g.style.width = w + 'px';"
        " return Plotly.newPlot(g, d, l, {responsive: false}); }",
        [spec["data"], spec["layout"], width],
    )
    return page.evaluate(DRAWN_JS)


def _meet(a, b) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


@pytest.mark.skipif(chromium_path() is None, reason="no chromium installed")
def test_drawn_at_1024_px_confusion_matrices_and_attributions_stay_legible():
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    cm = rng.integers(0, 9, (10, 10)) + np.diag([35] * 10)
    maps = {
        m: {n: rng.normal(size=(8, 8)) for n in ("original", "scrub", "retrain")}
        for m in ("integrated_gradients", "saliency", "lrp")
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 1200})
        page.set_content(
            "<html><body style='margin:0'><div id='g'></div><script>"
            + PLOTLY_JS.read_text()
            + "</script></body></html>"
        )
        for title in ("Original (before unlearning)", "Selective Synaptic Dampening (SSD)"):
            got = _draw(page, P.confusion_heatmap(cm, CLASSES, title), P.CONFUSION_WIDTH)
            fig_box = got["figure"]
            assert len(got["xticks"]) == 10 and len(got["yticks"]) == 10  # every class
            assert all(t[2] <= fig_box[2] + 0.5 for t in got["title"]), "title cut off"
            plot = got["plots"][0]
            assert plot[2] - plot[0] >= 180, plot  # was about 65 px
            cells = got["cells"]
            assert len(cells) == int((cm > 0).sum())
            assert not any(_meet(a, b) for a, b in itertools.combinations(cells, 2))
            ticks = got["xticks"]
            assert not any(_meet(a, b) for a, b in itertools.combinations(ticks, 2))
        # attribution cells: square pixels at the 1024 px width and the 1600 px one
        for width in (564, 704):
            got = _draw(page, P.attribution_figure(maps, image=rng.integers(0, 255, (8, 8))), width)
            for x0, y0, x1, y1 in got["plots"]:
                assert abs((x1 - x0) - (y1 - y0)) <= 2, (width, x1 - x0, y1 - y0)
        browser.close()

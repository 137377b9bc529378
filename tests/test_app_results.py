"""App pages 4-6 (Compare, Attack, Learn) under Streamlit's AppTest, on real comparisons.

One digits comparison (small MLP, class 3 forgotten, retrain + fast methods) and one moons
comparison are built once; each test puts one in the app's registries and session state, opens a
page through ``app.py`` and checks what it shows.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``app_ui`` from its own folder
    sys.path.insert(0, str(ROOT))

from figure_checks import method_colours, plotly_array  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.evaluation import metrics as M  # noqa: E402
from unlearn_core.evaluation.tables import RESULT_COLUMNS, columns_for  # noqa: E402
from unlearn_core.experiment import compare  # noqa: E402
from unlearn_core.forget import ForgetRequest  # noqa: E402
from unlearn_core.methods import REGISTRY, list_methods  # noqa: E402
from unlearn_core.plots import results as P  # noqa: E402
from unlearn_core.plots import style  # noqa: E402
from unlearn_core.training import TrainConfig, train_new_model  # noqa: E402

APP = str(ROOT / "app.py")
FAST = ("finetune", "neggrad", "ssd", "lrp")
CFG = TrainConfig(epochs=15, batch_size=64)
MOONS = {"n_train": 600, "noise": 0.2}


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits_comp(digits, digits_mlp):
    methods = [m for m in FAST if m in REGISTRY]
    comp = compare(digits, digits_mlp, CFG, ForgetRequest(classes=(3,)), methods, device="cpu")
    assert all(r.ok for r in comp.results), [r.error for r in comp.results]
    return comp


@pytest.fixture(scope="module")
def moons_comp():
    data = load_dataset("moons", **MOONS)
    cfg = TrainConfig(epochs=10, batch_size=64)
    model, _ = train_new_model(data, "mlp", cfg, seed=0, device="cpu")
    return (
        data,
        model,
        compare(
            data, model, cfg, ForgetRequest(classes=(0,), fraction=0.3), ["finetune"], device="cpu"
        ),
    )


def _app(comp, model, *, dataset: dict, cid: str) -> AppTest:
    """An AppTest of app.py with ``comp`` as the current comparison."""
    import app_ui.registries as R

    R.comparison_registry()[cid] = comp
    R.model_registry()[f"model-{cid}"] = R.ModelEntry(
        model=model, recipe=CFG, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["dataset"] = dataset
    at.session_state["model_key"] = f"model-{cid}"
    at.session_state["forget"] = ForgetRequest.from_dict(comp.forget).to_dict()
    at.session_state["comparison_id"] = cid
    return at


def _digits_app(digits_comp, digits_mlp, page: str) -> AppTest:
    at = _app(digits_comp, digits_mlp, dataset={"name": "digits", "params": {}}, cid="t-digits")
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> dict[str, go.Figure]:
    """Plotly charts on the page by key -> the figure (arrays decoded)."""
    return {c.key: pio.from_json(c.proto.spec) for c in at.get("plotly_chart")}


def _open_tab(at: AppTest, tab: str) -> dict[str, go.Figure]:
    at.session_state["compare_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return _charts(at)


def _shown(table) -> pd.DataFrame:
    """The cells of an ``st.table`` as the reader sees them (the styler's display strings)."""
    from streamlit import dataframe_util

    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        table.proto.arrow_data.styler.display_values
    )


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# ----------------------------------------------------------------------------- no comparison


@pytest.mark.parametrize("page", ["pages/compare.py", "pages/attack.py"])
def test_results_pages_without_a_comparison_point_back(page):
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.session_state["comparison_id"] = None
    at.switch_page(page).run()
    assert not at.exception
    assert any("No comparison yet" in i.value for i in at.info)
    assert len(at.get("page_link")) >= 1
    assert not at.get("plotly_chart")


def test_learn_page_lists_every_registered_method():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception
    table = at.table[0].value  # a static table: long summaries wrap instead of being cut
    assert sorted(table["name"]) == sorted(s.name for s in list_methods())
    assert set(table["family"]) <= {"exact", "approximate"}
    assert list(table.columns) == ["name", "method", "family", "origin", "needs", "paper"]
    origins = dict(zip(table["name"], table["origin"], strict=True))
    assert origins["lrp"] == "as published" and origins["lrp_until"] == "our extension"
    # each summary in full, as text (a table cell would squeeze or cut it)
    text = " ".join(m.value for m in at.markdown)
    assert all(s.summary in text for s in list_methods())
    text = " ".join(m.value for m in at.markdown)
    for word in ("exact", "approximate", "MIA efficacy", "Avg. gap", "CKA", "Embedding shift"):
        assert word in text


# ----------------------------------------------------------------------------- compare


def _chart_traces(charts: dict[str, go.Figure]) -> list[dict]:
    return [t for fig in charts.values() for t in fig.to_plotly_json()["data"]]


def test_compare_overview_table_and_charts(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    df = at.table[0].value  # every column, every row: no inner scroll, nothing cut off
    expected = ["original", *[r.method for r in digits_comp.results]]
    rows = P.metric_rows(digits_comp)
    assert list(df.columns) == [c.title for c in columns_for(rows, RESULT_COLUMNS)]
    assert {"gap to retrain (pts)", "time (s)", "time / retrain (×)"} <= set(df.columns)
    assert list(df["method"]) == expected
    cols = {"forget_acc": "forget acc (%)", "mia": "MIA (%)", "loss_auc": "loss AUC"}
    for r in [digits_comp.original, *digits_comp.results]:
        row = df[df["method"] == r.method].iloc[0]
        for key, col in cols.items():
            assert float(row[col]) == pytest.approx(r.metrics[key], abs=0.06)
        if r.method != "original":
            assert float(row["gap to retrain (pts)"]) == pytest.approx(r.avg_gap, abs=0.006)
            assert float(row["time (s)"]) == pytest.approx(r.seconds, rel=0.01)
    assert df[df["method"] == "retrain"].iloc[0]["gap to retrain (pts)"] == "0.00"
    # printed to the precision they carry, missing values as a dash
    orig = df[df["method"] == "original"].iloc[0]
    assert orig["time (s)"] == "—" and orig["time / retrain (×)"] == "—"
    assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in df["forget acc (%)"])
    assert all(re.fullmatch(r"0\.\d{3}", v) for v in df["loss AUC"])
    assert "None" not in df.to_string() and "nan" not in df.to_string()
    assert _shown(at.table[0]).equals(df)  # what the browser draws
    assert any("How to read" in m.value and "retrain" in m.value for m in at.markdown)
    charts = _charts(at)
    assert {"chart_acc", "chart_mia", "chart_gap", "chart_auc", "chart_time"} <= set(charts)
    acc = [t for t in charts["chart_acc"].data if t.type == "bar"]
    assert [t.name for t in acc] == ["forget acc", "retain acc", "test acc"]
    assert list(acc[0].y) == expected
    assert list(acc[0].x) == pytest.approx(
        [r.metrics["forget_acc"] for r in [digits_comp.original, *digits_comp.results]]
    )
    # each model has its one colour on every chart of the page
    seen = method_colours(_chart_traces(charts), expected)
    assert set(seen) == set(expected)
    for name, colours in seen.items():
        assert colours == {style.method_colour(name).lower()}, name
    # every title sits in the top margin and every legend at the bottom edge
    for key, fig in charts.items():
        assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top", key
        if fig.layout.showlegend is not False:
            assert (fig.layout.legend.yref, fig.layout.legend.yanchor) == ("container", "bottom")


def test_compare_per_class_and_prediction_matrices(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    charts = _open_tab(at, "Per class")
    grid = charts["chart_per_class"].data[0]  # one row per model, one column per class
    assert list(grid.y) == ["original", *[r.method for r in digits_comp.results]]
    orig = digits_comp.original.metrics["per_class_test"]
    assert list(grid.text[0]) == [f"{v:.0f}" for v in orig]  # the accuracy in each cell
    ref = digits_comp.reference.metrics["per_class_test"]
    # the shade: the difference from retrain (its own row all zero)
    assert list(plotly_array(grid.z)[0]) == pytest.approx(
        [a - b for a, b in zip(orig, ref, strict=True)]
    )
    assert not np.any(plotly_array(grid.z)[1])
    outlined = [s.x0 for s in charts["chart_per_class"].layout.shapes]
    assert outlined == [2.5]  # class 3, forgotten
    charts = _open_tab(at, "Predictions")
    cms = {k: v for k, v in charts.items() if k.startswith("chart_cm_")}
    assert len(cms) == 1 + len(digits_comp.results)
    z = plotly_array(cms["chart_cm_original"].data[0].customdata)
    assert z.tolist() == digits_comp.original.metrics["confusion_test"]


def test_compare_embeddings_pca_then_umap(digits_comp, digits_mlp):
    import app_ui.registries as R

    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    charts = _open_tab(at, "Embeddings")
    fig = charts["chart_embed"]
    assert "PCA" in fig.layout.title.text
    n_forget = digits_comp.forget["n_forget"]
    forget_traces = [t for t in fig.data if t.name == "forget samples"]
    assert len(forget_traces) == 3 and all(
        len(plotly_array(t.x)) == n_forget for t in forget_traces
    )
    assert "chart_moved" in charts
    job = R.job_registry()[at.session_state["jobs"]["umap"]]
    assert job.wait(90), "UMAP job did not finish"
    assert job.state == "done", job.error
    at.run()
    assert not at.exception
    fig = _charts(at)["chart_embed"]
    assert "UMAP" in fig.layout.title.text
    moved = at.table[0].value  # every model, human headers
    models = [r.method for r in digits_comp.results if r.ok]
    assert list(moved["model"]) == models
    assert (moved["forget samples"] == str(n_forget)).all()
    assert (moved["forget: mean shift"].astype(float) > 0).all()
    assert (moved["retain: mean shift"].astype(float) > 0).all()
    # the retrain row is the same whichever method is in view (it used to change with it)
    ref_row = moved[moved["model"] == "retrain"].iloc[0].to_dict()
    at.session_state["compare_method"] = "ssd"
    at.run()
    assert not at.exception
    again = at.table[0].value
    assert again[again["model"] == "retrain"].iloc[0].to_dict() == ref_row


def test_compare_attributions_for_a_chosen_sample(digits_comp, digits_mlp, digits):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    chosen = int(np.flatnonzero(digits.y_train.numpy() == 3)[5])
    at.session_state["attr_samples"] = [chosen]
    charts = _open_tab(at, "Attributions")
    fig = charts[f"chart_attr_{chosen}"]
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) >= 3 * 2  # at least two attribution methods x three models (+ inputs)
    assert len(at.image[0].proto.imgs) == 12  # the forget-sample thumbnails to pick from


def test_compare_layer_similarity(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    charts = _open_tab(at, "Layers")
    lines = charts["chart_cka"].data
    assert [t.name for t in lines] == ["vs original", "vs retrain"]
    vals = np.asarray(lines[0].y, dtype=float)
    assert len(vals) >= 2 and np.all((vals > 0) & (vals <= 1.0 + 1e-6))
    # the axis zooms to the values instead of spreading 0-1
    every = np.concatenate([np.asarray(t.y, dtype=float) for t in lines])
    lo, hi = charts["chart_cka"].layout.yaxis.range
    assert lo <= every.min() and hi >= every.max() and hi - lo < max(0.5, 3 * np.ptp(every))


@pytest.mark.skipif("lrp" not in REGISTRY, reason="LRP neuron-path perturbation not registered")
def test_compare_lrp_neurons(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    charts = _open_tab(at, "Neurons")
    log = digits_comp.get("lrp").log
    fig = charts["chart_neurons_lrp_3"]
    colours = fig.data[0].marker.color
    red = [i for i, c in enumerate(colours) if c == P.FORGET_COLOUR]
    assert red == sorted(log["per_class"][0]["neurons"])
    # the paragraph says how many units were cut and by which rule
    text = " ".join(m.value for m in at.markdown)
    n = len(log["neurons"])
    said = f"({n} units)" if log["rule"] == "until forgotten" else f"the {n} picked most often"
    assert said in text


def test_compare_decision_boundary_on_moons(moons_comp):
    data, model, comp = moons_comp
    at = _app(comp, model, dataset={"name": "moons", "params": MOONS}, cid="t-moons")
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    charts = _open_tab(at, "Decision boundary")
    fig = charts["chart_boundary"]
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 3
    crosses = [t for t in fig.data if t.name == "forget samples"]
    assert len(plotly_array(crosses[0].x)) == comp.forget["n_forget"]


def test_points_get_values_not_glyphs_on_attack_and_forget_pages(moons_comp):
    """2-D points have no picture: their values are shown (a table, a scatter, labels)."""
    data, model, comp = moons_comp
    at = _app(comp, model, dataset={"name": "moons", "params": MOONS}, cid="t-moons")
    at.switch_page("pages/attack.py").run()
    assert not at.exception
    assert not at.image
    worst = at.table[0].value
    assert list(worst.columns)[:2] == ["sample", "class"] and len(worst) == 8
    at.switch_page("pages/forget_set.py").run()
    assert not at.exception
    assert not at.image and "p2_preview_scatter" in _charts(at)
    at.radio(key="p2_mode").set_value("Pick samples").run()
    labels = [c.label for c in at.checkbox]
    assert labels and all(re.search(r"#\d+ · \(-?\d+\.\d\d, -?\d+\.\d\d\)", x) for x in labels)


# ----------------------------------------------------------------------------- attack


def test_attack_threshold_changes_rates(digits_comp, digits_mlp, digits):
    at = _digits_app(digits_comp, digits_mlp, "pages/attack.py")
    at.selectbox(key="attack_model").select("original").run()
    at.radio(key="attack_score").set_value("confidence").run()
    assert not at.exception
    before = (_metric(at, "True-positive rate"), _metric(at, "False-positive rate"))
    slider = at.slider(key="attack_threshold")
    lo, hi = slider.min, slider.max
    thr = lo + 0.999 * (hi - lo)
    slider.set_value(thr).run()
    assert not at.exception
    after = (_metric(at, "True-positive rate"), _metric(at, "False-positive rate"))
    assert after != before
    # the shown rates are the library's for the slider's value
    split_forget = digits.y_train == 3
    with torch.inference_mode():
        z_r = digits_mlp(digits.x_train[~split_forget])
        z_t = digits_mlp(digits.x_test)
    conf_r = M.true_label_confidence(z_r, digits.y_train[~split_forget])
    conf_t = M.true_label_confidence(z_t, digits.y_test)
    tpr, fpr = M.threshold_rates(conf_r, conf_t, at.slider(key="attack_threshold").value)
    assert after == (f"{tpr:.1%}", f"{fpr:.1%}")
    charts = _charts(at)
    assert {"attack_hist", "attack_roc"} <= set(charts)
    names = [t.name.split(" ")[0] for t in charts["attack_hist"].data if t.type == "bar"]
    assert names == ["forget", "retain", "test"]
    mia = _metric(at, "MIA efficacy (SVC attack)")
    assert mia == f"{digits_comp.original.metrics['mia']:.1f}%"
    # the ROC's AUC says which attack it belongs to; the headline AUC says its own
    assert (
        charts["attack_roc"]
        .data[0]
        .name.startswith("confidence threshold attack, retain vs test: AUC")
    )
    assert any(m.label == "Loss AUC, forget vs test" for m in at.metric)
    # metric labels short enough not to be cut off in a 1024 px window's columns
    assert all(len(m.label) <= 25 for m in at.metric), [m.label for m in at.metric]


def test_attack_opens_on_the_first_method_and_has_no_arrow_on_zero_deltas(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/attack.py")
    first = next(r.method for r in digits_comp.results if r.method != "retrain")
    assert at.selectbox(key="attack_model").value == first  # not retrain against itself
    roc = _charts(at)["attack_roc"].data[0]
    assert roc.line.color == style.method_colour(first)  # the method's colour here too
    metrics = {m.label: m.proto for m in at.metric}
    for label, m in metrics.items():
        number = re.match(r"[+-]?\d+(\.\d+)?", m.delta or "")
        if m.delta == "same as retrain" or (number and float(number.group()) == 0):
            assert m.direction == m.MetricDirection.NONE, f"{label}: arrow on a zero delta"
    # the method forgets class 3 as completely as retrain: the delta reads so, without arrow
    fa = metrics["Forget accuracy"]
    gap = digits_comp.get(first).metrics["forget_acc"] - digits_comp.reference.metrics["forget_acc"]
    if abs(gap) < 0.05:
        assert fa.delta == "same as retrain" and fa.direction == fa.MetricDirection.NONE


def test_attack_worst_leaking_thumbnails(digits_comp, digits_mlp, digits):
    at = _digits_app(digits_comp, digits_mlp, "pages/attack.py")
    at.selectbox(key="attack_model").select("finetune").run()
    at.radio(key="attack_score").set_value("loss").run()
    assert not at.exception
    imgs = at.image[0]  # one row of framed tiles
    assert len(imgs.proto.imgs) == 8
    ids = [int(i.caption.split("·")[0].strip().lstrip("#")) for i in imgs.proto.imgs]
    forget_ids = np.flatnonzero(digits.y_train.numpy() == 3)
    assert set(ids) <= set(forget_ids.tolist())
    # they are the forget samples with the lowest loss under the fine-tuned model
    with torch.inference_mode():
        z = digits_comp.get("finetune").model(digits.x_train[forget_ids])
    loss = M.per_sample_loss(z, digits.y_train[forget_ids])
    assert ids == forget_ids[np.argsort(loss, kind="stable")[:8]].tolist()


def test_worst_leaking_orders_by_member_likeness():
    ids = np.array([10, 11, 12, 13])
    conf = np.array([0.2, 0.9, 0.5, 0.95])
    assert P.worst_leaking(conf, ids, higher_is_member=True, k=2) == [(13, 0.95), (11, 0.9)]
    loss = np.array([2.0, 0.1, 0.5, 3.0])
    assert [i for i, _ in P.worst_leaking(loss, ids, higher_is_member=False, k=3)] == [11, 12, 10]

"""App pages 4-6 (Compare, Attack, Learn) under Streamlit's AppTest, on real comparisons.

One digits comparison (small MLP, class 3 forgotten, retrain + fast methods) and one moons
comparison are built once; each test puts one in the app's registries and session state, opens a
page through ``app.py`` and checks what it shows.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``pages.common`` from its own folder
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core import metrics as M  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.experiment import compare  # noqa: E402
from unlearn_core.forget import ForgetRequest  # noqa: E402
from unlearn_core.methods import REGISTRY, list_methods  # noqa: E402
from unlearn_core.plots import results as P  # noqa: E402
from unlearn_core.training import TrainConfig, train_new_model  # noqa: E402

APP = str(ROOT / "app.py")
FAST = ("finetune", "neggrad", "ssd", "lrp")
CFG = TrainConfig(epochs=15, batch_size=64)
MOONS = {"n_train": 600, "noise": 0.2}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These models are tiny: one intra-op thread is faster, and leaves the other core to the
    UMAP worker thread the Compare page starts."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    import pages.common as C

    C.comparison_registry()[cid] = comp
    C.model_registry()[f"model-{cid}"] = {
        "model": model,
        "recipe": CFG,
        "history": {},
        "test_acc": 0.0,
        "source": "test",
    }
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


def _arr(v) -> np.ndarray:
    """A plotly array property, decoding plotly's typed-array JSON (``bdata``) if present."""
    if isinstance(v, dict) and "bdata" in v:
        raw = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = [int(n) for n in str(v.get("shape", len(raw))).split(",")]
        return raw.reshape(shape)
    return np.asarray(v)


def _open_tab(at: AppTest, tab: str) -> dict[str, go.Figure]:
    at.session_state["compare_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return _charts(at)


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
    table = at.dataframe[0].value
    assert sorted(table["name"]) == sorted(s.name for s in list_methods())
    assert set(table["family"]) <= {"exact", "approximate"}
    text = " ".join(m.value for m in at.markdown)
    for word in ("exact", "approximate", "MIA efficacy", "Avg. gap", "CKA", "Embedding shift"):
        assert word in text


# ----------------------------------------------------------------------------- compare


def test_compare_overview_table_and_charts(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    df = at.dataframe[0].value
    expected = ["original", *[r.method for r in digits_comp.results]]
    assert list(df["method"]) == expected
    for r in [digits_comp.original, *digits_comp.results]:
        row = df[df["method"] == r.method].iloc[0]
        for key in ("forget_acc", "retain_acc", "test_acc", "mia", "loss_auc"):
            assert row[key] == pytest.approx(r.metrics[key])
        if r.method != "original":
            assert row["avg_gap"] == pytest.approx(r.avg_gap)
            assert row["seconds"] == pytest.approx(r.seconds)
    ref = digits_comp.reference
    assert df[df["method"] == "retrain"].iloc[0]["avg_gap"] == pytest.approx(0.0)
    ft = df[df["method"] == "finetune"].iloc[0]
    assert ft["speed_up"] == pytest.approx(ref.seconds / digits_comp.get("finetune").seconds)
    assert any("retrain" in m.value and "How to read" in m.value for m in at.markdown)
    charts = _charts(at)
    assert {"chart_acc", "chart_mia", "chart_gap", "chart_auc", "chart_time"} <= set(charts)
    acc = charts["chart_acc"].data
    assert [t.name for t in acc] == ["forget acc", "retain acc", "test acc"]
    assert list(acc[0].x) == expected
    assert list(acc[0].y) == pytest.approx(
        [r.metrics["forget_acc"] for r in [digits_comp.original, *digits_comp.results]]
    )


def test_compare_per_class_and_prediction_matrices(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    charts = _open_tab(at, "Per class")
    bars = charts["chart_per_class"].data
    assert [b.name for b in bars] == ["original", *[r.method for r in digits_comp.results]]
    assert list(bars[0].y) == pytest.approx(digits_comp.original.metrics["per_class_test"])
    charts = _open_tab(at, "Predictions")
    cms = {k: v for k, v in charts.items() if k.startswith("chart_cm_")}
    assert len(cms) == 1 + len(digits_comp.results)
    z = _arr(cms["chart_cm_original"].data[0].customdata)
    assert z.tolist() == digits_comp.original.metrics["confusion_test"]


def test_compare_embeddings_pca_then_umap(digits_comp, digits_mlp):
    import pages.common as C

    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    charts = _open_tab(at, "Embeddings")
    fig = charts["chart_embed"]
    assert "PCA" in fig.layout.title.text
    n_forget = digits_comp.forget["n_forget"]
    forget_traces = [t for t in fig.data if t.name == "forget samples"]
    assert len(forget_traces) == 3 and all(len(_arr(t.x)) == n_forget for t in forget_traces)
    assert "chart_moved" in charts
    job = C.job_registry()[at.session_state["jobs"]["umap"]]
    assert job.wait(90), "UMAP job did not finish"
    assert job.state == "done", job.error
    at.run()
    assert not at.exception
    fig = _charts(at)["chart_embed"]
    assert "UMAP" in fig.layout.title.text
    moved = at.dataframe[0].value
    assert list(moved["model"]) == ["finetune", "retrain"]
    assert (moved["n_forget"] == n_forget).all()
    assert (moved["forget_mean"] > 0).all() and (moved["retain_mean"] > 0).all()


def test_compare_attributions_for_a_chosen_sample(digits_comp, digits_mlp, digits):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    chosen = int(np.flatnonzero(digits.y_train.numpy() == 3)[5])
    at.session_state["attr_samples"] = [chosen]
    charts = _open_tab(at, "Attributions")
    fig = charts[f"chart_attr_{chosen}"]
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) >= 3 * 2  # at least two attribution methods x three models (+ inputs)
    assert len(at.image) >= 12  # the forget-sample thumbnails to pick from


def test_compare_layer_similarity(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    at.session_state["compare_method"] = "finetune"
    charts = _open_tab(at, "Layers")
    lines = charts["chart_cka"].data
    assert [t.name for t in lines] == ["vs original", "vs retrain"]
    vals = np.asarray(lines[0].y, dtype=float)
    assert len(vals) >= 2 and np.all((vals > 0) & (vals <= 1.0 + 1e-6))


@pytest.mark.skipif("lrp" not in REGISTRY, reason="LRP neuron-path perturbation not registered")
def test_compare_lrp_neurons(digits_comp, digits_mlp):
    at = _digits_app(digits_comp, digits_mlp, "pages/compare.py")
    charts = _open_tab(at, "Neurons")
    log = digits_comp.get("lrp").log
    fig = charts["chart_neurons_lrp_3"]
    colours = fig.data[0].marker.color
    red = [i for i, c in enumerate(colours) if c == P.FORGET_COLOUR]
    assert red == sorted(log["per_class"][0]["neurons"])


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
    assert len(_arr(crosses[0].x)) == comp.forget["n_forget"]


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
    names = [t.name.split(" ")[0] for t in charts["attack_hist"].data]
    assert names == ["forget", "retain", "test"]
    assert _metric(at, "MIA efficacy (SVC)") == f"{digits_comp.original.metrics['mia']:.1f}%"


def test_attack_worst_leaking_thumbnails(digits_comp, digits_mlp, digits):
    at = _digits_app(digits_comp, digits_mlp, "pages/attack.py")
    at.selectbox(key="attack_model").select("finetune").run()
    at.radio(key="attack_score").set_value("loss").run()
    assert not at.exception
    assert len(at.image) == 8
    ids = [int(img.captions[0].split("·")[0].strip().lstrip("#")) for img in at.image]
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

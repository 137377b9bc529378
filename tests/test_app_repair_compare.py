"""The Compare page of a repair run: the attack-success and restoration charts (every method
beside retrain, the original and the clean model, the comparison's own numbers) and the
attributions of a triggered test image before and after; a label-noise run draws restoration
only. The backdoor run goes through the real pages and the job worker (Forget set -> Unlearn ->
Compare); the label-noise comparison is built by the library and put in the app's registry."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figure_checks import plotly_array  # noqa: E402
from test_app_setup import (  # noqa: E402
    fresh,  # noqa: F401 - the autouse fixture: private caches and registries
    no_exception,
    texts,
    trained_app,
    wait_jobs,
)

from app_ui import registries  # noqa: E402

METHODS = ["warnecke_first", "finetune"]


def _charts(at) -> dict:
    return {c.key: pio.from_json(c.proto.spec) for c in at.get("plotly_chart")}


def _bars(fig) -> dict[str, dict[str, float]]:
    """Panel (the bar trace's name, its axis title) -> model -> drawn value."""
    out = {}
    for t in fig.data:
        if t.type == "bar":
            out[t.name] = dict(zip(t.y, plotly_array(t.x).tolist(), strict=True))
    return out


def _open(at, tab: str) -> dict:
    at.session_state["compare_tab"] = tab
    at.run()
    no_exception(at)
    return _charts(at)


def test_backdoor_compare_charts_and_triggered_attributions():
    at = trained_app()
    at.switch_page("pages/forget_set.py").run()
    at.selectbox(key="p2_repair_kind").set_value("label-noise").run()
    assert at.slider(key="p2_repair_fraction").value == 0.2
    at.selectbox(key="p2_repair_kind").set_value("backdoor").run()
    assert at.slider(key="p2_repair_fraction").value == 0.05  # each scenario's own default
    at.slider(key="p2_repair_fraction").set_value(0.1).run()
    at.selectbox(key="p2_repair_target").set_value(0).run()
    at.button(key="p2_repair_use").click().run()
    no_exception(at)
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(METHODS).run()
    at.button(key="p3_run").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    comp = registries.comparison_registry()[at.session_state["comparison_id"]]
    rows = [comp.original, *comp.results]
    names = [r.method for r in rows]
    assert names == ["original", "retrain", *METHODS, "clean"]
    assert all("patch_attr" in r.metrics for r in rows)  # the app's runs score the patch

    at.switch_page("pages/compare.py").run()
    no_exception(at)
    # the scores in three tables that fit 1024 px: the usual ones, is the backdoor gone, is the
    # damage undone; each repair table led by the method column
    heads = [list(t.value.columns) for t in at.table]
    assert "attack success (%)" not in heads[0] and "test acc (%)" in heads[0]
    assert heads[1] == ["method", "attack success (%)", "acc, triggered (%)",
                        "attribution on patch (%)"]  # fmt: skip
    assert heads[2][:2] == ["method", "true-label acc (%)"] and "restoration" in heads[2][2]
    charts = _charts(at)
    attack = _bars(charts["chart_repair_attack"])
    assert list(attack) == [
        "attack success (%)",
        "accuracy, triggered (%)",
        "attribution on patch (%)",
    ]
    for panel, key in zip(attack, ("asr", "trigger_acc", "patch_attr"), strict=True):
        assert list(attack[panel]) == names  # every method beside retrain, original, clean
        for r in rows:
            assert attack[panel][r.method] == pytest.approx(r.metrics[key], abs=1e-6)
    assert attack["attack success (%)"]["original"] > attack["attack success (%)"]["clean"]
    # retrain's value dotted, clean's dashed: one vertical line each per panel
    dashes = sorted(s.line.dash for s in charts["chart_repair_attack"].layout.shapes)
    assert dashes == ["dash"] * 3 + ["dot"] * 3
    legend = [t.name for t in charts["chart_repair_attack"].data if t.showlegend is not False]
    assert any("clean model" in n for n in legend) and any("retrain" in n for n in legend)
    restore = _bars(charts["chart_repair_restore"])
    # restoration on test accuracy is drawn where some row has it (undefined when the clean
    # model is no better than the original there)
    defined = any(r.metrics.get("restoration") is not None for r in rows)
    assert list(restore) == ["restoration, test accuracy"] * defined + ["restoration, true labels"]
    assert restore["restoration, true labels"]["original"] == 0.0
    assert restore["restoration, true labels"]["clean"] == 1.0
    for r in rows:
        v = r.metrics.get("restoration_tla")
        assert restore["restoration, true labels"][r.method] == pytest.approx(v, abs=1e-6)
    assert "Restoration = (after − before) / (clean − before)" in texts(at.caption)

    charts = _open(at, "Attributions")
    at.selectbox(key="compare_method").set_value("warnecke_first").run()
    no_exception(at)
    charts = _charts(at)
    picked = at.session_state["repair_triggered"]
    assert picked == [0]
    grid = charts["chart_repair_attr_0"]
    columns = [a.text for a in grid.layout.annotations if a.textangle != 90]
    assert columns[:5] == ["input", "original", "warnecke_first", "retrain", "clean"]
    heat = [t for t in grid.data if t.type == "heatmap"]
    assert len(heat) == 2 * 4  # integrated gradients and saliency x four models
    rect = [s for s in grid.layout.shapes if s.type == "rect"]
    assert len(rect) == 2 * 5  # the patch outlined on the input and on every map
    said = texts(at.markdown)
    assert "What each model predicts for image #0" in said
    assert "- original → **0** · " in said  # the backdoor at work
    assert "- clean → **0**" not in said  # the trigger means nothing to the clean model
    share = _bars(charts["chart_repair_patch"])["share of |gradient| on the patch (%)"]
    assert list(share) == ["original", "warnecke_first", "retrain", "clean"]
    # the same number the comparison scored (saliency, first 32 triggered test images)
    for n, v in share.items():
        got = comp.original if n == "original" else comp.get(n)
        assert v == pytest.approx(got.metrics["patch_attr"], abs=1e-3)
    assert share["original"] > share["clean"]
    # the forget-sample attributions below show the inputs the models were trained on: the
    # patched images (the session's dataset holds the clean ones)
    first = at.session_state["attr_samples"][0]
    image = next(t for t in charts[f"chart_attr_{first}"].data if t.type == "image")
    pixels = plotly_array(image.z)[..., 0]
    h, w = pixels.shape
    k = int(np.ceil(h / 28 * 3))  # the patch: 2x2 on 8x8 digits
    assert (pixels[h - k :, w - k :] == 255).all()


@pytest.mark.usefixtures("one_torch_thread")
def test_label_noise_compare_draws_restoration_only(digits):
    from streamlit.testing.v1 import AppTest

    from unlearn_core.experiment import compare
    from unlearn_core.forget import ForgetRequest
    from unlearn_core.repair import RepairScorer, make_scenario
    from unlearn_core.training import TrainConfig, train_new_model

    sc = make_scenario(digits, "label-noise", 0.3, from_class=3, to_class=5, seed=0)
    cfg = TrainConfig(epochs=8, batch_size=64)
    model, _ = train_new_model(sc.corrupted, "mlp", cfg, seed=0, device="cpu")
    comp = compare(sc.corrupted, model, cfg, sc.split(), ["warnecke_first"], seed=0,
                   device="cpu", scenario=RepairScorer(sc))  # fmt: skip
    registries.comparison_registry()["t-noise"] = comp
    registries.model_registry()["model-t-noise"] = registries.ModelEntry(
        model=model, recipe=cfg, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.session_state["dataset"] = {"name": "digits", "params": {}}
    at.session_state["model_key"] = "model-t-noise"
    at.session_state["forget"] = ForgetRequest(indices=tuple(sc.found_idx.tolist())).to_dict()
    at.session_state["comparison_id"] = "t-noise"
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    charts = _charts(at)
    assert "chart_repair_attack" not in charts  # label noise has no trigger
    restore = _bars(charts["chart_repair_restore"])
    tla = restore["restoration, true labels"]
    assert list(tla) == ["original", "retrain", "warnecke_first", "clean"]
    assert tla["original"] == 0.0 and tla["clean"] == 1.0
    assert tla["warnecke_first"] == pytest.approx(
        comp.get("warnecke_first").metrics["restoration_tla"], abs=1e-6
    )
    assert np.isfinite(tla["retrain"])
    from unlearn_core.plots.repair import damage_gap

    images = damage_gap(comp) / 100 * len(digits.y_test)
    said = "moves in steps of about" if images >= 0.5 else "is not defined (n/a"
    assert said in texts(at.caption)
    charts = _open(at, "Attributions")
    assert not any(k.startswith("chart_repair_") for k in charts)
    assert "triggered test image" not in texts(at.markdown).lower()


def test_learn_page_explains_forgetting_vs_restoring(tmp_path):
    from streamlit.testing.v1 import AppTest

    from app_ui import repair_story

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/learn.py").run()
    no_exception(at)
    said = texts(at.markdown)
    for words in (
        "Forgetting is not repairing",
        "**Attack success**",
        "**Restoration** = (after − before) / (clean − before)",
        "Why a method can forget without restoring",
        "What the Warnecke update does",
        "θ ← θ − H⁻¹·Δ",
    ):
        assert words in said, words
    # the committed benchmark's backdoor rows, as printed there
    found = repair_story.parse_cell(repair_story.RESULTS.read_text(encoding="utf-8"))
    table = next(t.value for t in at.table if "attack success (%)" in t.value.columns)
    assert list(table["model"]) == [m for m in repair_story.SHOWN if m in {
        r["method"] for r in found["rows"]}]  # fmt: skip
    rows = {r["method"]: r for r in found["rows"]}
    shown = [c.replace("\xa0", " ") for c in table["attack success (%)"]]  # no-break spaces
    assert shown == [rows[m]["asr"] for m in table["model"]]
    # without the benchmark file the prose stands alone
    assert repair_story.parse_cell("# nothing here") is None
    assert repair_story.parse_cell("## backdoor_cnn: x\n\nno table\n") is None

"""What the Compare page draws for a repair run, from the library: the scenario rebuilt from a
comparison's summary, attributions of triggered images with the share on the patch, and the
attack-success / restoration / patch-share figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn_core.experiment import Comparison, MethodResult
from unlearn_core.plots import repair as PR
from unlearn_core.repair import ScenarioError, make_scenario
from unlearn_core.repair.explain import (
    patch_shares,
    scenario_from_summary,
    triggered_attributions,
)
from unlearn_core.training import TrainConfig, train_new_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backdoor(digits):
    sc = make_scenario(digits, "backdoor", 0.1, target_class=0, seed=0, detection_rate=0.5)
    cfg = TrainConfig(epochs=10, batch_size=64)
    poisoned, _ = train_new_model(sc.corrupted, "mlp", cfg, seed=0, device="cpu")
    clean, _ = train_new_model(sc.clean, "mlp", cfg, seed=0, device="cpu")
    return sc, {"original": poisoned, "clean": clean}


@pytest.mark.parametrize(
    "kw",
    [
        {"kind": "backdoor", "fraction": 0.1, "target_class": 2, "detection_rate": 0.5},
        {"kind": "label-noise", "fraction": 0.3, "from_class": 3, "to_class": None, "seed": 4},
        {"kind": "feature", "fraction": 0.5, "from_class": 1, "backdoor_fix": "input"},
    ],
)
def test_the_scenario_is_rebuilt_from_a_comparisons_summary(digits, kw):
    sc = make_scenario(digits, **kw)
    again = scenario_from_summary(digits, sc.summary())
    assert again.corruption == sc.corruption
    assert torch.equal(again.corrupted_idx, sc.corrupted_idx)
    assert torch.equal(again.found_idx, sc.found_idx)
    assert torch.equal(again.corrupted.y_train, sc.corrupted.y_train)
    assert torch.equal(again.x_fixed, sc.x_fixed)


def test_a_summary_without_a_scenario_is_refused(digits):
    with pytest.raises(ScenarioError, match="no repair scenario"):
        scenario_from_summary(digits, {"description": "forget class 3"})


def test_the_poisoned_model_looks_at_the_patch_and_the_clean_one_does_not(backdoor):
    sc, models = backdoor
    grid = triggered_attributions(models, sc, [0, 5, 9])
    xt, yt = sc.triggered_test()
    assert grid["ids"] == [0, 5, 9] and grid["target"] == 0
    assert np.array_equal(grid["images"], xt[[0, 5, 9]].numpy())
    assert np.array_equal(grid["labels"], yt[[0, 5, 9]].numpy())
    assert (grid["pred"]["original"] == 0).all()  # the backdoor fires
    assert (grid["pred"]["clean"] != 0).all()  # the true classes are not 0
    for m in ("integrated_gradients", "saliency"):
        for name in models:
            assert grid["maps"][m][name].shape == (3, *sc.patch.shape)
        orig, clean = grid["share"][m]["original"], grid["share"][m]["clean"]
        assert min(orig) > max(clean), (m, orig, clean)
    many = patch_shares(models, sc)
    assert many["original"] > 2 * many["clean"]
    # the same number as the comparison's row key (RepairScorer's patch_attr)
    from unlearn_core.repair import RepairScorer

    scorer = RepairScorer(sc, attributions=True)
    assert many["original"] == pytest.approx(scorer.patch_attribution(models["original"]))


def test_attributions_refuse_a_scenario_without_a_trigger_and_unknown_images(digits, backdoor):
    sc, models = backdoor
    noise = make_scenario(digits, "label-noise", 0.2, from_class=3, to_class=5)
    with pytest.raises(ScenarioError, match="no trigger"):
        triggered_attributions(models, noise, [0])
    with pytest.raises(ValueError, match="do not exist"):
        triggered_attributions(models, sc, [10**6])


def _comp(kind: str, rows: dict[str, dict]) -> Comparison:
    def res(name: str) -> MethodResult:
        return MethodResult(method=name, label=name, family="x", metrics=dict(rows[name]))

    scenario = {"kind": kind, "target_class": 0, "from_class": 1}
    return Comparison(
        dataset="digits",
        model="mlp",
        forget={"indices": [1], "scenario": scenario},
        seed=0,
        device="cpu",
        original=res("original"),
        results=[res(n) for n in rows if n != "original"],
    )


ROWS = {
    "original": {"asr": 98.0, "trigger_acc": 2.0, "restoration": 0.0, "restoration_tla": 0.0,
                 "test_acc": 95.0},
    "retrain": {"asr": 0.5, "trigger_acc": 80.0, "restoration": 2.0, "restoration_tla": 0.9,
                "restoration_std": 0.5},
    "warnecke_second": {"asr": 3.0, "trigger_acc": 85.0, "restoration": None,
                        "restoration_tla": 1.2},
    "clean": {"asr": 0.0, "trigger_acc": 78.0, "restoration": 1.0, "restoration_tla": 1.0,
              "test_acc": 95.5},
}  # fmt: skip


def _panel(fig, name: str) -> tuple[list, list]:
    bar = next(t for t in fig.data if t.type == "bar" and t.name == name)
    return list(bar.y), list(bar.x)


def test_attack_bars_draw_every_model_with_retrain_and_clean_lines():
    comp = _comp("backdoor", ROWS)
    fig = PR.attack_bars(comp, [f"digit {i}" for i in range(10)])
    assert "target class digit 0" in fig.layout.title.text.replace("<br>", " ")
    names, vals = _panel(fig, "attack success (%)")
    assert names == ["original", "retrain", "warnecke_second", "clean"]
    assert vals == [98.0, 0.5, 3.0, 0.0]
    assert not any(t.type == "bar" and "patch" in t.name for t in fig.data)  # not scored
    lines = {(s.line.dash, s.x0) for s in fig.layout.shapes}
    assert lines == {("dot", 0.5), ("dash", 0.0), ("dot", 80.0), ("dash", 78.0)}
    feature = PR.attack_bars(_comp("feature", ROWS))
    title = feature.layout.title.text.replace("<br>", " ")
    assert "Reliance" in title and "class 1" in title
    with pytest.raises(ValueError, match="attack success"):
        PR.attack_bars(_comp("label-noise", {k: {"restoration": 0.0} for k in ROWS}))


def test_restoration_bars_keep_missing_ratios_and_seed_spreads():
    fig = PR.restoration_bars(_comp("backdoor", ROWS))
    names, vals = _panel(fig, "restoration, test accuracy")
    assert names == ["original", "retrain", "warnecke_second", "clean"]
    assert vals == [0.0, 2.0, 0, 1.0]  # the missing ratio drawn as no bar ...
    labels = next(t for t in fig.data if t.name == "restoration, test accuracy values")
    assert list(labels.text) == ["0.00", "2.00", "n/a", "1.00"]  # ... and read as n/a
    bar = next(t for t in fig.data if t.name == "restoration, test accuracy")
    assert list(bar.error_x.array) == [0.0, 0.5, 0.0, 0.0]
    assert PR.damage_gap(_comp("backdoor", ROWS)) == pytest.approx(0.5)
    assert PR.scenario_of(_comp("backdoor", ROWS))["kind"] == "backdoor"


def test_patch_share_bars_and_the_patch_outline(digits):
    sc = make_scenario(digits, "backdoor", 0.05, target_class=0)
    box = PR.patch_box(sc.patch.numpy())
    h, w = sc.patch.shape[-2:]
    k = int(sc.patch[0].any(0).sum())
    assert box == (w - k - 0.5, h - k - 0.5, w - 0.5, h - 0.5)
    assert PR.patch_box(np.zeros((8, 8), bool)) is None
    fig = PR.patch_share_bars({"original": 40.0, "clean": 7.0}, uniform=6.25)
    names, vals = _panel(fig, "share of the attribution on the patch (%)")
    assert names == ["original", "clean"] and vals == [40.0, 7.0]
    assert [s.x0 for s in fig.layout.shapes] == [6.25]
    from unlearn_core.plots.results import attribution_figure

    maps = {"saliency": {"original": np.ones((1, h, w)), "clean": np.ones((1, h, w))}}
    grid = PR.outline_patch(attribution_figure(maps, image=np.zeros((h, w))), sc.patch.numpy())
    rects = [s for s in grid.layout.shapes if s.type == "rect"]
    assert len(rects) == 3 and {s.xref for s in rects} == {"x", "x2", "x3"}
    assert all(math.isclose(s.x1, w - 0.5) for s in rects)


def test_the_clean_model_has_a_colour_of_its_own():
    from test_figure_style import CVD, _lab_under

    from unlearn_core.plots import style

    assert style.method_colour("clean") == style.CLEAN_COLOUR
    assert style.method_pattern("clean") == ""
    others = [*style.METHOD_PALETTE, style.ORIGINAL_COLOUR, style.RETRAIN_COLOUR]
    for m in CVD.values():
        lab = _lab_under([*others, style.CLEAN_COLOUR], m)
        assert np.linalg.norm(lab[:-1] - lab[-1], axis=1).min() > 30

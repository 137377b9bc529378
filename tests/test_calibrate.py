"""The calibration script's pure parts: search space, scoring, pick, presets document."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_support import load_benchmark

from unlearn_core.methods import REGISTRY
from unlearn_core.methods.presets import parse_presets

cal = load_benchmark("calibrate")


def test_candidates_start_with_the_defaults_and_cover_the_grid():
    spec = REGISTRY["neggrad_plus"].spec
    grid = spec.grid()
    cands = cal.candidates(spec, quick=False)
    assert cands[0] == {"lr": 0.2, "alpha": 0.99}
    in_grid = 0.2 in grid["lr"] and 0.99 in grid["alpha"]
    assert len(cands) == len(grid["lr"]) * len(grid["alpha"]) + (not in_grid)
    assert len({tuple(sorted(c.items())) for c in cands}) == len(cands)
    quick = cal.candidates(spec, quick=True)
    assert len(quick) <= 1 + 2 * 2
    neggrad = cal.candidates(REGISTRY["neggrad"].spec, quick=False)
    assert neggrad[0] == {"epochs": 10, "lr": 2e-3} and len(neggrad) == 1 + 2 * 4
    assert cal.candidates(REGISTRY["retrain"].spec, quick=False) == [{}]


def test_score_and_collapse_penalty():
    """The score reads validation accuracy; a test accuracy, however far off, takes no part."""
    ref = {"forget_acc": 0.0, "retain_acc": 100.0, "val_acc": 90.0, "test_acc": 90.0}
    run = {"forget_acc": 3.0, "retain_acc": 97.0, "val_acc": 87.0, "test_acc": 10.0}
    s, gaps, collapsed = cal.score(run, ref)
    assert s == pytest.approx(3.0) and not collapsed and gaps["forget_acc"] == 3.0
    assert set(gaps) == {"forget_acc", "retain_acc", "val_acc"}
    s, _, collapsed = cal.score({"forget_acc": 0.0, "retain_acc": 89.0, "val_acc": 90.0}, ref)
    assert collapsed and s == pytest.approx(11.0 / 3 + cal.COLLAPSE_PENALTY)


def _run(combo: dict, score: float | None, request: str = "class", **kw) -> cal.Run:
    return cal.Run("cnn", "ssd", combo, "u", request, score, {"forget_acc": 1.0}, False, {}, **kw)


def test_choose_takes_the_lowest_mean_and_prefers_the_defaults_on_ties():
    runs = [
        _run({"alpha": 10.0}, 4.0),
        _run({"alpha": 10.0}, 2.0),
        _run({"alpha": 5.0}, 1.0),
        _run({"alpha": 5.0}, 5.0),
        _run({"alpha": 3.0}, 1.0),
        _run({"alpha": 3.0}, None, refused=True, error="MethodNotApplicable: x"),
        _run({"alpha": 3.0}, 100.0, error="RuntimeError: y"),
    ]
    cands, best = cal.choose(runs)
    assert [c.combo["alpha"] for c in cands] == [10.0, 5.0, 3.0]
    assert best.combo == {"alpha": 10.0}  # ties 5.0 at a mean of 3.0: the defaults come first
    assert cands[2].failures == 1 and len(cands[2].scored) == 2
    assert cands[2].mean == pytest.approx(50.5)


def test_presets_doc_keeps_unsearched_entries_and_is_valid(tmp_path):
    cands, best = cal.choose([_run({"alpha": 5.0}, 1.0)])
    base = {
        "presets": {
            "mlp": {"lrp": {"values": {"n_share": 0.25}, "status": "provisional", "source": "x"}},
            "cnn": {"ssd": {"values": {"alpha": 50.0}, "status": "provisional", "source": "x"}},
        }
    }
    doc = cal.presets_doc(
        {("cnn", "ssd"): best}, {("cnn", "ssd"): cands}, Path("r/c.md"), False, base
    )
    table = parse_presets(doc)
    assert table.get("ssd", "cnn").values == {"alpha": 5.0}
    assert table.get("ssd", "cnn").status == "calibrated"
    assert table.get("ssd", "cnn").source == "r/c.md#cnn-ssd"
    assert table.get("lrp", "mlp").values == {"n_share": 0.25}
    quick = cal.presets_doc(
        {("cnn", "ssd"): best}, {("cnn", "ssd"): cands}, Path("q.md"), True, None
    )
    entry = parse_presets(quick).get("ssd", "cnn")
    assert entry.status == "provisional" and "not yet calibrated" in entry.note


def test_every_cell_names_a_known_architecture_and_dataset():
    from unlearn_core.data import list_datasets
    from unlearn_core.models import ARCHITECTURES

    archs = {c.arch for c in cal.CELLS}
    assert archs == {"mlp", "cnn", "resnet18"} <= set(ARCHITECTURES)
    assert {c.dataset for c in cal.CELLS} <= set(list_datasets())


def test_grid_overrides_are_typed_and_checked(monkeypatch):
    method, knob, values = cal.parse_grid("neggrad_plus.epochs=2,3")
    assert (method, knob, values) == ("neggrad_plus", "epochs", (2, 3))
    for bad in ("neggrad_plus.epochs", "nosuch.lr=1", "scrub.nosuch=1", "scrub.lr=abc"):
        with pytest.raises((SystemExit, ValueError)):
            cal.parse_grid(bad)
    spec = REGISTRY["neggrad_plus"].spec
    monkeypatch.setitem(cal.GRID_OVERRIDES, "neggrad_plus", {"epochs": (2,), "lr": (0.2, 0.5)})
    cands = cal.candidates(spec, quick=False)
    # the defaults first (epochs 10), then the grid with the replaced knobs
    assert cands[0] == {"lr": 0.2, "alpha": 0.99, "epochs": 10}
    assert all(c["epochs"] == 2 for c in cands[1:]) and len(cands) == 1 + 2 * 4
    skipped = cal.candidates(spec, quick=False, skip_defaults=True)
    assert skipped == cands[1:]
    # a grid that holds the defaults keeps them when the defaults are skipped
    monkeypatch.setitem(cal.GRID_OVERRIDES, "neggrad_plus", {"lr": (0.2,), "alpha": (0.99,)})
    assert cal.candidates(spec, quick=False, skip_defaults=True) == [{"lr": 0.2, "alpha": 0.99}]


def test_no_pick_when_every_candidate_failed():
    runs = [
        _run({"alpha": 3.0}, cal.FAILURE_SCORE, error="RuntimeError: diverged"),
        _run({"alpha": 5.0}, cal.FAILURE_SCORE, error="RuntimeError: diverged"),
    ]
    cands, best = cal.choose(runs)
    assert best is None and [c.failures for c in cands] == [1, 1]
    runs.append(_run({"alpha": 5.0}, 4.0))
    assert cal.choose(runs)[1].combo == {"alpha": 5.0}


def test_cells_have_unique_keys_and_the_resnet_cell_is_the_matrix_one():
    from unlearn_core.models import NARROW_RESNET

    keys = [c.key for c in cal.CELLS]
    assert len(set(keys)) == len(keys)
    (resnet,) = [c for c in cal.CELLS if c.arch == "resnet18"]
    assert resnet.model_kwargs == NARROW_RESNET

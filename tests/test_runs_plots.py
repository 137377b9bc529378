"""Runs side by side: one bar per run in each method row, error bars from several seeds."""

from __future__ import annotations

import pytest

from unlearn_core.plots.runs import (
    ACCURACY_PANELS,
    RUN_COLOURS,
    RunRows,
    run_bars,
    side_by_side_figures,
)

ONE_SEED = RunRows(
    "c1",
    [
        {"method": "original", "forget_acc": 99.0, "retain_acc": 99.5, "test_acc": 97.0},
        {"method": "retrain", "forget_acc": 1.0, "retain_acc": 99.0, "seconds": 4.0},
        {"method": "scrub", "forget_acc": 3.0, "retain_acc": 97.0, "seconds": 0.5},
        {"method": "ssd", "error": "ValueError: boom"},
    ],
)
TWO_SEEDS = RunRows(
    "c2",
    [
        {"method": "original", "forget_acc": 98.0, "forget_acc_std": 0.5},
        {"method": "retrain", "forget_acc": 0.5, "forget_acc_std": 0.2, "seconds": 5.0},
        {"method": "salun", "forget_acc": 8.0, "forget_acc_std": 2.0, "seconds": 0.4},
    ],
)


def test_one_bar_per_run_in_each_method_row():
    fig = run_bars([ONE_SEED, TWO_SEEDS], ACCURACY_PANELS, "t")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2 * len(ACCURACY_PANELS)
    first = [t for t in bars if t.xaxis == "x"]
    assert [t.name for t in first] == ["c1", "c2"]
    assert [t.marker.color for t in first] == list(RUN_COLOURS[:2])
    methods = ["original", "retrain", "scrub", "ssd", "salun"]
    assert all(list(t.y) == methods for t in bars)
    c1, c2 = first
    assert list(c1.x) == [99.0, 1.0, 3.0, None, None]  # ssd failed, salun not in run c1
    assert list(c2.x) == [98.0, 0.5, None, None, 8.0]
    assert c1.error_x.array is None  # one seed: no error bars
    assert list(c2.error_x.array) == [0.5, 0.2, 0.0, 0.0, 2.0]
    assert sum(t.showlegend for t in bars) == 2  # the legend names each run once


def test_the_main_charts_and_a_log_time_axis():
    figs = side_by_side_figures([ONE_SEED, TWO_SEEDS])
    assert len(figs) == 3
    time_fig = figs[2]
    assert time_fig.layout.xaxis.type == "log"
    assert [t.x[1] for t in time_fig.data] == [4.0, 5.0]  # retrain's seconds per run
    with pytest.raises(ValueError):
        run_bars([], ACCURACY_PANELS, "t")

"""Time estimates (``unlearn_core.runtime.estimates``): wording, time left, and estimates that
follow the measured throughput."""

from __future__ import annotations

import csv
import re
import statistics
import time

import pytest
from benchmark_support import BENCHMARKS

from unlearn_core.runtime import estimates as E
from unlearn_core.training import TrainConfig, train_new_model


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "under 1 s"), (4.4, "4 s"), (59, "59 s"), (80, "1 min 20 s"), (120, "2 min"),
     (1500, "25 min"), (3600 * 2 + 300, "2 h 5 min")],
)  # fmt: skip
def test_format_duration(seconds, text):
    assert E.format_duration(seconds) == text


def test_time_left_is_linear_and_silent_at_the_start():
    assert E.time_left(0.25, 10.0) == pytest.approx(30.0)
    assert E.time_left(0.01, 10.0) is None  # too little done to tell
    assert E.time_left(0.5, 0.1) is None
    assert E.time_left(1.0, 10.0) is None
    assert E.eta_text(0.5, 20.0) == " · about 20 s left"
    assert E.eta_text(0.0, 20.0) == ""


def test_training_estimate_follows_the_measured_run(digits):
    recipe = TrainConfig(epochs=6, batch_size=64)
    est = E.training_estimate(digits.n_train, "mlp", recipe, digits.input_shape, 10, device="cpu")
    bigger = E.training_estimate(
        10 * digits.n_train, "mlp", recipe, digits.input_shape, 10, device="cpu"
    )
    assert bigger.seconds == pytest.approx(10 * est.seconds)  # same cached throughput
    t0 = time.perf_counter()
    train_new_model(digits, "mlp", recipe, seed=0, device="cpu")
    actual = time.perf_counter() - t0
    assert f"6 epochs x {digits.n_train} samples" in est.basis
    assert actual / 4 < est.seconds < actual * 4, (est.seconds, actual)
    assert est.text().endswith(" on this machine") and "about under" not in est.text()
    assert E.Estimate(0.2, "").text() == "under 1 s on this machine"
    assert E.Estimate(4.2, "").text() == "about 4 s on this machine"


def test_comparison_estimate_adds_the_methods_costs(digits):
    recipe = TrainConfig(epochs=6, batch_size=64)
    args = (digits.n_train, 140, "mlp", recipe)
    shape = (digits.input_shape, 10)
    alone = E.comparison_estimate(*args, [], *shape, device="cpu").seconds
    cheap = E.comparison_estimate(*args, ["ssd"], *shape, device="cpu").seconds
    sisa = E.comparison_estimate(*args, ["sisa"], *shape, device="cpu")
    assert alone < cheap < sisa.seconds
    retrain = E.training_estimate(digits.n_train - 140, "mlp", recipe, *shape, device="cpu")
    # SISA trains its shards (about one original training) and then retrains touched shards
    assert sisa.seconds - cheap == pytest.approx(
        retrain.seconds * (E.TIME_RATIOS["mlp"]["sisa"] + 1.0 - E.TIME_RATIOS["mlp"]["ssd"]),
        rel=1e-6,
    )
    assert "shard" in E.method_cost_note("sisa", "mlp", retrain.seconds)


def test_observed_rates_replace_the_defaults():
    before = E.umap_estimate(1000, 2).seconds
    E.observe("umap_epoch", 1000 * 2 * 200, 2 * before)
    try:
        assert E.umap_estimate(1000, 2).seconds > 1.5 * before
    finally:
        E._rates.pop("umap_epoch", None)
    assert (
        E.attribution_estimate(10, 3, ["saliency"]).seconds
        < E.attribution_estimate(10, 3, ["integrated_gradients"]).seconds
    )


def test_a_training_run_leaves_its_throughput_for_the_next_estimate():
    """After ``train_new_model`` the estimate for the same model and batch needs no timed
    steps, and equals epochs x samples / the measured rate."""
    from unlearn_core.data import load_dataset

    data = load_dataset("moons", n_train=200)
    cfg = TrainConfig(epochs=2, batch_size=64)
    E._throughput.clear()
    train_new_model(data, "mlp", cfg, device="cpu")
    assert len(E._throughput) == 1
    (sps,) = E._throughput.values()
    est = E.training_estimate(400, "mlp", cfg, data.input_shape, data.num_classes, device="cpu")
    assert len(E._throughput) == 1  # no new timed steps
    assert est.seconds == pytest.approx(2 * 400 / sps)


def _matrix_time_ratios() -> dict[str, dict[str, float]]:
    """Median time ratio per architecture and method over the committed matrix cells."""
    found: dict[str, dict[str, list[float]]] = {}
    for f in sorted((BENCHMARKS / "results").glob("*.csv")):
        m = re.fullmatch(r"[a-z0-9]+_(mlp|cnn|resnet18)(_sorted)?", f.stem)
        if m is None:
            continue
        for row in csv.DictReader(f.open()):
            if row.get("time_ratio") and row["method"] not in ("original", "retrain"):
                found.setdefault(m[1], {}).setdefault(row["method"], []).append(
                    float(row["time_ratio"])
                )
    return {a: {k: statistics.median(v) for k, v in d.items()} for a, d in found.items()}


def test_time_ratios_follow_the_committed_benchmark_matrix():
    """The estimates' method costs are the matrix's medians: a rerun with new presets that
    moves them fails here until ``TIME_RATIOS`` is updated."""
    measured = _matrix_time_ratios()
    assert set(measured) <= set(E.TIME_RATIOS)
    for arch, ratios in measured.items():
        for method, ratio in ratios.items():
            assert E.TIME_RATIOS[arch][method] == pytest.approx(ratio, rel=0.25, abs=0.02), (
                arch,
                method,
            )

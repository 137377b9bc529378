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

#: one torch thread, as the app's server on 2 cores: with two, a busy machine stalls every
#: parallel region of a real run (no probe can foresee that)
pytestmark = pytest.mark.usefixtures("one_torch_thread")
#: the real load reading (the fixture below replaces it for every test)
CPU_SHARE = E.cpu_share


@pytest.fixture(autouse=True)
def no_earlier_timings(monkeypatch):
    """Each test starts with no measured durations: the app's pages, run earlier in the same
    process, keep theirs (``keep_timings``), and those would move the estimates compared here."""
    monkeypatch.delenv(E.JOURNAL_ENV, raising=False)
    E.forget_timings()
    yield
    E.forget_timings()


@pytest.fixture(autouse=True)
def free_machine(monkeypatch):
    """A free machine (no other load) unless a test sets the share itself: the figures below
    compare estimates made moments apart, and the load average moves."""
    monkeypatch.setattr(E, "cpu_share", lambda seconds=0: 1.0)


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


def test_training_estimate_follows_the_measured_run(digits, monkeypatch):
    monkeypatch.setattr(E, "cpu_share", CPU_SHARE)  # held against a real run: the real load
    recipe = TrainConfig(epochs=6, batch_size=64)
    est = E.training_estimate(digits.n_train, "mlp", recipe, digits.input_shape, 10, device="cpu")
    bigger = E.training_estimate(
        10 * digits.n_train, "mlp", recipe, digits.input_shape, 10, device="cpu"
    )
    assert bigger.seconds == pytest.approx(10 * est.seconds, rel=0.1)  # the same probe
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
    before = E.umap_estimate(1000, 2, redraw_s=0).seconds
    saved = dict(E._values)
    E.observe("umap_base_epoch", 1000 * 2 * 200, 4 * before)
    try:
        assert E.umap_estimate(1000, 2, redraw_s=0).seconds > 1.5 * before
    finally:
        E._values.clear()
        E._values.update(saved)
    assert (
        E.attribution_estimate(10, 3, ["saliency"]).seconds
        < E.attribution_estimate(10, 3, ["integrated_gradients"]).seconds
    )


def test_a_training_run_leaves_its_throughput_for_the_next_estimate(tmp_path):
    """After ``train_new_model`` the estimate for the same model and batch rests on the
    measured run (no probe), equals epochs x samples / the measured rate, and the journal
    keeps the figure for the next process."""
    from unlearn_core.data import load_dataset

    data = load_dataset("moons", n_train=200)
    cfg = TrainConfig(epochs=2, batch_size=64)
    E.forget_timings()
    journal = E.keep_timings(tmp_path / "timings.json")
    try:
        train_new_model(data, "mlp", cfg, device="cpu")
        (name,) = [k for k in E._values if k.startswith("train_sps|")]
        (sps,) = E._values[name]
        est = E.training_estimate(400, "mlp", cfg, data.input_shape, data.num_classes, device="cpu")
        assert not E._throughput  # no probe ran
        assert est.seconds == pytest.approx(2 * 400 / sps)
        assert "1 training run here" in est.basis
        E.forget_timings()  # a new process: the journal brings the figure back
        E.keep_timings(journal)
        again = E.training_estimate(400, "mlp", cfg, data.input_shape, 2, device="cpu")
        assert again.seconds == pytest.approx(est.seconds)
    finally:
        E.forget_timings()


def test_a_probe_is_corrected_by_how_far_probes_missed_real_runs(tmp_path):
    """An estimate is the probe now x the probe factor this machine measured for that
    architecture (else the typical one), x the share of a core free now."""
    E.forget_timings()
    E.keep_timings(tmp_path / "timings.json")
    try:
        shape, cfg = (2,), TrainConfig(epochs=3, batch_size=32)
        typical = E.training_estimate(100, "mlp", cfg, shape, 2, device="cpu")
        assert "(typical)" in typical.basis
        assert typical.low < typical.seconds < typical.high
        probe = next(iter(E._throughput.values()))[0]
        f = E.PROBE_FACTOR["mlp"]
        assert typical.seconds == pytest.approx(3 * 100 / (f * probe))
        E.record("probe_factor", 0.25, "mlp")
        own = E.training_estimate(100, "mlp", cfg, shape, 2, device="cpu")
        assert "probe now x0.25 (1 real run)" in own.basis
        assert own.seconds == pytest.approx(3 * 100 / (0.25 * probe))
        E.record("probe_factor", 0.9, "cnn")  # another model's factor is not used
        assert E.training_estimate(100, "mlp", cfg, shape, 2, device="cpu") == own
    finally:
        E.forget_timings()


def test_estimates_follow_the_load_now(monkeypatch):
    """Measurements are kept as on a free machine and estimates scaled by the share of a core
    free now (a thread's CPU time over the wall clock)."""
    assert E.share_of(0.5, 1.0) == 0.5
    assert E.share_of(1.2, 1.0) == 1.0  # never more than a core
    assert E.share_of(0.0, 1.0) > 0 and E.share_of(1.0, 0.0) == 1.0
    assert 0 < CPU_SHARE(0.02) <= 1.0
    E.forget_timings()
    try:
        monkeypatch.setattr(E, "cpu_share", lambda seconds=0: 0.5)
        E.observe("umap_graph", 100, 1.0)  # measured at half a core: 0.5 s on a free one
        assert E.recorded("umap_graph") == [0.005]
        stage = E.rate_stage("graph", "umap_graph", 100, 1.0)
        assert stage.seconds == pytest.approx(1.0)  # and half a core now again
        monkeypatch.setattr(E, "cpu_share", lambda seconds=0: 1.0)
        assert E.rate_stage("graph", "umap_graph", 100, 1.0).seconds == pytest.approx(0.5)
    finally:
        E.forget_timings()


# ----------------------------------------------------------------------------- pure parts
def test_summarise_gives_the_median_and_a_range_from_the_spread():
    assert E.summarise([], 2.0, prior=0.5) == (2.0, 1.0, 3.0, 0)
    v, lo, hi, n = E.summarise([10.0])
    assert (v, n) == (10.0, 1) and lo == pytest.approx(8.0) and hi == pytest.approx(12.0)
    v, lo, hi, n = E.summarise([8.0, 10.0, 15.0, float("nan"), -1.0])
    assert (v, lo, hi, n) == (10.0, 8.0, 15.0, 3)
    v, lo, hi, _ = E.summarise([10.0, 10.0, 10.0])  # no spread: still +-10 %
    assert (lo, hi) == pytest.approx((9.0, 11.0))
    with pytest.raises(ValueError):
        E.summarise([])


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [(20, 35, "20–35 s"), (0.2, 0.6, "under 1 s"), (0.4, 3, "up to 3 s"), (4.2, 4.4, "4 s"),
     (50, 80, "50 s – 1 min 20 s"), (720, 900, "12–15 min"), (100, 180, "1 min 40 s – 3 min")],
)  # fmt: skip
def test_format_range(low, high, text):
    assert E.format_range(low, high) == text


def test_an_estimate_is_the_sum_of_its_stages_and_says_its_range():
    est = E.Estimate.of(
        [E.Stage("a", 10, 8, 14), E.Stage.of("b", 20, (0.5, 1.5)), E.Stage("none", 0, 0, 0)],
        "basis",
    )
    assert (est.seconds, est.low, est.high) == (30, 18, 44)
    assert [s.name for s in est.stages] == ["a", "b"]
    assert est.text() == "about 30 s (18–44 s) on this machine"
    assert est.breakdown() == "b ~20 s, a ~10 s"
    assert E.Estimate(4.2, "", 4.1, 4.4).text() == "about 4 s on this machine"
    assert E.Estimate(0.3, "", 0.2, 0.5).text() == "under 1 s on this machine"
    assert E.Estimate(0.8, "", 0.5, 2.0).text() == "under 1 s (up to 2 s) on this machine"


def test_recorded_outcomes_scale_later_estimates_of_their_kind():
    E.forget_timings()
    try:
        est = E.Estimate.of([E.Stage("work", 10, 8, 12)], "b", kind="compare:mlp")
        assert E.calibrated(est) == est  # nothing recorded yet
        for took in (14.0, 15.0, 16.0):
            E.record_outcome(est, took)
        again = E.calibrated(est)
        assert again.seconds == pytest.approx(15.0)
        # the ratios' range (1.4-1.6) is narrower than +-10 % of 1.5: 1.35-1.65
        assert again.low == pytest.approx(8 * 1.35)
        assert again.high == pytest.approx(12 * 1.65)
        assert "3 earlier runs" in again.basis
        other = E.Estimate.of([E.Stage("work", 10, 8, 12)], "b", kind="audit:mlp")
        assert E.calibrated(other) == other  # another kind is not scaled
    finally:
        E.forget_timings()


def test_parallel_calls_share_the_workers_but_never_beat_the_longest_call():
    calls = [E.Stage("c", 10, 8, 12)] * 4
    one = E.parallel_stage("x", calls, 1)
    assert (one.seconds, one.low, one.high) == (40, 32, 48)
    two = E.parallel_stage("x", calls, 2)
    assert two.seconds == pytest.approx(40 / (2 * E.PARALLEL_EFFICIENCY))
    many = E.parallel_stage("x", calls, 16)
    assert many.seconds == 10 and many.high == 12
    assert E.parallel_stage("x", [], 2).seconds == 0


def test_the_umap_estimate_counts_every_stage_of_the_first_frame():
    first = E.umap_estimate(1300, 3, redraw_s=0)
    names = [s.name for s in first.stages]
    assert names == ["3 neighbour graph(s)", "joint layout of the references", "1 more layout(s)"]
    n = 1300
    assert first.seconds == pytest.approx(
        3 * n * n * E.UMAP_GRAPH_S
        + 2 * n * 200 * E.UMAP_BASE_EPOCH_S
        + n * 200 * E.UMAP_ADD_EPOCH_S
    )
    another = E.umap_estimate(1300, 1, redraw_s=0)  # one more method: its graph and layout
    assert [s.name for s in another.stages] == ["1 neighbour graph(s)", "1 more layout(s)"]
    waiting = E.umap_estimate(1300, 3, warm_up_left_s=5.0)
    assert waiting.seconds == pytest.approx(first.seconds + 5.0 + E.REDRAW_S)
    assert waiting.stages[0].name == "the UMAP worker's warm-up"
    assert E.warm_up_left(None, False) == 0.0
    assert E.warm_up_left(time.monotonic(), True) == 0.0
    assert E.warm_up_left(time.monotonic() - 1.0, False) == pytest.approx(
        E.UMAP_WARM_UP_S - 1.0, abs=0.2
    )


def test_audit_estimate_counts_the_pool_both_rounds_and_relearning(digits):
    E.forget_timings()
    try:
        cfg = TrainConfig(epochs=2, batch_size=64)
        args = (digits.n_train, 140, "mlp", cfg, ["ssd", "finetune"], digits.input_shape, 10)
        one = E.audit_estimate(*args, models=3, workers=1, device="cpu", batched=False)
        assert [s.name for s in one.stages] == ["6 trainings", "6 unlearning runs"]
        two = E.audit_estimate(*args, models=3, workers=2, relearn=True, device="cpu")
        assert [s.name for s in two.stages] == [
            "starting the workers",
            "6 trainings (batched)",
            "6 unlearning runs",
            "relearning 12 models",
        ]
        assert two.stages[0].seconds == pytest.approx(E.POOL_START_S)
        assert two.low < two.seconds < two.high
        # batched: one call per side on two workers, each BATCHED_COST of three trainings
        alone = E.audit_estimate(*args, models=3, workers=2, device="cpu", batched=False)
        assert two.stages[1].seconds < alone.stages[1].seconds
    finally:
        E.forget_timings()


def test_the_audit_estimate_follows_the_pipeline():
    """Which models the audit trains batched, and its largest group, as the pipeline has it."""
    from unlearn_core.audit.pipeline import MAX_GROUP
    from unlearn_core.ensemble_training import batch_blocker
    from unlearn_core.models import build_model
    from unlearn_core.training import default_recipe

    assert E.AUDIT_MAX_GROUP == MAX_GROUP
    for arch in ("mlp", "cnn", "resnet18"):
        model = build_model(arch, (3, 16, 16) if arch != "mlp" else (8,), 4)
        can = batch_blocker(model, default_recipe(arch)) is None
        assert can == (arch in E.BATCHED_ARCHS), arch


def test_probe_steps_run_on_while_a_fresh_process_warms_up():
    """Slow first steps (a thread pool starting) do not end the probe: it runs on while the
    latest steps are much faster, then stops soon after its budget."""
    now = [0.0]
    script = iter([0.25, 0.001, 0.25, 0.25] + [0.001] * 1000)

    def step() -> float:
        t = next(script)
        now[0] += t
        return t

    times = E.settled_steps(step, budget_s=0.5, clock=lambda: now[0])
    assert times == [0.25, 0.001, 0.25, 0.25, 0.001, 0.001]  # on until half are fast
    assert statistics.median(times[len(times) // 2 :]) == 0.001
    steady = iter([0.01] * 1000)
    now[0] = 0.0

    def even() -> float:
        now[0] += 0.01
        return next(steady)

    assert len(E.settled_steps(even, budget_s=0.3, clock=lambda: now[0])) == 30


def test_a_big_model_is_probed_at_a_small_batch():
    """Where one step at the recipe's batch would overrun the probe's budget, the probe runs
    at the small batch (and says so, for its own probe factor)."""
    E.forget_timings()
    try:
        sps = E.training_throughput("mlp", (2,), 2, 64, device="cpu", budget_s=1e-9)
        ((value, _, small),) = E._throughput.values()
        assert small and value == sps > 0
        E.forget_timings()
        E.training_throughput("mlp", (2,), 2, 16, device="cpu", budget_s=1.0)
        ((_, _, small),) = E._throughput.values()
        assert not small
    finally:
        E.forget_timings()


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

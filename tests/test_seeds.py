"""Several seeds: aggregation (mean, std) on constructed results, JSON round trip, and
``compare_seeds`` end to end on digits."""

from __future__ import annotations

import json
import math

import pytest
from result_keys import row_keys

from unlearn_core.experiment import (
    Comparison,
    MethodResult,
    MultiComparison,
    Spread,
    compare_seeds,
)
from unlearn_core.forget import ForgetRequest
from unlearn_core.models import weights_hash
from unlearn_core.training import TrainConfig

FAST = TrainConfig(epochs=4, batch_size=64)


def _result(method, forget, retain, *, gap=None, seconds=1.0, error=None, flags=()):
    return MethodResult(
        method=method,
        label=method.title(),
        family="exact" if method == "retrain" else "approximate",
        metrics={"forget_acc": forget, "retain_acc": retain, "test_acc": 90.0, "mia": 50.0},
        seconds=seconds,
        avg_gap=gap,
        time_ratio=None if error or seconds is None else seconds / 4.0,
        error=error,
        flags=list(flags),
    )


def _comparison(seed, ft, retain_ft, *, error=None, flags=()):
    return Comparison(
        dataset="digits",
        model="mlp",
        forget={"kind": "class", "classes": [3], "description": "class 3", "n_forget": 146},
        seed=seed,
        original=_result("original", 95.0, 96.0, gap=40.0, seconds=None),
        results=[
            _result("retrain", 0.0, 96.0, gap=0.0, seconds=4.0),
            _result("scrub", ft, retain_ft, gap=ft / 4, error=error, flags=flags),
        ],
    )


@pytest.fixture
def multi():
    return MultiComparison(
        comparisons=[
            _comparison(0, 1.0, 95.0),
            _comparison(1, 3.0, 93.0),
            _comparison(2, 8.0, 80.0, flags=("damaged",)),
        ]
    )


def test_spread_is_mean_and_sample_std():
    s = Spread.of([90.0, 92.0, 97.0, None, float("nan")])
    assert (s.mean, s.n) == (93.0, 3)
    assert s.std == pytest.approx(math.sqrt(13.0))  # ((-3)^2 + (-1)^2 + 4^2) / (3 - 1)
    assert Spread.of([5.0]) == Spread(5.0, 0.0, 1)
    assert Spread.of([None]) == Spread(None, None, 0)


def test_aggregated_rows_are_exact(multi):
    assert multi.seeds == [0, 1, 2]
    assert [s.method for s in multi.results] == ["retrain", "scrub"]
    scrub = multi.get("scrub")
    assert scrub.mean("forget_acc") == 4.0
    assert scrub.std("forget_acc") == pytest.approx(math.sqrt((9 + 1 + 16) / 2))
    assert scrub.mean("retain_acc") == pytest.approx(268 / 3)
    assert scrub.std("test_acc") == 0.0
    assert scrub.mean("avg_gap") == pytest.approx(1.0)  # gaps 0.25, 0.75, 2
    assert scrub.mean("test_forgotten_acc") is None  # never measured
    assert scrub.damaged and scrub.damaged_seeds == [2] and scrub.ok
    ref = multi.get("retrain")
    assert ref.mean("avg_gap") == 0.0 and ref.std("avg_gap") == 0.0
    assert multi.get("original").mean("forget_acc") == 95.0
    row = scrub.row()
    assert set(row) == row_keys(with_std=True)
    assert row["forget_acc_std"] == pytest.approx(round(math.sqrt(13.0), 4))
    assert row["damaged"] is True and row["error"] is None


def test_a_failed_seed_is_left_out_and_named():
    m = MultiComparison(
        comparisons=[
            _comparison(0, 1.0, 95.0),
            _comparison(5, 3.0, 93.0, error="RuntimeError: boom"),
            _comparison(9, 5.0, 91.0),
        ]
    )
    s = m.get("scrub")
    assert s.mean("forget_acc") == 3.0 and s.stats["forget_acc"].n == 2
    assert s.std("forget_acc") == pytest.approx(math.sqrt(8.0))
    assert not s.ok and s.error == "seed 5: RuntimeError: boom"
    assert s.row()["error"] == "seed 5: RuntimeError: boom"


def test_summary_and_json_round_trip(multi):
    s = json.loads(json.dumps(multi.summary()))
    assert s["seeds"] == [0, 1, 2] and "seed" not in s
    assert [r["method"] for r in s["results"]] == ["retrain", "scrub"]
    assert [p["seed"] for p in s["per_seed"]] == [0, 1, 2]
    back = MultiComparison.from_dict(json.loads(multi.to_json()))
    assert back.seeds == multi.seeds
    assert json.loads(json.dumps(back.summary())) == s
    assert back.to_json() == multi.to_json()
    assert back.get("scrub").damaged_seeds == [2]
    # one seed: exactly the single comparison's summary
    one = MultiComparison(comparisons=[multi.comparisons[0]])
    assert one.summary() == multi.comparisons[0].summary()


@pytest.fixture(scope="module")
def seeded(digits, digits_mlp):
    seen, done, fractions = [], [], []
    given_hash = weights_hash(digits_mlp)
    m = compare_seeds(
        digits,
        "mlp",
        FAST,
        ForgetRequest(fraction=0.1, seed=0),
        [("finetune", {"epochs": 1})],
        seeds=[0, 1, 2],
        originals={2: digits_mlp},
        device="cpu",
        progress=lambda f, msg="": fractions.append((f, msg)),
        on_result=seen.append,
        on_comparison=done.append,
    )
    assert weights_hash(digits_mlp) == given_hash
    return m, seen, done, fractions


def test_compare_seeds_runs_the_whole_comparison_per_seed(seeded):
    m, seen, done, _ = seeded
    assert m.seeds == [0, 1, 2] and [c.seed for c in done] == [0, 1, 2]
    assert len(seen) == 6  # retrain + finetune per seed
    # the same forget set for every seed
    assert len({json.dumps(c.forget, sort_keys=True) for c in m.comparisons}) == 1
    logs = [c.original.log for c in m.comparisons]
    assert [lg["source"] for lg in logs] == ["trained", "trained", "given"]
    assert logs[0]["train_seconds"] > 0 and logs[2]["train_seconds"] is None
    # each seed trained its own original: different numbers
    accs = {c.original.metrics["test_all_acc"] for c in m.comparisons}
    mias = {tuple(c.original.metrics["mia_draws"]) for c in m.comparisons}
    assert len(accs) > 1 or len(mias) > 1
    for c in m.comparisons:  # retrain scored against itself
        assert c.reference.avg_gap == 0 and c.reference.metrics["test_forgotten_acc"] is None
    ref = m.get("retrain")
    assert ref.mean("avg_gap") == 0 and ref.std("avg_gap") == 0
    ft = m.get("finetune")
    values = [c.get("finetune").metrics["retain_acc"] for c in m.comparisons]
    assert ft.mean("retain_acc") == pytest.approx(sum(values) / 3, abs=1e-9)
    assert all(c.original.model is None for c in m.comparisons)  # keep_models=False


def test_compare_seeds_reports_one_progress_range(seeded):
    *_, fractions = seeded
    values = [f for f, _ in fractions]
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == 1.0
    assert any(msg.startswith("seed 1 (2/3): training") for _, msg in fractions)
    # the given original (seed 2) is not trained
    assert not any(msg.startswith("seed 2 (3/3): training") for _, msg in fractions)


def test_compare_seeds_refuses_what_it_cannot_train(digits, digits_mlp):
    with pytest.raises(ValueError, match="no original model for seeds"):
        compare_seeds(
            digits,
            None,
            FAST,
            ForgetRequest(classes=(1,)),
            [],
            seeds=[0, 1],
            originals={0: digits_mlp},
        )
    with pytest.raises(TypeError, match="originals"):
        compare_seeds(digits, digits_mlp, FAST, ForgetRequest(classes=(1,)), [], seeds=[0])

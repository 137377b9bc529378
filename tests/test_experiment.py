"""The one comparison pipeline: order, reference scores, failure isolation, serialisation."""

from __future__ import annotations

import json
import math

import pytest

from unlearn_core.experiment import Comparison, compare
from unlearn_core.forget import ForgetRequest
from unlearn_core.models import weights_hash
from unlearn_core.training import TrainConfig

FAST = TrainConfig(epochs=5, batch_size=64)


@pytest.fixture(scope="module")
def class_comparison(digits, digits_mlp):
    before = weights_hash(digits_mlp)
    seen = []
    comp = compare(
        digits,
        digits_mlp,
        FAST,
        ForgetRequest(classes=(3,)),
        [("finetune", {"epochs": 1}), ("no_such_method", {}), ("finetune", {"epochs": 2})],
        seed=0,
        device="cpu",
        on_result=seen.append,
    )
    assert weights_hash(digits_mlp) == before
    return comp, seen


def test_retrain_runs_first_and_is_its_own_reference(class_comparison):
    comp, _ = class_comparison
    assert [r.method for r in comp.results] == ["retrain", "finetune", "no_such_method"]
    ref = comp.reference
    assert ref is not None and ref.avg_gap == 0 and ref.time_ratio == pytest.approx(1.0)
    assert ref.metrics["forget_acc"] < 5  # never saw class 3
    assert ref.metrics["js_forget"] == pytest.approx(0.0, abs=1e-9)


def test_method_scores_against_retrain(class_comparison):
    comp, _ = class_comparison
    ft, ref = comp.get("finetune"), comp.reference
    assert ft.ok and ft.params["epochs"] == 1  # the first choice of a repeated name wins
    gaps = [
        abs(ft.metrics[k] - ref.metrics[k]) for k in ("forget_acc", "retain_acc", "test_acc", "mia")
    ]
    assert ft.avg_gap == pytest.approx(sum(gaps) / 4)
    assert ft.time_ratio == pytest.approx(ft.seconds / ref.seconds)
    assert ft.metrics["js_forget"] > 0
    assert 0 <= ft.metrics["test_forgotten_class_acc"] <= 100


def test_a_failed_method_does_not_stop_the_others(class_comparison):
    comp, seen = class_comparison
    bad = comp.get("no_such_method")
    assert bad.error and "unknown method" in bad.error and bad.model is None
    assert [r.method for r in seen] == [r.method for r in comp.results]


def test_original_is_scored(class_comparison, digits):
    comp, _ = class_comparison
    o = comp.original
    assert o.metrics["forget_acc"] > 80 and o.avg_gap > 10
    assert len(o.metrics["per_class_test"]) == digits.num_classes
    assert sum(map(sum, o.metrics["confusion_test"])) == digits.n_test


def test_summary_is_the_cli_json_shape_and_round_trips(class_comparison):
    comp, _ = class_comparison
    s = json.loads(json.dumps(comp.summary()))
    assert {"dataset", "model", "forget", "results"} <= set(s)
    keys = {
        "method",
        "forget_acc",
        "retain_acc",
        "test_acc",
        "mia",
        "avg_gap",
        "seconds",
        "time_ratio",
        "error",
    }
    assert all(set(r) == keys for r in s["results"])
    back = Comparison.from_dict(json.loads(comp.to_json()))
    assert [r.method for r in back.results] == [r.method for r in comp.results]
    assert back.get("finetune").metrics["test_acc"] == comp.get("finetune").metrics["test_acc"]


def test_without_retrain_there_is_no_gap(digits, digits_mlp):
    comp = compare(
        digits,
        digits_mlp,
        FAST,
        ForgetRequest(fraction=0.1),
        [("finetune", {"epochs": 1})],
        include_retrain=False,
        device="cpu",
    )
    ft = comp.get("finetune")
    assert comp.reference is None and ft.avg_gap is None and ft.time_ratio is None
    assert not math.isnan(ft.metrics["mia"])

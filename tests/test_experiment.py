"""The one comparison pipeline: order, reference scores, failure isolation, serialisation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from result_keys import row_keys

from unlearn_core.data import Dataset
from unlearn_core.evaluation import metrics as M
from unlearn_core.experiment import (
    Comparison,
    Evaluation,
    MethodResult,
    add_reference_scores,
    compare,
    score_model,
)
from unlearn_core.forget import ForgetRequest, make_split
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
    assert 0 <= ft.metrics["test_forgotten_acc"] <= 100
    assert ft.metrics["mia"] == pytest.approx(sum(ft.metrics["mia_draws"]) / 5)


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
    assert all(set(r) == row_keys() for r in s["results"])
    assert s["seeds"] == [s["seed"]] == [0]
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


# ----------------------------------------------------------------------------- metric definitions


def _logits(labels, margins) -> torch.Tensor:
    """One row per sample: logit ``m`` on ``labels[i]`` (negative m: on the next class)."""
    z = torch.zeros(len(labels), 3)
    for i, (c, m) in enumerate(zip(labels, margins, strict=True)):
        z[i, c if m > 0 else (c + 1) % 3] = abs(m)
    return z


@pytest.fixture
def tiny():
    """3 classes; train 4 per class; test 3 of class 0, 3 of class 1, 4 of class 2."""
    y_train = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    y_test = torch.tensor([0] * 3 + [1] * 3 + [2] * 4)
    data = Dataset(
        "tiny", torch.zeros(12, 2), y_train, torch.zeros(10, 2), y_test, ["a", "b", "c"], "tabular"
    )
    # test: classes 0/1 right with margin 8 except one class-1 sample; class 2: 1 of 4 right
    test = _logits(y_test.tolist(), [8, 8, 8, 8, 8, -8, 5, -6, -6, -6])
    return data, test


def _ev(data, split, test, forget_margin=2.0) -> Evaluation:
    yf, yr = data.y_train[split.forget_idx], data.y_train[split.retain_idx]
    return Evaluation(
        forget=_logits(yf.tolist(), [forget_margin] * len(yf)),
        retain=_logits(yr.tolist(), [8.0] * len(yr)),
        test=test,
    )


def test_class_wise_scores_follow_optml(tiny):
    data, test = tiny
    split = make_split(data, ForgetRequest(classes=(2,)))
    ev = _ev(data, split, test)
    s = score_model(ev, data, split, seed=3)
    assert s["forget_acc"] == 100.0 and s["retain_acc"] == 100.0
    assert s["test_acc"] == pytest.approx(500 / 6)  # remaining classes: 5 of 6
    assert s["test_forgotten_acc"] == pytest.approx(25.0)  # class 2: 1 of 4
    assert s["test_all_acc"] == pytest.approx(60.0)
    # same-class loss attack: forget loss (margin 2) is below the 3 wrong class-2 test samples'
    # and above the one right at margin 5: 4*3 of 4*4 pairs
    assert s["loss_auc"] == pytest.approx(0.75)
    # MIA: mean of 5 seeded draws, non-members = the remaining classes' test samples
    rest = data.y_test != 2
    draws = M.mia_efficacy_draws(
        M.true_label_confidence(ev.retain, data.y_train[split.retain_idx]),
        M.true_label_confidence(test[rest], data.y_test[rest]),
        M.true_label_confidence(ev.forget, data.y_train[split.forget_idx]),
        seed=3,
        draws=5,
        max_samples=1000,
    )
    assert s["mia_draws"] == draws.tolist()
    assert s["mia"] == pytest.approx(draws.mean())


def test_other_requests_use_the_whole_test_set_and_a_class_matched_loss_attack(tiny):
    data, test = tiny
    split = make_split(data, ForgetRequest(indices=(0, 1)))  # half of class 0
    s = score_model(_ev(data, split, test), data, split)
    assert s["test_forgotten_acc"] is None
    assert s["test_acc"] == s["test_all_acc"] == pytest.approx(60.0)
    # held-out = the class-0 test samples (margin 8, lower loss than every forget sample)
    assert s["loss_auc"] == 0.0
    whole = M.loss_attack_auc(
        M.per_sample_loss(_ev(data, split, test).forget, [0, 0]),
        M.per_sample_loss(test, data.y_test),
    )
    assert whole > 0.3  # against the whole test set the answer would differ


def test_retrain_against_itself_has_gap_zero_and_damage_is_flagged(tiny):
    data, test = tiny
    split = make_split(data, ForgetRequest(classes=(2,)))
    ev = _ev(data, split, test)
    ref = MethodResult("retrain", "Retrain", "exact", seconds=2.0)
    ref.metrics = score_model(ev, data, split)
    add_reference_scores(ref, ev, ev, ref)
    assert ref.avg_gap == 0 and ref.time_ratio == 1.0 and not ref.damaged
    bad = MethodResult("x", "X", "approximate", seconds=0.5)
    bad.metrics = {**ref.metrics, "retain_acc": ref.metrics["retain_acc"] - 10.5}
    add_reference_scores(bad, ev, ev, ref)
    assert bad.damaged and bad.flags == ["damaged"] and bad.row()["damaged"] is True
    assert bad.avg_gap == pytest.approx(10.5 / 4)
    add_reference_scores(bad, ev, ev, ref)  # scoring twice does not repeat the flag
    assert bad.flags == ["damaged"]
    original = MethodResult("original", "Original", "none", metrics=dict(bad.metrics))
    add_reference_scores(original, ev, ev, ref, judge=False)  # the original is not judged
    assert not original.damaged
    fine = MethodResult("y", "Y", "approximate", seconds=0.5)
    fine.metrics = {**ref.metrics, "retain_acc": ref.metrics["retain_acc"] - 9.5}
    add_reference_scores(fine, ev, ev, ref)
    assert not fine.damaged and fine.row()["damaged"] is False


def test_a_raising_progress_callback_stops_the_run(digits, digits_mlp):
    class Stop(Exception):
        pass

    def progress(fraction, message=""):
        if message.startswith("finetune"):
            raise Stop

    with pytest.raises(Stop):
        compare(
            digits,
            digits_mlp,
            FAST,
            ForgetRequest(classes=(3,)),
            [("finetune", {"epochs": 1})],
            include_retrain=False,
            device="cpu",
            progress=progress,
        )


def test_a_method_whose_outputs_are_not_finite_fails_alone(digits, digits_mlp, monkeypatch):
    """A diverged method (nan weights) is reported as failed; the comparison goes on."""
    import torch

    from unlearn_core.experiment import compare
    from unlearn_core.forget import ForgetRequest
    from unlearn_core.methods import UnlearnOutput, get_method
    from unlearn_core.training import TrainConfig

    method = get_method("finetune")

    def diverge(model, task, cfg, *, seed, progress):
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
        return UnlearnOutput(model, {})

    monkeypatch.setattr(method, "unlearn", diverge)
    comp = compare(
        digits,
        digits_mlp,
        TrainConfig(epochs=2),
        ForgetRequest(classes=(3,)),
        ["finetune", "ssd"],
        device="cpu",
    )
    assert "not finite" in comp.get("finetune").error
    assert comp.get("ssd").ok and comp.get("retrain").ok

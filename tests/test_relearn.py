"""Relearning attacks (``unlearn_core.audit.relearn``) on digits + MLP, class 3 forgotten."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn_core.audit.relearn import (
    RelearnConfig,
    RelearnCurve,
    default_lr_scale,
    recovery_summary,
    relearn,
    relearn_indices,
)
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.models import weights_hash
from unlearn_core.training import TrainConfig, default_recipe, evaluate, train_new_model

#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split(digits):
    return make_split(digits, ForgetRequest(classes=(3,)))


@pytest.fixture(scope="module")
def never_learnt(digits, split):
    """An MLP trained without class 3: it never learnt the class."""
    model, _ = train_new_model(
        digits,
        "mlp",
        TrainConfig(epochs=15, batch_size=64),
        seed=0,
        device="cpu",
        indices=split.retain_idx,
    )
    return model


def test_curve_starts_at_the_models_forget_accuracy_and_leaves_it_unchanged(
    digits, digits_mlp, split
):
    before = weights_hash(digits_mlp)
    acc = evaluate(digits_mlp, *split.forget_data(digits))
    curve = relearn(
        digits_mlp,
        digits,
        split,
        mode="retain",
        steps=4,
        reference_forget_acc=acc,
        name="original",
    )
    assert weights_hash(digits_mlp) == before
    assert curve.steps == [0, 1, 2, 3, 4] and len(curve.forget_acc) == 5
    assert curve.forget_acc[0] == pytest.approx(acc)
    assert curve.target == pytest.approx(0.9 * acc)
    assert curve.steps_to_recover == 0  # the original is its own reference
    assert curve.settings["lr"] == pytest.approx(default_recipe("mlp").lr)
    assert curve.forget_acc[1:] != curve.forget_acc[:-1]  # the steps do train


def test_a_model_that_never_learnt_the_class_does_not_recover_from_retain_data(
    digits, split, never_learnt
):
    curve = relearn(
        never_learnt,
        digits,
        split,
        mode="retain",
        steps=30,
        reference_forget_acc=100.0,
        name="retrain",
    )
    assert curve.forget_acc[0] < 5
    assert curve.steps_to_recover is None
    assert max(curve.forget_acc) < 5


def test_a_few_forget_samples_teach_it_slower_than_a_model_that_only_hid_the_class(
    digits, digits_mlp, split, never_learnt
):
    """Knowledge kept in the features (the original with its class-3 logit pushed down so
    that it misclassifies every 3) comes back faster than knowledge never learnt."""
    hidden = type(digits_mlp)(**{**_init_args(digits_mlp)})
    hidden.load_state_dict(digits_mlp.state_dict())
    with torch.no_grad():
        hidden.head.bias[3] -= 10.0
    ref = evaluate(digits_mlp, *split.forget_data(digits))
    assert evaluate(hidden, *split.forget_data(digits)) < 5
    curves = [
        relearn(m, digits, split, steps=30, reference_forget_acc=ref, name=n)
        for n, m in (("retrain", never_learnt), ("hidden", hidden))
    ]
    retrain, hid = curves
    assert hid.steps_to_recover is not None
    assert retrain.steps_to_recover is None or retrain.steps_to_recover > 2 * hid.steps_to_recover
    rows = {r.model: r for r in recovery_summary(curves)}
    assert rows["hidden"].speed_vs_retrain is not None and rows["hidden"].speed_vs_retrain < 0.5
    assert "still in the model" in rows["hidden"].reading
    assert rows["retrain"].speed_vs_retrain is None


def _init_args(model) -> dict:
    s = model.spec
    return {"input_shape": tuple(s["input_shape"]), "num_classes": s["num_classes"], **s["kwargs"]}


def test_relearning_sets(digits, split):
    cfg = RelearnConfig(forget_per_class=4, retain_per_class=2)
    forget = relearn_indices(digits, split, "forget", cfg, seed=0)
    retain = relearn_indices(digits, split, "retain", cfg, seed=0)
    y = digits.y_train
    assert int((y[forget] == 3).sum()) == 4 and len(forget) == 4 + 2 * 9
    assert not bool((y[retain] == 3).any()) and len(retain) == 2 * 9
    assert set(retain.tolist()) <= set(split.retain_idx.tolist())
    assert torch.equal(forget, relearn_indices(digits, split, "forget", cfg, seed=0))
    assert not torch.equal(forget, relearn_indices(digits, split, "forget", cfg, seed=1))


def test_round_trip_and_bad_settings(digits, digits_mlp, split):
    curve = relearn(digits_mlp, digits, split, steps=2, reference_forget_acc=100.0)
    back = RelearnCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert back == curve
    with pytest.raises(ValueError, match="no setting lr"):
        relearn(digits_mlp, digits, split, steps=1, reference_forget_acc=100.0, lr=0.1)
    with pytest.raises(ValueError, match="unknown relearning mode"):
        relearn(digits_mlp, digits, split, mode="both", steps=1, reference_forget_acc=100.0)
    assert default_lr_scale(default_recipe("mlp")) == 1.0
    assert default_lr_scale(default_recipe("cnn")) == 0.1

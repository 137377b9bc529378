"""The demonstration method (``logit_suppression``): it passes the usual checks and fails the
ones that look deeper (issue 12, "Verification is fragile"). Digits + MLP, class 3."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.audit.relearn import recovery_summary, relearn
from unlearn_core.evaluation.verdict import NOT_JUDGED, verdicts
from unlearn_core.experiment import compare
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import get_method, list_methods
from unlearn_core.training import TrainConfig

RECIPE = TrainConfig(epochs=15, batch_size=64)  # the recipe of the conftest's digits_mlp


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def comparison(digits, digits_mlp):
    split = make_split(digits, ForgetRequest(classes=(3,)))
    comp = compare(digits, digits_mlp, RECIPE, split, ["logit_suppression"], device="cpu")
    return comp, split


def test_it_passes_forget_accuracy_and_the_population_mia(comparison):
    comp, _ = comparison
    demo, retrain, original = comp.get("logit_suppression"), comp.get("retrain"), comp.original
    assert demo.ok, demo.error
    assert original.metrics["forget_acc"] > 95
    assert demo.metrics["forget_acc"] <= 1.0 and retrain.metrics["forget_acc"] <= 1.0
    assert demo.metrics["test_forgotten_acc"] <= 5.0
    assert abs(demo.metrics["mia"] - retrain.metrics["mia"]) <= 10
    assert original.metrics["mia"] < 50  # the check it passes is one the original fails
    # the other classes are untouched
    assert demo.metrics["retain_acc"] == pytest.approx(original.metrics["retain_acc"], abs=0.5)
    assert demo.avg_gap < 3


def test_its_features_are_the_originals(comparison, digits_mlp):
    comp, _ = comparison
    demo = comp.get("logit_suppression").model.state_dict()
    orig = digits_mlp.state_dict()
    changed = [k for k in orig if not torch.equal(orig[k], demo[k])]
    assert changed == ["head.bias"]
    diff = (orig["head.bias"] - demo["head.bias"]).nonzero().flatten().tolist()
    assert diff == [3]
    retrain = comp.get("retrain").model.state_dict()
    feat_dist = sum(float((retrain[k] - orig[k]).pow(2).sum()) for k in orig if "head" not in k)
    assert feat_dist > 1.0  # retraining moves the features; the demonstration does not


def test_it_fails_relearning(comparison, digits):
    comp, split = comparison
    ref = comp.original.metrics["forget_acc"]
    curves = [
        relearn(comp.get(n).model, digits, split, steps=30, reference_forget_acc=ref, name=n)
        for n in ("retrain", "logit_suppression")
    ]
    retrain, demo = curves
    assert demo.forget_acc[0] <= 1.0 and demo.steps_to_recover is not None
    assert retrain.steps_to_recover is None or retrain.steps_to_recover >= 2 * demo.steps_to_recover
    row = next(r for r in recovery_summary(curves) if r.model == "logit_suppression")
    assert "still in the model" in row.reading


def test_it_is_not_presented_as_unlearning(comparison):
    comp, _ = comparison
    spec = get_method("logit_suppression").spec
    assert spec.family == "demonstration" and "not unlearning" in spec.label
    assert "logit_suppression" not in [s.name for s in list_methods()]
    assert "logit_suppression" in [s.name for s in list_methods(demonstrations=True)]
    rows = [r.row() for r in comp.results]
    (v,) = [v for v in verdicts(rows) if v.method == "logit_suppression"]
    assert v.code == NOT_JUDGED and "demonstration" in v.reason

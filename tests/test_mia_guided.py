"""Membership-guided unlearning (our extension, ``mia_guided``): the attack it is built on and
what its membership term does that fine-tuning on the retain set alone does not."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import REGISTRY, UnlearnTask, run_method
from unlearn_core.methods.mia_guided import MembershipAttack, membership_features
from unlearn_core.training import default_recipe, predict_logits, train_new_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_features_and_attack_known_answers():
    # a confident right answer: loss and entropy near 0; a uniform one over 4 classes: log 4
    logits = torch.tensor([[40.0, 0, 0, 0], [0.0, 0, 0, 0]])
    f = membership_features(logits, torch.tensor([0, 1]))
    assert f[0].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert f[1].tolist() == pytest.approx([1.3863, 1.3863], abs=1e-4)
    # members: low loss and entropy; non-members: high. The fitted attack ranks them so, and
    # its logit is differentiable in the features (a loss can push a sample to "non-member")
    g = torch.Generator().manual_seed(0)
    members = torch.rand(50, 2, generator=g) * 0.2
    non_members = 1.0 + torch.rand(50, 2, generator=g)
    attack = MembershipAttack().fit(members, non_members)
    assert attack.member_prob(members).min() > 0.9
    assert attack.member_prob(non_members).max() < 0.1
    x = non_members[:1].clone().requires_grad_(True)
    attack.logit(x).sum().backward()
    assert (x.grad < 0).all()  # a higher loss / entropy reads as less of a member


def test_is_registered_as_our_extension():
    spec = REGISTRY["mia_guided"].spec
    assert spec.origin == "extension" and "2407.00866" in spec.paper
    assert "extension" in spec.label


def _forget_loss(model, x, y) -> float:
    return float(F.cross_entropy(predict_logits(model, x), y))


def test_the_membership_term_makes_the_forget_samples_look_held_out(digits):
    recipe = default_recipe("mlp")  # trained to the end: it remembers its training samples
    digits_mlp, _ = train_new_model(digits, "mlp", recipe, seed=0, device="cpu")
    split = make_split(digits, ForgetRequest(fraction=0.05, seed=0))
    task = UnlearnTask(digits, split, recipe)
    xf, yf = task.forget
    xr, yr = task.retain
    guided = run_method("mia_guided", digits_mlp, task, {}, seed=0)
    # the same loop without the membership term: fine-tuning on the retain set, every epoch
    plain = run_method("mia_guided", digits_mlp, task, {"lam": 0.0, "stop": "off"}, seed=0)
    start = guided.log["initial"]
    # the original remembers its samples (on digits the attack is weak: means near 0.5)
    assert start["forget"] > start["validation"] + 0.02
    end = guided.log["final"]
    assert end["forget"] <= end["validation"] + 0.02  # stopped once they look held out
    assert guided.log["stopped_at"] is not None
    # without the term, the forget samples stay members and their loss stays low
    assert plain.log["final"]["forget"] > plain.log["final"]["validation"] + 0.01
    before = _forget_loss(digits_mlp, xf, yf)
    assert _forget_loss(guided.model, xf, yf) > 5 * before
    assert _forget_loss(guided.model, xf, yf) > 5 * _forget_loss(plain.model, xf, yf)
    # and the retain set is kept
    acc = float((predict_logits(guided.model, xr).argmax(1) == yr).float().mean())
    assert acc > 0.97
    assert guided.reads == ["forget", "retain", "validation"]

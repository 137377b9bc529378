"""The shared training loop (``methods/loop.py``): its divergence guard, early stop and log."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import UnlearnTask, get_method, run_method
from unlearn_core.methods.gradient_ascent import NegGradLoop
from unlearn_core.methods.loop import Guard, Loss, OptimConfig, Pass, UnlearnLoop
from unlearn_core.models import clone_model
from unlearn_core.training import TrainConfig, batches, predict_logits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Toy(UnlearnLoop):
    """Descent on a linear model's mean output; the loss of step ``bad`` is nan."""

    def __init__(self, model: nn.Module, bad: int | None, epochs: int = 3) -> None:
        super().__init__(model, epochs=epochs, optim=OptimConfig("sgd", 0.1), seed=0)
        self.x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
        self.bad = bad
        self.after: list[list[torch.Tensor]] = []

    def passes(self, epoch: int) -> list[Pass]:
        return [Pass("all", batches(len(self.x), 2, self.gen))]

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        loss = self.model(self.x[batch]).mean()
        if self.step + 1 == self.bad:
            loss = loss * math.nan
        return Loss(loss, {"loss": loss}, len(batch))

    def after_step(self) -> None:
        self.after.append([p.detach().clone() for p in self.model.parameters()])


def test_a_non_finite_loss_stops_the_run_and_restores_the_last_good_weights():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    loop = _Toy(model, bad=6)
    res = loop.run()
    # step 6's loss is nan at the weights after step 5: they count as bad, so the weights put
    # back are those after step 4, the last whose loss passed the guard
    assert res.diverged and res.steps == 5 and res.epochs == 2
    assert res.divergence.restored_step == 4 and "nan" in res.divergence.reason
    for p, kept in zip(model.parameters(), loop.after[3], strict=True):
        assert torch.equal(p, kept)
    log = res.log()
    assert log["diverged"] and log["notes"] == [res.divergence.note]
    assert "restored the weights after step 4" in log["notes"][0]


def test_a_run_that_stays_finite_is_not_touched_by_the_guard():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    res = _Toy(model, bad=None).run()
    assert not res.diverged and res.steps == 12 and res.log()["notes"] == []


def test_a_nan_at_the_first_step_keeps_the_starting_weights():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    start = [p.detach().clone() for p in model.parameters()]
    res = _Toy(model, bad=1).run()
    assert res.divergence.step == 0 and res.divergence.restored_step == 0
    assert "the weights it started from" in res.divergence.note
    assert all(torch.equal(p, s) for p, s in zip(model.parameters(), start, strict=True))


class _Blowup(_Toy):
    """The loss reads only the bias; after step ``bad`` the weight matrix grows 1e6 times."""

    def compute_loss(self, name: str, batch: torch.Tensor) -> Loss:
        loss = self.model.bias.sum() + 0.0 * len(batch)
        return Loss(loss, {"loss": loss}, len(batch))

    def after_step(self) -> None:
        if self.step + 1 == self.bad:
            with torch.no_grad():
                self.model.weight.mul_(1e6)
        super().after_step()


def test_weights_that_explode_with_a_finite_loss_are_caught_at_the_end_of_the_epoch():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    loop = _Blowup(model, bad=4)  # the last step of epoch 1
    res = loop.run()
    assert res.diverged and res.epochs == 1 and res.steps == 4
    assert "weight norm" in res.divergence.reason and res.divergence.restored_step == 3
    for p, kept in zip(model.parameters(), loop.after[2], strict=True):
        assert torch.equal(p, kept)


@pytest.fixture(scope="module")
def class_task(digits):
    return UnlearnTask(digits, make_split(digits, ForgetRequest(classes=(3,))), TrainConfig())


#: a huge learning rate on the small MLP: each of these blows up within a few steps
HUGE_LR = {
    "neggrad": {"lr": 1.0, "stop": "off", "epochs": 20},
    "neggrad_plus": {"lr": 1.0, "alpha": 0.0, "epochs": 5},
    "l1_sparse": {"lr": 1.0, "gamma": 0.1, "epochs": 3},
    "scrub": {"lr": 1.0, "weight_decay": 0.0, "epochs": 3},
}


@pytest.mark.parametrize("name", list(HUGE_LR))
def test_the_guard_stops_a_diverging_method_and_says_so(name, digits, digits_mlp, class_task):
    out = run_method(name, digits_mlp, class_task, HUGE_LR[name], seed=0)
    log = out.log
    assert log["diverged"] is True, f"{name} did not diverge at lr 1"
    assert log["notes"] and "diverged" in log["notes"][0] and "restored" in log["notes"][0]
    assert log["divergence"]["restored_step"] == log["steps"] - 1
    assert all(torch.isfinite(p).all() for p in out.model.parameters())
    assert torch.isfinite(predict_logits(out.model, digits.x_test)).all()


def test_the_restored_weights_are_those_of_the_step_before(digits_mlp, class_task):
    """NegGrad at lr 1 diverges after k steps; the weights handed back equal a run of the same
    seed stopped after k - 1 steps."""
    cfg = get_method("neggrad").spec.resolve(HUGE_LR["neggrad"])
    diverged = clone_model(digits_mlp)
    res = NegGradLoop(diverged, class_task.forget, cfg, seed=0, target=None).run()
    assert res.diverged and res.steps >= 2

    class StopEarly(NegGradLoop):
        def should_stop(self) -> bool:
            return self.step >= res.steps - 1

    kept = clone_model(digits_mlp)
    StopEarly(kept, class_task.forget, cfg, seed=0, target=None).run()
    for a, b in zip(diverged.state_dict().values(), kept.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_non_finite_loss_through_a_method_loop(digits_mlp, class_task):
    """With the size limits off, NegGrad at lr 1 runs until its loss is nan; the guard still
    hands back finite weights, those of the step before."""
    cfg = get_method("neggrad").spec.resolve(HUGE_LR["neggrad"])
    model = clone_model(digits_mlp)
    loop = NegGradLoop(model, class_task.forget, cfg, seed=0, target=None)
    loop.guard = Guard(max_loss=math.inf, max_weight_growth=math.inf)
    res = loop.run()
    assert res.diverged and "the loss was" in res.divergence.reason
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_neggrad_stop_is_the_loops_early_stop(digits_mlp, class_task):
    out = run_method(
        "neggrad", digits_mlp, class_task, {"stop": "forget_acc", "stop_acc": 60.0}, seed=0
    )
    log = out.log
    assert log["stopped_at"] is not None and not log["diverged"] and log["notes"] == []
    assert log["stopped_at"]["step"] == log["steps"]
    assert len(log["loss"]) == len(log["forget_acc"]) == log["stopped_at"]["epoch"]

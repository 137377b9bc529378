"""The text track's stopping rule (``stop_at_validation`` in the language methods' shared loop)
and the world-fact validation slice calibration reads in place of the scored world facts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.methods.language import exact_match
from unlearn_core.models import build_model
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset
from unlearn_core.text.corpus import make_corpus

#: enough for the tiny model to memorise every fact (25 epochs left three quarters unlearned)
RECIPE = replace(TEXT_RECIPE, epochs=60, batch_size=16)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup():
    data = facts_dataset(12, 6, seed=1, n_heldout=3, n_world=12)
    # the same model whatever ran before in the process: seeded weights, one thread (this
    # module-scoped fixture is built before the per-test one_torch_thread applies)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("tinylm", data.input_shape, data.num_classes, d_model=48, n_head=2)
    data.fit(model, data.x_train, data.y_train, RECIPE, seed=0)
    torch.set_num_threads(threads)
    split = data.make_split(TextForgetRequest(people=(2, 5)))
    return data, model.eval(), split


def _em(model, data, split):
    xf, yf = data.x_train[split.forget_idx], data.y_train[split.forget_idx]
    return exact_match(model, xf, yf), exact_match(model, data.x_val, data.y_val)


@pytest.mark.parametrize("name", ["ga", "npo", "icu"])
def test_the_rule_stops_once_forget_exact_match_reaches_the_validation_level(setup, name):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    forget0, val0 = _em(model, data, split)
    assert forget0 > val0 + 50  # the original remembers its forget set
    cfg = {"lr": 3e-3, "epochs": 100, "stop_at_validation": True, "check_every": 1}
    out = run_method(name, model, task, cfg, seed=0)
    checks = out.log["stop_checks"]
    stopped = out.log["stopped_at_step"]
    assert stopped is not None and stopped == checks[-1][0] == out.log["steps"]
    # the level: the higher of the validation exact match before the first step and now
    start = checks[0][2]
    assert checks[0][0] == 0 and start == pytest.approx(val0, abs=0.01)
    assert out.log["validation_start"] == pytest.approx(start, abs=0.01)
    # it fired at the first check where forget <= level, not before and not later
    assert all(f > max(v, start) for _, f, v in checks[:-1])
    assert checks[-1][1] <= max(checks[-1][2], start)
    forget, val = _em(out.model, data, split)
    assert forget <= max(val, start) and (forget, val) == pytest.approx(checks[-1][1:], abs=0.01)
    # far fewer steps than the run would take without the rule
    assert stopped < 100 * -(-split.n_forget // 32) // 2
    assert "validation" in out.reads and "test" not in out.reads


def test_without_the_rule_the_run_goes_on_and_reads_no_validation(setup):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    cfg = {"lr": 3e-3, "epochs": 6, "stop_at_validation": False}
    out = run_method("npo", model, task, cfg, seed=0)
    assert out.log["steps"] == 6 * -(-split.n_forget // 32)
    assert "stopped_at_step" not in out.log and "validation" not in out.reads


def test_the_rule_does_not_fire_while_the_forget_set_is_remembered(setup):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    cfg = {"lr": 1e-6, "epochs": 3, "stop_at_validation": True, "check_every": 1}
    out = run_method("npo", model, task, cfg, seed=0)
    assert out.log["stopped_at_step"] is None
    assert out.log["steps"] == 3 * -(-split.n_forget // 32) == out.log["stop_checks"][-1][0]


def test_without_a_validation_split_the_rule_stands_aside(setup):
    data, model, split = setup  # a user's JSONL corpus has no held-out people
    bare = replace(data, x_val=data.x_val[:0], y_val=data.y_val[:0], qa_val=[])
    task = UnlearnTask(data=bare, split=split, train_config=RECIPE)
    cfg = {"lr": 3e-3, "epochs": 3, "stop_at_validation": True, "check_every": 1}
    out = run_method("npo", model, task, cfg, seed=0)
    assert out.log["steps"] == 3 and "stopped_at_step" not in out.log
    assert "validation" not in out.reads


def test_world_validation_facts_are_learned_but_never_scored():
    plain = make_corpus(6, 3, n_heldout=1, n_world=10, seed=2)
    more = make_corpus(6, 3, n_heldout=1, n_world=10, seed=2, n_world_val=5)
    assert more.world == plain.world and more.facts == plain.facts  # the scored part unchanged
    assert len(more.world_val) == 5 and not set(more.world_val) & set(more.world)
    data = facts_dataset(6, 3, n_heldout=1, n_world=10, seed=2, n_world_val=5)
    assert data.n_test == 10 and len(data.world_val[0]) == 5
    px, _ = data.pretrain
    assert len(px) == 15  # trained on with the scored world facts
    assert torch.equal(px[10:], data.world_val[0]) and torch.equal(px[:10], data.x_test)
    assert facts_dataset(6, 3, n_heldout=1, n_world=10, seed=2).world_val is None

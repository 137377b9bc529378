"""The method contract for the text track's methods (family "language"), and the pipeline on
text: every language method works on a copy (the original's weights hash unchanged), stays
finite, gives the same weights for the same seed, reads forget / retain (and the validation
people for the stopping rule), never the world facts, which score as the test set; image
methods refuse text data; text comparisons carry the text track's row keys."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from unlearn_core.experiment import compare
from unlearn_core.methods import (
    REGISTRY,
    MethodNotApplicable,
    UnlearnTask,
    list_methods,
    run_method,
)
from unlearn_core.models import build_model, weights_hash
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset

LANGUAGE = sorted(n for n, m in REGISTRY.items() if m.spec.family == "language")
RECIPE = replace(TEXT_RECIPE, epochs=25, batch_size=32)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup():
    data = facts_dataset(12, 6, seed=1, n_heldout=3, n_world=12)
    model = build_model("tinylm", data.input_shape, data.num_classes, d_model=48, n_head=2)
    data.fit(model, data.x_train, data.y_train, RECIPE, seed=0)
    split = data.make_split(TextForgetRequest(people=(2,)))
    return data, model.eval(), split


def cheap(name: str) -> dict:
    return {"epochs": 2}


def test_the_language_methods_are_registered_and_listed_apart():
    assert {"ga", "graddiff", "kl", "npo", "simnpo", "rmu", "icu"} <= set(LANGUAGE)
    image = {s.name for s in list_methods()}
    assert not image & set(LANGUAGE) and "retrain" in image
    assert {s.name for s in list_methods("language")} == set(LANGUAGE)


@pytest.mark.parametrize("name", LANGUAGE)
def test_language_method_contract(setup, name):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    before = weights_hash(model)
    out = run_method(name, model, task, cheap(name), seed=0)
    assert weights_hash(model) == before  # the original is untouched
    assert weights_hash(out.model) != before  # and the method changed its copy
    assert all(torch.isfinite(p).all() for p in out.model.parameters())
    # forget / retain, and the validation people where the stopping rule is on (never test)
    assert out.reads and set(out.reads) <= {"forget", "retain", "validation"}
    again = run_method(name, model, task, cheap(name), seed=0)
    assert weights_hash(again.model) == weights_hash(out.model)  # same seed, same weights
    # the world facts (the test set) take no part: noise in their place changes nothing
    noisy = replace(
        data, x_test=torch.randint(5, data.num_classes, data.x_test.shape), y_test=data.y_test
    )
    task2 = UnlearnTask(data=noisy, split=split, train_config=RECIPE)
    assert weights_hash(run_method(name, model, task2, cheap(name), seed=0).model) == (
        weights_hash(out.model)
    )


def test_image_methods_refuse_text_and_language_methods_refuse_images(setup, digits):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    for name in ("finetune", "neggrad", "scrub"):
        if name in REGISTRY:
            with pytest.raises(MethodNotApplicable, match="not on text"):
                run_method(name, model, task)
    from unlearn_core.forget import ForgetRequest, make_split

    img_split = make_split(digits, ForgetRequest(classes=(1,)))
    mlp = build_model("mlp", digits.input_shape, digits.num_classes)
    img_task = UnlearnTask(data=digits, split=img_split, train_config=RECIPE)
    with pytest.raises(MethodNotApplicable, match="not a text dataset"):
        run_method("npo", mlp, img_task)


def test_icu_retires_forgotten_facts(setup):
    data, model, split = setup
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    cfg = {"epochs": 30, "lr": 3e-3, "stop_at_validation": False}  # retirement alone
    out = run_method("icu", model, task, cfg, seed=0)
    left = out.log["active_after_epoch"]
    assert left == sorted(left, reverse=True)  # facts only ever retire
    assert left[-1] < split.n_forget
    if left[-1] == 0:  # it stops once every fact has retired
        assert out.log["epochs_run"] <= 30


def test_compare_on_text_scores_every_model_with_the_text_keys(setup):
    data, model, split = setup
    comp = compare(data, model, RECIPE, split, [("npo", {"epochs": 3}), "ga"], device="cpu")
    assert [r.method for r in comp.results] == ["retrain", "npo", "ga"]
    assert all(r.ok for r in comp.results), [r.error for r in comp.results]
    ref = comp.get("retrain")
    assert ref.metrics["forget_quality"] == pytest.approx(1.0)  # against itself
    assert ref.metrics["priv_leak"] == pytest.approx(0.0)
    orig = comp.original.row()
    for key in (
        "forget_acc",
        "retain_acc",
        "test_acc",
        "loss_auc",
        "truth_ratio_forget",
        "forget_quality",
        "model_utility",
        "mia_minkpp_auc",
        "priv_leak",
    ):
        assert orig[key] is not None, key
    assert comp.original.metrics["forget_acc"] > ref.metrics["forget_acc"]
    assert comp.forget["n_forget"] == split.n_forget and comp.model == "tinylm"
    assert comp.forget["kind"] == "people"

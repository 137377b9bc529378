"""The method contract, for every registered method on every architecture.

Parametrised over ``REGISTRY`` (no hand-kept list): a new method file gets these checks without
touching this file. Runs are made cheap generically from the spec: every int parameter that
sets an amount of work (epochs, shards, slices, steps, samples) goes to its range minimum (at
least 1). Checked: the original model is not changed; the output is finite; the same seed gives
identical weights on the CPU; the run records its preset; a request the method cannot serve is
refused with ``MethodNotApplicable`` saying why; the test set takes no part: noise test images
with permuted labels give bit-identical weights, and the run records which sets it read.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
import torch

from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import REGISTRY, MethodNotApplicable, MethodSpec, UnlearnTask, run_method
from unlearn_core.models import weights_hash
from unlearn_core.training import TrainConfig, predict_logits, train_new_model

#: the image track's methods (the text track's, family "language", have tests/test_text_methods.py)
METHODS = sorted(n for n, m in REGISTRY.items() if m.spec.family != "language")
#: architecture -> model kwargs (a narrow ResNet keeps the file fast)
ARCHS = {"mlp": {}, "cnn": {}, "resnet18": {"width": 4}}
RECIPE = TrainConfig(epochs=2, batch_size=16)  # the original's, retrain's and SISA's
#: int parameters whose value is an amount of work
WORK = re.compile(r"(^|_)(epochs|shards|slices|steps|msteps|samples)$")


def cheap_overrides(spec: MethodSpec) -> dict:
    """Generic: every work-amount int parameter at its range minimum (at least 1)."""
    return {
        p.name: max(int(p.range[0]), 1)
        for p in spec.params
        if p.type is int and p.range is not None and WORK.search(p.name)
    }


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(digits) -> Dataset:
    """Four digit classes, 20 training, 10 test and 6 validation images each (8x8)."""

    def pick(y: torch.Tensor, per_class: int) -> torch.Tensor:
        return torch.cat([torch.nonzero(y == c).flatten()[:per_class] for c in range(4)])

    tr, te, va = pick(digits.y_train, 20), pick(digits.y_test, 10), pick(digits.y_val, 6)
    return Dataset(
        "tiny-digits",
        digits.x_train[tr],
        digits.y_train[tr],
        digits.x_test[te],
        digits.y_test[te],
        [str(c) for c in range(4)],
        x_val=digits.x_val[va],
        y_val=digits.y_val[va],
    )


@pytest.fixture(scope="module")
def noise_test(tiny) -> Dataset:
    """``tiny`` with noise test images and permuted test labels: nothing a method computes
    may change."""
    gen = torch.Generator().manual_seed(7)
    return replace(
        tiny,
        x_test=torch.rand(tiny.x_test.shape, generator=gen),
        y_test=tiny.y_test[torch.randperm(tiny.n_test, generator=gen)],
    )


@pytest.fixture(scope="module")
def originals(tiny) -> dict:
    models = {}
    for arch, kwargs in ARCHS.items():
        model, _ = train_new_model(tiny, arch, RECIPE, seed=0, device="cpu", model_kwargs=kwargs)
        models[arch] = model
    return models


def _task(data: Dataset, request: ForgetRequest) -> UnlearnTask:
    return UnlearnTask(data, make_split(data, request), RECIPE)


def _finite(model: torch.nn.Module, x: torch.Tensor) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    ok = all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())
    return ok and bool(torch.isfinite(predict_logits(model, x)).all())


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("name", METHODS)
def test_contract_on_a_class_request(name, arch, tiny, originals):
    model = originals[arch]
    spec = REGISTRY[name].spec
    task = _task(tiny, ForgetRequest(classes=(1,)))
    cheap = cheap_overrides(spec)
    before = weights_hash(model)
    first = run_method(name, model, task, cheap, seed=0)
    assert weights_hash(model) == before, f"{name} changed the original {arch}"
    assert first.model is not model
    assert _finite(first.model, tiny.x_test), f"{name} on {arch} gave non-finite numbers"
    again = run_method(name, model, task, cheap, seed=0)
    assert weights_hash(again.model) == weights_hash(first.model), "same seed, other weights"
    assert weights_hash(model) == before
    assert first.params == spec.resolve(cheap, arch=arch)
    assert first.preset is not None and first.preset.arch == arch
    assert first.preset.params == spec.resolve(arch=arch)
    json.dumps(first.log)  # the views read the log as JSON


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("name", METHODS)
def test_a_request_the_method_cannot_serve_is_refused_with_a_reason(name, arch, tiny, originals):
    model = originals[arch]
    spec = REGISTRY[name].spec
    task = _task(tiny, ForgetRequest(fraction=0.25, seed=1))
    if "forget_class" not in spec.needs:  # applicable: it must run and stay finite
        out = run_method(name, model, task, cheap_overrides(spec), seed=0)
        assert _finite(out.model, tiny.x_test)
        return
    before = weights_hash(model)
    with pytest.raises(MethodNotApplicable) as err:
        run_method(name, model, task, cheap_overrides(spec), seed=0)
    message = str(err.value)
    assert "whole classes" in message and "random 25%" in message
    assert weights_hash(model) == before


@pytest.mark.parametrize("name", METHODS)
def test_spec_is_complete(name):
    spec = REGISTRY[name].spec
    assert spec.name == name and spec.label and spec.paper and spec.summary
    assert spec.family in ("exact", "approximate", "demonstration")
    assert set(spec.needs) <= {"forget", "retain", "forget_class"}
    defaults = spec.resolve()
    for p in spec.params:
        assert p.help, f"{name}.{p.name} has no help text"
        assert defaults[p.name] == p.coerce(p.default)
        for value in p.grid or ():
            assert p.coerce(value) == value, f"{name}.{p.name} grid value {value!r}"
    assert set(spec.grid()) <= set(defaults)


def test_cheap_overrides_are_generic():
    assert cheap_overrides(REGISTRY["sisa"].spec) == {"shards": 1, "slices": 1, "stage_epochs": 1}
    assert cheap_overrides(REGISTRY["scrub"].spec) == {"epochs": 1, "msteps": 1}
    assert cheap_overrides(REGISTRY["ssd"].spec) == {}


@pytest.mark.parametrize(
    "request_", [ForgetRequest(classes=(1,)), ForgetRequest(fraction=0.25, seed=1)],
    ids=["class", "random"],
)  # fmt: skip
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", METHODS)
def test_the_test_set_takes_no_part(name, arch, request_, tiny, noise_test, originals):
    """Noise test images with permuted labels give bit-identical unlearned weights: no method,
    stopping rule or adaptive choice reads the test set (decisions read validation)."""
    spec = REGISTRY[name].spec
    if "forget_class" in spec.needs and request_.kind != "class":
        pytest.skip("a class-only method refuses a random request (checked above)")
    model, cheap = originals[arch], cheap_overrides(spec)
    real = run_method(name, model, _task(tiny, request_), cheap, seed=0)
    noise = run_method(name, model, _task(noise_test, request_), cheap, seed=0)
    assert weights_hash(real.model) == weights_hash(noise.model), f"{name} read the test set"
    assert real.reads and set(real.reads) <= {"forget", "retain", "train", "validation"}

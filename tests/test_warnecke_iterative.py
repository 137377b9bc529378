"""Warnecke et al.'s poisoning configuration of the second-order update (issue 20): only the last
layers (``layers="last"``) and the rounds on the still-misclassified training samples
(``select="misclassified"``, ``repeats``), as in their ``iter_approx_retraining``.

A small MLP on digits with 20 % of every class's training labels flipped to a random other
class (the repair benchmark's label_noise_all cell, smaller model and shorter training)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from unlearn_core.data import load_dataset
from unlearn_core.methods import MethodNotApplicable, UnlearnTask, run_method
from unlearn_core.repair import influence as I
from unlearn_core.repair import make_scenario
from unlearn_core.training import TrainConfig, predict_logits, train_new_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RECIPE = TrainConfig(epochs=20, batch_size=64)
AUTHORS = {
    "layers": "last",
    "last_layers": 2,
    "select": "misclassified",
    "steps": 50,
    "damping": 0.3,
}


@pytest.fixture(scope="module")
def case():
    data = load_dataset("digits")
    sc = make_scenario(data, "label-noise", 0.2, seed=0)
    split = sc.split()
    task = UnlearnTask(sc.corrupted, split, RECIPE, repair=sc.repair_info(split))
    model, _ = train_new_model(
        sc.corrupted, "mlp", RECIPE, seed=0, device="cpu", model_kwargs={"hidden": (48, 32)}
    )
    return sc, task, model


def _wrong_corrupted(model, sc) -> int:
    """Corrupted training samples the model misclassifies against their fixed labels."""
    pred = predict_logits(model, sc.x_fixed).argmax(1)
    return int((pred != sc.y_fixed).sum())


def test_last_layers_only_change_the_last_layers(case):
    sc, task, original = case
    mods = I.parameterised_modules(original)
    assert [type(m).__name__ for m in mods] == ["Linear", "Linear", "Linear"]
    for k in (1, 2):
        out = run_method("warnecke_second", original, task, {"layers": "last", "last_layers": k})
        new = I.parameterised_modules(out.model)
        for i, (a, b) in enumerate(zip(mods, new, strict=True)):
            same = all(
                torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True)
            )
            if i < len(mods) - k:
                assert same, f"last_layers={k}: layer {i} changed"
            else:
                assert not same, f"last_layers={k}: layer {i} did not move"
        n_last = sum(p.numel() for m in mods[-k:] for p in m.parameters())
        assert out.log["parameters"] == n_last and out.log["layers"] == f"last {k}"
        # every parameter of the returned model still trains (the restriction is undone)
        assert all(p.requires_grad for p in out.model.parameters())


def test_rounds_reduce_the_misclassified_corrupted_samples(case):
    sc, task, original = case
    before = _wrong_corrupted(original, sc)
    single = run_method("warnecke_second", original, task, {"steps": 50, "damping": 0.3})
    after_single = _wrong_corrupted(single.model, sc)
    out = run_method("warnecke_second", original, task, {**AUTHORS, "repeats": 5}, seed=0)
    rounds = out.log["rounds"]
    counts = [r["misclassified_forget"] for r in rounds] + [
        out.log["after"]["misclassified_forget"]
    ]
    assert counts[0] == before > 0  # the first round sees the original's errors
    assert counts[-1] == _wrong_corrupted(out.model, sc)
    # measured at damping 0.3: 26 -> 24 -> 21 -> 19 -> 18 -> 18 against the single full step's
    # 24 (of 259 corrupted samples). Not guaranteed by the algorithm: at damping 1.0 the same
    # rounds went 26 -> 25 -> 22 -> 24 -> 23 -> 22 (a Newton step on a non-quadratic loss)
    assert all(b <= a for a, b in zip(counts, counts[1:], strict=False)), counts
    assert counts[-1] < after_single, (counts, after_single)
    assert all(r["selected"] <= 1024 for r in rounds if "selected" in r)
    assert out.reads == ["train", "fixed"]
    # the original is untouched and, outside the last two layers, so is the update's model
    first_o, first_u = I.parameterised_modules(original)[0], I.parameterised_modules(out.model)[0]
    assert torch.equal(first_o.weight, first_u.weight)


def test_rounds_cap_the_samples_and_stop_when_none_is_left(case):
    sc, task, original = case
    out = run_method(
        "warnecke_second",
        original,
        task,
        {**AUTHORS, "repeats": 3, "max_samples": 7, "pool": "forget"},
        seed=0,
    )
    assert [r["selected"] for r in out.log["rounds"]] == [7, 7, 7]
    # pool "forget": only corrupted samples are candidates
    assert all(r["misclassified"] == r["misclassified_forget"] for r in out.log["rounds"])
    # a model that already gets every fixed label right has nothing to do: no round runs
    fixed_data = replace(sc.corrupted, y_train=sc.clean.y_train)
    fitted, _ = train_new_model(
        fixed_data, "mlp", TrainConfig(epochs=60, batch_size=32), seed=0, device="cpu",
        model_kwargs={"hidden": (48, 32)},
    )  # fmt: skip
    assert _wrong_corrupted(fitted, sc) == 0
    done = run_method("warnecke_second", fitted, task, {**AUTHORS, "pool": "forget",
                                                         "repeats": 4})  # fmt: skip
    assert done.log["stopped"] == "none misclassified" and len(done.log["rounds"]) == 1
    assert all(
        torch.equal(p, q) for p, q in zip(fitted.parameters(), done.model.parameters(), strict=True)
    )


def test_rounds_never_read_the_test_set(case):
    sc, task, original = case
    gen = torch.Generator().manual_seed(3)
    d = sc.corrupted
    noisy = replace(
        d, x_test=torch.rand(d.x_test.shape, generator=gen),
        y_test=d.y_test[torch.randperm(d.n_test, generator=gen)],
    )  # fmt: skip
    other = UnlearnTask(noisy, task.split, RECIPE, repair=task.repair)
    cfg = {**AUTHORS, "repeats": 2, "steps": 10}
    a = run_method("warnecke_second", original, task, cfg, seed=1)
    b = run_method("warnecke_second", original, other, cfg, seed=1)
    assert all(
        torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True)
    )
    assert "validation" not in a.reads


def test_refusals(case):
    sc, task, original = case
    with pytest.raises(MethodNotApplicable, match="select='misclassified'"):
        run_method("warnecke_second", original, task, {"repeats": 3})
    plain = UnlearnTask(task.data, task.split, RECIPE)
    with pytest.raises(MethodNotApplicable, match="repair request"):
        run_method("warnecke_second", original, plain, {"select": "misclassified"})

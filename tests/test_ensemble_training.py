"""Batched ensemble training: the same models as training each seed alone (bit for bit on the
CPU), a plain fallback where a model cannot be batched, cancel, and the audit unchanged."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.pipeline import _groups, run_audit
from unlearn_core.ensemble_training import (
    activation_bytes,
    auto_group_size,
    batch_blocker,
    train_many,
)
from unlearn_core.forget import ForgetRequest
from unlearn_core.models import NARROW_RESNET, build_model
from unlearn_core.runtime import progress as progress_mod
from unlearn_core.training import TrainConfig, default_recipe, train_new_model

SEEDS = [0, 1, 2]


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread, as every executor call runs (``CALL_THREADS``); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _short(arch: str, epochs: int = 3) -> TrainConfig:
    cfg = default_recipe(arch)  # the recipe's optimiser, schedule and label smoothing
    cfg.epochs = epochs
    return cfg


RECIPES = {
    # MLP: Adam, constant rate; CNN: one-cycle Adam with label smoothing 0.1; both with a
    # shorter last batch (digits has 1 295 training samples)
    "mlp": _short("mlp", 2),
    "cnn": _short("cnn", 2),
    # SGD with momentum and weight decay, batch 50 (last batch 45): the optimiser path where a
    # stacked update rounded differently
    "mlp-sgd": TrainConfig(epochs=2, batch_size=50, lr=0.05, optimizer="sgd", weight_decay=5e-4),
}


@pytest.mark.parametrize(("case", "threads"), [("mlp", 1), ("cnn", 1), ("mlp-sgd", 2)])
def test_batched_equals_one_by_one_bit_for_bit(digits, case, threads):
    """Zero tolerance (``torch.equal``): on the CPU every batched kernel is checked against
    the single-model one before training, a layer whose batched kernel sums in another order
    (the CNN's first convolution, one input channel; with 2 threads also layers whose kernels
    the threads split otherwise) runs member by member, and the optimiser updates each
    member's tensors on their own."""
    torch.set_num_threads(threads)
    arch = case.split("-")[0]
    cfg = RECIPES[case]
    res = train_many(digits, arch, cfg, SEEDS, device="cpu")
    assert res.batched and res.reason is None and res.exact is True
    assert res.seeds == SEEDS and res.groups == [3] and len(res.models) == 3
    if arch == "cnn":  # (more layers where threads split a batched kernel differently)
        assert "body.0 (Conv2d)" in res.per_member
    for seed, model, hist in zip(SEEDS, res.models, res.histories, strict=True):
        alone, alone_hist = train_new_model(digits, arch, cfg, seed=seed, device="cpu")
        assert not model.training
        mine, ref = model.state_dict(), alone.state_dict()
        assert mine.keys() == ref.keys()
        for k in ref:
            assert torch.equal(mine[k], ref[k]), (case, seed, k, (mine[k] - ref[k]).abs().max())
        assert hist.loss == alone_hist.loss and hist.accuracy == alone_hist.accuracy
    # the seeds gave different models
    assert not torch.equal(res.models[0].head.weight, res.models[1].head.weight)


def test_groups_and_subsets_match_too(digits):
    """Groups of 2 + 1 and a training subset (as a retrain's retain set) change nothing."""
    keep = torch.nonzero(digits.y_train != 3).flatten()
    cfg = TrainConfig(epochs=2, batch_size=64)
    res = train_many(digits, "mlp", cfg, SEEDS, device="cpu", indices=keep, group_size=2)
    assert res.groups == [2, 1] and res.exact is True
    alone, _ = train_new_model(digits, "mlp", cfg, seed=2, device="cpu", indices=keep)
    for a, b in zip(res.models[2].parameters(), alone.parameters(), strict=True):
        assert torch.equal(a, b)


def test_unchecked_batched_path_is_close(digits):
    """``exact=False`` (what runs off the CPU): every layer batched, one stacked optimiser;
    the same models up to summation order (loose tolerance, short training)."""
    cfg = TrainConfig(epochs=1, batch_size=64)
    res = train_many(digits, "cnn", cfg, [0, 1], device="cpu", exact=False)
    assert res.batched and res.exact is None and res.per_member == []
    alone, _ = train_new_model(digits, "cnn", cfg, seed=1, device="cpu")
    for a, b in zip(res.models[1].parameters(), alone.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-3, rtol=0)


def test_models_that_cannot_batch_train_one_by_one_and_say_so(digits):
    resnet = build_model("resnet18", digits.input_shape, digits.num_classes, **NARROW_RESNET)
    assert "BatchNorm2d" in batch_blocker(resnet)
    assert batch_blocker(build_model("mlp", digits.input_shape, 10)) is None
    assert "optimizer 'lbfgs'" in batch_blocker(
        build_model("mlp", digits.input_shape, 10), TrainConfig(optimizer="lbfgs")
    )
    cfg = TrainConfig(epochs=1, batch_size=128, optimizer="sgd", lr=0.05)
    few = torch.arange(256)
    res = train_many(
        digits, "resnet18", cfg, [0, 1], device="cpu", model_kwargs=NARROW_RESNET, indices=few
    )
    assert not res.batched and "BatchNorm2d" in res.reason and res.groups == []
    alone, _ = train_new_model(
        digits, "resnet18", cfg, seed=1, device="cpu", model_kwargs=NARROW_RESNET, indices=few
    )
    for a, b in zip(res.models[1].state_dict().values(), alone.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    off = train_many(digits, "mlp", TrainConfig(epochs=1), [0], device="cpu", batched=False)
    assert not off.batched and off.reason == "batched training was switched off"


def test_progress_and_cancel_within_a_step(digits, monkeypatch):
    seen: list[tuple[float, str]] = []
    train_many(digits, "mlp", TrainConfig(epochs=2), [0, 1], device="cpu",
               progress=lambda f, m="": seen.append((f, m)))  # fmt: skip
    assert seen[-1] == (1.0, "seeds 0-1: epoch 2/2")
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)

    class Stop(Exception):
        pass

    def stop(fraction: float, message: str = "") -> None:
        raise Stop

    monkeypatch.setattr(progress_mod, "CHECK_S", 0.0)  # every step's checkpoint reports
    with pytest.raises(Stop):
        train_many(digits, "mlp", TrainConfig(epochs=50), [0, 1], device="cpu", progress=stop)


def test_groups_cover_every_worker_and_cap_the_size():
    seeds = list(range(10))
    assert _groups(seeds, 1) == [seeds] and _groups(seeds, 2) == [seeds]
    assert _groups(seeds, 3) == [seeds[0:5], seeds[5:]]
    assert _groups(seeds, 8) == [seeds[0:3], seeds[3:6], seeds[6:8], seeds[8:]]
    assert _groups([0, 1], 16) == [[0], [1]]
    big = _groups(list(range(300)), 2)  # MAX_GROUP = 128
    assert [len(g) for g in big] == [100, 100, 100] and sum(big, []) == list(range(300))


def test_default_groups_keep_activations_small_on_the_cpu(digits):
    mlp, cnn = (build_model(a, digits.input_shape, 10) for a in ("mlp", "cnn"))
    # per sample: two 16 x 8 x 8 (conv, ReLU), two 32 x 8 x 8, pooled and flattened 512 twice,
    # 128 twice (fc, ReLU) and 10 logits, 4 bytes each, 64 samples a step
    per_sample = 2 * 16 * 64 + 2 * 32 * 64 + 2 * 512 + 2 * 128 + 10
    assert activation_bytes(cnn, digits.input_shape, 64) == 4 * 64 * per_sample
    assert auto_group_size(cnn, digits.input_shape, 64, "cpu") == 8  # 1.8 MB a member
    assert auto_group_size(mlp, digits.input_shape, 32, "cpu") == 155
    assert auto_group_size(cnn, digits.input_shape, 64, "cuda") == 0  # no limit off the CPU


def test_audit_numbers_unchanged_by_batched_training(digits, monkeypatch):
    """The same audit with the originals and retrains trained batched and one by one: every
    number equal (the per-model seconds aside)."""
    import unlearn_core.audit.pipeline as pipeline

    said: list[str] = []

    def audit() -> dict:
        with LocalExecutor(workers=1) as ex:
            res = run_audit(
                digits, "mlp", TrainConfig(epochs=3, batch_size=64), ForgetRequest(classes=(3,)),
                [("finetune", {"epochs": 1})], models=2, executor=ex, relearn="retain",
                progress=lambda f, m="": said.append(m),
            )  # fmt: skip
        return _drop_seconds(res.to_dict())

    batched = audit()
    assert "training 2 originals and 2 retrained models, batched (groups of 2 per side)" in said
    monkeypatch.setattr(pipeline, "batch_blocker", lambda model, cfg=None: "switched off")
    alone = audit()
    assert any(m.endswith("retrained models one by one (switched off)") for m in said)
    assert batched == alone


def _drop_seconds(obj, also: tuple[str, ...] = ()):
    """``obj`` without its ``seconds`` (and ``also``) keys, at any depth."""
    if isinstance(obj, dict):
        drop = ("seconds", *also)
        return {k: _drop_seconds(v, also) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_drop_seconds(v, also) for v in obj]
    return obj


@pytest.mark.ray
def test_ray_audit_trains_batched_with_the_same_numbers(digits):
    """The audit on Ray (two workers: the originals in one batched call, the retrains in the
    other) gives the numbers of the local in-process audit."""
    pytest.importorskip("ray")
    from unlearn_core.audit.executors import make_executor

    def audit(ex) -> dict:
        res = run_audit(
            digits, "mlp", TrainConfig(epochs=2, batch_size=64), ForgetRequest(classes=(3,)),
            [("finetune", {"epochs": 1})], models=2, executor=ex,
        )  # fmt: skip
        return _drop_seconds(res.to_dict(), also=("executor", "workers"))

    with LocalExecutor(workers=1) as local:
        expect = audit(local)
    ex = make_executor("ray", workers=2)
    try:
        got = audit(ex)
    finally:
        ex.close()
    assert got == expect

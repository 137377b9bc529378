"""The fast paths of issue 11: dataset variants, the strided CNN, recipe fields, GPU options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import DataError, Dataset, load_dataset
from unlearn_core.models import NARROW_RESNET, ModelError, build_model, fresh_like, weights_hash
from unlearn_core.runtime.device import seed_everything
from unlearn_core.store.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from unlearn_core.training import (
    TrainConfig,
    default_recipe,
    evaluate,
    make_optimizer,
    onecycle_factor,
    predict_features,
    predict_logits,
    train,
    train_new_model,
)

# --------------------------------------------------------------------------- data variants


def test_digits_upscaled_keeps_labels_split_and_range(digits):
    big = load_dataset("digits", size=28)
    assert big.x_train.shape == (digits.n_train, 1, 28, 28)
    assert big.x_test.shape == (digits.n_test, 1, 28, 28)
    assert big.input_shape == (1, 28, 28) and big.meta["size"] == 28
    assert float(big.x_train.min()) >= 0.0 and float(big.x_train.max()) <= 1.0
    assert torch.equal(big.y_train, digits.y_train) and torch.equal(big.y_test, digits.y_test)
    # bilinear upscaling keeps each image's mean brightness close to the original's
    diff = (big.x_train.mean((1, 2, 3)) - digits.x_train.mean((1, 2, 3))).abs().max()
    assert float(diff) < 0.05
    assert big.image(0).shape == (28, 28)
    with pytest.raises(DataError, match="size"):
        load_dataset("digits", size=2)


def test_sorted_by_class_is_a_stable_sort_of_the_train_set(digits):
    s = digits.sorted_by_class()
    y = s.y_train
    assert bool((y[1:] >= y[:-1]).all())
    order = digits.train_order_by_class()
    assert torch.equal(s.x_train, digits.x_train[order])
    assert torch.equal(y, digits.y_train[order])
    for c in range(digits.num_classes):  # stable: each class keeps its original order
        idx = order[y == c]
        assert bool((idx[1:] > idx[:-1]).all())
    assert s.class_counts().tolist() == digits.class_counts().tolist()
    assert torch.equal(s.x_test, digits.x_test) and torch.equal(s.y_test, digits.y_test)
    assert s.meta["sorted_by_class"] and "sorted_by_class" not in digits.meta
    assert not bool((digits.y_train[1:] >= digits.y_train[:-1]).all())  # original untouched


def test_dataset_images_get_row_major_strides():
    # x[:, None] of a numpy array has strides that also read as channels-last
    x = np.random.default_rng(0).random((6, 8, 8), dtype=np.float32)[:, None]
    d = Dataset("t", x, [0, 1] * 3, x[:2], [0, 1], ["a", "b"])
    assert d.x_train.stride() == (64, 64, 8, 1) and d.x_test.stride() == (64, 64, 8, 1)
    assert torch.equal(d.x_train, torch.from_numpy(np.ascontiguousarray(x)))


# --------------------------------------------------------------------------- the CNN


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size,stride", [(8, 1), (28, 2), (32, 2)])
def test_cnn_on_every_supported_size(channels, size, stride):
    m = build_model("cnn", (channels, size, size), 10)
    x = torch.rand(5, channels, size, size)
    assert m(x).shape == (5, 10)
    assert torch.equal(m(x), m.head(m.features(x)))
    assert m.spec["kwargs"] == {"channels": [16, 32], "fc": 128, "stride": stride}
    assert isinstance(m.body, nn.Sequential)
    assert isinstance(m.body[-2], nn.Linear) and isinstance(m.body[-1], nn.ReLU)
    assert m.body[-2].out_features == m.head.in_features == m.feature_dim == 128
    relus = [mod for mod in m.modules() if isinstance(mod, nn.ReLU)]
    assert len(relus) == 3 and len({id(r) for r in relus}) == 3
    twin = fresh_like(m)
    assert twin.spec == m.spec
    assert {k: v.shape for k, v in twin.state_dict().items()} == {
        k: v.shape for k, v in m.state_dict().items()
    }


def test_cnn_refuses_images_too_small():
    with pytest.raises(ModelError, match="at least 2x2"):
        build_model("cnn", (1, 1, 1), 2)
    assert build_model("cnn", (3, 9, 12), 4)(torch.rand(2, 3, 9, 12)).shape == (2, 4)


def test_old_cnn_checkpoints(tmp_path, digits):
    """Specs written before ``stride`` existed: the 8x8 layout is unchanged and loads; the
    old full-resolution 32x32 layout is refused with a clear error."""
    shapes = load_dataset("shapes", n_train=100, n_test=10, seed=0)
    old32 = build_model("cnn", shapes.input_shape, 10, channels=(32, 64), stride=1)
    old8 = build_model("cnn", digits.input_shape, 10, channels=(32, 64), stride=1)
    for model, data, name in ((old32, shapes, "s"), (old8, digits, "d")):
        save_checkpoint(model, tmp_path / name, data)
        sidecar = tmp_path / f"{name}.json"
        meta = json.loads(sidecar.read_text())
        del meta["model"]["kwargs"]["stride"]
        sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit a cnn model.*shape differs"):
        load_checkpoint(tmp_path / "s", dataset=shapes)
    loaded, _ = load_checkpoint(tmp_path / "d", dataset=digits, arch="cnn")
    assert weights_hash(loaded) == weights_hash(old8)


def test_narrow_resnet_shapes_and_spec():
    m = build_model("resnet18", (3, 32, 32), 10, **NARROW_RESNET)
    assert m.spec["kwargs"] == NARROW_RESNET
    assert m.stem[0].stride == (2, 2) and m.feature_dim == 8 * NARROW_RESNET["width"]
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert fresh_like(m).spec == m.spec
    # specs without stem_stride (older checkpoints) rebuild the CIFAR-style stem
    assert build_model("resnet18", (1, 8, 8), 10, width=4).stem[0].stride == (1, 1)


def test_default_cnn_recipe_learns_digits(digits):
    model, hist = train_new_model(digits, "cnn", default_recipe("cnn"), seed=0, device="cpu")
    assert hist.loss[-1] < hist.loss[0]
    assert evaluate(model, digits.x_test, digits.y_test) > 95.0  # measured 98.6


# --------------------------------------------------------------------------- recipes


def test_train_config_reads_old_recipes():
    old = {"epochs": 15, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "momentum": 0.9}
    cfg = TrainConfig.from_dict({**old, "weight_decay": 0.0, "retired_field": 1})
    assert cfg.schedule == "constant" and cfg.label_smoothing == 0.0 and not cfg.compile
    assert cfg.epochs == 15 and cfg.lr == 1e-3
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    new = default_recipe("cnn")
    assert new.schedule == "onecycle" and TrainConfig.from_dict(new.to_dict()) == new
    assert default_recipe("cnn") is not default_recipe("cnn")  # callers may edit theirs


def _reference_train(model, x, y, cfg, seed):
    """The training loop as it was before schedules and GPU options existed."""
    gen = seed_everything(seed)
    opt = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
    for _ in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=gen).split(cfg.batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_cpu_training_ignores_gpu_options(digits, arch):
    """bf16 autocast, channels-last and compile are CUDA-only: CPU weights are bit-identical
    with them on or off, and identical to the loop before these options existed."""
    x, y = digits.x_train[:300], digits.y_train[:300]
    base = {"epochs": 2, "batch_size": 32, "lr": 1e-3}
    hashes = []
    for flags in (True, False):
        seed_everything(0)
        model = build_model(arch, digits.input_shape, 10)
        cfg = TrainConfig(**base, mixed_precision=flags, channels_last=flags, compile=flags)
        train(model, x, y, cfg, seed=3, device="cpu")
        hashes.append(weights_hash(model))
        assert all(p.is_contiguous() for p in model.parameters())
    seed_everything(0)
    ref = _reference_train(build_model(arch, digits.input_shape, 10), x, y, TrainConfig(**base), 3)
    assert hashes[0] == hashes[1] == weights_hash(ref)


def test_onecycle_schedule_and_label_smoothing_change_training(digits):
    x, y = digits.x_train[:256], digits.y_train[:256]
    runs = {}
    for name, extra in {
        "constant": {},
        "onecycle": {"schedule": "onecycle"},
        "smooth": {"label_smoothing": 0.2},
    }.items():
        seed_everything(0)
        model = build_model("mlp", digits.input_shape, 10)
        cfg = TrainConfig(epochs=3, batch_size=64, lr=1e-2, **extra)
        hist = train(model, x, y, cfg, seed=0, device="cpu")
        runs[name] = (weights_hash(model), hist.loss[-1])
    assert len({h for h, _ in runs.values()}) == 3
    # label smoothing keeps the loss away from zero: its floor is the smoothed target's entropy
    assert runs["smooth"][1] > runs["constant"][1]
    with pytest.raises(ValueError, match="unknown schedule"):
        train(build_model("mlp", (2,), 2), torch.rand(8, 2), torch.arange(8) % 2,
              TrainConfig(epochs=1, schedule="cosine"))  # fmt: skip


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 100])
def test_onecycle_factor_shape(total):
    f = [onecycle_factor(s, total) for s in range(total)]
    assert f[0] == pytest.approx(0.04) and max(f) <= 1.0
    if total >= 2:
        assert max(f) == pytest.approx(1.0)
        peak = f.index(max(f))
        assert f[: peak + 1] == sorted(f[: peak + 1]) and f[peak:] == sorted(f[peak:])[::-1]
    if total >= 4:
        assert f[-1] == pytest.approx(1e-5)


def test_inference_batching_does_not_change_outputs(digits, digits_mlp):
    x = digits.x_test  # BLAS may sum in another order for another batch size: close, not equal
    close = dict(rtol=1e-5, atol=1e-5)
    assert torch.allclose(predict_logits(digits_mlp, x), predict_logits(digits_mlp, x, 7), **close)
    feats = predict_features(digits_mlp, x)
    assert torch.allclose(feats, predict_features(digits_mlp, x, 50), **close)
    assert predict_logits(digits_mlp, x[:0]).shape == (0, 10)
    assert predict_features(digits_mlp, x[:0]).shape == (0, digits_mlp.feature_dim)

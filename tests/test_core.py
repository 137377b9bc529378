"""Forget requests, models, training and checkpoints on real data and real torch models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unlearn_core.forget import ForgetError, ForgetRequest, make_split
from unlearn_core.models import ModelError, build_model, fresh_like, weights_hash
from unlearn_core.runtime.device import pick_device
from unlearn_core.store.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from unlearn_core.training import TrainConfig, evaluate, train_new_model


def test_forget_by_class_covers_exactly_that_class(digits):
    split = make_split(digits, ForgetRequest(classes=(3,)))
    y = digits.y_train
    assert (y[split.forget_idx] == 3).all()
    assert (y[split.retain_idx] != 3).all()
    assert split.n_forget + split.n_retain == digits.n_train
    assert split.forgotten_classes == (3,) and split.is_class_wise


def test_forget_fraction_is_seeded_and_sized(digits):
    a = make_split(digits, ForgetRequest(fraction=0.1, seed=1))
    b = make_split(digits, ForgetRequest(fraction=0.1, seed=1))
    c = make_split(digits, ForgetRequest(fraction=0.1, seed=2))
    assert torch.equal(a.forget_idx, b.forget_idx)
    assert not torch.equal(a.forget_idx, c.forget_idx)
    assert a.n_forget == round(0.1 * digits.n_train)
    assert not a.is_class_wise


def test_forget_fraction_within_class(digits):
    split = make_split(digits, ForgetRequest(classes=(5,), fraction=0.5, seed=0))
    assert (digits.y_train[split.forget_idx] == 5).all()
    n5 = int((digits.y_train == 5).sum())
    assert split.n_forget == round(0.5 * n5)
    assert split.forgotten_classes == ()


def test_forget_indices_deduplicated(digits):
    split = make_split(digits, ForgetRequest(indices=(4, 2, 4, 9)))
    assert split.forget_idx.tolist() == [2, 4, 9]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ForgetRequest(), "empty"),
        (ForgetRequest(classes=(11,)), "unknown class 11"),
        (ForgetRequest(indices=(0, 99999)), "out of range"),
        (ForgetRequest(classes=tuple(range(10))), "whole training set"),
        (ForgetRequest(fraction=1.0), "whole training set"),
        (ForgetRequest(fraction=0.0001), "selects nothing"),
        (ForgetRequest(fraction=1.5), "fraction"),
    ],
)
def test_bad_forget_requests_are_clear_errors(digits, request_, message):
    with pytest.raises(ForgetError, match=message):
        make_split(digits, request_)


@pytest.mark.parametrize("arch", ["mlp", "cnn", "resnet18"])
def test_models_split_into_features_and_head(arch):
    kw = {"width": 8} if arch == "resnet18" else {}
    model = build_model(arch, (3, 16, 16), 10, **kw).eval()
    x = torch.rand(5, 3, 16, 16)
    feats = model.features(x)
    assert feats.shape == (5, model.feature_dim)
    assert torch.allclose(model(x), model.head(feats))
    twin = fresh_like(model)
    assert twin.spec == model.spec and weights_hash(twin) != weights_hash(model)


def test_cnn_refuses_tabular_input():
    with pytest.raises(ModelError, match="image input"):
        build_model("cnn", (2,), 2)


def test_training_is_deterministic_and_learns(digits):
    cfg = TrainConfig(epochs=3, batch_size=64)
    m1, h1 = train_new_model(digits, "mlp", cfg, seed=7, device="cpu")
    m2, h2 = train_new_model(digits, "mlp", cfg, seed=7, device="cpu")
    assert weights_hash(m1) == weights_hash(m2)
    assert h1.loss == h2.loss and h1.loss[-1] < h1.loss[0]
    assert evaluate(m1, digits.x_test, digits.y_test) > 80


def test_training_reports_progress(digits):
    seen = []
    train_new_model(
        digits,
        "mlp",
        TrainConfig(epochs=2),
        seed=0,
        device="cpu",
        progress=lambda f, m: seen.append((f, m)),
    )
    # one report per epoch; under load a slow epoch also re-sends the last report
    # (``progress.checkpoint``, so that a cancel is heard), which adds repeats only
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and sorted(set(fractions) - {0.0}) == [0.5, 1.0]
    assert seen[-1] == (1.0, "epoch 2/2")


def test_default_device_is_cpu_without_accelerator(monkeypatch):
    monkeypatch.delenv("UNLEARN_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    assert pick_device().type in ({expected} if expected else {"cpu", "mps"})
    assert pick_device("cpu").type == "cpu"


def test_checkpoint_round_trip(tmp_path, digits, digits_mlp):
    path = save_checkpoint(digits_mlp, tmp_path / "ckpt", digits, extra={"seed": 0})
    assert path.suffix == ".safetensors" and path.with_suffix(".json").exists()
    model, meta = load_checkpoint(tmp_path / "ckpt", dataset=digits, arch="mlp")
    assert weights_hash(model) == weights_hash(digits_mlp)
    assert meta["seed"] == 0 and meta["dataset"]["name"] == "digits"


def test_checkpoint_of_other_architecture_is_refused(tmp_path, digits, digits_mlp):
    save_checkpoint(digits_mlp, tmp_path / "m", digits)
    with pytest.raises(CheckpointError, match="'mlp' model, not 'cnn'"):
        load_checkpoint(tmp_path / "m", dataset=digits, arch="cnn")


def test_checkpoint_of_other_dataset_is_refused(tmp_path, digits, digits_mlp):
    from unlearn_core.data import Dataset

    save_checkpoint(digits_mlp, tmp_path / "m", digits)
    other = Dataset(
        "tiny", np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1], ["a", "b"], kind="tabular"
    )
    with pytest.raises(CheckpointError, match="inputs of shape"):
        load_checkpoint(tmp_path / "m", dataset=other)


def test_checkpoint_with_tampered_weights_is_refused(tmp_path, digits, digits_mlp):
    save_checkpoint(digits_mlp, tmp_path / "m", digits)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["model"]["kwargs"]["hidden"] = [64]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "m")


def test_checkpoint_garbage_file_is_refused(tmp_path, digits, digits_mlp):
    save_checkpoint(digits_mlp, tmp_path / "m", digits)
    (tmp_path / "m.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(tmp_path / "m")


def test_model_report_is_what_the_first_page_shows(digits, digits_mlp):
    from unlearn_core.evaluation.metrics import per_class_accuracy
    from unlearn_core.training import model_report, predict_logits

    report = model_report(digits_mlp, digits)
    assert report.test_acc == pytest.approx(evaluate(digits_mlp, digits.x_test, digits.y_test))
    assert report.train_acc == pytest.approx(evaluate(digits_mlp, digits.x_train, digits.y_train))
    expected = per_class_accuracy(predict_logits(digits_mlp, digits.x_test), digits.y_test, 10)
    assert report.per_class_test == pytest.approx(expected.tolist())

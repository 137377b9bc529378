"""The unlearning inversion attack: score known answers, the gradient-direction known answer,
label inference, refusals, cancel and the ``unlearn invert`` command."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.cli.main import main
from unlearn_core.data import load_dataset
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.inversion import (
    PSNR_MAX,
    InversionConfig,
    InversionError,
    InversionResult,
    attack_target,
    confidence_change,
    gradient_cosine,
    infer_labels,
    make_probes,
    match_gradients,
    psnr,
    run_inversion,
    ssim,
    weight_delta,
)
from unlearn_core.inversion.attack import flat_params
from unlearn_core.inversion.scores import SSIM_K1, gaussian_window, window_size
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.models import build_model
from unlearn_core.training import TrainConfig, train_new_model

# ------------------------------------------------------------------------------ scores


def test_psnr_known_answers():
    x = torch.full((1, 8, 8), 0.5, dtype=torch.float64)
    assert psnr(x, x) == PSNR_MAX
    checker = (torch.arange(64).reshape(1, 8, 8) % 2) * 2 - 1  # +-1: MSE exactly delta^2
    y = x + 0.1 * checker
    assert psnr(y, x) == pytest.approx(20.0, abs=1e-6)
    assert psnr(x + 0.01 * checker, x) == pytest.approx(40.0, abs=1e-6)
    # range 2: the same error is 20 log10(2) dB better
    assert psnr(y, x, data_range=2.0) == pytest.approx(20.0 + 20 * math.log10(2), abs=1e-6)


def test_ssim_known_answers():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 16, 16, generator=g)
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    # two constant images: no variance, SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.2, 0.7, (SSIM_K1 * 1.0) ** 2
    want = (2 * a * b + c1) / (a * a + b * b + c1)
    const = torch.full((8, 8), a, dtype=torch.float64), torch.full((8, 8), b, dtype=torch.float64)
    assert ssim(*const) == pytest.approx(want, rel=1e-9)
    # symmetric, lowered by noise, negative for the inverted image
    noisy = (img + 0.2 * torch.randn(1, 16, 16, generator=g)).clamp(0, 1)
    assert ssim(noisy, img) == pytest.approx(ssim(img, noisy), abs=1e-12)
    assert 0.0 < ssim(noisy, img) < 0.9
    assert ssim(1 - img, img) < 0
    # the Gaussian window of Wang et al.: 11 x 11 on larger images, odd and fitting otherwise
    assert window_size(32, 32) == 11 and window_size(8, 8) == 7 and window_size(16, 9) == 9
    w = gaussian_window(11)
    assert float(w.sum()) == pytest.approx(1.0) and w[5, 5] == w.max()


# ----------------------------------------------------------------------- the attack


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small_mlp(digits):
    """An MLP trained briefly (its samples still carry a real loss gradient)."""
    torch.set_num_threads(1)
    recipe = TrainConfig(epochs=3, batch_size=32, lr=1e-3)
    model, _ = train_new_model(
        digits, "mlp", recipe, seed=0, device="cpu", model_kwargs={"hidden": (32,)}
    )
    return model, recipe


def _neggrad_one_step(model, digits, recipe, index):
    """NegGrad, one step of gradient ascent on one sample (the stop rule off)."""
    split = make_split(digits, ForgetRequest(indices=(index,)))
    task = UnlearnTask(data=digits, split=split, train_config=recipe)
    out = run_method("neggrad", model, task, {"stop": "off", "epochs": 1, "lr": 0.05}, seed=0)
    return out.model


def test_known_answer_one_sample_removed_by_one_ascent_step(digits, small_mlp):
    """One sample removed by one gradient-ascent step: the update points along that sample's
    gradient (cosine ~1 once weight decay's share is removed), and gradient matching recovers
    an image whose gradient points the same way and that looks like the sample, far closer
    than the same attack on an update that carries no information (another model's
    weights)."""
    model, recipe = small_mlp
    i = 17
    x, y = digits.x_train[i : i + 1], digits.y_train[i : i + 1]
    unlearned = _neggrad_one_step(model, digits, recipe, i)
    delta = weight_delta(model, unlearned)
    theta = flat_params(model)
    target = attack_target(delta, theta, remove_decay=True)
    assert gradient_cosine(model, x, y, target) > 0.99
    # the paper's raw update still points mostly along it (weight decay's share is small here)
    assert gradient_cosine(model, x, y, delta) > 0.5
    other = build_model("mlp", digits.input_shape, digits.num_classes, hidden=(32,))
    noise = attack_target(flat_params(other) - theta, theta, remove_decay=True)
    cfg = InversionConfig(iterations=250, restarts=2)
    rec, base = match_gradients(
        model, [target, noise], [[int(y)], [int(y)]], digits.input_shape, (0.0, 1.0), cfg
    )
    assert rec.match_loss < 0.05 < base.match_loss
    assert gradient_cosine(model, rec.images, y, target) > 0.95
    got, baseline = psnr(rec.images[0], x[0]), psnr(base.images[0], x[0])
    assert got > 15.0 and got > baseline + 5.0
    assert ssim(rec.images[0], x[0]) > 0.8


def test_label_inference_easy_case(digits, small_mlp):
    """Samples of different classes each removed by ascent: the probes' confidence in the
    removed sample's class falls most."""
    model, recipe = small_mlp
    cfg = InversionConfig()
    probes = make_probes(model, digits.num_classes, digits.input_shape, (0.0, 1.0), cfg)
    with torch.no_grad():
        pred = model(probes).argmax(1)
    # every probe lands in the class it was made for
    assert pred.tolist() == torch.arange(10).repeat_interleave(cfg.probes_per_class).tolist()
    theta = flat_params(model)
    for i in (5, 17, 42, 99):
        unlearned = _neggrad_one_step(model, digits, recipe, i)
        delta = attack_target(weight_delta(model, unlearned), theta, remove_decay=True)
        moved = build_model("mlp", digits.input_shape, digits.num_classes, hidden=(32,))
        moved.load_state_dict(model.state_dict())
        torch.nn.utils.vector_to_parameters(theta + delta * (0.01 * theta.norm() / delta.norm()),
                                            moved.parameters())  # fmt: skip
        change = confidence_change(model, moved, probes)
        assert infer_labels(change) == [int(digits.y_train[i])]
    assert infer_labels(torch.tensor([0.1, float("nan"), -0.3, -0.2]), 2) == [2, 3]


def test_cnn_and_resnet_gradients_match(digits):
    """The batched double gradient runs on the CNN (max-pool) and on ResNet-18 with BatchNorm
    in eval mode (its running statistics)."""
    torch.manual_seed(0)
    for arch, kw in (("cnn", {}), ("resnet18", {"width": 8})):
        model = build_model(arch, digits.input_shape, digits.num_classes, **kw).eval()
        x, y = digits.x_train[:1], digits.y_train[:1]
        g = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
        target = torch.cat([t.reshape(-1) for t in g])
        cfg = InversionConfig(iterations=3, restarts=2)
        (rec,) = match_gradients(model, [target], [[int(y)]], digits.input_shape, (0, 1), cfg)
        assert rec.images.shape == (1, 1, 8, 8) and math.isfinite(rec.match_loss)
        assert float(rec.images.min()) >= 0 and float(rec.images.max()) <= 1


def test_chunked_candidates_give_the_same_images(digits, small_mlp):
    """Large models run their candidates in chunks (one per vmap call here): same result."""
    model, _ = small_mlp
    x, y = digits.x_train[3:4], digits.y_train[3:4]
    g = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    target = torch.cat([t.reshape(-1) for t in g])
    runs = [
        match_gradients(model, [target, -target], [[int(y)], [int(y)]], digits.input_shape,
                        (0.0, 1.0), InversionConfig(iterations=20, restarts=2, chunk_floats=c))
        for c in (1, 10**9)
    ]  # fmt: skip
    for a, b in zip(*runs, strict=True):
        assert torch.allclose(a.images, b.images, atol=1e-6)
        assert a.restart_losses == pytest.approx(b.restart_losses, abs=1e-6)


def test_refusals(digits):
    moons = load_dataset("moons")
    with pytest.raises(InversionError, match="images"):
        run_inversion(moons, "mlp", [1], "neggrad")
    with pytest.raises(InversionError, match="at most 8"):
        run_inversion(digits, "mlp", list(range(9)), "neggrad")
    with pytest.raises(InversionError, match="twice"):
        run_inversion(digits, "mlp", [3, 3], "neggrad")
    with pytest.raises(InversionError, match="out of range"):
        run_inversion(digits, "mlp", [10**6], "neggrad")
    with pytest.raises(KeyError):
        run_inversion(digits, "mlp", [3], "no_such_method")


class Stop(Exception):
    pass


def test_cancel_stops_the_attack_and_progress_is_frequent(digits, small_mlp):
    """A callback that raises (the app's Cancel) stops the run during the matching; reports
    come at least every second."""
    import time

    model, recipe = small_mlp
    stamps: list[float] = []

    def progress(fraction: float, message: str) -> None:
        stamps.append(time.perf_counter())
        if message.startswith("matching gradients: step") and len(stamps) > 3:
            raise Stop

    base = (model, build_model("mlp", digits.input_shape, digits.num_classes, hidden=(32,)))
    t0 = time.perf_counter()
    with pytest.raises(Stop):
        run_inversion(digits, "mlp", [5, 17], "neggrad", {"stop": "off"}, recipe=recipe,
                      cfg=InversionConfig(iterations=100_000), device="cpu", progress=progress,
                      original=model, baseline_originals=base)  # fmt: skip
    assert time.perf_counter() - t0 < 20
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert max(gaps) < 1.0


def test_together_reconstructs_each_sample(digits, small_mlp):
    model, recipe = small_mlp
    base = (model, build_model("mlp", digits.input_shape, digits.num_classes, hidden=(32,)))
    res = run_inversion(digits, "mlp", [5, 42], "neggrad", {"stop": "off", "epochs": 1},
                        together=True, recipe=recipe, cfg=InversionConfig(iterations=30),
                        device="cpu", original=model, baseline_originals=base)  # fmt: skip
    assert res.together and [s.index for s in res.samples] == [5, 42]
    again = InversionResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.psnr == pytest.approx(res.psnr) and len(again.samples) == 2


# ----------------------------------------------------------------------------- the CLI


def test_cli_json_smoke(capsys):
    code = main(["invert", "--dataset", "digits", "--model", "mlp", "--samples", "5,17",
                 "--method", "neggrad", "--param", "stop=off", "--epochs", "2",
                 "--iterations", "40", "--restarts", "2", "--json", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert {"psnr", "baseline_psnr", "label_accuracy", "samples"} <= set(doc)
    assert [s["index"] for s in doc["samples"]] == [5, 17]
    assert all(
        {"psnr", "ssim", "inferred_label", "baseline_psnr"} <= set(s) for s in doc["samples"]
    )
    assert "reconstruction" not in doc["samples"][0]
    assert doc["params"]["stop"] == "off" and doc["together"] is False


def test_cli_refuses_non_images(capsys):
    code = main(["invert", "--dataset", "moons", "--samples", "1", "--method", "neggrad",
                 "--no-progress"])  # fmt: skip
    assert code == 2 and "images" in capsys.readouterr().err

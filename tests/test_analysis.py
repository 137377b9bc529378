"""Analysis functions behind the Compare page: CKA, decision grids, attributions, embeddings.

Known answers where there are some (CKA invariances, IG completeness, LRP = gradient x input
for bias-free ReLU nets, Procrustes recovery), on real torch models: the session's digits MLP,
a quickly trained moons MLP, and tiny untrained CNN / ResNet-18.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.analysis.attributions import attribute, attribution_grid
from unlearn_core.analysis.boundary import decision_grid
from unlearn_core.analysis.embeddings import (
    displacement,
    model_features,
    pca_frame,
    procrustes_align,
    shift_summary,
)
from unlearn_core.analysis.similarity import (
    default_layers,
    layer_activations,
    layerwise_cka,
    linear_cka,
)
from unlearn_core.data import load_dataset
from unlearn_core.methods.sisa import VoteEnsemble
from unlearn_core.models import build_model, clone_model, fresh_like, weights_hash
from unlearn_core.training import TrainConfig, predict_logits, train_new_model


def _orthogonal(p: int, rng: np.random.Generator) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(p, p)))[0]


def _cka_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The definition, spelled out: ||A^T B||^2 / (||A^T A|| ||B^T B||) on centred features."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    return np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_train=300, n_test=100, noise=0.15, seed=0)


@pytest.fixture(scope="module")
def moons_mlp(moons):
    model, _ = train_new_model(
        moons, "mlp", TrainConfig(epochs=30, batch_size=32), seed=0, device="cpu"
    )
    return model


@pytest.fixture(scope="module")
def tiny_resnet():
    torch.manual_seed(0)
    return build_model("resnet18", (3, 8, 8), 10, width=4).eval()


# ----------------------------------------------------------------------------- linear CKA


@pytest.mark.parametrize("n,p", [(200, 10), (12, 40)])  # feature form and Gram form
def test_linear_cka_is_one_for_the_same_representation(n, p):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, p))
    assert linear_cka(a, a) == pytest.approx(1.0, abs=1e-12)
    b = 3.0 * a @ _orthogonal(p, rng) + rng.normal(size=p) * 5  # rotate, scale, shift
    assert linear_cka(a, b) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(torch.as_tensor(a, dtype=torch.float32), b) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("n,p1,p2", [(100, 5, 8), (10, 30, 50)])
def test_linear_cka_matches_the_definition_and_is_symmetric(n, p1, p2):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(n, p1))
    b = np.tanh(a @ rng.normal(size=(p1, p2))) + 0.3 * rng.normal(size=(n, p2))
    got = linear_cka(a, b)
    assert got == pytest.approx(_cka_reference(a, b), rel=1e-10)
    assert linear_cka(b, a) == pytest.approx(got, rel=1e-12)
    assert 0.0 < got < 1.0


def test_linear_cka_of_independent_data_is_small():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(500, 5)), rng.normal(size=(500, 5))
    assert linear_cka(a, b) < 0.2
    assert linear_cka(a, a[:, :3]) > 0.5  # sharing features is far from independence


def test_linear_cka_degenerate_and_bad_input():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 4))
    assert np.isnan(linear_cka(a, np.full((50, 3), 0.1, dtype=np.float32)))
    assert np.isnan(linear_cka(np.ones((5, 100)), rng.normal(size=(5, 100))))  # Gram form
    # a constant column among varying ones is simply ignored
    padded = np.hstack([a, np.full((50, 1), 7.3)])
    assert linear_cka(padded, a) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(a, a[:10])


# ----------------------------------------------------------------------------- layers


def test_default_layers_per_architecture(digits_mlp, tiny_resnet):
    assert default_layers(digits_mlp) == {"fc1": "body.2", "fc2": "body.4", "logits": "head"}
    cnn = build_model("cnn", (1, 8, 8), 10, channels=(4, 8), fc=16)
    assert list(default_layers(cnn)) == ["conv1", "conv2", "pool", "fc1", "logits"]
    labels = list(default_layers(tiny_resnet))
    assert labels[0] == "stem" and labels[-2:] == ["pool", "logits"]
    assert labels[1:-2] == [f"block{s}.{b}" for s in range(1, 5) for b in (1, 2)]


def test_layer_activations_are_the_layer_outputs(digits, digits_mlp, tiny_resnet):
    x = digits.x_test[:40]
    acts = layer_activations(digits_mlp, x, batch_size=16)
    assert [a.shape for a in acts.values()] == [(40, 256), (40, 128), (40, 10)]
    np.testing.assert_allclose(acts["logits"], predict_logits(digits_mlp, x).numpy(), atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(acts["fc2"], digits_mlp.features(x).numpy(), atol=1e-5)
    xr = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    widths = {k: v.shape[1] for k, v in layer_activations(tiny_resnet, xr).items()}
    assert widths["stem"] == 4 * 8 * 8 and widths["block4.2"] == 32 * 1 * 1
    assert widths["pool"] == 32 and widths["logits"] == 10
    assert _no_hooks(tiny_resnet) and _no_hooks(digits_mlp)


def test_layerwise_cka_of_a_model_with_itself_is_one(digits, digits_mlp):
    model = clone_model(digits_mlp).train()  # training mode must survive
    before = weights_hash(model)
    out = layerwise_cka(model, model, digits.x_test)
    assert list(out) == ["fc1", "fc2", "logits"]
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in out.values())
    assert model.training and weights_hash(model) == before and _no_hooks(model)


def test_layerwise_cka_against_a_fresh_model(digits, digits_mlp):
    before = weights_hash(digits_mlp)
    torch.manual_seed(0)
    fresh = fresh_like(digits_mlp)
    out = layerwise_cka(digits_mlp, fresh, digits.x_test)
    vals = np.array(list(out.values()))
    assert np.all((vals > 0) & (vals <= 1.0)) and vals.min() < 0.9
    # the same numbers as linear_cka on the layers' activations (no subsampling here)
    a = layer_activations(digits_mlp, digits.x_test)
    b = layer_activations(fresh, digits.x_test)
    for label, v in out.items():
        assert v == pytest.approx(linear_cka(a[label], b[label]), rel=1e-9)
    # reading the layers one forward pass at a time (tiny memory budget) changes nothing
    assert layerwise_cka(digits_mlp, fresh, digits.x_test, max_bytes=1) == pytest.approx(out)
    # subsampling is seeded
    sub = layerwise_cka(digits_mlp, fresh, digits.x_test, max_samples=100, seed=3)
    assert sub == layerwise_cka(digits_mlp, fresh, digits.x_test, max_samples=100, seed=3)
    assert sub != pytest.approx(out)
    assert weights_hash(digits_mlp) == before and not digits_mlp.training


def test_layerwise_cka_rejects_mismatched_models_and_votes(digits, digits_mlp):
    cnn = build_model("cnn", (1, 8, 8), 10, channels=(4, 8), fc=16)
    with pytest.raises(ValueError, match="same layers"):
        layerwise_cka(digits_mlp, cnn, digits.x_test)
    shallow = build_model("mlp", (1, 8, 8), 10, hidden=(32,))
    with pytest.raises(ValueError, match="same layers"):
        layerwise_cka(shallow, digits_mlp, digits.x_test)
    vote = VoteEnsemble([digits_mlp, fresh_like(digits_mlp)])
    with pytest.raises(ValueError, match="vote of several models"):
        layerwise_cka(vote, digits_mlp, digits.x_test)
    with pytest.raises(ValueError, match="vote of several models"):
        layer_activations(vote, digits.x_test[:4])


# ----------------------------------------------------------------------------- boundary


def test_decision_grid_shapes_and_range(moons, moons_mlp):
    g = decision_grid(moons_mlp, moons.x_train, resolution=50, margin=0.5)
    pts = moons.x_train.numpy()
    assert g["xs"].shape == (50,) and g["ys"].shape == (50,)
    assert g["pred"].shape == (50, 50) and g["confidence"].shape == (50, 50)
    assert g["xs"][0] == pytest.approx(pts[:, 0].min() - 0.5, abs=1e-5)
    assert g["ys"][-1] == pytest.approx(pts[:, 1].max() + 0.5, abs=1e-5)
    assert set(np.unique(g["pred"])) == {0, 1}  # both moons get a region
    assert g["confidence"].min() >= 0.5 - 1e-6 and g["confidence"].max() <= 1.0 + 1e-6
    # rectangular grids: rows follow ys, columns xs
    g2 = decision_grid(moons_mlp, moons.x_train, resolution=7)
    i, j = 2, 5
    cell = torch.tensor([[g2["xs"][j], g2["ys"][i]]])
    assert g2["pred"][i, j] == int(predict_logits(moons_mlp, cell).argmax(1))


def test_decision_grid_agrees_with_the_model_on_its_points(moons, moons_mlp):
    g = decision_grid(moons_mlp, moons.x_train)
    pts = moons.x_train.numpy()
    own = predict_logits(moons_mlp, moons.x_train).argmax(1).numpy()
    assert (own == moons.y_train.numpy()).mean() > 0.9  # the model learned the moons
    j = np.abs(pts[:, 0, None] - g["xs"][None, :]).argmin(1)
    i = np.abs(pts[:, 1, None] - g["ys"][None, :]).argmin(1)
    assert (g["pred"][i, j] == own).mean() > 0.97
    # far from the boundary (confident grid cells) they agree everywhere
    sure = g["confidence"][i, j] > 0.9
    assert sure.sum() > len(pts) // 2 and (g["pred"][i, j] == own)[sure].all()


def test_decision_grid_rejects_other_inputs(digits, digits_mlp, moons_mlp):
    with pytest.raises(ValueError, match="2-D points"):
        decision_grid(digits_mlp, digits.x_train[:, 0, 0, :2])
    with pytest.raises(ValueError, match="N x 2"):
        decision_grid(moons_mlp, np.zeros((5, 3)))
    vote = VoteEnsemble([moons_mlp, clone_model(moons_mlp)])
    assert decision_grid(vote, np.zeros((3, 2)), resolution=4)["pred"].shape == (4, 4)


# ----------------------------------------------------------------------------- attributions


def test_attribution_grid_on_the_mlp(digits, digits_mlp):
    before = weights_hash(digits_mlp)
    x, y = digits.x_train[:3], digits.y_train[:3]
    grid = attribution_grid({"a": digits_mlp, "b": digits_mlp}, x, y)
    assert set(grid["maps"]) == {"integrated_gradients", "saliency", "lrp"}
    assert grid["notes"] == {}
    for per_model in grid["maps"].values():
        for arr in per_model.values():
            assert arr.shape == (3, 1, 8, 8) and np.isfinite(arr).all() and np.abs(arr).sum() > 0
    assert (grid["maps"]["saliency"]["a"] >= 0).all()
    np.testing.assert_array_equal(
        grid["maps"]["lrp"]["a"], attribute(digits_mlp, x, y, "lrp")
    )  # the grid is attribute() per cell
    one = attribution_grid({"a": digits_mlp}, x[0], int(y[0]), methods=("saliency",))
    assert one["maps"]["saliency"]["a"].shape == (1, 1, 8, 8)  # always with a batch dimension
    assert weights_hash(digits_mlp) == before and not digits_mlp.training


def test_integrated_gradients_are_complete(digits, digits_mlp):
    x, y = digits.x_train[10:15], digits.y_train[10:15]
    ig = attribution_grid({"m": digits_mlp}, x, y, methods=("integrated_gradients",))
    sums = ig["maps"]["integrated_gradients"]["m"].reshape(5, -1).sum(1)
    rows = torch.arange(5)
    diff = predict_logits(digits_mlp, x)[rows, y] - predict_logits(digits_mlp, 0 * x)[rows, y]
    np.testing.assert_allclose(sums, diff.numpy(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("arch,kw", [("mlp", {"hidden": (16, 8)}), ("cnn", {"fc": 16})])
def test_lrp_is_gradient_times_input_without_biases(arch, kw):
    """With every bias zero, LRP-epsilon (epsilon -> 0) of a ReLU net is gradient x input."""
    torch.manual_seed(0)
    model = build_model(arch, (1, 8, 8), 10, **kw).eval()
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
    x = torch.rand(4, 1, 8, 8)
    target = [1, 2, 3, 4]
    lrp = attribution_grid({"m": model}, x, target, methods=("lrp",))["maps"]["lrp"]["m"]
    xg = x.clone().requires_grad_(True)
    model(xg)[torch.arange(4), target].sum().backward()
    grad_x_input = (xg.grad * x).numpy()
    np.testing.assert_allclose(lrp, grad_x_input, atol=1e-3 * np.abs(grad_x_input).max())


def test_attribution_grid_notes_what_cannot_run(digits, digits_mlp, tiny_resnet):
    xr = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    grid = attribution_grid({"resnet": tiny_resnet}, xr, [0, 1])
    assert grid["maps"]["lrp"]["resnet"] is None
    assert "LRP" in grid["notes"]["lrp"] and "resnet" in grid["notes"]["lrp"]
    for m in ("integrated_gradients", "saliency"):
        assert grid["maps"][m]["resnet"].shape == (2, 3, 8, 8)
        assert m not in grid["notes"]
    vote = VoteEnsemble([digits_mlp, fresh_like(digits_mlp)])
    grid = attribution_grid({"mlp": digits_mlp, "sisa": vote}, digits.x_train[:2], [0, 1])
    for m, per_model in grid["maps"].items():
        assert per_model["sisa"] is None and per_model["mlp"].shape == (2, 1, 8, 8)
        assert "vote of several models" in grid["notes"][m]
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribution_grid({"mlp": digits_mlp}, digits.x_train[:2], [0, 1], methods=("shap",))


# ----------------------------------------------------------------------------- embeddings


def test_procrustes_recovers_a_rotated_scaled_shifted_frame():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(100, 2))
    rot = _orthogonal(2, rng)
    frame = 2.5 * (ref - ref.mean(0)) @ rot + np.array([3.0, -1.0])
    np.testing.assert_allclose(procrustes_align(frame, ref), ref, atol=1e-10)
    unscaled = procrustes_align(frame, ref, scale=False)
    np.testing.assert_allclose(unscaled - ref.mean(0), 2.5 * (ref - ref.mean(0)), atol=1e-10)


def test_pca_frames_of_equivalent_features_coincide(digits, digits_mlp):
    (feats,) = model_features([digits_mlp], digits.x_test[:200])
    rng = np.random.default_rng(5)
    turned = 2.0 * feats.astype(np.float64) @ _orthogonal(feats.shape[1], rng)
    frames = pca_frame([feats, feats, turned])
    assert all(f.shape == (200, 2) for f in frames)
    np.testing.assert_allclose(frames[1], frames[0], atol=1e-5)
    np.testing.assert_allclose(frames[2], frames[0], atol=1e-3 * np.abs(frames[0]).max())
    moved = displacement(frames)
    assert moved[0].max() == 0.0 and moved[1].max() < 1e-4


def test_displacement_and_shift_summary():
    base = np.zeros((4, 2))
    shifted = base + np.array([3.0, 4.0])
    d = displacement([base, shifted])
    np.testing.assert_array_equal(d[0], 0.0)
    np.testing.assert_allclose(d[1], 5.0)
    with pytest.raises(ValueError, match="frame shapes differ"):
        displacement([base, np.zeros((3, 2))])
    disp = np.array([1.0, 2.0, 3.0, 10.0, np.nan])
    mask = np.array([False, False, False, True, False])
    s = shift_summary(disp, mask)
    assert s["forget_mean"] == 10.0 and s["n_forget"] == 1 and s["n_retain"] == 4
    assert s["retain_mean"] == 2.0 and s["retain_median"] == 2.0  # the NaN row is ignored
    assert shift_summary(disp, np.array([3])) == s  # an index array works the same


def test_attribution_grid_reports_batches_and_batching_changes_nothing(digits, digits_mlp):
    x, y = digits.x_train[:10], digits.y_train[:10]
    models = {"a": digits_mlp, "b": digits_mlp}
    seen: list[tuple[float, str]] = []
    got = attribution_grid(
        models, x, y, ("saliency", "integrated_gradients"), batch_size=4,
        progress=lambda f, m: seen.append((f, m)),
    )  # fmt: skip
    whole = attribution_grid(models, x, y, ("saliency", "integrated_gradients"), batch_size=100)
    for method in ("saliency", "integrated_gradients"):
        np.testing.assert_allclose(got["maps"][method]["a"], whole["maps"][method]["a"], atol=1e-6)
        assert got["maps"][method]["a"].shape == (10, *digits.input_shape)
    fractions = [f for f, _ in seen]
    assert len(seen) == 2 * 2 * 3  # methods x models x batches of 4, 4, 2
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert seen[0][1] == "Saliency · a · samples 4 of 10"


def test_draw_sample_is_stratified_seeded_and_whole_when_small():
    from unlearn_core.analysis.sampling import draw_sample

    labels = np.repeat(np.arange(10), [30000, *[2000] * 8, 4000])  # 50 000, unbalanced
    ids = draw_sample(labels, 5000)
    assert len(ids) == 5000 and len(np.unique(ids)) == 5000 and np.all(np.diff(ids) > 0)
    share = np.bincount(labels[ids], minlength=10) / 5000
    np.testing.assert_allclose(share, np.bincount(labels) / len(labels), atol=1e-3)
    np.testing.assert_array_equal(ids, draw_sample(labels, 5000))
    assert not np.array_equal(ids, draw_sample(labels, 5000, seed=1))
    np.testing.assert_array_equal(draw_sample(labels[:300], 5000), np.arange(300))
    with pytest.raises(ValueError, match="at least 1"):
        draw_sample(labels, 0)


def test_training_scatter_draws_points_as_they_are_and_images_by_pca(digits, digits_mlp):
    from unlearn_core.analysis.embeddings import model_features, pca_frame
    from unlearn_core.analysis.sampling import training_scatter

    ids, xy, axes = training_scatter(digits, digits_mlp, max_points=200)
    assert len(ids) == 200 and xy.shape == (200, 2) and axes[0].startswith("PC 1")
    (expected,) = pca_frame(model_features([digits_mlp], digits.x_train[ids]))
    np.testing.assert_allclose(xy, expected, atol=1e-5)
    moons = load_dataset("moons", n_train=100, n_test=20)
    ids, xy, axes = training_scatter(moons, None)
    assert axes == ("x₁", "x₂") and np.array_equal(xy, moons.x_train.numpy()[ids])

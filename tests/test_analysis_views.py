"""What a comparison's detail views compute (``unlearn_core.analysis.views``): the models in
focus, the embedding's samples and frame, the shift of each model, layer similarity and
decision regions, on made-up features and small untrained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn_core.analysis.views import (
    EMBED_MAX,
    decision_regions,
    displacements,
    embedding_sample,
    embedding_view,
    in_focus,
    layer_similarity,
    shift_rows,
)
from unlearn_core.models import build_model, clone_model


def test_the_models_in_focus_are_original_method_and_retrain_in_that_order():
    assert in_focus(["ssd", "retrain", "original", "finetune"], "ssd") == [
        "original",
        "ssd",
        "retrain",
    ]
    assert in_focus({"original": 1, "ssd": 2}, "ssd") == ["original", "ssd"]
    assert in_focus(["original", "retrain"], "retrain") == ["original", "retrain"]


def test_the_embedding_sample_keeps_every_forget_sample_and_is_the_same_each_time():
    forget = np.arange(100, 160)
    ids = embedding_sample(5000, forget)
    assert len(ids) == EMBED_MAX and set(forget) <= set(ids)
    assert np.all(np.diff(ids) > 0)  # sorted, no repeats
    assert np.array_equal(ids, embedding_sample(5000, forget))
    assert np.array_equal(embedding_sample(300, forget), np.arange(300))  # all fit
    many = np.arange(2000)
    assert np.array_equal(embedding_sample(5000, many, max_samples=50), many)


def test_the_embedding_view_marks_the_forget_samples_and_aligns_its_frames():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 6)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    ids = np.arange(10, 50)
    view = embedding_view(
        {"original": base, "ssd": base @ q.astype(np.float32)}, ids, ids % 3, [10, 11, 12]
    )
    assert view.names == ["original", "ssd"] and view.n_forget == 3
    assert view.is_forget.tolist()[:4] == [True, True, True, False]
    assert len(view.pca) == 2 and view.pca[0].shape == (40, 2)
    assert np.allclose(view.pca[0], view.pca[1], atol=1e-4)  # a rotation: the same frame


def test_each_models_shift_is_measured_on_its_own():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 5))
    moved = base.copy()
    moved[:10] += rng.normal(scale=3.0, size=(10, 5))  # the first 10 samples move
    feats = {"original": base, "same": base * 2.0, "moved": moved}
    out = displacements(feats)
    assert list(out) == ["same", "moved"]
    assert np.allclose(out["same"], 0.0, atol=1e-6)  # a rescaled copy did not move
    alone = displacements({"original": base, "moved": moved})
    assert np.allclose(alone["moved"], out["moved"])  # independent of the other models
    is_forget = np.zeros(60, dtype=bool)
    is_forget[:10] = True
    rows = {r["model"]: r for r in shift_rows(out, is_forget)}
    assert rows["moved"]["forget_mean"] > rows["moved"]["retain_mean"]
    assert rows["moved"]["n_forget"] == 10 and rows["moved"]["n_retain"] == 50
    assert displacements({"original": base}) == {}


def test_layer_similarity_against_the_original_and_retrain():
    torch.manual_seed(0)
    orig = build_model("mlp", (8,), 3)
    models = {"original": orig, "ssd": clone_model(orig), "retrain": build_model("mlp", (8,), 3)}
    x = torch.randn(64, 8)
    cka = layer_similarity(models, "ssd", x)
    assert list(cka) == ["vs original", "vs retrain"]
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in cka["vs original"].values())
    assert list(layer_similarity(models, "retrain", x)) == ["vs original"]


def test_decision_regions_of_the_models_in_focus():
    torch.manual_seed(0)
    models = {n: build_model("mlp", (2,), 2) for n in ("original", "ssd", "finetune")}
    grids = decision_regions(models, "ssd", np.random.default_rng(0).normal(size=(30, 2)))
    assert list(grids) == ["original", "ssd"]
    assert grids["ssd"]["pred"].shape == (len(grids["ssd"]["ys"]), len(grids["ssd"]["xs"]))

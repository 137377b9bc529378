"""What a comparison's detail views compute from its models: the models a view is about, the
samples an embedding draws, the embedding's inputs and PCA frame, how far each model moved
the samples, the layer similarities and the decision regions. Pure functions over models and
arrays (the Compare page caches and draws them); no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .embeddings import displacement, pca_frame, shift_summary

#: the most training samples an embedding view draws (forget samples always included)
EMBED_MAX = 1500
#: the model every view starts from and the model a view measures against
ORIGINAL, REFERENCE = "original", "retrain"


def in_focus(names: Sequence[str] | Mapping[str, object], method: str) -> list[str]:
    """Of ``names``, the original, ``method`` and the retrained reference, in that order."""
    return [n for n in dict.fromkeys((ORIGINAL, method, REFERENCE)) if n in names]


def embedding_sample(
    n_train: int, forget_idx: Sequence[int] | np.ndarray, max_samples: int = EMBED_MAX,
    seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """The training samples an embedding view draws, sorted: every forget sample, then a
    seeded draw of the others up to ``max_samples`` (the same for every method)."""
    forget = np.asarray(forget_idx, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(n_train), forget)
    room = max(max_samples - len(forget), 0)
    keep = rest if len(rest) <= room else rng.choice(rest, room, replace=False)
    return np.sort(np.concatenate([forget, keep]))


@dataclass
class EmbeddingView:
    """One method's embedding view: the samples, their labels and forget mask, the features
    of each model in focus (original, method, retrain) and their common PCA frame."""

    ids: np.ndarray
    names: list[str]
    labels: np.ndarray
    is_forget: np.ndarray
    features: list[np.ndarray]
    pca: list[np.ndarray]

    @property
    def n_forget(self) -> int:
        return int(self.is_forget.sum())


def embedding_view(
    features: Mapping[str, np.ndarray], ids: np.ndarray, labels: np.ndarray,
    forget_idx: Sequence[int] | np.ndarray,
) -> EmbeddingView:  # fmt: skip
    """The view of ``features`` (model name -> penultimate features of samples ``ids``, in
    the order drawn, the first the frame's reference); ``labels`` are the samples' classes."""
    names = list(features)
    feats = [features[n] for n in names]
    return EmbeddingView(
        ids=np.asarray(ids),
        names=names,
        labels=np.asarray(labels),
        is_forget=np.isin(ids, np.asarray(forget_idx)),
        features=feats,
        pca=pca_frame(feats),
    )


def displacements(features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each model's per-sample distance from where the first model (the original) put the
    sample, every model measured on its own: its PCA frame rotated onto the first's, so a
    model's row never depends on which other models are measured. Not the first itself."""
    names = list(features)
    if len(names) < 2:
        return {}
    frames = pca_frame([features[n] for n in names])  # frame i: model i and the first only
    return dict(zip(names[1:], displacement(frames)[1:], strict=True))


def shift_rows(moved: Mapping[str, np.ndarray], is_forget: np.ndarray) -> list[dict]:
    """One row per model: mean and median shift of the forget and the retained samples."""
    return [{"model": n, **shift_summary(d, is_forget)} for n, d in moved.items()]


def layer_similarity(
    models: Mapping[str, nn.Module], method: str, x: torch.Tensor | np.ndarray
) -> dict[str, dict[str, float]]:
    """Linear CKA per layer of ``method``'s model against the original's ("vs original") and
    the retrained model's ("vs retrain", when there is one); ``ValueError`` where the models'
    layers cannot be compared."""
    from .similarity import layerwise_cka

    out = {f"vs {ORIGINAL}": layerwise_cka(models[method], models[ORIGINAL], x)}
    if REFERENCE in models and method != REFERENCE:
        out[f"vs {REFERENCE}"] = layerwise_cka(models[method], models[REFERENCE], x)
    return out


def decision_regions(
    models: Mapping[str, nn.Module], method: str, points: torch.Tensor | np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """The predicted class over the plane of each model in focus (models of 2-D points)."""
    from .boundary import decision_grid

    return {n: decision_grid(models[n], points) for n in in_focus(models, method)}

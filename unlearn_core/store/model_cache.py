"""On-disk store of trained models, keyed by the settings that produced them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..data import Dataset
from ..models import UnlearnModel
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint


def default_root() -> Path:
    return Path(os.environ.get("UNLEARN_CACHE", Path.cwd() / ".unlearn_cache"))


def settings_key(**settings) -> str:
    """A short stable hash of JSON-able settings."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ModelStore:
    """Trained models on disk as safetensors checkpoints named by their settings' hash."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, key: str) -> Path:
        return self.root / "models" / key

    def get(
        self, key: str, dataset: Dataset, device: torch.device | str = "cpu"
    ) -> tuple[UnlearnModel, dict] | None:
        """The stored model for ``key``, or None if absent or unreadable."""
        if not self.path(key).with_suffix(".json").exists():
            return None
        try:
            return load_checkpoint(self.path(key), dataset=dataset, device=device)
        except CheckpointError:
            return None

    def put(self, key: str, model: UnlearnModel, dataset: Dataset, meta: dict) -> Path:
        return save_checkpoint(model, self.path(key), dataset, extra=meta)

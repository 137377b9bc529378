"""Content fingerprint of a dataset: the same tensors and class names give the same id,
whatever the dataset is called, so a stored run is never reopened against other data."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..data import Dataset

_PARTS = ("x_train", "y_train", "x_test", "y_test")
_VAL_PARTS = ("x_val", "y_val")


def dataset_fingerprint(data: Dataset) -> str:
    """A 24-hex-digit SHA-256 of the train/validation/test tensors (dtype, shape, bytes) and
    class names (a dataset without a validation split hashes as before the split existed)."""
    h = hashlib.sha256(b"unlearning-lab dataset v1\0")
    for part in _PARTS + (_VAL_PARTS if data.n_val else ()):
        t = getattr(data, part).detach().cpu().contiguous()
        h.update(f"{part}:{t.dtype}:{tuple(t.shape)}\0".encode())
        h.update(t.numpy().reshape(-1).view(np.uint8))
    h.update(json.dumps([str(c) for c in data.classes]).encode())
    return h.hexdigest()[:24]


def dataset_setup(data: Dataset, fingerprint: str | None = None) -> dict:
    """What a record says about its data: name, fingerprint, kind, sizes, shape, classes."""
    return {
        "name": data.name,
        "fingerprint": fingerprint or dataset_fingerprint(data),
        "kind": data.kind,
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
        "input_shape": list(data.input_shape),
        "classes": [str(c) for c in data.classes],
    }

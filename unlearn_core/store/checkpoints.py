"""Checkpoints: weights in safetensors plus a JSON sidecar describing model and dataset.

Nothing is unpickled: a checkpoint is plain tensors and plain JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..data import Dataset
from ..models import ModelError, UnlearnModel, build_model


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or belongs to another architecture or dataset."""


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    base = p.with_suffix("") if p.suffix in {".safetensors", ".json"} else p
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def save_checkpoint(
    model: UnlearnModel, path: str | Path, dataset: Dataset, extra: dict | None = None
) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json``; return the weights path."""
    weights, sidecar = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    seen: set[int] = set()
    for k, v in state.items():  # tied weights (tinylm's head is its embedding): a copy each
        if v.data_ptr() in seen:
            state[k] = v.clone()
        seen.add(v.data_ptr())
    save_file(state, str(weights))
    meta = {
        "format": "unlearning-lab/1",
        "model": model.spec,
        "dataset": {
            "name": dataset.name,
            "input_shape": list(dataset.input_shape),
            "classes": list(dataset.classes),
        },
        **(extra or {}),
    }
    sidecar.write_text(json.dumps(meta, indent=2))
    return weights


def read_meta(path: str | Path) -> dict:
    """The JSON sidecar of a checkpoint."""
    _, sidecar = _paths(path)
    if not sidecar.exists():
        raise CheckpointError(f"{sidecar}: missing checkpoint description (JSON sidecar)")
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or "model" not in meta or "dataset" not in meta:
        raise CheckpointError(f"{sidecar}: not an unlearning-lab checkpoint description")
    return meta


def load_checkpoint(
    path: str | Path,
    dataset: Dataset | None = None,
    arch: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[UnlearnModel, dict]:
    """Rebuild the model and load its weights; check it fits ``dataset`` and ``arch`` if given."""
    weights, _ = _paths(path)
    meta = read_meta(path)
    spec, ds = meta["model"], meta["dataset"]
    if arch is not None and spec.get("arch") != arch:
        raise CheckpointError(
            f"{weights.name}: checkpoint is a {spec.get('arch')!r} model, not {arch!r}"
        )
    if dataset is not None:
        if list(ds.get("input_shape", [])) != list(dataset.input_shape):
            raise CheckpointError(
                f"{weights.name}: checkpoint expects inputs of shape {ds.get('input_shape')}, "
                f"dataset {dataset.name!r} has {list(dataset.input_shape)}"
            )
        # the model's outputs (a text model's are its vocabulary, not the people named)
        n_out = spec.get("num_classes", len(ds.get("classes", [])))
        if n_out != dataset.num_classes:
            raise CheckpointError(
                f"{weights.name}: checkpoint has {n_out} classes, "
                f"dataset {dataset.name!r} has {dataset.num_classes}"
            )
    if not weights.exists():
        raise CheckpointError(f"{weights}: missing weights file")
    try:
        model = build_model(
            spec["arch"], tuple(spec["input_shape"]), spec["num_classes"], **spec.get("kwargs", {})
        )
    except (ModelError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{weights.name}: cannot rebuild the model ({exc})") from exc
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name}: not a readable safetensors file ({exc})") from exc
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            s
            for s in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {unexpected[:3]}" if unexpected else "",
                f"shape differs for {wrong[:3]}" if wrong else "",
            )
            if s
        )
        raise CheckpointError(
            f"{weights.name}: weights do not fit a {spec['arch']} model ({detail})"
        )
    model.load_state_dict(state)
    return model.to(device).eval(), meta

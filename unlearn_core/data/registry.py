"""Named data sources and file formats, each a small function registered by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .dataset import DataError, Dataset

SOURCES: dict[str, Callable[..., Dataset]] = {}
FORMATS: dict[str, Callable[..., Dataset]] = {}


def source(name: str):
    """Register a built-in dataset builder under ``name``."""

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        SOURCES[name] = fn
        return fn

    return deco


def file_format(name: str):
    """Register a file loader ``fn(path, **kw) -> Dataset`` under ``name``."""

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        FORMATS[name] = fn
        return fn

    return deco


def list_datasets() -> list[str]:
    return list(SOURCES)


#: the share of each class's training samples held out as the validation split
VAL_FRACTION = 0.1


def load_dataset(
    name: str, *, val_fraction: float = VAL_FRACTION, val_seed: int | None = None, **kwargs
) -> Dataset:
    """Build a built-in dataset by name (``digits``, ``moons``, ``blobs``, ``shapes``), with a
    validation split of ``val_fraction`` carved from its training data (seeded by ``val_seed``,
    by default the source's ``seed``: one seed draws the whole train / validation / test split)."""
    if name not in SOURCES:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    data = SOURCES[name](**kwargs)
    return data.with_validation(val_fraction, _val_seed(val_seed, kwargs))


def load_file(
    path: str | Path,
    fmt: str,
    *,
    val_fraction: float = VAL_FRACTION,
    val_seed: int | None = None,
    **kwargs,
) -> Dataset:
    """Load a user's file or folder in one of the registered formats; a validation split as in
    :func:`load_dataset` unless the file brings its own."""
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    data = FORMATS[fmt](p, **kwargs)
    return data.with_validation(val_fraction, _val_seed(val_seed, kwargs))


def _val_seed(val_seed: int | None, kwargs: dict) -> int:
    return int(val_seed if val_seed is not None else kwargs.get("seed", 0))

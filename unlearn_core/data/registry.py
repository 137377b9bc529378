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


def load_dataset(name: str, **kwargs) -> Dataset:
    """Build a built-in dataset by name (``digits``, ``moons``, ``blobs``, ``shapes``)."""
    if name not in SOURCES:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[name](**kwargs)


def load_file(path: str | Path, fmt: str, **kwargs) -> Dataset:
    """Load a user's file or folder in one of the registered formats."""
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    return FORMATS[fmt](p, **kwargs)

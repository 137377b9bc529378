"""Datasets: one ``Dataset`` type, built-in sources and file loaders registered by name."""

from . import builtin, loaders, synthetic  # noqa: F401  (register sources and formats)
from .dataset import SPLITS, DataError, Dataset
from .registry import FORMATS, SOURCES, VAL_FRACTION, list_datasets, load_dataset, load_file

__all__ = [
    "DataError",
    "Dataset",
    "FORMATS",
    "SPLITS",
    "VAL_FRACTION",
    "SOURCES",
    "list_datasets",
    "load_dataset",
    "load_file",
]

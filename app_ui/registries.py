"""The server's caches and the session's pointers into them: jobs, trained models,
comparisons (one seed's view and several seeds'), audits, sweeps, UMAP frames, attribution
grids, the model store and loaded datasets (``st.cache_resource``), and the accessors
that read them through the session's small keys. Below the other app modules: of them it
imports only ``app_ui.state`` and ``app_ui.text``."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app_ui.state import ARCH, DATASET, MODEL_KEY, RECIPE, TRAIN_SEED
from app_ui.text import clause, scrub_paths
from unlearn_core.audit.records import AuditResult
from unlearn_core.audit.sweep import SweepResult
from unlearn_core.data import DataError, Dataset, load_dataset, load_file
from unlearn_core.experiment import Comparison, MultiComparison
from unlearn_core.runtime.jobs import Job
from unlearn_core.store.model_cache import ModelStore, settings_key

# ---------------------------------------------------------------- bounded, shared caches
#: settings (environment variables) of how many entries each server-wide cache keeps
CACHE_SIZES = {
    "models": ("UNLEARN_CACHE_MODELS", 16),
    "embeddings": ("UNLEARN_CACHE_EMBEDDINGS", 32),
    "attributions": ("UNLEARN_CACHE_ATTRIBUTIONS", 32),
}


def cache_size(kind: str) -> int:
    """How many entries the server keeps of ``kind`` ("models", "embeddings",
    "attributions"): its environment variable (:data:`CACHE_SIZES`), else the default."""
    env, default = CACHE_SIZES[kind]
    try:
        return max(1, int(os.environ.get(env, "")))
    except ValueError:
        return default


class SharedCache(MutableMapping):
    """A server-wide cache that every session reads: at most ``size`` entries, the least
    recently used dropped first; a value is put in whole (never filled in afterwards) and
    :meth:`get_or_build` builds a missing one once, under a per-key lock, while the other
    sessions asking for it wait for that one build."""

    def __init__(self, kind: str, size: int | None = None):
        self.kind = kind
        self.size = size if size is not None else cache_size(kind)
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.RLock()
        self._building: dict[Hashable, threading.Lock] = {}

    def __getitem__(self, key):
        with self._lock:
            value = self._data[key]
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __delitem__(self, key) -> None:
        with self._lock:
            del self._data[key]

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def __iter__(self) -> Iterator:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get_or_build(self, key: Hashable, build: Callable[[], Any]):
        """The value of ``key``, built by ``build()`` (outside the cache's lock, once per key
        across sessions) when it is missing."""
        try:
            return self[key]
        except KeyError:
            pass
        with self._lock:
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            try:
                return self[key]
            except KeyError:
                value = build()
                self[key] = value
                return value
            finally:
                with self._lock:
                    self._building.pop(key, None)


class _Once:
    """A value computed once, under a lock (for a frozen record's derived fields)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = None

    def get(self, build: Callable[[], Any]):
        with self._lock:
            if self._value is None:
                self._value = build()
            return self._value


@dataclass(frozen=True, eq=False)
class ModelEntry:
    """A trained model as every session sees it: made whole by whoever trained or loaded it,
    and never changed afterwards (a new model is a new entry). Its report (train accuracy,
    per-class test accuracy) is computed once, on first use, under a lock. Reads by name
    (``entry["test_acc"]``) still work; writes do not."""

    model: Any
    recipe: Any
    history: Mapping = field(default_factory=dict)
    test_acc: float = float("nan")
    source: str = ""
    #: its id in the run store, when it is stored
    model_id: str | None = None
    _report: _Once = field(default_factory=_Once, repr=False)

    def __getitem__(self, name: str):
        if name.startswith("_") or name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def report(self, data: Dataset):
        """The model's :class:`~unlearn_core.training.ModelReport` on ``data`` (its own
        dataset), computed once for all sessions."""
        from unlearn_core.training import model_report

        return self._report.get(lambda: model_report(self.model, data))


@st.cache_resource
def job_registry() -> dict[str, Job]:
    """job id -> the server's background jobs (``app_ui.jobs`` starts them)."""
    return {}


@dataclass
class JobRecord:
    """What a job is: its kind (``app_ui.jobs.KINDS``), what it was started with, and the
    tag any session finds it by (or None)."""

    kind: str
    context: dict = field(default_factory=dict)
    tag: Hashable | None = None


@st.cache_resource
def job_records() -> dict[str, JobRecord]:
    """job id -> its :class:`JobRecord`."""
    return {}


@st.cache_resource
def model_registry() -> SharedCache:
    """model key -> its :class:`ModelEntry` (at most ``$UNLEARN_CACHE_MODELS``, the least
    recently used dropped first; the disk cache and the run store keep them)."""
    return SharedCache("models")


@st.cache_resource
def comparison_registry() -> dict[str, Comparison]:
    return {}


@st.cache_resource
def multi_registry() -> dict[str, MultiComparison]:
    """comparison id -> its several-seed result (the pages draw ``comparison_registry()``'s
    first-seed view; tables read this one for mean ± std)."""
    return {}


@st.cache_resource
def stored_runs() -> set[str]:
    """Comparison ids known to be in the run store (others are test or legacy entries)."""
    return set()


@dataclass
class ShownAudit:
    """An audit as the Audit page shows it: the record, its dataset and the dataset's spec."""

    result: AuditResult
    data: Dataset
    spec: dict
    stored: bool = True


@st.cache_resource
def audit_registry() -> dict[str, ShownAudit]:
    """audit id -> the audit (finished jobs and audits reopened from the run store)."""
    return {}


@dataclass
class ShownSweep:
    """A sweep as the Audit page shows it, and whether the run store holds it."""

    result: SweepResult
    stored: bool = True


@st.cache_resource
def sweep_registry() -> dict[str, ShownSweep]:
    """sweep id -> the sweep (finished jobs and sweeps reopened from the run store)."""
    return {}


@st.cache_resource
def umap_frames() -> SharedCache:
    """(comparison id, method) -> {"frames", "ids"} of a finished aligned-UMAP projection
    (at most ``$UNLEARN_CACHE_EMBEDDINGS``, the least recently used dropped first)."""
    return SharedCache("embeddings")


@st.cache_resource
def attribution_grids() -> SharedCache:
    """(comparison id, method, sample ids) -> finished attribution grids (at most
    ``$UNLEARN_CACHE_ATTRIBUTIONS``, the least recently used dropped first)."""
    return SharedCache("attributions")


#: attribution grids the server keeps (the cache drops the least recently used beyond it)
ATTRIBUTIONS_KEPT = cache_size("attributions")


def memory_status() -> dict:
    """What the server holds, for a status line: ``rss_mb`` (the process's resident memory,
    MiB; None where it cannot be read) and, per bounded cache, ``(entries, size)``."""
    return {
        "rss_mb": _rss_mb(),
        "caches": {
            "models": (len(model_registry()), model_registry().size),
            "embeddings": (len(umap_frames()), umap_frames().size),
            "attributions": (len(attribution_grids()), attribution_grids().size),
        },
    }


def memory_line() -> str:
    """:func:`memory_status` in words: "Memory 812 MB · models 3/16 · embeddings 0/32 · ..."."""
    got = memory_status()
    rss = f"Memory {got['rss_mb']:.0f} MB" if got["rss_mb"] is not None else "Memory unknown"
    return " · ".join([rss, *(f"{k} {n}/{m}" for k, (n, m) in got["caches"].items())])


def _rss_mb() -> float | None:
    try:  # Linux: resident pages of this process
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak, not current
        return peak / 1024 if os.uname().sysname != "Darwin" else peak / 2**20
    except (ImportError, OSError, AttributeError):
        return None


@st.cache_resource
def model_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(max_entries=6, show_spinner="Loading the dataset…")
def _dataset(spec_json: str) -> Dataset:
    spec = json.loads(spec_json)
    if spec["name"] == "facts" or spec.get("format") == "jsonl":  # the text track
        from unlearn_core.text import facts_dataset, load_jsonl, text_dataset

        if spec["name"] == "facts":
            return facts_dataset(**spec.get("params", {}))
        return text_dataset(load_jsonl(spec["path"], name=spec.get("label") or None))
    if spec["name"] == "file":
        return load_file(spec["path"], spec["format"], **spec.get("kwargs", {}))
    return load_dataset(spec["name"], **spec.get("params", {}))


@st.cache_resource(max_entries=4, show_spinner="Projecting the training set…")
def training_coords(key: str, spec_json: str):
    """The Forget set page's scatter (ids, 2-D coordinates, axis titles; the library's
    ``training_scatter``) of the dataset ``spec_json`` under model ``key``, cached by both."""
    from unlearn_core.analysis.sampling import training_scatter

    return training_scatter(load_spec(json.loads(spec_json)), model_registry()[key]["model"])


def dataset_spec() -> dict:
    return DATASET.get()


def current_dataset() -> Dataset | None:
    """The chosen dataset, or None (with an error shown) if it cannot be loaded."""
    try:
        return _dataset(json.dumps(dataset_spec(), sort_keys=True))
    except DataError as exc:
        st.error(f"Cannot load the dataset: {clause(scrub_paths(str(exc)))}.")
        return None


def current_dataset_quiet() -> Dataset | None:
    """The chosen dataset, or None when it cannot be loaded (nothing shown)."""
    try:
        return _dataset(json.dumps(dataset_spec(), sort_keys=True))
    except DataError:
        return None


def load_spec(spec: dict) -> Dataset:
    """The (cached) dataset of ``spec``; raises ``DataError`` if it cannot be loaded."""
    return _dataset(json.dumps(spec, sort_keys=True))


# ---------------------------------------------------------------- models
def model_key(spec: dict | None = None) -> str:
    return settings_key(
        dataset=spec or dataset_spec(), arch=ARCH.get(), recipe=RECIPE.get(), seed=TRAIN_SEED.get()
    )


def current_model() -> ModelEntry | None:
    """The trained model entry for the current settings, if any (one dropped from memory
    comes back from the disk cache when it is there)."""
    key = MODEL_KEY.get()
    if not key:
        return None
    reg = model_registry()
    got = reg.get(key)
    if got is not None:
        return got
    data = current_dataset_quiet()
    return cached_model_entry(key, data) if data is not None else None


def cached_model_entry(key: str, data: Dataset) -> ModelEntry | None:
    """The model of ``key`` from memory, else from the disk cache (put in memory once, whole,
    while other sessions asking for it wait), else None."""
    reg = model_registry()
    got = reg.get(key)
    if got is not None:
        return got

    def load() -> ModelEntry | None:
        from unlearn_core.training import TrainConfig, evaluate

        found = model_store().get(key, data)
        if found is None:
            return None
        model, meta = found
        return ModelEntry(
            model=model,
            recipe=TrainConfig.from_dict(meta.get("train_config") or RECIPE.get()),
            history=meta.get("history", {}),
            test_acc=meta.get("test_acc") or evaluate(model, data.x_test, data.y_test),
            source="disk cache",
        )

    try:
        return reg.get_or_build(key, _not_none(load))
    except _Missing:
        return None


class _Missing(Exception):
    pass


def _not_none(build: Callable[[], Any]) -> Callable[[], Any]:
    def run():
        value = build()
        if value is None:
            raise _Missing
        return value

    return run

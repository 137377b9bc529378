"""The server's caches and the session's pointers into them: jobs, trained models,
comparisons (one seed's view and several seeds'), audits, sweeps, UMAP frames, attribution
grids, the model store and loaded datasets (``st.cache_resource``), and the accessors
that read them through the session's small keys. Below the other app modules: of them it
imports only ``app_ui.state`` and ``app_ui.text``."""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass, field

import streamlit as st

from app_ui.state import ARCH, DATASET, MODEL_KEY, RECIPE, TRAIN_SEED
from app_ui.text import clause, scrub_paths
from unlearn_core.audit.records import AuditResult
from unlearn_core.audit.sweep import SweepResult
from unlearn_core.data import DataError, Dataset, load_dataset, load_file
from unlearn_core.experiment import Comparison, MultiComparison
from unlearn_core.runtime.jobs import Job
from unlearn_core.store.model_cache import ModelStore, settings_key


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
def model_registry() -> dict[str, dict]:
    """model key -> {"model", "recipe", "history", "test_acc", "source"}"""
    return {}


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
def umap_frames() -> dict[tuple[str, str], dict]:
    """(comparison id, method) -> {"frames", "ids"} of a finished aligned-UMAP projection."""
    return {}


@st.cache_resource
def attribution_grids() -> dict[tuple, dict]:
    """(comparison id, method, sample ids) -> finished attribution grids (at most
    :data:`ATTRIBUTIONS_KEPT`, the oldest dropped first)."""
    return {}


#: attribution grids the server keeps
ATTRIBUTIONS_KEPT = 32


@st.cache_resource
def model_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(max_entries=6, show_spinner="Loading the dataset…")
def _dataset(spec_json: str) -> Dataset:
    spec = json.loads(spec_json)
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


def current_model() -> dict | None:
    """The trained model entry for the current settings, if any."""
    key = MODEL_KEY.get()
    return model_registry().get(key) if key else None

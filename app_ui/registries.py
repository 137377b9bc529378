"""The server's caches and the session's pointers into them: jobs, trained models,
comparisons, the model store and loaded datasets (``st.cache_resource``), and the accessors
that read them through the session's small keys. Below the other app modules: of them it
imports only ``app_ui.state`` and ``app_ui.text``."""

from __future__ import annotations

import json

import streamlit as st

from app_ui.state import ARCH, DATASET, JOBS, MODEL_KEY, RECIPE, TRAIN_SEED
from app_ui.text import clause, scrub_paths
from unlearn_core.data import DataError, Dataset, load_dataset, load_file
from unlearn_core.experiment import Comparison
from unlearn_core.runtime.jobs import Job
from unlearn_core.store.model_cache import ModelStore, settings_key


@st.cache_resource
def job_registry() -> dict[str, Job]:
    return {}


@st.cache_resource
def model_registry() -> dict[str, dict]:
    """model key -> {"model", "recipe", "history", "test_acc", "source"}"""
    return {}


@st.cache_resource
def comparison_registry() -> dict[str, Comparison]:
    return {}


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


# ---------------------------------------------------------------- jobs
def remember_job(purpose: str, job: Job) -> Job:
    job_registry()[job.id] = job
    JOBS.setdefault()[purpose] = job.id
    return job


def job_for(purpose: str) -> Job | None:
    jid = JOBS.get().get(purpose)
    return job_registry().get(jid) if jid else None


#: seconds between the progress fragments' polls of a running job. Each poll re-renders the
#: progress in the browser; at 0.5 s, with the browser on the same 2 cores, training the
#: digits MLP took 13 s instead of 4 s.
POLL_S = 1.0

"""The run store: where trained models, forget requests and comparisons last.

``RunStore(home)`` keeps an SQLite index plus safetensors/JSON files under one folder
(``./runs``, ``$UNLEARN_HOME`` or ``home``); records are typed dataclasses; a dataset is
identified by a content fingerprint, so a run is never reopened against other data.
``checkpoints`` reads and writes one model (safetensors + JSON sidecar); ``model_cache`` keeps
trained models keyed by the settings that produced them; ``ensembles`` keeps the audit's
ensemble members (originals, retrains, unlearned models) for later audits to reuse.
"""

from .ensembles import EnsembleKey, EnsembleStore
from .errors import (
    CorruptRunError,
    DatasetMismatchError,
    RunStoreError,
    SchemaVersionError,
    UnknownRunError,
)
from .fingerprint import dataset_fingerprint, dataset_setup
from .records import (
    SCHEMA_VERSION,
    ComparisonRecord,
    ForgetRecord,
    ModelRecord,
    headline_rows,
    software_versions,
)
from .run_store import INDEX_VERSION, RunStore, default_home, new_id

__all__ = [
    "INDEX_VERSION",
    "SCHEMA_VERSION",
    "ComparisonRecord",
    "CorruptRunError",
    "DatasetMismatchError",
    "EnsembleKey",
    "EnsembleStore",
    "ForgetRecord",
    "ModelRecord",
    "RunStore",
    "RunStoreError",
    "SchemaVersionError",
    "UnknownRunError",
    "dataset_fingerprint",
    "dataset_setup",
    "default_home",
    "headline_rows",
    "new_id",
    "software_versions",
]

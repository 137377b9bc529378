"""Typed records of the run store and the JSON documents they are read from.

A comparison is stored as one JSON document (layout in :func:`comparison_document`); the index
keeps its :class:`ComparisonRecord` (the headline: dataset, model, forget set, methods, seeds,
per-method numbers) so that listing runs reads no files. Every document carries a
``schema_version``; :func:`migrate_comparison` brings an older one up to date or refuses it.
"""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata

from ..evaluation.tables import ROW_KEYS
from .errors import RunStoreError, SchemaVersionError

#: version of the JSON documents written today
SCHEMA_VERSION = 1
#: numbers copied into a record's headline rows, when present
HEADLINE_KEYS = ROW_KEYS
_RESULT_ATTRS = ("avg_gap", "seconds", "time_ratio")


def now() -> str:
    """The current UTC time, ISO 8601 to the second (sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def software_versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages a result depends on."""
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for dist, key in (("unlearning-lab", "unlearning_lab"), ("torch", "torch"), ("numpy", "numpy")):
        mod = sys.modules.get(key)
        ver = getattr(mod, "__version__", None) if mod is not None else None
        if ver is None:
            try:
                ver = metadata.version(dist)
            except metadata.PackageNotFoundError:
                ver = "unknown"
        out[key] = str(ver)
    return out


def jsonable(o: object) -> object:
    """``o`` as plain JSON values: tensors and arrays to lists, NaN/inf to None, tuples to lists."""
    if isinstance(o, Mapping):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple | set):
        return [jsonable(v) for v in o]
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if o is None or isinstance(o, str | int | bool):
        return o
    if hasattr(o, "tolist"):  # numpy arrays and scalars, torch tensors
        return jsonable(o.tolist())
    if hasattr(o, "to_dict"):
        return jsonable(o.to_dict())
    return str(o)


def _from_dict(cls, d: Mapping):
    """Build dataclass ``cls`` from ``d``, ignoring keys it does not know."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ModelRecord:
    """A trained (or unlearned) model: weights in ``models/<id>.safetensors``, this in the index
    and, with the model's architecture, in the JSON sidecar beside the weights."""

    id: str
    created: str
    arch: str
    dataset: str
    fingerprint: str
    name: str = ""
    role: str = "trained"  # trained | original | retrain | unlearned
    method: str | None = None
    comparison_id: str | None = None
    seed: int | None = None
    recipe: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    #: who stored it (``owners.current_owner()``; "" for older records and the CLI)
    owner: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelRecord:
        return _from_dict(cls, d)


@dataclass
class ForgetRecord:
    """A saved forget request (classes / indices / fraction) for one dataset."""

    id: str
    created: str
    dataset: str
    fingerprint: str
    description: str
    request: dict
    n_forget: int | None = None
    name: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ForgetRecord:
        return _from_dict(cls, d)


@dataclass
class ComparisonRecord:
    """The headline of a stored comparison; the full document is read on demand.

    ``rows`` are flat result rows (the original first, then retrain and the methods): the
    numbers of :data:`HEADLINE_KEYS` in percent (``<key>_std`` beside them for several seeds),
    ``error`` and ``damaged``. ``models`` maps a row's method to its stored model id.
    """

    id: str
    created: str
    dataset: str
    model: str
    forget: str
    methods: list[str]
    seeds: list[int]
    fingerprint: str | None = None
    device: str = ""
    note: str = ""
    kind: str = "comparison"  # comparison | multi_comparison
    rows: list[dict] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    #: who stored it (``owners.current_owner()``; "" for older records and the CLI)
    owner: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ComparisonRecord:
        return _from_dict(cls, d)

    def row(self, method: str) -> dict | None:
        return next((r for r in self.rows if r.get("method") == method), None)

    def closest(self) -> dict | None:
        """The method row closest to retrain (smallest average gap), if any was scored."""
        scored = [
            r
            for r in self.rows
            if r.get("method") not in ("original", "retrain")
            and not r.get("error")
            and isinstance(r.get("avg_gap"), int | float)
        ]
        return min(scored, key=lambda r: r["avg_gap"]) if scored else None


# ----------------------------------------------------------------------------- headline


def _scalar(v: object) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _row_from_result_dict(r: Mapping) -> dict:
    """A flat row from a result dict in any of the layouts the pipeline writes."""
    row: dict = {"method": str(r.get("method", "?"))}
    for k in ("label", "family"):
        if isinstance(r.get(k), str):
            row[k] = r[k]
    stats = r.get("stats")
    metrics = r.get("metrics")
    if isinstance(stats, Mapping):  # a multi-seed summary: {key: {mean, std, n}}
        for k, s in stats.items():
            if isinstance(s, Mapping):
                row[k] = s.get("mean")
                row[f"{k}_std"] = s.get("std")
        errors = r.get("errors") or []
        if isinstance(errors, Mapping):
            errors = [{"seed": s, "error": e} for s, e in errors.items()]
        msgs = [f"seed {e.get('seed')}: {e.get('error')}" for e in errors if isinstance(e, Mapping)]
        row["error"] = "; ".join(msgs) or None
        row["damaged"] = bool(r.get("damaged_seeds"))
    elif isinstance(metrics, Mapping):  # one seed's full result
        for k in HEADLINE_KEYS:
            v = r.get(k) if k in _RESULT_ATTRS else metrics.get(k)
            if k == "test_forgotten_acc" and v is None:
                v = metrics.get("test_forgotten_class_acc")  # the name before it was renamed
            row[k] = v
        row["error"] = r.get("error")
        row["damaged"] = "damaged" in (r.get("flags") or [])
    else:  # already a flat row
        row.update({k: v for k, v in r.items() if _scalar(v)})
    row.setdefault("error", None)
    return jsonable(row)  # type: ignore[return-value]


def _rows_from_object(obj: object) -> list[dict] | None:
    """Rows from a result object's own ``row()`` methods (``Comparison``, ``MultiComparison``)."""
    try:
        originals = [obj.original] if getattr(obj, "original", None) is not None else []  # type: ignore[attr-defined]
        results = list(obj.results)  # type: ignore[attr-defined]
        rows = []
        for r in [*originals, *results]:
            d = r.row()
            row = {k: v for k, v in d.items() if _scalar(v)}
            for k in ("label", "family"):
                if isinstance(getattr(r, k, None), str):
                    row.setdefault(k, getattr(r, k))
            row.setdefault("error", None)
            rows.append(jsonable(row))
        return rows
    except Exception:  # noqa: BLE001 - fall back to reading its dict
        return None


def headline_rows(body: Mapping) -> list[dict]:
    """Flat rows (original first) from a comparison's ``to_dict()`` (one seed or several)."""
    rows = []
    if isinstance(body.get("original"), Mapping):
        rows.append(_row_from_result_dict(body["original"]))
    results = body.get("results")
    if not isinstance(results, list):
        raise RunStoreError("not a comparison: it has no list of results")
    rows += [_row_from_result_dict(r) for r in results if isinstance(r, Mapping)]
    return rows


def _text(v: object, *keys: str) -> str:
    """A name from a value that may be a string or a dict holding it under one of ``keys``."""
    if isinstance(v, Mapping):
        for k in keys:
            if isinstance(v.get(k), str):
                return v[k]
        return ""
    return "" if v is None else str(v)


def seeds_of(body: Mapping) -> list[int]:
    """The seeds a comparison body ran with (``seeds``, its per-seed parts, or ``seed``)."""
    seeds = body.get("seeds")
    if isinstance(seeds, list) and seeds:
        return [int(s) for s in seeds if isinstance(s, int | float)]
    per = body.get("comparisons")
    if isinstance(per, list) and per:
        return [int(c["seed"]) for c in per if isinstance(c, Mapping) and "seed" in c]
    return [int(body["seed"])] if isinstance(body.get("seed"), int | float) else []


def comparison_body(comparison: object) -> tuple[dict, list[dict] | None]:
    """``(to_dict() as JSON values, rows from the object's own row() methods or None)``.

    Accepts an object with ``to_dict()`` (``Comparison``, ``MultiComparison``) or a plain dict.
    """
    if isinstance(comparison, Mapping):
        return jsonable(comparison), None  # type: ignore[return-value]
    to_dict = getattr(comparison, "to_dict", None)
    if not callable(to_dict):
        raise RunStoreError(
            f"cannot store a {type(comparison).__name__}: give a comparison (with to_dict()) "
            "or its dict"
        )
    body = jsonable(to_dict())
    if not isinstance(body, dict):
        raise RunStoreError(f"{type(comparison).__name__}.to_dict() did not return a dict")
    return body, _rows_from_object(comparison)


def comparison_record(
    body: Mapping,
    *,
    id: str,
    created: str,
    fingerprint: str | None,
    rows: list[dict] | None = None,
    models: Mapping[str, str] | None = None,
    note: str = "",
    owner: str = "",
) -> ComparisonRecord:
    """The headline of a comparison body (read defensively: missing fields stay empty)."""
    rows = rows if rows is not None else headline_rows(body)
    seeds = seeds_of(body)
    if len(seeds) <= 1:  # a spread over one seed is no spread: show plain numbers
        rows = [{k: v for k, v in r.items() if not k.endswith("_std")} for r in rows]
    forget = body.get("forget")
    return ComparisonRecord(
        id=id,
        created=created,
        dataset=_text(body.get("dataset"), "name"),
        model=_text(body.get("model"), "arch", "name"),
        forget=_text(forget, "description") or (_text(forget, "kind") if forget else ""),
        methods=[r["method"] for r in rows if r.get("method") != "original"],
        seeds=seeds,
        fingerprint=fingerprint,
        device=_text(body.get("device")),
        note=note,
        kind=str(body.get("kind") or "comparison"),
        rows=rows,
        models=dict(models or {}),
        owner=owner,
    )


def comparison_document(
    record: ComparisonRecord, body: Mapping, setup: Mapping, *, migrated_from: int | None = None
) -> dict:
    """The stored JSON document of a comparison::

    {"schema_version": 1, "kind": "comparison",
     "record": {ComparisonRecord fields},
     "setup": {"dataset": {...}, "recipe": {...}, "forget_id", "original_model_id",
               "versions": {...}},
     "comparison": <the result's to_dict()>}
    """
    doc = {
        "schema_version": SCHEMA_VERSION,
        "kind": "comparison",
        "record": record.to_dict(),
        "setup": dict(setup),
        "comparison": dict(body),
    }
    if migrated_from is not None:
        doc["migrated_from"] = migrated_from
    return doc


def is_legacy_comparison(doc: Mapping) -> bool:
    """A bare ``Comparison.to_json()`` (what ``unlearn compare --save FILE`` wrote): schema 0."""
    return "schema_version" not in doc and isinstance(doc.get("results"), list)


def upgrade_comparison(
    doc: object, where: str, *, id: str, created: str, fingerprint: str | None = None
) -> dict:
    """``doc`` in today's layout; refuse a newer or unrecognisable one with a clear message.

    Schema 0 (a bare comparison dict, no ``schema_version``: what ``unlearn compare --save
    FILE`` wrote before the run store) is wrapped in a record with ``id``, ``created`` and
    ``fingerprint``; its unknown setup fields stay empty and ``migrated_from`` says 0.
    """
    if not isinstance(doc, Mapping):
        raise RunStoreError(f"{where}: not a comparison record (expected a JSON object)")
    version = doc.get("schema_version")
    if version is None and is_legacy_comparison(doc):
        body = jsonable(doc)
        record = comparison_record(body, id=id, created=created, fingerprint=fingerprint)
        setup = {"dataset": {"name": record.dataset, "fingerprint": fingerprint}, "versions": {}}
        return comparison_document(record, body, setup, migrated_from=0)  # type: ignore[arg-type]
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunStoreError(f"{where}: not a comparison record (no schema_version)")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where}: written by a newer unlearning-lab (record schema {version}; this version "
            f"reads up to {SCHEMA_VERSION}). Upgrade unlearning-lab to open it."
        )
    if version < 1:
        raise SchemaVersionError(f"{where}: unknown record schema {version}")
    for key in ("record", "comparison"):
        if not isinstance(doc.get(key), Mapping):
            raise RunStoreError(f"{where}: comparison record lacks its {key!r} part")
    return dict(doc)

"""The run store: trained models, forget requests and comparisons under one folder.

Layout of the home folder (``./runs``, ``$UNLEARN_HOME`` or an explicit path)::

    index.sqlite                      the index (SQLite, WAL): one row per stored item
    models/<id>.safetensors|.json     weights and sidecar (unlearn_core.store.checkpoints)
    comparisons/<id>.json             a comparison's full record (records.comparison_document)
    forgets/<id>.json                 a forget request's record

Every file is written to a temporary name and renamed into place; the index row (with each
file's SHA-256) is written last, in one transaction, so a crash or a failed write leaves no
half-record: files without an index row are invisible (and :meth:`RunStore.prune` removes them).
Every operation opens its own SQLite connection, so threads and processes can share a store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import (
    CorruptRunError,
    DatasetMismatchError,
    RunStoreError,
    SchemaVersionError,
    UnknownRunError,
)
from .owners import current_owner
from .records import (
    ComparisonRecord,
    ForgetRecord,
    ModelRecord,
    comparison_body,
    comparison_document,
    comparison_record,
    headline_rows,
    jsonable,
    now,
    seeds_of,
    software_versions,
    upgrade_comparison,
)

if TYPE_CHECKING:
    import torch

    from ..data import Dataset
    from ..evaluation.verdict import VerdictRule
    from ..models import UnlearnModel

#: version of the index's tables (SQLite ``user_version``)
INDEX_VERSION = 1
INDEX_NAME = "index.sqlite"
BUSY_TIMEOUT_S = 30.0
KINDS = {"c": "comparison", "m": "model", "f": "forget"}
_PREFIX = {v: k for k, v in KINDS.items()}
_ID = re.compile(r"^[cmf][a-z2-7]{10}$")
_FOLDERS = {"comparison": "comparisons", "model": "models", "forget": "forgets"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    dataset TEXT NOT NULL DEFAULT '',
    fingerprint TEXT,
    comparison_id TEXT,
    note TEXT NOT NULL DEFAULT '',
    files TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_kind ON runs (kind, created);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (comparison_id);
CREATE TABLE IF NOT EXISTS links (
    comparison_id TEXT NOT NULL,
    role TEXT NOT NULL,
    target_id TEXT NOT NULL,
    PRIMARY KEY (comparison_id, role)
);
CREATE INDEX IF NOT EXISTS links_by_target ON links (target_id);
"""

AnyRecord = ComparisonRecord | ModelRecord | ForgetRecord


def default_home() -> Path:
    """``$UNLEARN_HOME`` if set, else ``./runs`` in the current directory."""
    env = os.environ.get("UNLEARN_HOME")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def new_id(kind: str) -> str:
    """A short, URL-safe, random id: a kind letter (c, m, f) and 10 base-32 characters."""
    return _PREFIX[kind] + base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` atomically: a temporary file beside ``path``, synced, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_bytes(doc: object) -> bytes:
    return json.dumps(jsonable(doc), indent=1, allow_nan=False).encode()


@dataclass
class _Row:
    """One index row: the record, its files (relative path -> SHA-256) and its note."""

    id: str
    kind: str
    files: dict[str, str]
    record: dict
    note: str
    comparison_id: str | None


class RunStore:
    """Models, forget requests and comparisons with their files, indexed in SQLite.

    Nothing is created until the first write: listing a folder that holds no store gives an
    empty list. Errors are :class:`RunStoreError` (or a subclass) with a plain message.
    """

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.index_path = self.home / INDEX_NAME
        self._ready = False

    def __repr__(self) -> str:
        return f"RunStore({str(self.home)!r})"

    # ------------------------------------------------------------------------- index

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.index_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return con

    def _prepare(self, create: bool) -> bool:
        """Open (and with ``create``, make) the index; False when there is none to read."""
        if self._ready:
            return True
        if not create and not self.index_path.exists():
            return False
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            for folder in _FOLDERS.values():
                (self.home / folder).mkdir(exist_ok=True)
            con = self._connect()
            try:
                con.execute("PRAGMA journal_mode = WAL")
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version < INDEX_VERSION:
                    con.execute("BEGIN IMMEDIATE")
                    version = con.execute("PRAGMA user_version").fetchone()[0]
                    if version < INDEX_VERSION:
                        for stmt in _SCHEMA.split(";"):
                            if stmt.strip():
                                con.execute(stmt)
                        con.execute(f"PRAGMA user_version = {INDEX_VERSION}")
                        version = INDEX_VERSION
                    con.execute("COMMIT")
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise CorruptRunError(
                f"{self.index_path}: the run index cannot be read ({exc}); move the file aside "
                "to start a new index (the stored files stay where they are)"
            ) from exc
        except OSError as exc:
            raise RunStoreError(f"cannot open the run store at {self.home}: {exc}") from exc
        if version > INDEX_VERSION:
            raise SchemaVersionError(
                f"{self.index_path}: index written by a newer unlearning-lab (index schema "
                f"{version}; this version reads up to {INDEX_VERSION}). Upgrade to open it."
            )
        self._ready = True
        return True

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        """A connection for reading, or None when no store exists yet."""
        if not self._prepare(create=False):
            yield None
            return
        con = self._connect()
        try:
            yield con
        except sqlite3.DatabaseError as exc:
            raise CorruptRunError(
                f"{self.index_path}: the run index cannot be read ({exc})"
            ) from exc
        finally:
            con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``: waits for other writers, up to the busy
        timeout); rolled back if anything in the block raises."""
        self._prepare(create=True)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _row(self, con: sqlite3.Connection | None, id: str, kind: str | None = None) -> _Row:
        self._check_id(id, kind)
        found = None
        if con is not None:
            found = con.execute(
                "SELECT id, kind, files, record, note, comparison_id FROM runs WHERE id = ?", (id,)
            ).fetchone()
        if found is None or (kind is not None and found[1] != kind):
            raise self._unknown(id, kind or KINDS[id[0]])
        try:
            files, record = json.loads(found[2]), json.loads(found[3])
        except json.JSONDecodeError as exc:
            raise CorruptRunError(f"{id}: its index entry is damaged ({exc})") from exc
        return _Row(found[0], found[1], files, record, found[4], found[5])

    def _check_id(self, id: str, kind: str | None) -> None:
        if not isinstance(id, str) or not _ID.match(id):
            raise self._unknown(id, kind, malformed=True)

    def _unknown(self, id: object, kind: str | None, malformed: bool = False) -> UnknownRunError:
        what = {"comparison": "run", "model": "model", "forget": "forget set"}.get(kind or "", "")
        what = what or "run, model or forget set"
        why = " (not a run id: ids look like c1a2b3c4d5e)" if malformed else ""
        return UnknownRunError(
            f"no {what} with id {id!r} in {self.home}{why}; `unlearn runs list` shows the ids"
        )

    # ------------------------------------------------------------------------- files

    def _path(self, rel: str) -> Path:
        return self.home / rel

    def _verified(self, row: _Row, rel: str) -> bytes:
        """The bytes of one of ``row``'s files, checked against the SHA-256 in the index."""
        path = self._path(rel)
        what = {"comparison": "run", "model": "model", "forget": "forget set"}[row.kind]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptRunError(
                f"{what} {row.id}: its file {path} is missing; the rest of the store is "
                f"fine (`unlearn runs delete {row.id}` removes the entry)"
            ) from None
        except OSError as exc:
            raise CorruptRunError(f"{what} {row.id}: cannot read {path} ({exc})") from exc
        if sha256_bytes(data) != row.files.get(rel):
            raise CorruptRunError(
                f"{what} {row.id}: its file {path} is corrupted (its checksum no longer "
                f"matches the index); the rest of the store is fine "
                f"(`unlearn runs delete {row.id}` removes it)"
            )
        return data

    @contextmanager
    def _saving(self, what: str) -> Iterator[list[Path]]:
        """Collect the files a save places; on any failure remove them all and report the
        failure as a :class:`RunStoreError` (the store is left as it was)."""
        placed: list[Path] = []
        self._prepare(create=True)
        try:
            yield placed
        except BaseException as exc:
            for p in placed:
                p.unlink(missing_ok=True)
            if isinstance(exc, RunStoreError) or not isinstance(exc, Exception):
                raise
            from safetensors import SafetensorError

            if isinstance(exc, OSError | sqlite3.Error | SafetensorError):
                detail: object = exc
                if isinstance(exc, OSError) and exc.strerror:
                    detail = exc.strerror + (f" ({exc.filename})" if exc.filename else "")
                raise RunStoreError(
                    f"could not save {what} in {self.home}: {detail}; nothing was saved"
                ) from exc
            raise

    def _place(self, placed: list[Path], rel: str, data: bytes) -> str:
        path = self._path(rel)
        write_bytes(path, data)
        placed.append(path)
        return sha256_bytes(data)

    def _place_model(
        self, placed: list[Path], model: UnlearnModel, dataset: Dataset, rec: ModelRecord
    ) -> dict[str, str]:
        """Write a model's weights and sidecar through a staging folder; return their hashes."""
        from .checkpoints import save_checkpoint

        stage = self.home / "tmp" / f"{rec.id}.{secrets.token_hex(4)}"
        stage.mkdir(parents=True)
        try:
            extra = {"train_config": rec.recipe, "seed": rec.seed, "record": rec.to_dict()}
            save_checkpoint(model, stage / rec.id, dataset, extra=extra)
            files = {}
            for ext in (".safetensors", ".json"):  # the sidecar last: it marks a whole model
                rel = f"models/{rec.id}{ext}"
                src = stage / f"{rec.id}{ext}"
                files[rel] = sha256_file(src)
                with open(src, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(src, self._path(rel))
                placed.append(self._path(rel))
            return files
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    @staticmethod
    def _insert(
        con: sqlite3.Connection,
        rec: AnyRecord,
        kind: str,
        files: Mapping[str, str],
        *,
        comparison_id: str | None = None,
        note: str = "",
    ) -> None:
        con.execute(
            "INSERT INTO runs (id, kind, created, dataset, fingerprint, comparison_id, note, "
            "files, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.id,
                kind,
                rec.created,
                rec.dataset,
                rec.fingerprint,
                comparison_id,
                note,
                json.dumps(dict(files)),
                json.dumps(jsonable(rec.to_dict()), allow_nan=False),
            ),
        )

    # ------------------------------------------------------------------------- models

    def save_model(
        self,
        model: UnlearnModel,
        dataset: Dataset,
        *,
        name: str = "",
        recipe: object = None,
        seed: int | None = None,
        history: object = None,
    ) -> ModelRecord:
        """Store a trained model with its dataset's fingerprint, recipe, seed and history."""
        from .fingerprint import dataset_fingerprint

        rec = ModelRecord(
            id=new_id("model"),
            created=now(),
            arch=str(getattr(model, "spec", {}).get("arch", type(model).__name__)),
            dataset=dataset.name,
            fingerprint=dataset_fingerprint(dataset),
            name=name,
            seed=seed,
            recipe=_as_dict(recipe),
            history=_as_dict(history),
            versions=software_versions(),
            owner=current_owner(),
        )
        with self._saving(f"model {rec.id}") as placed:
            files = self._place_model(placed, model, dataset, rec)
            with self._write() as con:
                self._insert(con, rec, "model", files)
        return rec

    def get_model(self, id: str) -> ModelRecord:
        with self._read() as con:
            row = self._row(con, id, "model")
        return ModelRecord.from_dict(row.record)

    def list_models(self, *, fingerprint: str | None = None) -> list[ModelRecord]:
        """Stored models, newest first (only those trained on data with ``fingerprint``)."""
        return [ModelRecord.from_dict(r.record) for r in self._list("model", fingerprint)]

    def open_model(
        self, id: str, dataset: Dataset, device: torch.device | str = "cpu"
    ) -> tuple[UnlearnModel, ModelRecord]:
        """Load a stored model for ``dataset``; refuse other data, missing or damaged files."""
        from .checkpoints import CheckpointError, load_checkpoint

        with self._read() as con:
            row = self._row(con, id, "model")
        rec = ModelRecord.from_dict(row.record)
        self._same_data(f"model {id}", rec.dataset, rec.fingerprint, dataset)
        for rel in sorted(row.files):
            self._verified(row, rel)
        try:
            model, _ = load_checkpoint(self._path(f"models/{id}"), dataset=dataset, device=device)
        except CheckpointError as exc:
            raise CorruptRunError(f"model {id}: {exc}") from exc
        return model, rec

    def _same_data(self, what: str, name: str, fingerprint: str | None, dataset: Dataset) -> None:
        from .fingerprint import dataset_fingerprint

        if fingerprint is None:  # a record imported without its data: names must agree
            if name and name != dataset.name:
                raise DatasetMismatchError(
                    f"{what} was made on dataset {name!r}, not {dataset.name!r}"
                )
            return
        fp = dataset_fingerprint(dataset)
        if fp != fingerprint:
            raise DatasetMismatchError(
                f"{what} was made on dataset {name!r} (content fingerprint {fingerprint}); the "
                f"data given as {dataset.name!r} has other contents (fingerprint {fp}). "
                "Load the data it was made on."
            )

    # ------------------------------------------------------------------------- forget sets

    def save_forget(self, request: object, dataset: Dataset, *, name: str = "") -> ForgetRecord:
        """Store a forget request (``ForgetRequest`` or its dict) for ``dataset``."""
        from ..forget import ForgetRequest, make_split
        from .fingerprint import dataset_fingerprint

        if hasattr(dataset, "make_split"):  # a data kind with its own requests (text)
            req = request
            split = dataset.make_split(req)  # type: ignore[attr-defined]
        else:
            req = (
                request if isinstance(request, ForgetRequest) else ForgetRequest.from_dict(request)  # type: ignore[arg-type]
            )
            split = make_split(dataset, req)
        rec = ForgetRecord(
            id=new_id("forget"),
            created=now(),
            dataset=dataset.name,
            fingerprint=dataset_fingerprint(dataset),
            description=req.describe(list(dataset.classes)),
            request=req.to_dict(),
            n_forget=split.n_forget,
            name=name,
        )
        rel = f"forgets/{rec.id}.json"
        with self._saving(f"forget set {rec.id}") as placed:
            sha = self._place(placed, rel, _json_bytes(rec.to_dict()))
            with self._write() as con:
                self._insert(con, rec, "forget", {rel: sha})
        return rec

    def get_forget(self, id: str) -> ForgetRecord:
        with self._read() as con:
            row = self._row(con, id, "forget")
        return ForgetRecord.from_dict(row.record)

    def list_forgets(self, *, fingerprint: str | None = None) -> list[ForgetRecord]:
        return [ForgetRecord.from_dict(r.record) for r in self._list("forget", fingerprint)]

    # ------------------------------------------------------------------------- comparisons

    def save_comparison(
        self,
        comparison: object,
        *,
        dataset: Dataset | None = None,
        recipe: object = None,
        save_models: bool = True,
        original_model_id: str | None = None,
        forget_id: str | None = None,
        note: str = "",
    ) -> ComparisonRecord:
        """Store a comparison (``Comparison``, ``MultiComparison`` or their ``to_dict()``).

        With ``dataset`` the record carries its content fingerprint and, if ``save_models``,
        the comparison's models (``comparison.models()``) are stored as model records owned by
        it (deleted with it). ``original_model_id`` names an already stored original instead
        of storing it again; ``forget_id`` a stored forget request.
        """
        from .fingerprint import dataset_fingerprint, dataset_setup

        body, rows = comparison_body(comparison)
        if rows is None:
            rows = headline_rows(body)
        fp = dataset_fingerprint(dataset) if dataset is not None else None
        name = body.get("dataset")
        if dataset is not None and isinstance(name, str) and name != dataset.name:
            raise DatasetMismatchError(
                f"the comparison ran on dataset {name!r}, but the data given is {dataset.name!r}"
            )
        cid = new_id("comparison")
        created = now()
        owner = current_owner()
        links: dict[str, str] = {}
        with self._read() as con:
            for role, ref, kind in (
                ("original", original_model_id, "model"),
                ("forget", forget_id, "forget"),
            ):
                if ref is not None:
                    r = self._row(con, ref, kind)
                    if fp is not None and r.record.get("fingerprint") not in (None, fp):
                        raise DatasetMismatchError(
                            f"{kind} {ref} belongs to other data than this comparison"
                        )
                    links[role] = ref
        models = _models_of(comparison) if save_models and dataset is not None else {}
        if original_model_id is not None:
            models.pop("original", None)
        seeds = seeds_of(body)
        params = {
            r.get("method"): r.get("params") or {}
            for r in body.get("results") or []
            if isinstance(r, Mapping)
        }
        model_recs: list[tuple[ModelRecord, dict[str, str]]] = []
        with self._saving(f"run {cid}") as placed:
            for method, model in models.items():
                rec = ModelRecord(
                    id=new_id("model"),
                    created=created,
                    arch=str(getattr(model, "spec", {}).get("arch", type(model).__name__)),
                    dataset=dataset.name,  # type: ignore[union-attr]
                    fingerprint=fp,  # type: ignore[arg-type]
                    name=f"{method} of run {cid}",
                    role=method if method in ("original", "retrain") else "unlearned",
                    method=method,
                    comparison_id=cid,
                    seed=seeds[0] if len(seeds) == 1 else None,
                    recipe=_as_dict(recipe),
                    params=jsonable(params.get(method, {})),  # type: ignore[arg-type]
                    versions=software_versions(),
                    owner=owner,
                )
                model_recs.append((rec, self._place_model(placed, model, dataset, rec)))  # type: ignore[arg-type]
            model_ids = {**links, **{r.method: r.id for r, _ in model_recs}}  # type: ignore[misc]
            model_ids.pop("forget", None)
            record = comparison_record(
                body, id=cid, created=created, fingerprint=fp, rows=rows, models=model_ids,
                owner=owner,
            )  # fmt: skip
            setup = {
                "dataset": dataset_setup(dataset, fp)
                if dataset is not None
                else {"name": record.dataset, "fingerprint": None},
                "recipe": _as_dict(recipe),
                "forget_id": forget_id,
                "original_model_id": original_model_id,
                "versions": software_versions(),
            }
            rel = f"comparisons/{cid}.json"
            sha = self._place(placed, rel, _json_bytes(comparison_document(record, body, setup)))
            with self._write() as con:
                for rec, files in model_recs:
                    self._insert(con, rec, "model", files, comparison_id=cid)
                self._insert(con, record, "comparison", {rel: sha}, note=note)
                for role, target in [*links.items(), *((r.method, r.id) for r, _ in model_recs)]:
                    con.execute(
                        "INSERT INTO links (comparison_id, role, target_id) VALUES (?, ?, ?)",
                        (cid, role, target),
                    )
        record.note = note
        return record

    def import_comparison(
        self, path: str | Path, *, dataset: Dataset | None = None
    ) -> ComparisonRecord:
        """Store a comparison JSON file: a record exported by a run store, or a bare
        comparison written before the store existed (schema 0, migrated). It gets a new id."""
        from .fingerprint import dataset_fingerprint

        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunStoreError(f"{path}: cannot read a comparison record ({exc})") from exc
        cid, created = new_id("comparison"), now()
        fp = dataset_fingerprint(dataset) if dataset is not None else None
        doc = upgrade_comparison(doc, str(path), id=cid, created=created, fingerprint=fp)
        old = ComparisonRecord.from_dict(doc["record"])
        if fp is not None and old.fingerprint not in (None, fp):
            raise DatasetMismatchError(f"{path}: the comparison was made on other data")
        record = ComparisonRecord.from_dict(
            {**doc["record"], "id": cid, "created": old.created or created, "models": {}}
        )
        record.fingerprint = record.fingerprint or fp
        setup = {**doc.get("setup", {}), "imported_from": str(path.name), "imported_id": old.id}
        new_doc = {**doc, "record": record.to_dict(), "setup": setup}
        rel = f"comparisons/{cid}.json"
        with self._saving(f"run {cid}") as placed:
            sha = self._place(placed, rel, _json_bytes(new_doc))
            with self._write() as con:
                self._insert(con, record, "comparison", {rel: sha}, note=record.note)
        return record

    def get_comparison(self, id: str) -> ComparisonRecord:
        """The headline of a stored comparison (from the index; reads no file)."""
        with self._read() as con:
            row = self._row(con, id, "comparison")
        rec = ComparisonRecord.from_dict(row.record)
        rec.note = row.note
        return rec

    def read_comparison(self, id: str) -> dict:
        """The full, checked record document (see :func:`records.comparison_document`), with
        the current note in ``record.note``."""
        with self._read() as con:
            row = self._row(con, id, "comparison")
        rel = next(iter(row.files))
        data = self._verified(row, rel)
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptRunError(f"run {id}: {self._path(rel)} is not valid JSON ({exc})") from exc
        doc = upgrade_comparison(
            doc,
            f"run {id}",
            id=id,
            created=row.record.get("created", ""),
            fingerprint=row.record.get("fingerprint"),
        )
        doc["record"] = {**doc["record"], "note": row.note}
        return doc

    def list_comparisons(self, *, fingerprint: str | None = None) -> list[ComparisonRecord]:
        """Stored comparisons, newest first (only those on data with ``fingerprint``)."""
        out = []
        for r in self._list("comparison", fingerprint):
            rec = ComparisonRecord.from_dict(r.record)
            rec.note = r.note
            out.append(rec)
        return out

    def note(self, id: str, text: str) -> ComparisonRecord:
        """Set the note of a comparison (replaces the previous one)."""
        self._check_id(id, "comparison")
        try:
            with self._write() as con:
                n = con.execute(
                    "UPDATE runs SET note = ? WHERE id = ? AND kind = 'comparison'", (text, id)
                ).rowcount
                if n == 0:
                    raise self._unknown(id, "comparison")
        except sqlite3.Error as exc:
            raise RunStoreError(f"could not save the note of run {id}: {exc}") from exc
        return self.get_comparison(id)

    def check_dataset(self, id: str, dataset: Dataset) -> None:
        """Raise :class:`DatasetMismatchError` unless run or model ``id`` was made on
        ``dataset`` (same contents, whatever its name)."""
        rec = self.get(id)
        self._same_data(f"{_kind_of(id)} {id}", rec.dataset, rec.fingerprint, dataset)

    # ------------------------------------------------------------------------- any kind

    def get(self, id: str) -> AnyRecord:
        """The record of any stored item, by id."""
        self._check_id(id, None)
        kind = KINDS[id[0]]
        return {
            "comparison": self.get_comparison,
            "model": self.get_model,
            "forget": self.get_forget,
        }[kind](id)

    def _list(self, kind: str, fingerprint: str | None) -> list[_Row]:
        with self._read() as con:
            if con is None:
                return []
            sql = "SELECT id, kind, files, record, note, comparison_id FROM runs WHERE kind = ?"
            args: list = [kind]
            if fingerprint is not None:
                sql += " AND fingerprint = ?"
                args.append(fingerprint)
            found = con.execute(sql + " ORDER BY created DESC, rowid DESC", args).fetchall()
        out = []
        for f in found:
            try:
                out.append(_Row(f[0], f[1], json.loads(f[2]), json.loads(f[3]), f[4], f[5]))
            except json.JSONDecodeError:
                continue  # a damaged index entry is skipped in listings, reported on get
        return out

    def delete(self, id: str) -> list[Path]:
        """Remove a stored item and its files (a comparison takes the models it owns with it).

        Refuses to remove a model or forget set that a stored comparison refers to. Returns
        the files removed.
        """
        self._check_id(id, None)
        try:
            with self._write() as con:
                row = self._row(con, id)
                users = [
                    c
                    for (c,) in con.execute(
                        "SELECT DISTINCT comparison_id FROM links WHERE target_id = ?", (id,)
                    )
                    if c != id
                ]
                if users:
                    raise RunStoreError(
                        f"{_kind_of(id)} {id} is used by run(s) {', '.join(users)}; "
                        "delete those first"
                    )
                rows = [row]
                if row.kind == "comparison":
                    for (mid,) in con.execute(
                        "SELECT id FROM runs WHERE comparison_id = ?", (id,)
                    ).fetchall():
                        rows.append(self._row(con, mid))
                    con.execute("DELETE FROM links WHERE comparison_id = ?", (id,))
                for r in rows:
                    con.execute("DELETE FROM runs WHERE id = ?", (r.id,))
        except sqlite3.Error as exc:
            raise RunStoreError(f"could not delete {id} from {self.home}: {exc}") from exc
        removed = []
        for r in rows:  # the index no longer names them: a failure here only leaves orphans
            for rel in r.files:
                try:
                    self._path(rel).unlink()
                    removed.append(self._path(rel))
                except OSError:
                    pass
        return removed

    def prune(self, older_than_s: float = 3600.0) -> list[Path]:
        """Remove files no index row names (left by a crash between writing files and the
        index) and stale staging folders, if older than ``older_than_s`` (a save in progress
        elsewhere is younger). Returns what was removed."""
        with self._read() as con:
            if con is None:
                return []
            known = set()
            for (files,) in con.execute("SELECT files FROM runs"):
                known.update(json.loads(files))
        cutoff = time.time() - older_than_s
        removed = []
        for folder in [*_FOLDERS.values(), "tmp"]:
            base = self.home / folder
            if not base.is_dir():
                continue
            for p in base.iterdir():
                rel = f"{folder}/{p.name}"
                if rel in known or p.stat().st_mtime > cutoff:
                    continue
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    # ------------------------------------------------------------------------- export

    def export_json(self, id: str, path: str | Path) -> Path:
        """Write the record of ``id`` as JSON (a comparison's full document; a model's or
        forget set's record)."""
        if _kind_of(id) == "comparison":
            doc: object = self.read_comparison(id)
        else:
            doc = self.get(id).to_dict()
        return self._export(Path(path), _json_bytes(doc))

    def export_models(self, id: str, directory: str | Path) -> list[Path]:
        """Copy a comparison's stored models (or one model) into ``directory`` as
        ``<name>.safetensors`` + ``<name>.json`` checkpoints; returns the weights' paths."""
        directory = Path(directory)
        if _kind_of(id) == "comparison":
            targets = self.get_comparison(id).models
        else:
            targets = {self.get_model(id).name or id: id}
        if not targets:
            raise RunStoreError(f"run {id} has no stored models (it was saved without them)")
        with self._read() as con:
            rows = {name: self._row(con, mid, "model") for name, mid in targets.items()}
        out = []
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create {directory}: {exc}") from exc
        for name, row in rows.items():
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
            for ext in (".safetensors", ".json"):
                data = self._verified(row, f"models/{row.id}{ext}")
                self._export(directory / f"{safe}{ext}", data)
            out.append(directory / f"{safe}.safetensors")
        return out

    def export_html(self, id: str, path: str | Path, rule: VerdictRule | None = None) -> Path:
        """Write the self-contained HTML report of comparison ``id`` (opens offline)."""
        from ..evaluation.report import render_html
        from ..evaluation.verdict import VerdictRule

        self._check_id(id, "comparison")
        if _kind_of(id) != "comparison":
            raise RunStoreError(f"{id} is a {_kind_of(id)}; reports are made for runs")
        doc = self.read_comparison(id)
        return self._export(Path(path), render_html(doc, rule or VerdictRule()).encode())

    def _export(self, path: Path, data: bytes) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(path, data)
        except OSError as exc:
            raise RunStoreError(f"could not write {path}: {exc.strerror or exc}") from exc
        return path


def _kind_of(id: str) -> str:
    return KINDS.get(id[:1], "item") if isinstance(id, str) else "item"


def _as_dict(o: object) -> dict:
    if o is None:
        return {}
    if isinstance(o, Mapping):
        return jsonable(o)  # type: ignore[return-value]
    if hasattr(o, "to_dict"):
        return jsonable(o.to_dict())  # type: ignore[return-value]
    return jsonable(vars(o))  # type: ignore[return-value]


def _models_of(comparison: object) -> dict:
    get = getattr(comparison, "models", None)
    if not callable(get):
        return {}
    try:
        models = get()
    except Exception:  # noqa: BLE001 - a result type without models stores none
        return {}
    return {str(k): v for k, v in dict(models).items() if v is not None}

"""What lasts: the app writes through the run store and the URL names what a session shows.

``st.query_params`` carries the ids of the stored model (``model``), forget set (``forget``) and
comparison (``run``), the id of a running comparison job (``job``), and the Audit page's ids
(``audit``, ``sweep``, running ``ajob`` / ``sjob``: see ``app_ui.audit_jobs``).
:func:`restore_from_url` (before the page) reopens them on a fresh session (reload, new tab,
shared link on the same server); :func:`write_url` (after the page) puts the session's ids back
in the URL, storing a model or forget set the first time it is shown.

The run store knows a dataset by its content fingerprint; the app also needs the spec it builds
the dataset from, so it keeps ``<store home>/app/datasets/<fingerprint>.json`` (and, for a
user's file, a copy of the file under ``<store home>/app/uploads/<fingerprint>/``).
"""

from __future__ import annotations

import json
import shutil
import threading
import weakref
from pathlib import Path

import streamlit as st

from app_ui.first_paint import BUILTIN
from app_ui.registries import (
    ModelEntry,
    comparison_registry,
    load_spec,
    model_key,
    model_registry,
    multi_registry,
    stored_runs,
)
from app_ui.state import (
    ARCH,
    COMPARISON_ID,
    DATASET,
    FORGET,
    FORGET_SAVED,
    MODEL_KEY,
    P1_SETTINGS,
    RECIPE,
    TRAIN_SEED,
)
from unlearn_core.data import DataError, Dataset
from unlearn_core.data.roots import DataRoots
from unlearn_core.experiment import Comparison, MultiComparison
from unlearn_core.store import RunStore, RunStoreError, dataset_fingerprint
from unlearn_core.text_app import request_from_dict, test_score
from unlearn_core.training import TrainConfig


def run_store() -> RunStore:
    """The run store (``$UNLEARN_HOME`` or ``./runs``); cheap, so made per call."""
    return RunStore()


def server_path(text: str) -> Path:
    """A path typed into one of the app's path boxes, resolved, if it lies under the data
    roots (``$UNLEARN_DATA_ROOTS``, else the run store's home and ``data/`` beside it);
    else ``PathNotAllowed`` (a ``DataError`` whose message names the setting)."""
    return DataRoots.from_env(run_store().home).check(text)


@st.cache_resource
def _fingerprints() -> dict[int, tuple[weakref.ref, str]]:
    """id of a dataset object -> (a weak reference to it, its fingerprint)."""
    return {}


def fingerprint(data: Dataset) -> str:
    """The fingerprint of ``data``, computed once per dataset object. Checked against a weak
    reference: a dataset dropped from the server's cache frees its id for a new object, which
    must not inherit the old fingerprint."""
    fps = _fingerprints()
    got = fps.get(id(data))
    if got is None or got[0]() is not data:
        got = (weakref.ref(data), dataset_fingerprint(data))
        fps[id(data)] = got
    return got[1]


# ------------------------------------------------------------------ dataset specs
def _spec_path(store: RunStore, fp: str) -> Path:
    return store.home / "app" / "datasets" / f"{fp}.json"


def remember_dataset(spec: dict, data: Dataset, store: RunStore | None = None) -> None:
    """Keep the spec the app builds ``data`` from (and a copy of a user's file)."""
    store = store or run_store()
    fp = fingerprint(data)
    target = _spec_path(store, fp)
    if target.exists():
        return
    spec = json.loads(json.dumps(spec))
    if spec.get("name") == "file":
        src = Path(spec["path"])
        dest = store.home / "app" / "uploads" / fp / src.name
        if not dest.exists() and src.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest)
            else:
                shutil.copy2(src, dest)
        spec["path"] = str(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec, sort_keys=True))
    tmp.replace(target)


def spec_for(fp: str | None, name: str, store: RunStore | None = None) -> dict | None:
    """The app's dataset spec for fingerprint ``fp`` (a built-in by ``name`` as a fallback)."""
    store = store or run_store()
    if fp:
        path = _spec_path(store, fp)
        if path.exists():
            try:
                return json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                pass
    if name in BUILTIN:
        return {"name": name, "params": dict(BUILTIN[name])}
    return None


# ------------------------------------------------------------------ saving
@st.cache_resource
def _stored_model_ids() -> weakref.WeakKeyDictionary:
    """model object -> its id in the run store (a model is stored once, whichever session
    asks; the entry itself is never changed)."""
    return weakref.WeakKeyDictionary()


_saving = threading.Lock()


def save_model_entry(entry: ModelEntry, data: Dataset, spec: dict, *, arch: str, seed: int) -> str:
    """Store a trained model entry (once, under a lock) and return its id."""
    if entry.model_id:
        return entry.model_id
    ids = _stored_model_ids()
    with _saving:
        if entry.model in ids:
            return ids[entry.model]
        store = run_store()
        remember_dataset(spec, data, store)
        recipe = entry.recipe
        rec = store.save_model(
            entry.model,
            data,
            name=f"{arch} on {data.name} (seed {seed})",
            recipe=recipe.to_dict() if hasattr(recipe, "to_dict") else recipe,
            seed=seed,
            history=dict(entry.history or {}),
        )
        ids[entry.model] = rec.id
        return rec.id


def forget_id_for(data: Dataset, spec: dict) -> str | None:
    """The stored id of the session's confirmed forget set (stored the first time)."""
    req = FORGET.get()
    if not req:
        return None
    saved = FORGET_SAVED.get()
    if saved and saved[0] == req:
        return saved[1]
    store = run_store()
    remember_dataset(spec, data, store)
    rec = store.save_forget(request_from_dict(req), data)
    FORGET_SAVED.set([req, rec.id])
    return rec.id


# ------------------------------------------------------------------ restoring
def _open_dataset(fp: str | None, name: str) -> tuple[dict, Dataset]:
    spec = spec_for(fp, name)
    if spec is None:
        raise RunStoreError(
            f"it was made on dataset {name!r}, which this server cannot rebuild (its file "
            "was not kept)"
        )
    try:
        data = load_spec(spec)
    except DataError as exc:
        raise RunStoreError(f"its dataset {name!r} cannot be loaded: {exc}") from exc
    if fp and fingerprint(data) != fp:
        raise RunStoreError(f"the dataset {name!r} on this server has other contents now")
    return spec, data


def _use_model(model, rec, data: Dataset, spec: dict) -> None:
    """Make a stored model the session's current one (with the settings it was made with)."""
    DATASET.set(spec)
    ARCH.set(rec.arch)
    if rec.recipe:
        RECIPE.set(dict(rec.recipe))
    TRAIN_SEED.set(int(rec.seed or 0))
    key = model_key(spec)
    reg = model_registry()
    now = reg.get(key)
    if now is None or (now.model_id or _stored_model_ids().get(now.model)) != rec.id:
        reg[key] = ModelEntry(  # a new, whole entry (sessions holding the old one keep it)
            model=model,
            recipe=TrainConfig.from_dict(rec.recipe) if rec.recipe else TrainConfig(),
            history=rec.history or {},
            test_acc=test_score(model, data),
            source="run store",
            model_id=rec.id,
        )
    MODEL_KEY.set(key)
    P1_SETTINGS.set(None)  # the Data page keeps a restored model on its first visit


def restore_model(mid: str) -> None:
    store = run_store()
    rec = store.get_model(mid)
    spec, data = _open_dataset(rec.fingerprint, rec.dataset)
    model, rec = store.open_model(mid, data)
    _use_model(model, rec, data, spec)


def restore_forget(fid: str) -> None:
    rec = run_store().get_forget(fid)
    FORGET.set(request_from_dict(rec.request).to_dict())
    FORGET_SAVED.set([FORGET.get(), fid])


def load_comparison(cid: str) -> tuple[Comparison, MultiComparison | None, dict, Dataset]:
    """A stored comparison as the pages use it: the first-seed view (with its stored models),
    the several-seed result when there is one, the dataset spec and the dataset."""
    store = run_store()
    doc = store.read_comparison(cid)
    rec = doc["record"]
    body = doc["comparison"]
    spec, data = _open_dataset(rec.get("fingerprint"), rec.get("dataset", ""))
    multi = None
    if body.get("kind") == "multi_comparison":
        multi = MultiComparison.from_dict(body)
        view = multi.comparisons[0]
    else:
        view = Comparison.from_dict(body)
    models = rec.get("models") or {}
    for method, mid in models.items():
        res = view.get(method)
        if res is None:
            continue
        try:
            res.model, _ = store.open_model(mid, data)
        except RunStoreError:
            res.model = None
    return view, multi, spec, data


def restore_run(cid: str) -> None:
    view, multi, spec, data = load_comparison(cid)
    comparison_registry()[cid] = view
    if multi is not None:
        multi_registry()[cid] = multi
    stored_runs().add(cid)
    doc = run_store().read_comparison(cid)
    setup = doc.get("setup") or {}
    mid = setup.get("original_model_id") or (doc["record"].get("models") or {}).get("original")
    DATASET.set(spec)
    if mid:
        try:
            store = run_store()
            model, mrec = store.open_model(mid, data)
            _use_model(model, mrec, data, spec)
        except RunStoreError:
            pass
    FORGET.set(request_from_dict(view.forget).to_dict())
    fid = setup.get("forget_id")
    if fid:
        FORGET_SAVED.set([FORGET.get(), fid])
    COMPARISON_ID.set(cid)

"""The run store: round trip across processes, two writers, and each fault with a clear error."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from runstore_support import small_run, writer_process

import unlearn_core.store.checkpoints as checkpoints_module
import unlearn_core.store.run_store as store_module
from unlearn_core.data import Dataset
from unlearn_core.models import weights_hash
from unlearn_core.store import (
    ComparisonRecord,
    CorruptRunError,
    DatasetMismatchError,
    RunStore,
    RunStoreError,
    SchemaVersionError,
    UnknownRunError,
    dataset_fingerprint,
    headline_rows,
    new_id,
)
from unlearn_core.training import History, TrainConfig


@pytest.fixture(scope="module")
def run():
    return small_run()


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def snapshot(store: RunStore) -> tuple:
    """What a reader sees: every listed record and every stored file with its bytes."""
    files = {}
    for folder in ("models", "comparisons", "forgets", "tmp"):
        base = store.home / folder
        if base.is_dir():
            files.update({f"{folder}/{p.name}": p.read_bytes() for p in base.iterdir()})
    return (
        [r.to_dict() for r in store.list_comparisons()],
        [r.to_dict() for r in store.list_models()],
        [r.to_dict() for r in store.list_forgets()],
        files,
    )


def other_data(data: Dataset, name: str | None = None) -> Dataset:
    x = data.x_train.clone()
    x[0, 0, 0, 0] += 0.5
    return Dataset(
        name or data.name, x, data.y_train, data.x_test, data.y_test, list(data.classes), data.kind
    )


# ----------------------------------------------------------------------------- round trip


def test_round_trip_in_a_new_process(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data, recipe=TrainConfig(epochs=3))
    assert set(rec.models) == {"original", "retrain", "finetune", "neggrad"}
    script = f"""
import json, torch
torch.set_num_threads(1)
from unlearn_core.data import load_dataset
from unlearn_core.models import weights_hash
from unlearn_core.store import RunStore
store = RunStore({str(store.home)!r})
data = load_dataset("digits")
rec = store.get_comparison({rec.id!r})
doc = store.read_comparison({rec.id!r})
hashes = {{m: weights_hash(store.open_model(i, data)[0]) for m, i in rec.models.items()}}
print(json.dumps({{"rows": rec.rows, "doc": doc, "hashes": hashes}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    got = json.loads(out.stdout)
    assert got["rows"] == rec.rows
    expected = [comp.original.row(), *(r.row() for r in comp.results)]
    for want, row in zip(expected, got["rows"], strict=True):
        for k, v in want.items():
            if isinstance(v, float | int | str | type(None)):
                assert row[k] == v, (row["method"], k)
    stored = got["doc"]["comparison"]
    assert stored["results"][1]["metrics"]["forget_acc"] == comp.results[1].metrics["forget_acc"]
    assert stored["results"][1]["params"] == json.loads(json.dumps(comp.results[1].params))
    assert got["doc"]["setup"]["recipe"]["epochs"] == 3
    assert got["doc"]["setup"]["versions"]["torch"] == torch.__version__
    assert got["doc"]["record"]["seeds"] == [0]
    assert got["hashes"] == {m: weights_hash(mod) for m, mod in comp.models().items()}


def test_model_record_keeps_recipe_seed_history(run, store):
    data, model, _ = run
    hist = History(loss=[1.0, 0.5], accuracy=[60.0, 80.0])
    rec = store.save_model(
        model, data, name="base", recipe=TrainConfig(epochs=3), seed=7, history=hist
    )
    again = RunStore(store.home).get_model(rec.id)
    assert again == rec
    assert (again.seed, again.recipe["epochs"], again.history["loss"]) == (7, 3, [1.0, 0.5])
    assert again.fingerprint == dataset_fingerprint(data) and again.arch == "mlp"
    loaded, _ = store.open_model(rec.id, data)
    assert weights_hash(loaded) == weights_hash(model)
    # the sidecar is a checkpoint the CLI's --checkpoint can load, with the recipe in it
    meta = json.loads((store.home / "models" / f"{rec.id}.json").read_text())
    assert meta["train_config"]["epochs"] == 3 and meta["record"]["id"] == rec.id


def test_comparison_refers_to_stored_original_and_forget_set(run, store):
    data, model, comp = run
    base = store.save_model(model, data, name="base")
    forget = store.save_forget(comp.forget, data)
    assert forget.n_forget == comp.forget["n_forget"] and forget.description == "class 3"
    rec = store.save_comparison(comp, dataset=data, original_model_id=base.id, forget_id=forget.id)
    assert rec.models["original"] == base.id
    assert store.read_comparison(rec.id)["setup"]["forget_id"] == forget.id
    with pytest.raises(RunStoreError, match="used by run"):
        store.delete(base.id)
    with pytest.raises(RunStoreError, match="used by run"):
        store.delete(forget.id)
    store.delete(rec.id)
    assert store.get_model(base.id) == base  # the shared original outlives the run
    store.delete(base.id)
    store.delete(forget.id)
    assert store.list_models() == [] and store.list_forgets() == []


def test_list_note_delete(run, store):
    data, _, comp = run
    a = store.save_comparison(comp, dataset=data, save_models=False)
    b = store.save_comparison(comp, dataset=data)
    assert [r.id for r in store.list_comparisons()] == [b.id, a.id]  # newest first
    assert store.list_comparisons(fingerprint="0" * 24) == []
    assert store.note(a.id, "demo for Tuesday").note == "demo for Tuesday"
    assert store.read_comparison(a.id)["record"]["note"] == "demo for Tuesday"
    assert store.get_comparison(a.id).models == {}
    files_b = [store.home / "comparisons" / f"{b.id}.json"] + [
        store.home / "models" / f"{m}{ext}"
        for m in b.models.values()
        for ext in (".safetensors", ".json")
    ]
    assert all(p.exists() for p in files_b)
    removed = store.delete(b.id)
    assert sorted(removed) == sorted(files_b) and not any(p.exists() for p in files_b)
    assert store.list_models() == []  # the run's own models went with it
    assert [r.id for r in store.list_comparisons()] == [a.id]
    assert store.get_comparison(a.id).note == "demo for Tuesday"
    with pytest.raises(UnknownRunError):
        store.get_comparison(b.id)


def test_ids_are_short_url_safe_and_unique():
    ids = {new_id("comparison") for _ in range(5000)}
    assert len(ids) == 5000
    for i in list(ids)[:50]:
        assert re.fullmatch(r"c[a-z2-7]{10}", i) and urllib.parse.quote(i) == i


def test_empty_or_missing_home_lists_nothing_and_creates_nothing(tmp_path):
    store = RunStore(tmp_path / "nowhere")
    assert store.list_comparisons() == [] and store.list_models() == []
    assert not (tmp_path / "nowhere").exists()


def test_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "elsewhere"))
    assert RunStore().home == tmp_path / "elsewhere"
    monkeypatch.delenv("UNLEARN_HOME")
    monkeypatch.chdir(tmp_path)
    assert RunStore().home == tmp_path / "runs"


def test_index_uses_wal(run, store):
    data, _, comp = run
    store.save_comparison(comp, dataset=data, save_models=False)
    con = sqlite3.connect(store.index_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


# ----------------------------------------------------------------------------- result types


def test_plain_dict_and_multi_seed_layout_are_read(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp.to_dict(), dataset=data)
    assert rec.models == {}  # a dict carries no models
    assert [r["method"] for r in rec.rows] == ["original", "retrain", "finetune", "neggrad"]
    assert rec.rows[2]["forget_acc"] == comp.results[1].row()["forget_acc"]
    # the multi-seed layout: per-method {key: {mean, std, n}}, seeds, per-seed comparisons
    multi = {
        "kind": "multi_comparison",
        "dataset": "digits",
        "model": "mlp",
        "forget": {"description": "class 3", "n_forget": 146},
        "seeds": [0, 1, 2],
        "device": "cpu",
        "original": {
            "method": "original",
            "stats": {"forget_acc": {"mean": 99.0, "std": 0.5, "n": 3}},
        },
        "results": [
            {"method": "retrain", "stats": {"forget_acc": {"mean": 0.0, "std": 0.0, "n": 3}}},
            {
                "method": "salun",
                "stats": {"forget_acc": {"mean": 1.5, "std": 0.7, "n": 2}},
                "errors": [{"seed": 2, "error": "diverged"}],
                "damaged_seeds": [1],
            },
        ],
        "comparisons": [],
    }
    rec = store.save_comparison(multi, dataset=data)
    assert rec.kind == "multi_comparison" and rec.seeds == [0, 1, 2]
    one_seed = store.save_comparison({**multi, "seeds": [0]}, dataset=data)
    assert one_seed.row("salun")["forget_acc"] == 1.5
    assert "forget_acc_std" not in one_seed.row("salun")  # no spread over one seed
    salun = rec.row("salun")
    assert (salun["forget_acc"], salun["forget_acc_std"]) == (1.5, 0.7)
    assert salun["error"] == "seed 2: diverged" and salun["damaged"] is True


def test_multi_seed_object_is_stored_with_spread(run, store):
    from unlearn_core import experiment

    if not hasattr(experiment, "compare_seeds"):
        pytest.skip("this version has no multi-seed comparisons")
    data, _, _ = run
    recipe = TrainConfig(epochs=2, batch_size=64)
    multi = experiment.compare_seeds(
        data,
        "mlp",
        recipe,
        _request(),
        [("finetune", {"epochs": 1})],
        seeds=(0, 1),
        device="cpu",
    )
    rec = store.save_comparison(multi, dataset=data)
    assert rec.seeds == [0, 1]
    ft = rec.row("finetune")
    assert ft["retain_acc_std"] is not None and ft["retain_acc"] is not None
    assert store.read_comparison(rec.id)["comparison"]["seeds"] == [0, 1]


def _request():
    from unlearn_core.forget import ForgetRequest

    return ForgetRequest(classes=(3,))


def test_not_a_comparison_is_refused(store, run):
    with pytest.raises(RunStoreError, match="not a comparison"):
        store.save_comparison({"dataset": "digits"})
    with pytest.raises(RunStoreError, match="cannot store a object"):
        store.save_comparison(object())
    with pytest.raises(RunStoreError, match="not a comparison"):
        headline_rows({"results": "nope"})
    assert snapshot(store)[:3] == ([], [], [])


# ----------------------------------------------------------------------------- data identity


def test_fingerprint_is_content_not_name(run):
    data = run[0]
    renamed = replace(data, name="my-upload", meta={})
    assert dataset_fingerprint(renamed) == dataset_fingerprint(data)
    # the validation split is part of the content
    moved = replace(data, x_val=data.x_val[1:], y_val=data.y_val[1:])
    assert dataset_fingerprint(moved) != dataset_fingerprint(data)
    assert dataset_fingerprint(other_data(data)) != dataset_fingerprint(data)
    relabelled = Dataset(
        "digits", data.x_train, data.y_train, data.x_test, data.y_test, [f"c{i}" for i in range(10)]
    )
    assert dataset_fingerprint(relabelled) != dataset_fingerprint(data)


def test_reopening_against_other_data_of_the_same_name_is_refused(run, store):
    data, model, comp = run
    rec = store.save_comparison(comp, dataset=data)
    impostor = other_data(data)  # also called "digits"
    with pytest.raises(DatasetMismatchError, match="other contents"):
        store.open_model(rec.models["finetune"], impostor)
    with pytest.raises(DatasetMismatchError, match="other contents"):
        store.check_dataset(rec.id, impostor)
    store.check_dataset(rec.id, data)
    with pytest.raises(DatasetMismatchError, match="'moons'"):
        store.save_comparison(comp, dataset=other_data(data, "moons"))


# ----------------------------------------------------------------------------- faults


def test_unknown_ids(store, run):
    data = run[0]
    for bad in ("cnotthere00", "../../etc/passwd", "", "C" * 11):
        with pytest.raises(UnknownRunError, match="no "):
            store.get_comparison(bad)
        with pytest.raises(UnknownRunError):
            store.delete(bad)
    store.save_comparison(run[2], dataset=data, save_models=False)  # now the index exists
    with pytest.raises(UnknownRunError, match="'cnotthere00'.*runs list"):
        store.read_comparison("cnotthere00")
    with pytest.raises(UnknownRunError):
        store.open_model("mnotthere00", data)
    with pytest.raises(UnknownRunError):
        store.note("cnotthere00", "x")
    with pytest.raises(UnknownRunError):
        store.export_html("cnotthere00", store.home / "r.html")


def test_missing_model_file(run, store):
    data, _, comp = run
    keep = store.save_comparison(comp, dataset=data)
    hit = store.save_comparison(comp, dataset=data)
    (store.home / "models" / f"{hit.models['finetune']}.safetensors").unlink()
    before = snapshot(store)
    with pytest.raises(CorruptRunError, match="missing"):
        store.open_model(hit.models["finetune"], data)
    with pytest.raises(CorruptRunError, match="missing"):
        store.export_models(hit.id, store.home.parent / "out")
    assert snapshot(store) == before
    store.open_model(keep.models["finetune"], data)  # the rest is intact
    store.open_model(hit.models["neggrad"], data)
    store.delete(hit.id)  # and the damaged run can still be removed
    assert [r.id for r in store.list_comparisons()] == [keep.id]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_model_file(run, store, damage):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data)
    path = store.home / "models" / f"{rec.models['retrain']}.safetensors"
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-7] ^= 0xFF
    else:
        raw = raw[: len(raw) // 2]
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptRunError, match="corrupted"):
        store.open_model(rec.models["retrain"], data)
    store.open_model(rec.models["finetune"], data)


def test_corrupted_comparison_record(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data, save_models=False)
    path = store.home / "comparisons" / f"{rec.id}.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(CorruptRunError, match="corrupted"):
        store.read_comparison(rec.id)
    with pytest.raises(CorruptRunError):
        store.export_html(rec.id, store.home.parent / "r.html")
    assert [r.id for r in store.list_comparisons()] == [rec.id]  # listing still works
    assert not (store.home.parent / "r.html").exists()


def test_record_from_before_the_store_is_migrated(run, store, tmp_path):
    data, _, comp = run
    legacy = tmp_path / "old.json"
    legacy.write_text(comp.to_json(indent=1))  # what `unlearn compare --save FILE` wrote
    assert "schema_version" not in json.loads(legacy.read_text())
    rec = store.import_comparison(legacy, dataset=data)
    assert [r["method"] for r in rec.rows] == ["original", "retrain", "finetune", "neggrad"]
    assert rec.fingerprint == dataset_fingerprint(data)
    doc = store.read_comparison(rec.id)
    assert doc["schema_version"] == 1 and doc["migrated_from"] == 0
    assert doc["comparison"]["results"][2]["method"] == "neggrad"
    # an exported record imports again under a new id
    exported = store.export_json(rec.id, tmp_path / "export.json")
    again = store.import_comparison(exported)
    assert again.id != rec.id and again.rows == rec.rows


def test_record_from_a_newer_version_is_refused(run, store, tmp_path):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data, save_models=False)
    doc = json.loads(store.export_json(rec.id, tmp_path / "r.json").read_text())
    doc["schema_version"] = 99
    (tmp_path / "new.json").write_text(json.dumps(doc))
    before = snapshot(store)
    with pytest.raises(SchemaVersionError, match="newer unlearning-lab.*schema 99"):
        store.import_comparison(tmp_path / "new.json")
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    with pytest.raises(RunStoreError, match="not a comparison record"):
        store.import_comparison(tmp_path / "junk.json")
    assert snapshot(store) == before


def test_index_from_a_newer_version_is_refused(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data, save_models=False)
    con = sqlite3.connect(store.index_path)
    con.execute("PRAGMA user_version = 7")
    con.commit()
    con.close()
    with pytest.raises(SchemaVersionError, match="index schema 7"):
        RunStore(store.home).get_comparison(rec.id)


def test_damaged_index_is_reported(tmp_path):
    home = tmp_path / "runs"
    home.mkdir()
    (home / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptRunError, match="run index cannot be read"):
        RunStore(home).list_comparisons()


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_writing_models(run, store, monkeypatch):
    data, _, comp = run
    keep = store.save_comparison(comp, dataset=data)
    before = snapshot(store)
    real = checkpoints_module.save_file
    calls = []

    def third_fails(*args, **kwargs):  # two models land, the third hits a full disk
        calls.append(1)
        if len(calls) == 3:
            _enospc()
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoints_module, "save_file", third_fails)
    with pytest.raises(RunStoreError, match="No space left on device.*nothing was saved"):
        store.save_comparison(comp, dataset=data)
    assert len(calls) == 3
    assert snapshot(store) == before
    store.open_model(keep.models["neggrad"], data)


def test_full_disk_while_writing_the_record(run, store, monkeypatch):
    data, _, comp = run
    store.save_comparison(comp, dataset=data, save_models=False)
    before = snapshot(store)
    monkeypatch.setattr(store_module, "write_bytes", _enospc)
    with pytest.raises(RunStoreError, match="No space left on device"):
        store.save_comparison(comp, dataset=data)  # its models were written, then removed
    with pytest.raises(RunStoreError, match="No space left on device"):
        store.save_forget(comp.forget, data)
    assert snapshot(store) == before


def test_real_partial_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    target.write_bytes(b"old")

    def fail_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module.os, "fsync", fail_fsync)
    with pytest.raises(OSError):
        store_module.write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "x.json"
    ]


def test_index_write_failure_removes_the_files(run, store, monkeypatch):
    data, _, comp = run
    store.save_comparison(comp, dataset=data, save_models=False)
    before = snapshot(store)

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(RunStore, "_insert", staticmethod(disk_full))
    with pytest.raises(RunStoreError, match="disk is full"):
        store.save_comparison(comp, dataset=data)
    assert snapshot(store) == before


def test_prune_removes_only_old_orphans(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data)
    old = store.home / "models" / "mzzzzzzzzzz.safetensors"  # a crash before the index row
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    young = store.home / "comparisons" / "czzzzzzzzzz.json"  # maybe a save in progress
    young.write_bytes(b"{}")
    assert store.prune() == [old]
    assert young.exists()
    assert len(list((store.home / "models").iterdir())) == 2 * len(rec.models)


def test_two_writers_at_once(run, tmp_path):
    data, _, comp = run
    home = str(tmp_path / "runs")
    body = comp.to_dict()
    ctx = mp.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    n = 12
    procs = [
        ctx.Process(target=writer_process, args=(queue, home, body, n, tag, start))
        for tag in ("a", "b")
    ]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    ids = [i for _, got in results for i in got]
    assert len(ids) == len(set(ids)) == 2 * (n + 2)
    store = RunStore(home)
    runs = store.list_comparisons()
    assert sorted(r.id for r in runs) == sorted(i for i in ids if i.startswith("c"))
    assert sorted(r.note for r in runs) == sorted(f"{t}-{i}" for t in "ab" for i in range(n))
    assert len(store.list_models()) == 2 and len(store.list_forgets()) == 2
    for r in runs:
        assert store.read_comparison(r.id)["record"]["id"] == r.id  # every file matches the index
    for m in store.list_models():
        store.open_model(m.id, data)
    con = sqlite3.connect(store.index_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert not list(Path(home, "tmp").glob("*"))


def test_comparison_record_round_trips_as_dict(run, store):
    data, _, comp = run
    rec = store.save_comparison(comp, dataset=data)
    assert ComparisonRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    assert rec.closest()["method"] in ("finetune", "neggrad")

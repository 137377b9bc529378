"""The server-wide caches (issue 24 parts 1 and 5): bounded (the least recently used entry
dropped beyond the configured size), each value built once under a lock whichever sessions
ask at once, models as immutable records; and the memory status line."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app_ui import registries  # noqa: E402
from app_ui.registries import ModelEntry, SharedCache, cache_size  # noqa: E402


def test_the_least_recently_used_entry_goes_first():
    cache = SharedCache("models", size=3)
    for k in "abc":
        cache[k] = k.upper()
    assert cache["a"] == "A"  # a read makes "a" the most recent
    cache["d"] = "D"
    assert list(cache) == ["c", "a", "d"] and "b" not in cache
    cache.get_or_build("e", lambda: "E")
    assert list(cache) == ["a", "d", "e"] and len(cache) == 3


def test_sizes_come_from_the_environment(monkeypatch):
    assert cache_size("models") == registries.CACHE_SIZES["models"][1]
    monkeypatch.setenv("UNLEARN_CACHE_MODELS", "2")
    monkeypatch.setenv("UNLEARN_CACHE_EMBEDDINGS", "not a number")
    assert cache_size("models") == 2
    assert cache_size("embeddings") == registries.CACHE_SIZES["embeddings"][1]
    monkeypatch.setenv("UNLEARN_CACHE_ATTRIBUTIONS", "0")
    assert cache_size("attributions") == 1  # at least one
    assert SharedCache("models").size == 2


def test_a_value_is_built_once_while_the_other_sessions_wait():
    cache = SharedCache("embeddings", size=4)
    builds = []

    def build():
        builds.append(threading.current_thread().name)
        time.sleep(0.3)
        return ("whole", len(builds))

    got = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get_or_build("k", build)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(builds) == 1 and got == [("whole", 1)] * 6


def test_a_failed_build_leaves_nothing_and_the_next_one_tries_again():
    cache = SharedCache("models", size=2)

    def fail():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_build("k", fail)
    assert "k" not in cache
    assert cache.get_or_build("k", lambda: 1) == 1


def test_a_model_entry_cannot_be_filled_in_and_its_report_is_computed_once(monkeypatch):
    import torch

    import unlearn_core.training as training
    from unlearn_core.data import load_dataset
    from unlearn_core.models import build_model

    data = load_dataset("blobs", n_train=120, centers=3)
    model = build_model("mlp", data.input_shape, data.num_classes)
    entry = ModelEntry(model=model, recipe=None, test_acc=50.0, source="test")
    with pytest.raises(TypeError):
        entry["train_acc"] = 1.0  # what the Data & model page used to do
    with pytest.raises(FrozenInstanceError):
        entry.test_acc = 1.0
    assert entry["test_acc"] == 50.0 and entry.get("nothing") is None
    with pytest.raises(KeyError):
        entry["_report"]
    calls = []
    real = training.model_report

    def slow_report(m, d):
        calls.append(1)
        time.sleep(0.2)
        return real(m, d)

    monkeypatch.setattr(training, "model_report", slow_report)
    got = []
    threads = [threading.Thread(target=lambda: got.append(entry.report(data))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and all(r is got[0] for r in got)
    assert len(got[0].per_class_test) == data.num_classes
    assert torch.isfinite(torch.tensor(got[0].train_acc))


def test_the_model_registry_and_attribution_grids_are_bounded(monkeypatch):
    monkeypatch.setenv("UNLEARN_CACHE_MODELS", "2")
    monkeypatch.setenv("UNLEARN_CACHE_ATTRIBUTIONS", "3")
    registries.model_registry.clear()
    registries.attribution_grids.clear()
    try:
        reg, grids = registries.model_registry(), registries.attribution_grids()
        for k in "abc":
            reg[k] = {"source": k}
        assert list(reg) == ["b", "c"]
        for i in range(5):
            grids.get_or_build(("cid", "m", (i,)), lambda: {"grid": 1})
        assert len(grids) == 3 and ("cid", "m", (0,)) not in grids
    finally:
        registries.model_registry.clear()
        registries.attribution_grids.clear()


def test_memory_status_reports_the_process_and_the_caches():
    status = registries.memory_status()
    assert status["rss_mb"] is None or status["rss_mb"] > 10
    assert set(status["caches"]) == {"models", "embeddings", "attributions"}
    for n, size in status["caches"].values():
        assert 0 <= n <= size
    line = registries.memory_line()
    assert line.startswith("Memory ") and "models " in line and "attributions " in line


def test_a_dataset_fingerprint_is_not_inherited_by_a_new_object_with_a_freed_id():
    """The fingerprint cache is keyed by object id; a dataset dropped from the server's cache
    frees its id, and a new dataset given that id must get its own fingerprint."""
    import weakref

    from app_ui import persist
    from unlearn_core.data import load_dataset

    old = load_dataset("moons", n_train=100)
    new = load_dataset("blobs", n_train=100, centers=3)
    persist._fingerprints()[id(new)] = (weakref.ref(old), "the old dataset's")
    assert persist.fingerprint(new) != "the old dataset's"
    assert persist.fingerprint(new) == persist.fingerprint(new)


def test_a_model_dropped_from_memory_comes_back_whole_from_the_disk_cache(monkeypatch, tmp_path):
    from unlearn_core.data import load_dataset
    from unlearn_core.models import build_model
    from unlearn_core.training import default_recipe

    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNLEARN_CACHE_MODELS", "1")
    registries.model_store.clear()
    registries.model_registry.clear()
    try:
        data = load_dataset("blobs", n_train=120, centers=3)
        model = build_model("mlp", data.input_shape, data.num_classes)
        recipe = default_recipe("mlp").to_dict()
        meta = {"train_config": recipe, "history": {"loss": [1.0]}, "test_acc": 40.0}
        registries.model_store().put("a", model, data, meta)
        reg = registries.model_registry()
        reg["a"] = ModelEntry(model=model, recipe=None, test_acc=40.0, source="trained")
        reg["b"] = ModelEntry(model=None, recipe=None, source="another session's")
        assert "a" not in reg  # dropped: the size is 1
        got = []
        threads = [
            threading.Thread(target=lambda: got.append(registries.cached_model_entry("a", data)))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(got) == 4 and all(e is got[0] for e in got)  # loaded once, shared
        assert got[0].source == "disk cache" and got[0].test_acc == 40.0
        assert got[0].recipe.to_dict() == recipe and got[0].history["loss"] == [1.0]
        assert registries.cached_model_entry("never stored", data) is None
    finally:
        registries.model_store.clear()
        registries.model_registry.clear()

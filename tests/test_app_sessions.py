"""Several sessions at once against one server (issue 24): AppTest sessions in threads share
the process's ``st.cache_resource``, so they share the server's registries as browser tabs
on one server do.

The race this guards against: the model entry every session shares used to be a dict that the
Data & model page filled in (``per_class_test``, then ``train_acc``); a second session saw the
first key, skipped the computation and read the second before it existed
(``KeyError: 'train_acc'``). The report is now part of an immutable entry, computed once under
a lock while the other sessions wait.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

import unlearn_core.training as training  # noqa: E402
from app_ui import common, registries  # noqa: E402
from unlearn_core.training import default_recipe  # noqa: E402

APP = str(ROOT / "app.py")
FAST = {**default_recipe("mlp").to_dict(), "epochs": 2}
#: sessions opened at once, and the spacing of their starts over the race window
SESSIONS = 6
SPACING_S = 0.25
#: how long computing the report takes, and (where the entry can be written) each write
SLOW_REPORT_S = 0.8
SLOW_WRITE_S = 1.2


@pytest.fixture(autouse=True)
def one_runtime(monkeypatch):
    """One Streamlit runtime for every session, as on a real server. AppTest is not made for
    threads: each run sets streamlit's ``Runtime._instance`` to a mock of its own and clears it
    when it ends, so a session that finished first pulled the runtime from under one still
    running (``RuntimeError: Runtime hasn't been created!``). The last runtime set stays
    usable while a run's script thread still asks for it."""
    from streamlit.runtime import Runtime

    last: list = []

    def instance(cls):
        if cls._instance is not None:
            last[:] = [cls._instance]
            return cls._instance
        if last:
            return last[0]
        raise RuntimeError("Runtime hasn't been created!")

    def exists(cls):
        return cls._instance is not None or bool(last)

    monkeypatch.setattr(Runtime, "instance", classmethod(instance))
    monkeypatch.setattr(Runtime, "exists", classmethod(exists))


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    registries.model_store.clear()
    for reg in (
        registries.model_registry(),
        registries.comparison_registry(),
        registries.job_registry(),
    ):
        reg.clear()
    yield tmp_path
    for job in list(registries.job_registry().values()):
        job.cancel()
        job.wait(30)
    torch.set_num_threads(threads)


class _SlowWrites(dict):
    """A shared entry that can be written (a dict, as before issue 24) with each write slow:
    the other sessions run between two writes, so the race is certain rather than rare."""

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        time.sleep(SLOW_WRITE_S)


def _train_without_report() -> str:
    """Train the model of :data:`FAST` in a job and return its key; no page has drawn its
    report yet."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["recipe"] = dict(FAST)
    at.run()
    at.button(key="p1_train").click().run()
    for job in list(registries.job_registry().values()):
        assert job.wait(120), f"{job.title} did not finish"
    assert not at.exception, [e.value for e in at.exception]
    (key,) = list(registries.model_registry())
    return key


def test_sessions_opening_one_fresh_model_at_once_all_see_its_whole_report(monkeypatch):
    key = _train_without_report()
    reg = registries.model_registry()
    if isinstance(reg[key], dict):
        reg[key] = _SlowWrites(reg[key])
    real = training.model_report
    builds: list[float] = []
    started = threading.Event()

    def slow_report(model, data):
        started.set()
        builds.append(time.perf_counter())
        time.sleep(SLOW_REPORT_S)
        return real(model, data)

    monkeypatch.setattr(training, "model_report", slow_report)
    import app_ui.model_view as model_view

    monkeypatch.setattr(model_view, "model_report", slow_report, raising=False)

    results: list[AppTest | BaseException] = [None] * SESSIONS  # type: ignore[list-item]

    def session(i: int) -> None:
        try:
            if i:  # the others open the page while the first computes and stores the report
                assert started.wait(60)
                time.sleep(i * SPACING_S)
            at = AppTest.from_file(APP, default_timeout=90)
            at.session_state["recipe"] = dict(FAST)
            results[i] = at.run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    shown = []
    for i, at in enumerate(results):
        assert isinstance(at, AppTest), f"session {i}: {at!r}"
        assert not at.exception, f"session {i}: {[e.value for e in at.exception]}"
        metrics = {m.label: m.value for m in at.metric}
        assert at.session_state["model_key"] == key
        shown.append((metrics["Test accuracy"], metrics["Train accuracy"]))
        assert len(at.get("plotly_chart")) == 2  # per-class accuracy, training curve
    assert len(set(shown)) == 1, shown  # every session the same, whole report
    assert len(builds) == 1  # computed once, for every session

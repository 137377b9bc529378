"""The Data & model page's first paint on a server that has not imported torch yet
(``app_ui.first_paint``): drawn without the library, a choice made there kept, a click on
Train honoured once the libraries are in; and the estimate the page shows for big work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app_ui import common, first_paint, registries  # noqa: E402
from unlearn_core.training import default_recipe  # noqa: E402

APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
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
    yield
    for job in list(registries.job_registry().values()):
        job.cancel()
        job.wait(30)
    torch.set_num_threads(threads)


def test_the_first_paint_needs_no_library_and_keeps_what_was_done(monkeypatch):
    ready = {"now": False}
    monkeypatch.setattr(first_paint, "heavy_ready", lambda: ready["now"])
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Data & model"]
    labels = [first_paint.SOURCE_LABELS[s] for s in first_paint.SOURCES]
    assert at.selectbox(key="p1_source").options == labels
    assert at.button(key="p1_train").label == "Train"
    assert "Loading the libraries" in "\n".join(c.value for c in at.caption)
    assert "model_key" not in at.session_state  # nothing of the full app ran
    at.selectbox(key="p1_source").set_value("shapes").run()
    assert at.session_state["dataset"]["name"] == "shapes"
    at.button(key="p1_train").click().run()
    assert at.session_state[first_paint.TRAIN_ASAP]
    assert "Training starts as soon as" in at.info[0].value
    at.run()
    assert not at.button  # the click is taken; the page says training follows
    ready["now"] = True
    at.session_state["recipe"] = {**default_recipe("mlp").to_dict(), "epochs": 2}
    at.run()  # what the fragment's rerun does once the imports are done
    assert not at.exception
    assert at.selectbox(key="p1_source").value == "shapes"  # the choice stayed
    assert at.session_state["dataset"]["params"]["n_train"] == 2000
    jobs = list(registries.job_registry().values())
    assert len(jobs) == 1 and jobs[0].title == "Training mlp"  # the click started training
    assert first_paint.TRAIN_ASAP not in at.session_state
    estimate = at.session_state["_p1_estimate"]
    assert estimate.endswith(" on this machine") and "about under" not in estimate


def test_heavy_ready_follows_the_imports():
    assert first_paint.heavy_ready()  # this test process has imported torch
    assert first_paint._loaded("torch") and not first_paint._loaded("no_such_module_here")


def test_big_training_shows_its_estimate_before_the_click():
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["dataset"] = {"name": "digits", "params": {}}
    at.session_state["recipe"] = {**default_recipe("mlp").to_dict(), "epochs": 100}
    at.run()
    assert not at.exception
    note = [c.value for c in at.caption if c.value.startswith("Training mlp on 1,295 images")]
    assert note and note[0].endswith("on this machine.")


def test_a_page_never_sees_a_module_the_warm_up_is_still_importing(monkeypatch, tmp_path):
    """Issue 24: plotly takes pandas from ``sys.modules`` without importing it, so a page
    drawn while the warm-up thread was importing pandas got a half-initialized module
    ("partially initialized module 'pandas' has no attribute 'Series'").
    :func:`first_paint.settle_imports`, run on the script thread before a full page, waits
    for that import to finish."""
    import importlib
    import threading
    import time

    (tmp_path / "slow_peeked_mod.py").write_text(
        "import time\nSTARTED = True\ntime.sleep(0.6)\nSeries = object\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(first_paint, "PEEKED", ("slow_peeked_mod",))
    monkeypatch.delitem(sys.modules, "slow_peeked_mod", raising=False)
    warm = threading.Thread(target=importlib.import_module, args=("slow_peeked_mod",))
    warm.start()
    deadline = time.monotonic() + 10
    while "slow_peeked_mod" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.005)
    half = sys.modules["slow_peeked_mod"]  # what a peek in sys.modules finds meanwhile
    assert not first_paint._loaded("slow_peeked_mod") and not hasattr(half, "Series")
    first_paint.settle_imports()
    assert first_paint._loaded("slow_peeked_mod")
    assert sys.modules["slow_peeked_mod"].Series is object  # whole once settled
    warm.join(10)


def test_the_full_page_settles_the_peeked_imports_first(monkeypatch):
    calls = []
    monkeypatch.setattr(first_paint, "settle_imports", lambda: calls.append(True))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert calls  # before the page (the light first paint does not import them)
    assert set(first_paint.PEEKED) <= set(first_paint.HEAVY)  # the warm-up takes them early

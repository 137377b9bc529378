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


def test_a_click_on_the_first_paint_read_by_a_full_page_run_trains(monkeypatch):
    """The load benchmark's 8 of 8 lost clicks: the first paint was drawn, the libraries came
    in, and the click's own run drew the full page. That run runs the callback the first
    paint's button registered (the full page's Train reads a click through its callback)."""
    ready = {"now": False}
    monkeypatch.setattr(first_paint, "heavy_ready", lambda: ready["now"])
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["recipe"] = {**default_recipe("mlp").to_dict(), "epochs": 2}
    at.run()
    assert at.button(key="p1_train").label == "Train"  # the first paint's
    ready["now"] = True  # the imports finish before the click reaches the server
    at.button(key="p1_train").click().run()
    assert not at.exception
    jobs = list(registries.job_registry().values())
    assert len(jobs) == 1 and jobs[0].title == "Training mlp"
    assert first_paint.TRAIN_ASAP not in at.session_state


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


def test_thumbnails_are_one_svg_with_every_tile_and_caption():
    """The first page's samples as one SVG: each tile a PNG in it, its caption under it, rows
    of ten; the same tiles give the same markup (kept, not drawn again)."""
    import base64
    import xml.etree.ElementTree as ET

    import numpy as np

    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 255, (66, 72, 3), dtype=np.uint8) for _ in range(12)]
    captions = [f"cls<{i % 3}>" for i in range(11)] + ["horizontal bar"]
    svg = first_paint.thumbnails_svg(tiles, captions)
    root = ET.fromstring(svg)  # well-formed (captions escaped)
    ns = "{http://www.w3.org/2000/svg}"
    images, texts_ = root.findall(f"{ns}image"), root.findall(f"{ns}text")
    assert len(images) == len(texts_) == 12
    lines = [[span.text for span in t] for t in texts_]
    assert lines == [[c] for c in captions[:11]] + [["horizontal", "bar"]]  # words kept whole
    cap_h = 8 + 2 * first_paint.LINE_PX  # room for the two-line caption in every row
    assert (root.get("width"), root.get("height")) == (str(10 * 72), str(2 * (66 + cap_h)))
    png = base64.b64decode(images[11].get("href").split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert (images[10].get("x"), images[10].get("y")) == ("0", str(66 + cap_h))  # second row
    assert first_paint.thumbnails_svg(tiles, captions) is svg  # kept
    assert "<image" not in first_paint.thumbnails_svg([], [])


def test_the_other_pages_modules_wait_for_an_interaction(monkeypatch):
    """After the heavy imports, the other pages' modules are imported at a session's first
    interaction after its full page (its second full-app run), not on a timer that would
    have them hold the interpreter lock through a second tab's visit."""
    import threading
    import time

    from app_ui import state

    seen: list[str] = []
    monkeypatch.setattr(first_paint, "HEAVY", ("heavy_x",))
    monkeypatch.setattr(first_paint, "LATER", ("later_y",))
    # (the patch is importlib's own: a warm-up thread an earlier test started may still be
    # importing the real LATER through it, so only this test's names are recorded)
    monkeypatch.setattr(
        first_paint.importlib,
        "import_module",
        lambda name: seen.append(name) if name in ("heavy_x", "later_y") else None,
    )
    monkeypatch.setattr(first_paint, "_interacted", threading.Event())
    monkeypatch.setattr(first_paint, "_ready", threading.Event())
    monkeypatch.setattr(first_paint, "_wake_waiting", lambda: None)
    runs = iter([1, 2])
    monkeypatch.setattr(state.SCRIPT_RUNS, "get", lambda: next(runs), raising=False)
    worker = threading.Thread(target=first_paint._import_all, daemon=True)
    worker.start()
    time.sleep(0.3)
    assert seen == ["heavy_x"] and first_paint._ready.is_set()
    first_paint.note_run()  # the full page's first run: no interaction yet
    time.sleep(0.1)
    assert seen == ["heavy_x"]
    first_paint.note_run()  # a click
    worker.join(5)
    assert seen == ["heavy_x", "later_y"]

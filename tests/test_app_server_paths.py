"""The Data & model page's two path boxes (issue 24 part 4): the dataset's "Path on the
server" and the checkpoint's "…or its path on the server" read only under the server's data
roots (``UNLEARN_DATA_ROOTS``, else the run store's home and ``data/`` beside it). A path
outside, also through ``..`` or a symlink, is refused with a message naming the setting, and
the session keeps what it had."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app_ui import common, registries  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.data.roots import ENV  # noqa: E402
from unlearn_core.models import build_model  # noqa: E402
from unlearn_core.store.checkpoints import save_checkpoint  # noqa: E402
from unlearn_core.training import default_recipe  # noqa: E402

APP = str(ROOT / "app.py")
FAST = {**default_recipe("mlp").to_dict(), "epochs": 2}
CSV = "f1,f2,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60)) + "\n"


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A server whose run store is ``tmp/runs`` (so its data roots are ``tmp/runs`` and
    ``tmp/data``), with a CSV and a checkpoint inside the roots and the same outside, and a
    symlink inside that points outside."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    registries.model_store.clear()
    for reg in (registries.model_registry(), registries.job_registry()):
        reg.clear()
    inside, outside = tmp_path / "data", tmp_path / "elsewhere"
    (tmp_path / "runs").mkdir()
    inside.mkdir()
    outside.mkdir()
    for folder in (inside, outside):
        (folder / "points.csv").write_text(CSV)
    digits = load_dataset("digits")
    model = build_model("mlp", digits.input_shape, digits.num_classes)
    for folder in (inside, outside):
        save_checkpoint(model, folder / "m", digits, extra={"train_config": FAST})
    (inside / "link.csv").symlink_to(outside / "points.csv")
    (inside / "link.safetensors").symlink_to(outside / "m.safetensors")
    (inside / "link.json").symlink_to(outside / "m.json")
    yield tmp_path
    torch.set_num_threads(threads)


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["recipe"] = dict(FAST)
    return at.run()


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def _load_dataset(at: AppTest, path: str) -> AppTest:
    at.text_input(key="p1_path").input(path).run()
    return at.button(key="p1_load").click().run()


def test_the_dataset_path_box_reads_only_under_the_data_roots(server):
    at = _app()
    forget = {"classes": [3], "indices": [], "fraction": None, "seed": 0, "kind": "class"}
    at.session_state["forget"] = forget
    at.selectbox(key="p1_source").select("your file").run()
    at.selectbox(key="p1_format").select("csv").run()
    at.radio(key="p1_where").set_value("Path on the server").run()
    refused = [
        str(server / "elsewhere" / "points.csv"),  # plainly outside
        str(server / "data" / ".." / "elsewhere" / "points.csv"),  # out through ..
        str(server / "data" / "link.csv"),  # out through a symlink
    ]
    for path in refused:
        _load_dataset(at, path)
        assert not at.exception, [e.value for e in at.exception]
        err = _errors(at)
        assert "outside the folders this server reads data from" in err, err
        assert ENV in err and "The current dataset, digits, stays." in err
        assert at.session_state["dataset"]["name"] == "digits"  # nothing lost
        assert at.session_state["forget"] == forget
        assert at.text_input(key="p1_path").value == path  # the typed path stays to fix
    _load_dataset(at, str(server / "data" / "points.csv"))
    assert not at.exception and not at.error, _errors(at)
    assert at.session_state["dataset"]["name"] == "file"
    assert at.session_state["dataset"]["path"] == str((server / "data" / "points.csv").resolve())


def test_the_checkpoint_path_box_reads_only_under_the_data_roots(server, monkeypatch):
    at = _app()
    at.session_state["p1_ckpt_open"] = True  # what a click on its expander does
    at.run()
    for path in (
        server / "elsewhere" / "m.safetensors",
        server / "data" / ".." / "elsewhere" / "m.safetensors",
        server / "data" / "link.safetensors",
    ):
        at.text_input(key="p1_ckpt_path").input(str(path)).run()
        at.button(key="p1_ckpt_load").click().run()
        assert not at.exception, [e.value for e in at.exception]
        err = _errors(at)
        assert err.startswith("Cannot use this checkpoint:") and ENV in err, err
        assert at.session_state["model_key"] is None  # no model came from it
    at.text_input(key="p1_ckpt_path").input(str(server / "data" / "m.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    assert not at.exception and not at.error, _errors(at)
    assert "Using checkpoint m.safetensors" in "\n".join(s.value for s in at.success)

    # the setting names other roots: the run store's folders are no longer read
    monkeypatch.setenv(ENV, str(server / "elsewhere"))
    at.text_input(key="p1_ckpt_path").input(str(server / "data" / "m.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    assert ENV in _errors(at)
    at.text_input(key="p1_ckpt_path").input(str(server / "elsewhere" / "m.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    assert not at.error, _errors(at)

"""AppTest checks of the first three pages: Data & model, Forget set, Unlearn, and of the
messages a user reads there (what is wrong and what to do, no server paths).

Real data (digits), real training (5 epochs), real background jobs and a real comparison.
"""

from __future__ import annotations

import base64
import re
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app_ui import common, registries  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.methods import Method, MethodSpec, Param, UnlearnOutput  # noqa: E402
from unlearn_core.methods.base import REGISTRY, register  # noqa: E402
from unlearn_core.models import build_model  # noqa: E402
from unlearn_core.store.checkpoints import save_checkpoint  # noqa: E402
from unlearn_core.training import default_recipe  # noqa: E402

APP = str(ROOT / "app.py")
FAST = {**default_recipe("mlp").to_dict(), "epochs": 5}


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    """A private on-disk model cache and empty in-memory registries for each test; no UMAP
    warm-up thread (its numba compilation holds the GIL and would slow the training jobs)."""
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNLEARN_DATA_ROOTS", str(tmp_path))  # the path boxes read files here
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the jobs' worker thread and the test thread share 2 cores
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


def new_app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["recipe"] = dict(FAST)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def has(elements, key: str) -> bool:
    return any(getattr(e, "key", None) == key for e in elements)


def wait_jobs() -> None:
    for job in list(registries.job_registry().values()):
        assert job.wait(120), f"{job.title} did not finish"


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def trained_app() -> AppTest:
    at = new_app()
    if has(at.button, "p1_train"):
        at.button(key="p1_train").click().run()
        wait_jobs()
        at.run()
    no_exception(at)
    assert at.session_state["model_key"] in registries.model_registry()
    return at


def confirm_classes(at: AppTest, classes: list[int]) -> AppTest:
    at.switch_page("pages/forget_set.py").run()
    at.radio(key="p2_mode").set_value("Whole classes").run()
    at.multiselect(key="p2_classes").set_value(classes).run()
    at.button(key="p2_confirm").click().run()
    no_exception(at)
    return at


# ------------------------------------------------------------------ page 1 · Data & model
def only_balance_chart(images) -> bool:
    """The page's images are the class-balance SVG alone (no thumbnails)."""
    return len(images) == 1 and images[0].proto.imgs[0].url.startswith("data:image/svg+xml")


def test_data_page_trains_shows_accuracy_and_reuses_cache():
    at = new_app()
    no_exception(at)
    assert at.session_state["dataset"]["name"] == "digits"
    thumbs = base64.b64decode(at.image[0].proto.imgs[0].url.split(",", 1)[1]).decode()
    assert thumbs.count("<image ") == 20  # 2 per class, in one SVG
    balance = at.image[1].proto.imgs[0].url  # an SVG
    assert "Class balance" in base64.b64decode(balance.split(",", 1)[1]).decode()
    assert not at.get("plotly_chart")  # a new tab draws the Train button without plotly.js
    assert "No model" in texts(at.info)
    assert not at.metric

    at.button(key="p1_train").click().run()
    no_exception(at)
    wait_jobs()
    at.run()
    no_exception(at)
    key = at.session_state["model_key"]
    entry = registries.model_registry()[key]
    assert entry["source"] == "trained"
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Test accuracy"].rstrip("%")) > 80
    assert metrics["Test accuracy"] == f"{entry['test_acc']:.1f}%"
    assert len(at.get("plotly_chart")) == 2  # per-class accuracy, training curve
    assert len(entry["history"]["loss"]) == 5  # the 5-epoch recipe from session state

    # a second session with the same settings reuses the model without training
    at2 = new_app()
    no_exception(at2)
    assert at2.session_state["model_key"] == key
    assert "Loaded from cache" in texts(at2.success)
    assert not has(at2.button, "p1_train")
    assert len(registries.job_registry()) == 1

    # ... and so does a fresh server (empty memory), from the on-disk store
    registries.model_registry().clear()
    at3 = new_app()
    no_exception(at3)
    assert at3.session_state["model_key"] == key
    assert "disk cache" in texts(at3.success)

    # other settings: no model yet, the stale key is dropped
    at3.number_input(key="p1_epochs").set_value(6).run()
    assert at3.session_state["model_key"] is None
    assert has(at3.button, "p1_train")


def test_a_train_click_right_after_switching_model_is_not_lost(monkeypatch):
    """Issue 23's lost Train click. Switching the architecture reruns the page; a click made
    while that run is still drawing interrupts it at its next element (Streamlit stops a run
    at any ``st`` call when a new request is waiting) and the page runs again with the click.
    Here the switch's run is cut off at the first message it writes (a comparison was shown,
    so the switch says it was cleared); the next run must offer Train for the new model (it
    offered the previous model's report instead: the model was switched half-way, the
    settings marked done before the model was set), and the click must train that model."""
    import streamlit as st
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    at = trained_app()
    mlp_key = at.session_state["model_key"]
    at.session_state["comparison_id"] = "an-earlier-run"  # the switch clears it, with a note
    real_info, cut = st.info, []

    def interrupted(*args, **kwargs):
        if not cut:
            cut.append(args[0] if args else "")
            raise StopException()  # what a waiting request does at the run's next element
        return real_info(*args, **kwargs)

    monkeypatch.setattr(st, "info", interrupted)
    at.selectbox(key="p1_arch").set_value("cnn").run()  # the switch's run, cut off
    assert cut, "the run after the switch wrote no message"
    monkeypatch.setattr(st, "info", real_info)
    at.run()  # the run the click brings
    no_exception(at)
    assert at.session_state["arch"] == "cnn"
    assert at.session_state["model_key"] != mlp_key and "Model trained." not in texts(at.success)
    assert at.session_state["comparison_id"] is None
    at.button(key="p1_train").click().run()
    no_exception(at)
    running = [j for j in registries.job_registry().values() if not j.done]
    assert [j.title for j in running] == ["Training cnn"]
    settings = registries.job_records()[running[0].id].context["settings"]
    assert settings == at.session_state["_p1_settings"]  # the settings shown: cnn's


def no_server_paths(text: str) -> None:
    assert tempfile.gettempdir() not in text and "unlearn-upload-" not in text, text


def test_broken_file_shows_error_and_keeps_digits(fresh):
    bad = fresh / "broken.npz"
    bad.write_bytes(b"this is not a zip archive")
    forget = {"classes": [3], "indices": [], "fraction": None, "seed": 0, "kind": "class"}
    at = new_app(forget=forget)
    at.selectbox(key="p1_source").select("your file").run()
    at.selectbox(key="p1_format").select("npz").run()
    at.radio(key="p1_where").set_value("Path on the server").run()
    at.text_input(key="p1_path").input(str(bad)).run()
    at.button(key="p1_load").click().run()
    no_exception(at)
    err = texts(at.error)
    assert err.startswith("Cannot load broken.npz: broken.npz: not an .npz archive")
    assert "pickle" not in err  # numpy's advice does not apply
    assert err.endswith("The current dataset, digits, stays.")
    assert at.session_state["dataset"]["name"] == "digits"
    assert at.session_state["forget"] == forget  # nothing lost

    # random bytes uploaded as .npz: the same, and no server folder in the message
    at.radio(key="p1_where").set_value("Upload").run()
    junk = bytes(range(256)) * 4
    at.file_uploader(key="p1_upload").set_value(("junk.npz", junk, "application/octet-stream"))
    at.run()
    at.button(key="p1_load").click().run()
    err = texts(at.error)
    assert "junk.npz: not an .npz archive" in err and "pickle" not in err
    no_server_paths(err)

    # an uploaded CSV without the label column: refused in the app's words, digits stays
    at.selectbox(key="p1_format").select("csv").run()
    at.file_uploader(key="p1_upload").set_value(("t.csv", b"a,b\n1,2\n3,4\n", "text/csv")).run()
    at.button(key="p1_load").click().run()
    no_exception(at)
    err = texts(at.error)
    assert "no label column 'label'" in err and "label column" in err
    assert "label=<" not in err and ".." not in err
    no_server_paths(err)
    assert at.session_state["dataset"]["name"] == "digits"

    # a good upload replaces the dataset and clears the forget set, saying so in one sentence
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60))
    good = f"f1,f2,label\n{rows}\n".encode()
    at.file_uploader(key="p1_upload").set_value(("good.csv", good, "text/csv")).run()
    at.button(key="p1_load").click().run()
    no_exception(at)
    assert at.session_state["dataset"]["name"] == "file"
    assert at.session_state["dataset"]["format"] == "csv"
    assert at.session_state["forget"] is None
    assert (
        "Dataset changed: the forget set belonged to the previous dataset and was cleared."
        in texts(at.info)
    )
    assert at.selectbox(key="p1_arch").options == ["MLP (fully connected)"]  # no CNN / ResNet
    # tabular data: a scatter of the rows, not black glyphs
    assert only_balance_chart(at.image) and has(at.get("plotly_chart"), "p1_scatter")

    # a failed upload now names the dataset kept by its name, not "file"
    at.file_uploader(key="p1_upload").set_value(("t.csv", b"a,b\n1,2\n", "text/csv")).run()
    at.button(key="p1_load").click().run()
    err = texts(at.error)
    assert err.endswith("The current dataset, good.csv, stays.") and "'file'" not in err


def test_data_page_shows_a_scatter_of_2d_points():
    at = new_app()
    at.selectbox(key="p1_source").select("moons").run()
    no_exception(at)
    assert only_balance_chart(at.image)  # no thumbnails of feature vectors
    chart = next(c for c in at.get("plotly_chart") if c.key == "p1_scatter")
    assert "2-D points" in chart.proto.spec


def test_thumbnail_captions_never_break_inside_a_word(monkeypatch):
    from unlearn_core.plots import setup as plots

    drawn = []
    real = plots.tiles

    def spy(images, captions, *a, **kw):
        out = real(images, captions, *a, **kw)
        drawn.append((list(captions), out[1], [t.shape[1] for t in out[0]]))
        return out

    monkeypatch.setattr(plots, "tiles", spy)
    at = new_app()
    at.selectbox(key="p1_source").select("shapes").run()
    no_exception(at)
    thumbs = base64.b64decode(at.image[0].proto.imgs[0].url.split(",", 1)[1]).decode()
    assert ">horizontal</tspan>" in thumbs  # (first_paint.thumbnails_svg wraps at words)
    captions, width, widths = drawn[-1]
    longest = max(len(w) for c in captions for w in c.split())
    assert width >= 8 * longest and set(widths) == {width}  # "horizontal" fits on a line


def test_checkpoint_brings_its_architecture_and_one_status_line(fresh):
    data = load_dataset("digits")
    cnn = build_model("cnn", data.input_shape, data.num_classes)
    save_checkpoint(cnn, fresh / "cnn", data, extra={"train_config": FAST})
    mlp = build_model("mlp", data.input_shape, data.num_classes)
    save_checkpoint(mlp, fresh / "mlp", data, extra={"train_config": FAST})
    moons = load_dataset("moons")
    save_checkpoint(build_model("mlp", moons.input_shape, 2), fresh / "moons", moons)

    at = new_app()
    assert at.selectbox(key="p1_arch").value == "mlp"
    # the loader is drawn only once its expander is opened (the first page draws sooner)
    assert [e.label for e in at.expander] == ["Load a checkpoint instead (.safetensors + .json)"]
    with pytest.raises(KeyError):
        at.text_input(key="p1_ckpt_path")
    at.session_state["p1_ckpt_open"] = True  # what a click on its expander does
    at.run()
    # a checkpoint of another dataset's shape: refused, saying why
    at.text_input(key="p1_ckpt_path").input(str(fresh / "moons.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    no_exception(at)
    assert "expects inputs of shape [2]" in texts(at.error)
    assert at.session_state["model_key"] is None

    # a valid CNN checkpoint while the dropdown shows the MLP: it loads and brings its
    # architecture (and its recipe) with it
    at.text_input(key="p1_ckpt_path").input(str(fresh / "cnn.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    no_exception(at)
    assert not at.error
    assert at.selectbox(key="p1_arch").value == "cnn"
    assert at.number_input(key="p1_epochs").value == FAST["epochs"]
    entry = registries.model_registry()[at.session_state["model_key"]]
    assert entry["source"] == "checkpoint cnn.safetensors"
    assert "Test accuracy" in [m.label for m in at.metric]
    # one status: the checkpoint in use, nothing saying there is no model
    assert texts(at.success) == "Using checkpoint cnn.safetensors: a Small CNN."
    assert not at.info and not at.warning
    at.run()  # the checkpoint model stays current across reruns
    assert at.session_state["model_key"] in registries.model_registry()
    assert at.selectbox(key="p1_arch").value == "cnn"

    # the MLP one switches back
    at.text_input(key="p1_ckpt_path").input(str(fresh / "mlp.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    entry = registries.model_registry()[at.session_state["model_key"]]
    assert torch.equal(entry["model"].head.weight, mlp.head.weight)
    assert at.selectbox(key="p1_arch").value == "mlp"


def test_cancelled_training_then_a_checkpoint_shows_one_message(fresh):
    data = load_dataset("digits")
    save_checkpoint(
        build_model("mlp", data.input_shape, data.num_classes),
        fresh / "m",
        data,
        extra={"train_config": FAST},
    )
    at = new_app(recipe={**FAST, "epochs": 400})
    at.button(key="p1_train").click().run()
    job = next(iter(registries.job_registry().values()))
    job.cancel()
    assert job.wait(60)
    at.run()
    no_exception(at)
    assert "Training was cancelled" in texts(at.warning)
    assert not at.info  # not also "No model for these settings yet"
    at.session_state["p1_ckpt_open"] = True
    at.run()
    at.text_input(key="p1_ckpt_path").input(str(fresh / "m.safetensors")).run()
    at.button(key="p1_ckpt_load").click().run()
    no_exception(at)
    assert "Using checkpoint m.safetensors" in texts(at.success)
    assert not at.warning and not at.info and not at.error


# ------------------------------------------------------------------ page 2 · Forget set
def test_forget_page_needs_a_model():
    at = new_app()
    at.switch_page("pages/forget_set.py").run()
    no_exception(at)
    assert "no model yet" in texts(at.warning)
    assert not has(at.button, "p2_confirm")


def count(at: AppTest, needle: str) -> int:
    """How often ``needle`` appears in the page's messages and text."""
    every = [*at.error, *at.warning, *at.info, *at.success, *at.markdown, *at.caption]
    return sum(str(e.value).count(needle) for e in every)


def test_forget_classes_stored_and_bad_sets_refused():
    at = trained_app()
    at.switch_page("pages/forget_set.py").run()
    no_exception(at)
    assert "Nothing is marked yet." in texts(at.info)
    assert at.button(key="p2_confirm").disabled  # nothing to use
    assert "In use for unlearning:** nothing yet" in texts(at.markdown)

    # every class: refused once, in the preview, and the button stays off
    at.multiselect(key="p2_classes").set_value(list(range(10))).run()
    assert count(at, "whole training set") == 1
    assert "cannot be used: the forget set covers the whole training set" in texts(at.warning)
    assert not at.error and at.button(key="p2_confirm").disabled
    assert at.session_state["forget"] is None

    at.multiselect(key="p2_classes").set_value([3]).run()
    n3 = int((load_dataset("digits").y_train == 3).sum())
    assert f"{n3} samples marked" in texts(at.markdown)
    assert "Preview, not in use yet" in texts(at.markdown)
    at.button(key="p2_confirm").click().run()
    no_exception(at)
    assert not at.error
    assert at.session_state["forget"]["classes"] == [3]
    assert at.session_state["forget"]["kind"] == "class"
    assert f"Forget set stored: class 3 ({n3} samples)" in texts(at.success)
    assert "In use:" in texts(at.markdown)
    assert [p.proto.page for p in at.get("page_link")][-1] == "unlearn"

    # another choice is a preview, clearly not what unlearning will use; no "Next" link
    at.multiselect(key="p2_classes").set_value([5]).run()
    assert "Preview, not in use yet" in texts(at.markdown)
    assert f"Unlearning still uses class 3 ({n3} samples)" in texts(at.warning)
    assert not at.success
    assert "unlearn" not in [p.proto.page for p in at.get("page_link")]

    # a random fraction, drawn from the whole training set by default (not "Choose an option")
    at.radio(key="p2_mode").set_value("Random fraction").run()
    drawn = at.selectbox(key="p2_fraction_class")
    assert drawn.index == 0 and drawn.options[0] == "the whole training set"
    at.slider(key="p2_fraction").set_value(0.2).run()
    at.button(key="p2_confirm").click().run()
    f = at.session_state["forget"]
    assert f["kind"] == "fraction" and f["classes"] == []
    assert "random 20% of the training set (seed 0)" in texts(at.success)
    # ... or within one class
    at.selectbox(key="p2_fraction_class").select(5).run()
    at.button(key="p2_confirm").click().run()
    no_exception(at)
    f = at.session_state["forget"]
    assert f["kind"] == "fraction_in_class" and f["classes"] == [5] and f["fraction"] == 0.2


def test_lasso_event_and_ticks_pick_samples():
    at = trained_app()
    at.switch_page("pages/forget_set.py").run()
    at.radio(key="p2_mode").set_value("Pick samples").run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 1
    # what the browser sends for a lasso over points of two classes (ids in customdata)
    at.session_state["forget_scatter"] = {
        "selection": {
            "points": [
                {"curve_number": 0, "point_index": 0, "customdata": [5]},
                {"curve_number": 3, "point_index": 0, "customdata": [7]},
                {"curve_number": 3, "point_index": 1, "customdata": [9999]},  # out of range
            ],
            "point_indices": [0, 0, 1],
            "box": [],
            "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}],
        }
    }
    at.run()
    no_exception(at)
    assert at.session_state["picked"] == [5, 7]
    assert "2 samples marked" in texts(at.markdown)
    at.run()  # the same event is not applied twice
    assert at.session_state["picked"] == [5, 7]

    tick_class = at.selectbox(key="p2_tick_class")
    assert tick_class.index == 0 and tick_class.options[0] == "all classes"
    at.checkbox(key="p2_tick_0").check().run()
    assert at.session_state["picked"] == [0, 5, 7]
    assert at.checkbox(key="p2_tick_5").value is True
    at.checkbox(key="p2_tick_5").uncheck().run()
    assert at.session_state["picked"] == [0, 7]

    at.radio(key="p2_lasso_action").set_value("Remove from the marked samples").run()
    at.session_state["forget_scatter"] = {
        "selection": {"points": [{"customdata": [7]}], "point_indices": [0], "box": [{}]}
    }
    at.run()
    assert at.session_state["picked"] == [0]

    at.button(key="p2_confirm").click().run()
    no_exception(at)
    assert at.session_state["forget"]["indices"] == [0]
    # said once and in the singular: not "1 chosen samples: 1 samples"
    assert "**In use for unlearning:** 1 sample picked by hand" in texts(at.markdown)
    assert "**In use:** **1 sample marked**" in texts(at.markdown)
    # (AppTest keeps the sidebar of a session's first run only: look at a new session's)
    sidebar = texts(new_app(forget=dict(at.session_state["forget"])).markdown)
    assert "**Forget set** · 1 sample picked by hand" in sidebar
    assert "chosen samples" not in sidebar
    at.button(key="p2_clear").click().run()
    assert at.session_state["picked"] == []
    assert at.button(key="p2_confirm").disabled and "Nothing is marked yet." in texts(at.info)
    assert at.session_state["forget"]["indices"] == [0]  # the stored set is kept


# ------------------------------------------------------------------ page 3 · Unlearn
def test_unlearn_runs_methods_and_stores_the_comparison():
    at = confirm_classes(trained_app(), [3])
    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    assert at.multiselect(key="p3_methods").value == [
        m for m in ("scrub", "salun", "ssd") if m in REGISTRY
    ]
    at.multiselect(key="p3_methods").set_value(["finetune", "ssd"]).run()
    lr = at.number_input(key="p3_finetune_lr")
    assert (lr.min, lr.max) == (1e-5, 1.0)
    at.number_input(key="p3_finetune_epochs").set_value(2).run()
    assert at.toggle(key="p3_retrain").value is True
    at.button(key="p3_run").click().run()
    no_exception(at)
    wait_jobs()
    at.run()
    no_exception(at)
    comp = registries.comparison_registry()[at.session_state["comparison_id"]]
    assert [r.method for r in comp.results] == ["retrain", "finetune", "ssd"]
    assert all(r.ok for r in comp.results)
    assert comp.get("finetune").params["epochs"] == 2  # the control reached the method
    assert comp.get("retrain").metrics["forget_acc"] < 5  # retrain never saw class 3
    table = at.table[0].value
    assert list(table["method"]) == [comp.original.label] + [r.label for r in comp.results]
    status = texts(at.markdown)
    assert ":material/check_circle: **Fine-tune (FT)**" in status
    assert ":material/check_circle: **Retrain from scratch**" in status
    assert any("compare" in p.proto.page for p in at.get("page_link"))
    # every row (no inner scroll), numbers to their precision, missing values as a dash
    cells = at.table[0].value
    assert len(cells) == 1 + len(comp.results)
    orig = cells.iloc[0]
    assert orig["time (s)"] == "—" and orig["gap to retrain (pts)"] not in ("None", "nan")
    assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in cells["test acc (%)"])
    assert "None" not in cells.to_string()


@pytest.fixture
def odd_methods():
    """A method that always fails and a class-only one, registered for one test."""

    class Explode(Method):
        spec = MethodSpec(
            name="explode_for_test",
            label="Explode (test)",
            family="approximate",
            paper="-",
            summary="Fails on purpose.",
            params=(Param("power", float, 1.0, (0.0, 10.0), "how hard"),),
        )

        def unlearn(self, model, task, cfg, *, seed, progress):
            progress(0.5, "about to fail")
            raise RuntimeError(f"deliberate failure at power {cfg['power']}")

    class ClassOnly(Method):
        spec = MethodSpec(
            name="classonly_for_test",
            label="Class only (test)",
            family="approximate",
            paper="-",
            summary="Needs whole classes.",
            needs=("forget_class",),
        )

        def unlearn(self, model, task, cfg, *, seed, progress):
            return UnlearnOutput(model)

    register(Explode)
    register(ClassOnly)
    yield
    REGISTRY.pop("explode_for_test")
    REGISTRY.pop("classonly_for_test")


def test_a_failing_method_shows_its_error_and_the_others_finish(odd_methods):
    at = trained_app()
    at.switch_page("pages/forget_set.py").run()
    at.radio(key="p2_mode").set_value("Random fraction").run()
    at.button(key="p2_confirm").click().run()
    assert at.session_state["forget"]["kind"] == "fraction"
    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    options = at.multiselect(key="p3_methods").options
    assert "Class only (test)" not in options and "Explode (test)" in options
    assert "Class only (test)" in texts(at.caption)  # flagged with the reason
    assert at.multiselect(key="p3_methods").value == [
        m for m in ("finetune", "salun", "l1_sparse") if m in REGISTRY
    ]
    at.multiselect(key="p3_methods").set_value(["explode_for_test", "finetune"]).run()
    at.number_input(key="p3_explode_for_test_power").set_value(3.5).run()
    at.toggle(key="p3_retrain").set_value(False).run()
    assert "not available" in texts(at.info)
    at.button(key="p3_run").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    assert "deliberate failure at power 3.5" in texts(at.error)
    comp = registries.comparison_registry()[at.session_state["comparison_id"]]
    assert [r.method for r in comp.results] == ["explode_for_test", "finetune"]
    assert not comp.get("explode_for_test").ok and comp.get("finetune").ok
    assert comp.reference is None and comp.get("finetune").time_ratio is None
    assert ":material/error: **Explode (test)** — failed: " in texts(at.markdown)


def test_cleared_methods_box_stays_as_the_user_left_it():
    at = confirm_classes(trained_app(), [3])
    at.switch_page("pages/unlearn.py").run()
    assert len(at.multiselect(key="p3_methods").value) == 3  # the defaults, at first
    at.multiselect(key="p3_methods").set_value([]).run()
    assert at.multiselect(key="p3_methods").value == []
    at.run()
    assert at.multiselect(key="p3_methods").value == []  # the defaults do not come back
    at.multiselect(key="p3_methods").set_value(["finetune"]).run()
    at.run()
    assert at.multiselect(key="p3_methods").value == ["finetune"]
    at.switch_page("pages/forget_set.py").run()
    at.switch_page("pages/unlearn.py").run()
    assert at.multiselect(key="p3_methods").value == ["finetune"]


def test_pages_use_material_icons_not_emoji():
    """Emoji render as empty boxes in Debian's Chromium; Material icons render everywhere."""
    emoji = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u23e9-\u23fa\u2b50\u2b55\ufe0f]")
    files = [
        ROOT / "app.py",
        *ROOT.glob("pages/*.py"),
        *ROOT.glob("app_ui/*.py"),
        *ROOT.glob("assets/*.md"),
    ]
    found = [f"{f.name}: {m.group()!r}" for f in files for m in emoji.finditer(f.read_text())]
    assert not found, found
    assert not (ROOT / "pages" / "common.py").exists()  # pages/ holds pages only


def test_a_forget_set_that_no_longer_fits_the_data_is_dropped_with_a_warning():
    at = trained_app()
    at.session_state["forget"] = {"kind": "class", "classes": [42], "fraction": None, "seed": 0}
    at.switch_page("pages/forget_set.py").run()
    no_exception(at)
    assert "no longer fits this dataset" in texts(at.warning)
    assert at.session_state["forget"] is None
    assert "**In use for unlearning:** nothing yet" in texts(at.markdown)

"""The app and the run store under AppTest: the URL names what a session shows (a fresh session
reopens it), the comparison job stores its own result, cancel keeps the finished methods, seeds,
and the Runs page."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

import app_ui.common as common  # noqa: E402
import app_ui.persist as persist  # noqa: E402
import app_ui.registries as registries  # noqa: E402
from unlearn_core.experiment import compare  # noqa: E402
from unlearn_core.forget import ForgetRequest  # noqa: E402
from unlearn_core.methods import Method, MethodSpec, UnlearnOutput  # noqa: E402
from unlearn_core.methods.base import REGISTRY, register  # noqa: E402
from unlearn_core.methods.robustness import robustness_cards  # noqa: E402
from unlearn_core.runtime.jobs import start_job  # noqa: E402
from unlearn_core.store import RunStore  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

APP = str(ROOT / "app.py")
CFG = TrainConfig(epochs=15, batch_size=64)


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    """A private run store and model cache, empty registries (a cold server's memory)."""
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    registries.model_store.clear()
    regs = (
        registries.model_registry(),
        registries.comparison_registry(),
        registries.job_registry(),
        registries.multi_registry(),
        registries.stored_runs(),
        registries.job_records(),
    )
    for reg in regs:
        reg.clear()
    yield tmp_path
    for job in list(registries.job_registry().values()):
        job.cancel()
        job.wait(30)
    torch.set_num_threads(threads)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def wait_jobs() -> None:
    for job in list(registries.job_registry().values()):
        assert job.wait(180), f"{job.title} did not finish"


@pytest.fixture
def stored(digits, digits_mlp):
    """A model, a forget set and a comparison in the store, as the app would write them."""
    store = RunStore()
    spec = {"name": "digits", "params": {}}
    persist.remember_dataset(spec, digits, store)
    mrec = store.save_model(digits_mlp, digits, name="t", recipe=CFG.to_dict(), seed=0)
    req = ForgetRequest(classes=(3,))
    frec = store.save_forget(req, digits)
    comp = compare(digits, digits_mlp, CFG, req, ["finetune"], device="cpu")
    crec = store.save_comparison(
        comp, dataset=digits, recipe=CFG.to_dict(), original_model_id=mrec.id, forget_id=frec.id
    )
    return {"model": mrec.id, "forget": frec.id, "run": crec.id, "comp": comp}


def app_with(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def test_a_link_to_a_stored_run_reopens_it_on_every_page(stored):
    at = app_with(run=stored["run"])
    no_exception(at)
    sidebar = texts(at.markdown)  # (AppTest keeps a session's first sidebar only)
    assert "not trained yet" not in sidebar and "retrain, finetune" in sidebar
    assert at.session_state["comparison_id"] == stored["run"]
    assert at.session_state["forget"]["classes"] == [3]
    assert at.session_state["model_key"] in registries.model_registry()
    comp = registries.comparison_registry()[stored["run"]]
    assert [r.method for r in comp.results] == ["retrain", "finetune"]
    assert comp.get("finetune").model is not None  # its stored model came back
    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    table = at.table[0].value
    assert list(table["method"]) == [comp.original.label] + [r.label for r in comp.results]
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    assert at.query_params["run"] == [stored["run"]] or at.query_params["run"] == stored["run"]


def test_a_link_to_a_model_and_forget_set_reopens_them(stored):
    at = app_with(model=stored["model"], forget=stored["forget"])
    no_exception(at)
    assert "not trained yet" not in texts(at.markdown)
    assert at.session_state["forget"]["classes"] == [3]
    assert at.session_state["comparison_id"] is None
    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    assert at.button(key="p3_run") is not None


def test_an_unknown_id_in_the_link_says_so_and_goes_on(stored):
    at = app_with(run="caaaaaaaaaa", model="not-an-id")
    no_exception(at)
    warn = texts(at.warning)
    assert "caaaaaaaaaa" in warn and "not-an-id" in warn
    assert "continues with the defaults" in warn
    assert at.session_state["dataset"]["name"] == "digits"
    assert "run" not in at.query_params and "model" not in at.query_params


def test_the_run_stores_itself_and_the_url_names_it(stored):
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["finetune"]).run()
    at.number_input(key="p3_finetune_epochs").set_value(60).run()
    at.button(key="p3_run").click().run()
    no_exception(at)
    job_id = at.session_state["jobs"]["compare"]
    # (AppTest runs app.py, which writes the URL, on a session's first run only: the URL a
    # running job puts there is checked in the browser test; here a new session opens it)
    # a second session (a reload) during the run finds the same job
    other = app_with(job=job_id)
    assert other.session_state["jobs"]["compare"] == job_id
    wait_jobs()
    cid = registries.job_registry()[job_id].result
    rec = RunStore().get_comparison(cid)  # stored by the worker, whoever is watching
    assert rec.methods == ["retrain", "finetune"]
    doc = RunStore().read_comparison(cid)
    assert doc["setup"]["original_model_id"] == stored["model"]
    assert doc["setup"]["forget_id"] == stored["forget"]
    other.switch_page("pages/unlearn.py").run()
    no_exception(other)
    assert other.session_state["comparison_id"] == cid
    again = app_with(run=cid)
    no_exception(again)
    assert again.query_params["run"] == cid and "job" not in again.query_params


@pytest.fixture
def slow_method():
    """A method that reports every 50 ms for 60 s (a run to cancel), registered for one test."""

    class Slow(Method):
        spec = MethodSpec(
            name="slow_for_test",
            label="Slow (test)",
            family="approximate",
            paper="-",
            summary="Takes its time.",
        )

        def unlearn(self, model, task, cfg, *, seed, progress):
            for i in range(1200):
                progress(i / 1200, "waiting")
                time.sleep(0.05)
            return UnlearnOutput(model)

    register(Slow)
    yield
    REGISTRY.pop("slow_for_test")


def test_cancel_keeps_the_finished_methods_and_marks_the_rest(stored, slow_method):
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["finetune", "slow_for_test", "ssd"]).run()
    at.button(key="p3_run").click().run()
    job = registries.job_registry()[at.session_state["jobs"]["compare"]]
    end = time.perf_counter() + 60
    while not any(r.method == "finetune" for r in job.partial) and time.perf_counter() < end:
        time.sleep(0.05)
    time.sleep(0.3)  # the slow method is now running
    t0 = time.perf_counter()
    job.cancel()
    assert job.wait(30)
    assert time.perf_counter() - t0 < 2.0, "cancel took longer than 2 s"
    assert job.state == "cancelled" and job.result
    comp = registries.comparison_registry()[job.result]
    assert comp.get("retrain").ok and comp.get("finetune").ok
    assert comp.get("slow_for_test").error == "cancelled before it finished"
    assert comp.get("ssd").error == "cancelled before it finished"
    rec = RunStore().get_comparison(job.result)
    assert rec.methods == ["retrain", "finetune", "slow_for_test", "ssd"]
    at.run()
    no_exception(at)
    warn = texts(at.warning)
    assert "cancelled" in warn and "Traceback" not in warn
    assert "Not finished, so not run: Slow (test) and Selective Synaptic" in warn
    assert "JobCancelled" not in texts(at.error) + warn
    assert "cancelled, not run" in texts(at.markdown)


@pytest.fixture
def slow_after_the_first_seed():
    """A method done at once on seed 0 and slow on any other (it reports every 50 ms for
    60 s): a several-seed run to cancel once its first seed has finished."""

    class SlowLater(Method):
        spec = MethodSpec(
            name="slow_later_for_test",
            label="Slow later (test)",
            family="approximate",
            paper="-",
            summary="Quick on the first seed, slow after.",
        )

        def unlearn(self, model, task, cfg, *, seed, progress):
            for i in range(0 if seed == 0 else 1200):
                progress(i / 1200, "waiting")
                time.sleep(0.05)
            return UnlearnOutput(model)

    register(SlowLater)
    yield
    REGISTRY.pop("slow_later_for_test")


def test_a_cancelled_three_seed_run_says_which_seeds_finished(stored, slow_after_the_first_seed):
    """Cancelled in its second seed: the message names the finished seed and what had and
    had not finished of the next (no "none"); the results say "1 seed" and show no ±."""
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["finetune", "slow_later_for_test"]).run()
    at.number_input(key="p3_n_seeds").set_value(3).run()
    at.button(key="p3_run").click().run()
    job = registries.job_registry()[at.session_state["jobs"]["compare"]]
    end = time.perf_counter() + 120
    while sum(r.method == "finetune" for r in job.partial) < 2 and time.perf_counter() < end:
        time.sleep(0.05)
    time.sleep(0.3)  # seed 1's slow method is now running
    job.cancel()
    assert job.wait(30) and job.state == "cancelled" and job.result
    assert registries.multi_registry()[job.result].seeds == [0]
    at.run()
    no_exception(at)
    warn = texts(at.warning)
    assert (
        "The run was cancelled during seed 1, the second of 3. Finished: seed 0, every method "
        "(stored and shown below). Not finished, so not shown: seeds 1 and 2 (on seed 1, "
        "Retrain from scratch and Fine-tune (FT) had finished; Slow later (test) had not)."
    ) in warn
    assert "none" not in warn
    captions = texts(at.caption)
    assert "1 seed (0)" in captions and "1 seeds" not in captions
    table = at.table[0].value
    assert list(table["method"])[-1] == "Slow later (test)"
    assert not any("±" in v for c in table.columns[1:] for v in table[c])


def _sidebar_job_line() -> None:
    """A page's sidebar with the running job's line (AppTest shows a session's first sidebar
    only, so the line is drawn here as ``common.sidebar`` draws it; the browser test sees it
    on the app's pages)."""
    import streamlit as st

    from app_ui import jobs
    from app_ui.registries import job_registry

    with st.sidebar:
        jobs.line(job_registry()[st.session_state["jid"]], jobs.KINDS[st.session_state["kind"]])


def test_the_sidebar_shows_a_running_job_with_cancel():
    def work(job):
        for i in range(600):
            job.report(
                i / 600, "seed 0 (1/3): scrub: epoch 3/10: forget acc 12.5% (max + min pass)"
            )
            time.sleep(0.05)

    job = start_job("Unlearning", work)
    registries.job_registry()[job.id] = job
    at = AppTest.from_function(_sidebar_job_line, default_timeout=30)
    at.session_state["jid"], at.session_state["kind"] = job.id, "compare"
    at.run()
    no_exception(at)
    (bar,) = at.sidebar.get("progress")
    assert "Unlearning" in bar.proto.text
    assert texts(at.sidebar.caption).endswith("…")  # the long message, cut
    (cancel,) = at.sidebar.button
    assert cancel.key == "jobline_compare_cancel" and cancel.label == "Cancel the run"
    t0 = time.perf_counter()
    cancel.click().run()
    assert job.wait(2.0) and job.state == "cancelled"
    assert time.perf_counter() - t0 < 2.0
    # a page that shows the run in full marks it: the sidebar then draws the plain line
    job2 = start_job("Unlearning", work)
    registries.job_registry()[job2.id] = job2
    at.session_state["jid"] = job2.id
    at.session_state["_jobs_shown_on_page"] = {job2.id}
    at.run()
    assert not at.sidebar.get("progress") and "running" in texts(at.sidebar.markdown)
    job2.cancel()


def test_the_sidebar_shows_a_running_audit_apart():
    """An audit (or a sweep) gets its own named line and Cancel, beside a comparison's."""

    def work(job):
        for i in range(600):
            job.report(i / 600, "train: 3/16 done")
            time.sleep(0.05)

    job = start_job("Audit", work)
    registries.job_registry()[job.id] = job
    at = AppTest.from_function(_sidebar_job_line, default_timeout=30)
    at.session_state["jid"], at.session_state["kind"] = job.id, "audit"
    at.run()
    no_exception(at)
    (bar,) = at.sidebar.get("progress")
    assert "Audit" in bar.proto.text
    (cancel,) = at.sidebar.button
    assert cancel.key == "jobline_audit_cancel" and cancel.label == "Cancel the audit"
    cancel.click().run()
    assert job.wait(2.0) and job.state == "cancelled"


def test_several_seeds_show_mean_and_spread(stored):
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["ssd"]).run()
    at.number_input(key="p3_n_seeds").set_value(2).run()
    at.button(key="p3_run").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    cid = at.session_state["comparison_id"]
    assert RunStore().get_comparison(cid).seeds == [0, 1]
    table = at.table[0].value
    assert any("±" in v for v in table["forget acc (%)"])
    assert "2 seeds" in texts(at.caption)


def test_unlearn_page_shows_each_methods_preset(stored):
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["ssd"]).run()
    no_exception(at)
    captions = [str(x.value) for x in at.caption]
    assert any("Preset: **mlp**" in c for c in captions)
    # beside it, how the preset fared on data splits it was not chosen on (its robustness card)
    cards = [c for c in robustness_cards("ssd", "mlp") if c.request == "class"]  # class 3
    assert (
        f"On data splits it was not chosen on: {cards[0].describe()}."
        if cards
        else "Not yet measured on held-out data splits."
    ) in captions
    assert not any("a random 10%: met on" in c for c in captions)  # only this request's card


def test_runs_page_lists_opens_notes_exports_and_deletes(stored, digits, digits_mlp):
    second = RunStore().save_comparison(
        stored["comp"], dataset=digits, recipe=CFG.to_dict(), save_models=False
    )
    at = app_with()
    at.switch_page("pages/runs.py").run()
    no_exception(at)
    overview = at.table[0].value
    assert set(overview["run"]) == {stored["run"], second.id}
    assert "finetune" in overview["closest to retrain"].iloc[0]
    # open one: the session then shows it
    at.selectbox(key="runs_pick").set_value(stored["run"]).run()
    at.button(key="runs_open").click().run()
    no_exception(at)
    assert at.session_state["comparison_id"] == stored["run"]
    # a note
    at.text_area(key=f"runs_note_{stored['run']}").set_value("first try").run()
    at.button(key="runs_save_note").click().run()
    assert RunStore().get_comparison(stored["run"]).note == "first try"
    # exports: the JSON at once, the report and the models when asked
    names = [
        b.proto.file_name if hasattr(b.proto, "file_name") else ""
        for b in at.get("download_button")
    ]
    assert len(at.get("download_button")) == 1, names
    at.button(key="runs_prep_html").click().run()
    no_exception(at)
    assert len(at.get("download_button")) == 2
    at.button(key="runs_prep_models").click().run()
    no_exception(at)
    assert len(at.get("download_button")) == 2
    # side by side: one row per method and run, each method's runs together
    at.multiselect(key="runs_side").set_value([stored["run"], second.id]).run()
    no_exception(at)
    side = at.table[-1].value
    assert side.columns[0] == "method · run"
    methods, runs = zip(*(cell.split(" · ") for cell in side["method · run"]), strict=True)
    assert set(runs) == {stored["run"], second.id}
    assert list(methods) == sorted(methods, key=methods.index)  # each method's rows adjacent
    assert len(side) == 2 * len(set(methods))  # both runs ran every method
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    for k in range(3):  # accuracies, MIA and gap, time: one bar trace per run
        names = [t["name"] for t in charts[f"runs_side_chart_{k}"]["data"] if t["type"] == "bar"]
        assert set(names) == {stored["run"], second.id}, names
    # delete, with a confirmation
    at.selectbox(key="runs_pick").set_value(second.id).run()
    at.button(key="runs_delete").click().run()
    assert RunStore().get_comparison(second.id)  # not yet
    at.button(key="runs_delete_yes").click().run()
    no_exception(at)
    assert [r.id for r in RunStore().list_comparisons()] == [stored["run"]]


def test_a_several_seed_run_shows_error_bars_on_compare(stored):
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["ssd"]).run()
    at.number_input(key="p3_n_seeds").set_value(2).run()
    at.button(key="p3_run").click().run()
    wait_jobs()
    at.run()
    cid = at.session_state["comparison_id"]
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert '"error_x"' in charts["chart_acc"].proto.spec
    assert any("±" in v for v in at.table[0].value["forget acc (%)"])
    # a fresh session on the stored run shows it, with the first seed's stored models
    registries.comparison_registry().clear()
    registries.multi_registry().clear()
    fresh_at = app_with(run=cid)
    no_exception(fresh_at)
    fresh_at.switch_page("pages/compare.py").run()
    no_exception(fresh_at)
    assert "2 seeds" in texts(fresh_at.caption)
    assert registries.comparison_registry()[cid].get("ssd").model is not None
    fresh_at.switch_page("pages/attack.py").run()
    no_exception(fresh_at)


def test_a_reopened_running_job_shows_its_choices_on_the_unlearn_page(stored, slow_method):
    """A reload during a run: the new session's Unlearn page shows the job's methods, seeds and
    reference toggle, not the defaults."""
    at = app_with(model=stored["model"], forget=stored["forget"])
    at.switch_page("pages/unlearn.py").run()
    at.multiselect(key="p3_methods").set_value(["slow_for_test", "ssd"]).run()
    at.number_input(key="p3_seed").set_value(4).run()
    at.button(key="p3_run").click().run()
    jid = at.session_state["jobs"]["compare"]
    try:
        again = app_with(job=jid, model=stored["model"], forget=stored["forget"])
        again.switch_page("pages/unlearn.py").run()
        no_exception(again)
        assert again.multiselect(key="p3_methods").value == ["slow_for_test", "ssd"]
        assert again.number_input(key="p3_seed").value == 4
        assert again.toggle(key="p3_retrain").value is True
    finally:
        registries.job_registry()[jid].cancel()
        assert registries.job_registry()[jid].wait(30)

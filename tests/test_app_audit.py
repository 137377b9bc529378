"""The Audit page under AppTest on tiny real work: digits + a briefly trained MLP, class 3
forgotten, K = 2, one worker in-process. It runs an audit (table, epsilon embedding, relearning
curves, stored with its id in the URL), opens the instance view from an injected selection
event, reopens the stored audit from the URL in a fresh session, and runs a sweep whose best
settings it applies to the Unlearn page. A reload (a fresh session on the URL) during an audit
or a sweep shows the same job's progress and Cancel, then its result; a stored sweep reopens
after a server restart; the Runs page lists, opens and exports audits and sweeps."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``app_ui`` from its own folder
    sys.path.insert(0, str(ROOT))

from figure_checks import plotly_array  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core.audit.records import AuditResult  # noqa: E402
from unlearn_core.audit.sweep import SweepResult  # noqa: E402
from unlearn_core.forget import ForgetRequest  # noqa: E402
from unlearn_core.methods import get_method  # noqa: E402
from unlearn_core.plots.style import method_colour  # noqa: E402
from unlearn_core.runtime.workers import WORKERS_ENV  # noqa: E402
from unlearn_core.store import RunStore  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

APP = str(ROOT / "app.py")
CFG = TrainConfig(epochs=15, batch_size=64)
KEY = "model-audit-test"


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _session(digits_mlp) -> AppTest:
    """The Audit page with the session's model (digits MLP, seed 0) and class 3 forgotten."""
    import app_ui.registries as R

    R.model_registry()[KEY] = R.ModelEntry(
        model=digits_mlp, recipe=CFG, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.session_state["dataset"] = {"name": "digits", "params": {}}
    at.session_state["arch"] = "mlp"
    at.session_state["recipe"] = CFG.to_dict()
    at.session_state["train_seed"] = 0
    at.session_state["model_key"] = KEY
    at.session_state["forget"] = ForgetRequest(classes=(3,)).to_dict()
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    return at


def _wait(at: AppTest, purpose: str, timeout: float = 120.0):
    import app_ui.registries as R

    job = R.job_registry()[at.session_state["jobs"][purpose]]
    assert job.wait(timeout), f"the {purpose} job did not finish in {timeout} s"
    assert job.state == "done", (job.state, job.error, job.traceback)
    at.run()
    assert not at.exception, at.exception
    return job


def _charts(at: AppTest) -> dict:
    return {c.key: pio.from_json(c.proto.spec) for c in at.get("plotly_chart")}


def _cells(at: AppTest, index: int):
    from streamlit import dataframe_util

    table = at.table[index]
    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        table.proto.arrow_data.styler.display_values
    )


@pytest.fixture(scope="module")
def audited(digits_mlp):
    """One audit run through the page: (AppTest after the run, the job)."""
    at = _session(digits_mlp)
    assert any("Estimated time" in c.value for c in at.caption)
    at.multiselect(key="au_methods").set_value(["logit_suppression", "finetune"])
    at.number_input(key="au_k").set_value(2)
    at.number_input(key="au_workers").set_value(1)
    at.radio(key="au_relearn").set_value("forget samples")
    at.run()
    assert any("2 seeds x" in c.value for c in at.caption)  # the estimate follows K
    at.button(key="au_run").click().run()
    assert not at.exception, at.exception
    return at, _wait(at, "audit")


def test_audit_runs_and_shows_scores_embedding_and_relearning(audited, digits):
    at, job = audited
    aid = at.session_state["audit_id"]
    assert aid == job.result
    scores = _cells(at, 0)
    labels = [get_method(m).spec.label for m in ("logit_suppression", "finetune")]
    assert list(scores["model"]) == ["original", "retrain", *labels]
    quality = scores["forget quality"].tolist()
    assert quality[:2] == ["—", "—"]  # the references have none
    assert all(0.0 <= float(q) <= 1.0 for q in quality[2:])
    charts = _charts(at)
    assert {"au_scatter", "au_relearn_chart"} <= set(charts)
    forget_trace = charts["au_scatter"].data[-1]
    n_forget = int((digits.y_train == 3).sum())
    assert len(plotly_array(forget_trace.x)) == n_forget
    # every forget point carries its sample id, the first column of its customdata
    ids = [int(row[0]) for row in plotly_array(forget_trace.customdata)]
    assert sorted(ids) == sorted(np.flatnonzero(digits.y_train.numpy() == 3).tolist())
    curves = {t.name for t in charts["au_relearn_chart"].data if t.x and t.x[0] is not None}
    assert {"original", "retrain", *labels} <= curves
    # relearning over both seeds: the spread table and figure, and a cell per model
    assert "au_relearn_spread" in charts
    assert scores["relearning"].tolist()[1].endswith("steps · AIN 1")  # retrain: the reference
    spread = _cells(at, 1)
    assert spread["seeds measured"].tolist()[:2] == ["2 of 2", "2 of 2"]
    # stored in the run store, as an audit, and named in the URL
    doc = RunStore().read_comparison(aid)
    assert AuditResult.from_dict(doc["comparison"]).models_per_side == 2
    assert at.query_params["audit"] in (aid, [aid])


def test_instance_view_from_a_selection_event(audited, digits):
    at, _ = audited
    res = AuditResult.from_dict(
        RunStore().read_comparison(at.session_state["audit_id"])["comparison"]
    )
    sample = res.forget_ids[5]
    at.session_state["au_emb_method"] = "logit_suppression"
    at.session_state["au_scatter"] = {
        "selection": {"points": [{"customdata": [sample, 0.3]}], "point_indices": [5], "box": []}
    }
    at.run()
    assert not at.exception, at.exception
    assert any(f"Sample {sample}" in m.value for m in at.markdown)
    fig = _charts(at)["au_instance_chart"]
    names = [t.name for t in fig.data]
    assert names == ["original", "unlearned: logit_suppression", "retrain"]
    # the legend's label does not change the colour: the demonstration's, as on every chart
    assert fig.data[1].marker.color == method_colour("logit_suppression")
    probs = {t.name: plotly_array(t.y).astype(float) for t in fig.data}
    for p in probs.values():
        assert abs(p.sum() - 100.0) < 1e-3
    # the logits the audit kept, as probabilities: the demonstration moves the true class
    expected = torch.softmax(torch.tensor(res.logits["original"].forget[5]), 0).numpy() * 100
    np.testing.assert_allclose(probs["original"], expected, atol=1e-4)
    assert probs["unlearned: logit_suppression"].argmax() != 3


def test_a_fresh_session_reopens_the_audit_from_its_url(audited):
    at, _ = audited
    aid = at.session_state["audit_id"]
    fresh = AppTest.from_file(APP, default_timeout=60)
    fresh.query_params["audit"] = aid
    fresh.run()
    fresh.switch_page("pages/audit.py").run()
    assert not fresh.exception, fresh.exception
    assert fresh.session_state["audit_id"] == aid
    assert "au_scatter" in _charts(fresh)


def _start_ssd_grid_sweep(digits_mlp, trials: int) -> AppTest:
    """The session's Sweep section: SSD, a grid of ``trials`` trials, one worker, Run."""
    at = _session(digits_mlp)
    at.selectbox(key="sw_method").set_value("ssd")
    at.number_input(key="sw_trials").set_value(trials)
    at.radio(key="sw_sampler").set_value("grid")
    at.number_input(key="sw_workers").set_value(1)
    at.run()
    at.button(key="sw_run").click().run()
    return at


def test_sweep_trials_table_and_apply_to_unlearn(digits_mlp):
    at = _start_ssd_grid_sweep(digits_mlp, trials=2)
    job = _wait(at, "sweep")
    assert len(job.partial) == 2  # one Trial per finished trial, as they came
    from app_ui.audit_jobs import sweep_registry

    result = sweep_registry()[job.result].result
    assert at.session_state["sweep_id"] == job.result
    assert _url(at)["sweep"] == job.result  # stored, and named in the URL
    assert SweepResult.from_dict(RunStore().read_comparison(job.result)["comparison"]) == result
    trials = _cells(at, len(at.table) - 1)
    assert len(trials) == 2 and "gap to retrain (points)" in trials.columns
    assert float(trials["gap to retrain (points)"].iloc[0]) == pytest.approx(
        result.best.gap, abs=0.01
    )
    assert "sw_gap" in _charts(at)
    at.button(key="sw_apply").click().run()
    assert not at.exception, at.exception
    assert at.session_state["methods"]["ssd"]["alpha"] == result.best.params["alpha"]
    assert "ssd" in at.session_state["chosen_methods"]
    at.switch_page("pages/unlearn.py").run()  # the Unlearn page starts from those settings
    assert not at.exception, at.exception
    assert at.number_input(key="p3_ssd_alpha").value == pytest.approx(result.best.params["alpha"])


def test_learn_page_tells_the_story_from_the_committed_run():
    import json

    from app_ui.learn_story import STORY, story_sentence

    doc = json.loads(STORY.read_text(encoding="utf-8"))
    assert {r["method"] for r in doc["rows"]} >= {"retrain", "logit_suppression", "salun"}
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception, at.exception
    assert any("Verification is fragile" in m.value for m in at.markdown)
    assert any(story_sentence(doc) in c.value for c in at.caption)
    charts = _charts(at)
    checks = charts["learn_checks"]
    demo = next(r for r in doc["rows"] if r["method"] == "logit_suppression")
    bars = {t.xaxis: dict(zip(t.x, plotly_array(t.y), strict=True)) for t in checks.data}
    assert bars["x"]["demonstration"] == pytest.approx(demo["forget_acc"])  # first panel
    assert {t.name for t in charts["learn_curves"].data} >= {"demonstration", "retrain"}


def test_cancel_stores_what_finished_and_says_so(digits_mlp, tmp_path, monkeypatch):
    import app_ui.registries as R

    # an empty run store: the page's audits reuse the ensembles earlier audits stored, and
    # models already trained would all be scored before the cancel is heard
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    at = _session(digits_mlp)
    at.multiselect(key="au_methods").set_value(["finetune"])
    at.number_input(key="au_k").set_value(2)
    at.number_input(key="au_workers").set_value(1)
    at.run()
    at.button(key="au_run").click().run()
    job = R.job_registry()[at.session_state["jobs"]["audit"]]
    job.cancel()  # at once: the models not started are not run
    assert job.wait(60)
    at.run()
    assert not at.exception, at.exception
    assert job.state == "cancelled"
    assert any("Cancelled" in w.value for w in at.warning)
    stored = AuditResult.from_dict(RunStore().read_comparison(job.result)["comparison"])
    assert stored.cancelled
    trained = [m for m in stored.originals + stored.retrains if m.ok]
    assert len(trained) < 4 and any(m.cancelled for m in stored.originals + stored.retrains)
    assert at.session_state["audit_id"] == job.result


# ------------------------------------------------------------------ reloads and restarts
def _url(at: AppTest) -> dict[str, str]:
    """The session's URL parameters (what a reload or a new tab opens)."""
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def _fresh(params: dict[str, str]) -> AppTest:
    """A new session on ``params`` (a reload, a new tab), on the Audit page."""
    fresh = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        fresh.query_params[k] = v
    fresh.run()
    fresh.switch_page("pages/audit.py").run()
    assert not fresh.exception, fresh.exception
    return fresh


def _bar(at: AppTest):
    (bar,) = at.get("progress")
    return bar.proto


def test_a_reload_during_an_audit_shows_the_same_job_then_its_result(
    audited, digits_mlp, monkeypatch
):
    """The audit's computation is held at two points (the job, its storing, the URL and the
    pages are real); a fresh session on the first one's URL follows the same job."""
    import app_ui.registries as R
    from unlearn_core.audit import pipeline

    earlier = AuditResult.from_dict(
        RunStore().read_comparison(audited[0].session_state["audit_id"])["comparison"]
    )
    entered, step, moved, release = (threading.Event() for _ in range(4))

    def held_audit(*args, progress, should_stop, **kw):
        progress(0.25, "originals: 1 of 4 trained")
        entered.set()
        step.wait(60)
        progress(0.6, "methods: 1 of 2 run")
        moved.set()
        release.wait(60)
        return earlier

    # held in this process: the job's computing runs in-thread, not in a worker process
    monkeypatch.setenv(WORKERS_ENV, "0")
    monkeypatch.setattr(pipeline, "run_audit", held_audit)
    at = _session(digits_mlp)
    at.multiselect(key="au_methods").set_value(["finetune"])
    at.number_input(key="au_k").set_value(2)
    at.run()
    at.button(key="au_run").click().run()
    job = R.job_registry()[at.session_state["jobs"]["audit"]]
    try:
        assert entered.wait(30)
        url = _url(at)
        assert url["ajob"] == job.id and {"model", "forget"} <= set(url)
        fresh = _fresh(url)  # the reload
        assert fresh.session_state["jobs"]["audit"] == job.id
        bar = _bar(fresh)
        assert bar.value == 25 and "originals: 1 of 4 trained" in bar.text
        assert fresh.button(key="au_cancel").label == "Cancel"
        assert fresh.button(key="au_run").disabled  # one audit at a time
        step.set()
        assert moved.wait(30)
        fresh.run()  # (the page's fragment polls each second; a rerun reads the same job)
        assert _bar(fresh).value == 60 and "methods: 1 of 2 run" in _bar(fresh).text
    finally:
        step.set()
        release.set()
    assert job.wait(60) and job.state == "done", (job.state, job.error)
    fresh.run()
    assert not fresh.exception, fresh.exception
    assert fresh.session_state["audit_id"] == job.result  # its result, stored and shown
    assert _url(fresh)["audit"] == job.result and "ajob" not in _url(fresh)
    assert _cells(fresh, 0)["model"].tolist()[:2] == ["original", "retrain"]
    assert not fresh.get("progress")


def test_a_reload_during_a_sweep_cancels_there_and_a_restart_reopens_it(digits_mlp, monkeypatch):
    """A real three-trial grid whose second trial is held: a fresh session on the URL shows
    the job's progress and cancels it (the third trial is not run); the two trials that ran
    are stored; after a server restart (empty registries) the URL's ``sweep`` reopens them
    without a model, and the old job's id is refused in words."""
    import app_ui.audit_jobs as AJ
    import app_ui.registries as R
    from unlearn_core.audit import sweep as SW

    real = SW.run_trial
    entered, release = threading.Event(), threading.Event()

    def held_trial(**kw):
        if kw["number"] == 1:
            entered.set()
            release.wait(60)
        return real(**kw)

    monkeypatch.setenv(WORKERS_ENV, "0")  # held in this process (no worker process)
    monkeypatch.setattr(SW, "run_trial", held_trial)
    at = _start_ssd_grid_sweep(digits_mlp, trials=3)
    job = R.job_registry()[at.session_state["jobs"]["sweep"]]
    try:
        assert entered.wait(60)
        at.run()
        url = _url(at)
        assert url["sjob"] == job.id
        fresh = _fresh(url)
        bar = _bar(fresh)
        assert 0.0 < bar.value < 100 and "trials" in bar.text
        fresh.button(key="sw_cancel").click().run()
        assert job.cancel_requested
    finally:
        release.set()
    assert job.wait(60) and job.state == "cancelled", (job.state, job.error)
    fresh.run()
    assert not fresh.exception, fresh.exception
    assert any("Cancelled" in w.value for w in fresh.warning)
    sid = fresh.session_state["sweep_id"]
    assert sid == job.result and _url(fresh)["sweep"] == sid and "sjob" not in _url(fresh)
    shown = _cells(fresh, len(fresh.table) - 1)
    assert len(shown) == 3 and shown["error"].tolist()[-1] != "—"  # the cancelled trial
    stored = SweepResult.from_dict(RunStore().read_comparison(sid)["comparison"])
    assert [t.cancelled for t in stored.trials] == [False, False, True] and stored.stopped
    assert "cancelled" in RunStore().get_comparison(sid).note
    # a server restart: nothing of it is left in memory
    AJ.sweep_registry().clear()
    R.job_registry().pop(job.id)
    restarted = _fresh({"sweep": sid})
    assert restarted.session_state["sweep_id"] == sid
    again = _cells(restarted, len(restarted.table) - 1)
    assert again["gap to retrain (points)"].tolist() == shown["gap to retrain (points)"].tolist()
    assert "sw_gap" in _charts(restarted)
    assert not restarted.get("selectbox")  # no model in this session: no form, the sweep shown
    gone = AppTest.from_file(APP, default_timeout=60)
    gone.query_params["sjob"] = job.id
    gone.run()
    assert any("sweep job" in w.value and job.id in w.value for w in gone.warning)


def test_runs_page_lists_opens_and_exports_audits_and_sweeps(audited, digits, digits_mlp):
    from unlearn_core.audit.sweep import tune
    from unlearn_core.forget import make_split

    aid = audited[0].session_state["audit_id"]
    split = make_split(digits, ForgetRequest(classes=(3,)))
    res = tune(digits, digits_mlp, CFG, split, "ssd", trials=1, sampler="grid", workers=1)
    rec = RunStore().save_comparison(res, dataset=digits, recipe=CFG.to_dict(), save_models=False)
    sid = rec.id
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["owner"] = audited[0].session_state["owner"]  # the audit's browser
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    overview = at.table[0].value.set_index("run")
    assert overview.loc[aid, "kind"] == "audit" and overview.loc[sid, "kind"] == "sweep"
    assert overview.loc[sid, "closest to retrain"].startswith("ssd (gap")
    # a sweep: its row is the best trial; it opens on the Audit page
    at.selectbox(key="runs_pick").set_value(sid).run()
    assert any(f"ssd, best of {len(res.trials)} trials" in c.value for c in at.caption)
    at.button(key="runs_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["sweep_id"] == sid
    # exports: the JSON record at once, the HTML report; no models were stored
    at.button(key="runs_prep_html").click().run()
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 2
    assert not [b for b in at.button if b.key == "runs_prep_models"]  # not offered
    # side by side with the audit
    at.multiselect(key="runs_side").set_value([aid, sid]).run()
    assert not at.exception, at.exception
    assert {c.split(" · ")[1] for c in at.table[-1].value["method · run"]} == {aid, sid}
    # an audit: its report too; it opens on the Audit page
    at.selectbox(key="runs_pick").set_value(aid).run()
    assert any("An audit" in c.value for c in at.caption)
    at.button(key="runs_prep_html").click().run()
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 2
    at.button(key="runs_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["audit_id"] == aid
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    assert "au_scatter" in _charts(at) and "sw_gap" in _charts(at)

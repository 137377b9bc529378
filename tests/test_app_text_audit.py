"""The Audit page on text (issue 22): the many-model audit offered at a small K with an
estimate from the measured per-model cost, started as the image audit's queued job on a tiny
corpus, its stored result's scores, lenses and forget questions drawn; the estimate's
arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from streamlit.testing.v1 import AppTest  # noqa: E402
from test_app_setup import (  # noqa: E402
    APP,
    fresh,  # noqa: F401 - the autouse fixture: private caches and registries
    no_exception,
    texts,
)

from app_ui import registries  # noqa: E402
from app_ui.text_audit_job import K_CHOICES, text_audit_estimate  # noqa: E402
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset  # noqa: E402
from unlearn_core.text.audit_scores import TRAIN_S_LOADED, TRAIN_S_QUIET  # noqa: E402
from unlearn_core.text_app import train_text  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

TINY = {"n_people": 8, "facts_per_person": 4, "n_world": 8, "n_heldout": 4}
RECIPE = TrainConfig(**{**TEXT_RECIPE.to_dict(), "epochs": 150})
KEY = "model-text-audit"


def test_estimate_scales_the_measured_cost():
    data = facts_dataset()  # the default corpus: the figures' own size
    recipe = TrainConfig(**TEXT_RECIPE.to_dict())
    one = text_audit_estimate(data, recipe, ["npo"], 2, 1)
    # 4 trainings one after another, at the measured figure each, plus 2 unlearning runs
    assert 4 * TRAIN_S_QUIET < one.seconds < 4 * TRAIN_S_QUIET + 30
    assert 4 * TRAIN_S_LOADED < one.high < 4 * TRAIN_S_LOADED + 80
    two = text_audit_estimate(data, recipe, ["npo"], 2, 2)
    assert two.seconds < 0.6 * one.seconds  # the trainings shared over two workers
    assert text_audit_estimate(data, recipe, ["npo"], 4, 2).seconds > 1.8 * two.seconds
    small = text_audit_estimate(facts_dataset(**TINY), RECIPE, ["npo"], 2, 2)
    assert small.seconds < 0.2 * two.seconds


def test_text_audit_runs_as_a_job_and_shows_its_lenses(monkeypatch):
    import torch

    import app_ui.text_audit_job as J

    monkeypatch.setenv("UNLEARN_JOB_WORKERS", "0")  # the job in a server thread (no spawn)
    monkeypatch.setattr(J, "default_workers", lambda: 1)  # its calls in that thread too
    data = facts_dataset(**TINY)
    model, _ = train_text(data, RECIPE, seed=0, device="cpu")
    registries.model_registry()[KEY] = registries.ModelEntry(
        model=model, recipe=RECIPE, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["dataset"] = {"name": "facts", "params": dict(TINY)}
    at.session_state["arch"] = "tinylm"
    at.session_state["recipe"] = RECIPE.to_dict()
    at.run()
    at.session_state["model_key"] = KEY
    at.session_state["forget"] = TextForgetRequest(people=(0, 3)).to_dict()
    at.switch_page("pages/audit.py").run()
    no_exception(at)
    # the offer: language methods, a small K, the estimate; the cheap lens below
    assert set(at.multiselect(key="au_methods").options) >= {"NPO", "SimNPO"}
    assert at.multiselect(key="au_methods").value == ["npo"]
    assert list(at.select_slider(key="au_k").options) == [str(k) for k in K_CHOICES]
    assert "Estimated time" in texts(at.caption)
    assert "run the language methods on the Unlearn page first" in texts(at.info)
    at.multiselect(key="al_lenses").set_value(["klom", "ulira", "rmia", "quantize"])
    at.button(key="au_run").click().run()
    no_exception(at)
    job = registries.job_registry()[at.session_state["jobs"]["audit"]]
    assert job.wait(240), "the audit job did not finish"
    assert job.state == "done", job.error
    torch.set_num_threads(1)
    at.run()
    no_exception(at)
    heads = "\n".join(str(t.value.columns.tolist()) for t in at.table)
    assert "forget quality" in heads and "KLoM" in heads
    rows = next(t.value for t in at.table if "question" in t.value.columns)
    asked = {data.qa_train[i].question for i in data.make_split(
        TextForgetRequest(people=(0, 3))).forget_idx.tolist()}  # fmt: skip
    assert set(rows["question"]) <= asked and len(rows) == 8
    stored = registries.audit_registry()[job.result].result
    assert stored.model == "tinylm" and stored.models_per_side == 2
    o = stored.summary()["original"]
    assert o["forget_acc"] >= 75.0 and o["rmia_auc"] is not None
    # a fresh session (another browser, a restarted server) reopens it from its URL
    registries.audit_registry().clear()
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["audit"] = job.result
    again.run()
    again.switch_page("pages/audit.py").run()
    no_exception(again)
    assert again.session_state["audit_id"] == job.result
    assert any("question" in t.value.columns for t in again.table)


@pytest.fixture(autouse=True)
def _threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)

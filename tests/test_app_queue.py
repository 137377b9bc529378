"""The queue and the owner id in a session (AppTest): a new session gets an owner id in its
URL (a bad one from a link is refused), a job that waits for a free slot says its place and
an estimate and leaves the queue on its button, and a job's work runs as its session's
owner (what it stores is that owner's)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

import app_ui.common as common  # noqa: E402
import app_ui.registries as registries  # noqa: E402
from app_ui import jobs, owners  # noqa: E402
from unlearn_core.runtime.queue import JobQueue  # noqa: E402
from unlearn_core.store.owners import current_owner  # noqa: E402

APP = str(ROOT / "app.py")
ALICE, BOB = "alice0000001", "bob000000002"


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    yield tmp_path


def test_a_new_session_gets_an_owner_id_in_the_url_and_a_bad_one_is_refused():
    at = AppTest.from_file(APP, default_timeout=90).run()
    me = at.session_state["owner"]
    assert at.query_params["owner"] in (me, [me]) and owners.OWNER_ID.fullmatch(me)
    bad = AppTest.from_file(APP, default_timeout=90)
    bad.query_params["owner"] = "<script>"
    bad.run()
    assert bad.session_state["owner"] != "<script>"
    assert any("owner" in w.value for w in bad.warning)


# ---------------------------------------------------------------- the queue in a session
@pytest.fixture
def test_kind():
    kind = jobs.declare(jobs.JobKind("queue_test", "Testing", "test"))
    yield kind
    jobs.KINDS.pop(kind.name)


def _session() -> None:
    """Starts the test kind's job once (its work says whose it is) and shows it."""
    import streamlit as st

    from app_ui import jobs
    from unlearn_core.store.owners import current_owner

    kind = jobs.KINDS["queue_test"]
    if st.session_state.get("go"):
        st.session_state["go"] = False
        jobs.start(kind, "Queued test", lambda job: current_owner(), estimate_s=5)
    job = jobs.of(kind)
    if job is not None and not job.done:
        jobs.progress(job)
    st.markdown(f"state: {job.state if job else None}; result: {job.result if job else None}")


def test_a_waiting_job_says_its_place_and_leaves_the_queue(test_kind, monkeypatch):
    queue = JobQueue(limit=1)
    monkeypatch.setattr(jobs, "job_queue", lambda: queue)
    release = threading.Event()
    blocker = queue.submit("someone else's", lambda job: release.wait(30), owner="x", estimate_s=40)
    try:
        at = AppTest.from_function(_session, default_timeout=30)
        at.session_state["go"] = True
        at.session_state["owner"] = ALICE
        at.run()
        assert not at.exception, at.exception
        job = registries.job_registry()[at.session_state["jobs"]["queue_test"]]
        assert job.waiting
        text = jobs.waiting_text(job)
        assert text.startswith("Waiting for a free slot (1 of 1 running): no job ahead, about")
        leave = at.button(key=f"jobline_leave_{job.id}")
        assert leave.label == "Leave the queue"
        leave.click().run()
        assert job.state == "cancelled" and queue.waiting() == 0
    finally:
        release.set()
        blocker.wait(10)


def test_a_job_runs_as_its_sessions_owner(test_kind):
    at = AppTest.from_function(_session, default_timeout=30)
    at.session_state["go"] = True
    at.session_state["owner"] = BOB
    at.run()
    job = registries.job_registry()[at.session_state["jobs"]["queue_test"]]
    assert job.wait(10) and job.result == BOB and current_owner() == ""

"""The app's one jobs module (``app_ui.jobs``): every kind of job is declared once, a new kind
needs nothing but its declaration (start, find, adopt, reopen from the URL), and the URL's job
parameters name declared kinds."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app_ui import jobs, registries, state  # noqa: E402

#: a session key the test kind's result becomes (the kinds' result keys are declared keys)
RESULT = state.AUDIT_ID


@pytest.fixture
def test_kind():
    """A kind of job declared the way a new track would declare one."""
    kind = jobs.declare(jobs.JobKind("test_track", "Testing", "test", result_key=RESULT))
    yield kind
    jobs.KINDS.pop(kind.name)


def test_the_app_declares_its_kinds_and_the_urls_job_parameters_name_them():
    assert {"train", "compare", "audit", "sweep", "umap", "inversion"} <= set(jobs.KINDS)
    for param in state.URL_PARAMS:
        if param.job:
            assert param.job in jobs.KINDS and jobs.KINDS[param.job].url == param
    assert {k.url.name for k in jobs.KINDS.values() if k.url} == {"job", "ajob", "sjob", "ijob"}
    with pytest.raises(ValueError, match="declared twice"):
        jobs.declare(jobs.JobKind("compare", "x", "x"))


def _session() -> None:
    """A page that starts the test kind's job once and follows it (AppTest runs this)."""
    import streamlit as st

    from app_ui import jobs, state

    kind = jobs.KINDS["test_track"]
    if st.session_state.get("go"):
        st.session_state["go"] = False
        release = st.session_state["release"]

        def work(job):
            job.report(0.5, "half way")
            release.wait(30)
            return "result-1"

        jobs.start(kind, "Testing", work, context={"why": "a test"}, tag=("t", 1))
    jobs.adopt_all()
    job = jobs.of(kind)
    if job is not None and not job.done:
        jobs.progress(job, cancel_key="test_cancel")
    st.markdown(f"result: {state.AUDIT_ID.get()}")


def test_a_kind_declared_once_is_started_found_followed_and_adopted(test_kind):
    release = threading.Event()
    at = AppTest.from_function(_session, default_timeout=30)
    at.session_state["go"], at.session_state["release"] = True, release
    at.run()
    assert not at.exception, at.exception
    job = registries.job_registry()[at.session_state["jobs"]["test_track"]]
    try:
        assert jobs.find(test_kind, ("t", 1)) is job
        assert registries.job_records()[job.id].context == {"why": "a test"}
        assert at.button(key="test_cancel").label == "Cancel"
        assert "result: None" in at.markdown[0].value
    finally:
        release.set()
    assert job.wait(10) and job.state == "done"
    at.run()
    assert "result: result-1" in at.markdown[0].value  # adopted, once
    at.session_state["audit_id"] = "shown elsewhere"
    at.run()
    assert "result: shown elsewhere" in at.markdown[0].value  # not adopted again
    jobs.drop(test_kind, ("t", 1))
    assert jobs.find(test_kind, ("t", 1)) is None


def _reopen() -> None:
    import streamlit as st

    from app_ui import jobs

    try:
        jobs.restore(st.session_state["param"], st.session_state["jid"])
    except Exception as exc:  # noqa: BLE001 - shown to the test
        st.markdown(f"refused: {exc}")


def test_the_url_reopens_a_running_job_of_its_kind_only():
    from unlearn_core.runtime.jobs import start_job

    release = threading.Event()
    job = start_job("Audit", lambda j: release.wait(30))
    registries.job_registry()[job.id] = job
    registries.job_records()[job.id] = registries.JobRecord("audit")
    try:
        at = AppTest.from_function(_reopen, default_timeout=30)
        at.session_state["param"], at.session_state["jid"] = "ajob", job.id
        at.run()
        assert not at.markdown and at.session_state["jobs"]["audit"] == job.id
        wrong = AppTest.from_function(_reopen, default_timeout=30)
        wrong.session_state["param"], wrong.session_state["jid"] = "sjob", job.id
        wrong.run()
        assert "refused: no sweep job" in wrong.markdown[0].value
    finally:
        release.set()
        job.wait(10)
        registries.job_registry().pop(job.id, None)
        registries.job_records().pop(job.id, None)

"""``python -m streamlit`` with a gate on the app's background jobs, for the browser tests.

While the file named by ``UNLEARN_TEST_JOB_GATE`` exists, a job whose work has returned waits
before it is marked done (a cancel still ends it). A test that must see a run *while it runs*
(the sidebar's live progress on another page) creates the file before the click and removes it
once it has looked, so the check does not depend on how fast the machine finishes the run.
The app is not changed: only this process's ``unlearn_core.runtime.jobs.run_job`` (what runs
every job, queued or not) is wrapped, before Streamlit imports the app.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, as ``-m`` would give
from unlearn_core.runtime import jobs  # noqa: E402

GATE = Path(os.environ["UNLEARN_TEST_JOB_GATE"])
_run_job = jobs.run_job


def gated_run_job(job, work):
    def gated(job):
        result = work(job)
        while GATE.exists() and not job.cancel_requested:
            time.sleep(0.05)
        return result

    return _run_job(job, gated)


jobs.run_job = gated_run_job

if __name__ == "__main__":
    from streamlit.web.cli import main

    sys.argv[0] = "streamlit"
    main(prog_name="streamlit")

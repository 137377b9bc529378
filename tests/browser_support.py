"""Start ``streamlit run app.py`` on localhost and drive it with Playwright + Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium_under_ci(env: dict | None = None) -> None:
    """Under CI (``CI=true``) a missing Chromium is an error, not a skip: CI cannot pass
    without its browser walk. Elsewhere the browser tests skip."""
    env = os.environ if env is None else env
    if chromium_path() is None and env.get("CI", "").lower() == "true":
        raise RuntimeError(
            "CI=true but no Chromium is installed, so the browser tests cannot run "
            "(.ci/run installs Debian's chromium)"
        )


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """A real Streamlit server on 127.0.0.1 with a private model cache."""

    def __init__(self, cache_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: while this file exists, a finished job waits before it is marked done
        #: (``tests/gated_server.py``); :meth:`hold_jobs` makes and removes it
        self.job_gate = cache_dir / "job-gate"
        env = {
            **os.environ,
            "UNLEARN_CACHE": str(cache_dir),
            "UNLEARN_TEST_JOB_GATE": str(self.job_gate),
            "PYTHONUNBUFFERED": "1",
        }
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "gated_server.py"),
                "run",
                "app.py",
                "--server.headless=true",
                f"--server.port={self.port}",
                "--server.address=127.0.0.1",
                "--browser.gatherUsageStats=false",
                "--server.fileWatcherType=none",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.up_at = self._wait_healthy(timeout=90)

    def _wait_healthy(self, timeout: float) -> float:
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log.name}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r,
            ):
                if r.read().strip() == b"ok":
                    return time.perf_counter()
            time.sleep(0.2)
        raise TimeoutError("streamlit did not become healthy")

    def hold_jobs(self, hold: bool) -> None:
        """Whether a job that has done its work must wait before it is marked done."""
        if hold:
            self.job_gate.touch()
        else:
            self.job_gate.unlink(missing_ok=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

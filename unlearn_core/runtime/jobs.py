"""Background jobs: run long library work in a thread and read its progress from elsewhere.

A UI polls :class:`Job` (state, fraction, message, partial results); the worker reports through
the library's ``progress(fraction, message)`` protocol. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JobCancelled(Exception):
    """Raised inside the worker at its next progress report after :meth:`Job.cancel`."""


@dataclass
class Job:
    title: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"  # queued | running | done | failed | cancelled
    fraction: float = 0.0
    message: str = ""
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    partial: list = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: set by a queue while the job waits: takes it out of the queue (``queue.JobQueue``)
    _withdraw: Callable[[], bool] | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in {"done", "failed", "cancelled"}

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.perf_counter()) - self.started

    def report(self, fraction: float, message: str = "") -> None:
        """The progress callback handed to the library."""
        if self._cancel.is_set():
            raise JobCancelled(self.title)
        with self._lock:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
            self.message = message

    def add_partial(self, item: Any) -> None:
        with self._lock:
            self.partial.append(item)

    def cancel(self) -> None:
        """Stop the job: at its next progress report if it runs, at once if it waits."""
        self._cancel.set()
        withdraw = self._withdraw
        if withdraw is not None:
            withdraw()

    @property
    def waiting(self) -> bool:
        """Whether the job waits in a queue for a free slot."""
        return self.state == "queued"

    @property
    def cancel_requested(self) -> bool:
        """Whether :meth:`cancel` was called (for work that stops through ``should_stop``)."""
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.perf_counter() + timeout
        while not self.done:
            if end is not None and time.perf_counter() > end:
                return False
            time.sleep(0.02)
        return True


def run_job(job: Job, work: Callable[[Job], Any]) -> None:
    """Run ``work(job)`` here (the calling thread); its return value becomes ``job.result``.
    A job cancelled before it starts does not run."""
    job.state, job.started = "running", time.perf_counter()
    try:
        if job.cancel_requested:
            raise JobCancelled(job.title)
        job.result = work(job)
        job.state, job.fraction = "done", 1.0
    except JobCancelled:
        job.state = "cancelled"
    except Exception as exc:  # noqa: BLE001 - reported to the UI, never lost
        job.error = f"{type(exc).__name__}: {exc}"
        job.traceback = traceback.format_exc(limit=8)
        job.state = "failed"
    finally:
        job.finished = time.perf_counter()


def start_job(title: str, work: Callable[[Job], Any]) -> Job:
    """Run ``work(job)`` in a daemon thread at once (no queue: ``queue.JobQueue`` for one);
    its return value becomes ``job.result``."""
    job = Job(title=title)
    threading.Thread(target=run_job, args=(job, work), name=f"job-{job.id}", daemon=True).start()
    return job

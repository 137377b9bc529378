"""One fair queue for a server's background jobs: at most ``limit`` run at once, the rest wait.

Fair: the next job to start is taken round-robin over owners (a browser session, a user), each
owner's jobs in the order they were submitted, so one owner's ten jobs do not starve another's
one. A waiting job knows its place (:meth:`JobQueue.ahead`) and an estimate of its wait
(:meth:`JobQueue.wait_estimate`, from the jobs' own estimates in seconds), and can be
cancelled while it waits (``job.cancel()``: it leaves the queue at once, marked cancelled).

The limit: :func:`concurrency_limit` reads ``UNLEARN_MAX_JOBS`` (the same setting the
library's local executor honours), else one job per CPU core. Nothing here knows about
Streamlit.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import jobs as _jobs
from .jobs import Job

#: the environment variable that sets how many jobs run at once (server queue and local workers)
LIMIT_ENV = "UNLEARN_MAX_JOBS"


def concurrency_limit(default: int | None = None) -> int:
    """How many jobs may run at once: ``UNLEARN_MAX_JOBS`` if set (a positive integer), else
    ``default``, else one per CPU core this process may use (at least 1)."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError as exc:
            raise ValueError(f"{LIMIT_ENV}={raw!r} is not a whole number") from exc
        if value < 1:
            raise ValueError(f"{LIMIT_ENV}={raw!r}: at least 1 job must be allowed to run")
        return value
    if default is not None:
        return max(1, int(default))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class _Entry:
    job: Job
    work: Callable[[Job], Any]
    owner: str
    estimate_s: float | None
    submitted: float


class JobQueue:
    """A fair queue with a concurrency limit (see the module's description)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = concurrency_limit() if limit is None else max(1, int(limit))
        self._lock = threading.RLock()
        #: owner -> its waiting entries (insertion order of owners = round-robin order)
        self._waiting: OrderedDict[str, deque[_Entry]] = OrderedDict()
        self._running: dict[str, _Entry] = {}
        #: the owner served last (the rotation starts after it)
        self._last_owner: str | None = None

    # ------------------------------------------------------------------ submitting
    def submit(
        self,
        title: str,
        work: Callable[[Job], Any],
        *,
        owner: str = "",
        estimate_s: float | None = None,
    ) -> Job:
        """Queue ``work(job)``; it starts at once when a slot is free. Returns the job
        (``state == "queued"`` until it starts)."""
        job = Job(title=title)
        entry = _Entry(job, work, str(owner), estimate_s, time.perf_counter())
        job._withdraw = lambda: self._withdraw(job)  # type: ignore[attr-defined]
        with self._lock:
            self._waiting.setdefault(entry.owner, deque()).append(entry)
        self._dispatch()
        return job

    # ------------------------------------------------------------------ reading
    def order(self) -> list[Job]:
        """The waiting jobs in the order they will start (round-robin over owners)."""
        with self._lock:
            return [e.job for e in self._order()]

    def _order(self) -> list[_Entry]:
        ring = list(self._waiting)  # owners in the order first seen: the rotation
        if self._last_owner in ring:  # it resumes after the owner served last
            i = ring.index(self._last_owner) + 1
            ring = ring[i:] + ring[:i]
        queues = [list(self._waiting[o]) for o in ring if self._waiting[o]]
        out: list[_Entry] = []
        for depth in range(max((len(q) for q in queues), default=0)):
            out.extend(q[depth] for q in queues if depth < len(q))
        return out

    def ahead(self, job: Job) -> int | None:
        """How many waiting jobs start before ``job``; None when it is not waiting."""
        with self._lock:
            for i, e in enumerate(self._order()):
                if e.job is job:
                    return i
        return None

    def waiting(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._waiting.values())

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def wait_estimate(self, job: Job, default_s: float = 30.0) -> float | None:
        """Seconds until ``job`` should start: the running jobs' time left (their estimate
        less their elapsed time, or ``default_s`` without an estimate) and the estimates of the
        jobs ahead, spread over the ``limit`` slots. None when ``job`` is not waiting."""
        with self._lock:
            order = self._order()
            idx = next((i for i, e in enumerate(order) if e.job is job), None)
            if idx is None:
                return None
            slots = [
                max(0.0, (e.estimate_s if e.estimate_s is not None else default_s) - e.job.elapsed)
                for e in self._running.values()
            ]
        slots += [0.0] * max(0, self.limit - len(slots))
        for e in order[:idx]:
            k = min(range(len(slots)), key=slots.__getitem__)
            slots[k] += e.estimate_s if e.estimate_s is not None else default_s
        return min(slots)

    # ------------------------------------------------------------------ running
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if len(self._running) >= self.limit:
                    return
                order = self._order()
                if not order:
                    return
                entry = order[0]
                self._waiting[entry.owner].popleft()
                self._last_owner = entry.owner
                for o in [o for o, q in self._waiting.items() if not q and o != entry.owner]:
                    del self._waiting[o]  # an owner with nothing waiting leaves the rotation
                self._running[entry.job.id] = entry
                entry.job._withdraw = None  # type: ignore[attr-defined]
            threading.Thread(
                target=self._run, args=(entry,), name=f"job-{entry.job.id}", daemon=True
            ).start()

    def _run(self, entry: _Entry) -> None:
        try:
            _jobs.run_job(entry.job, entry.work)
        finally:
            with self._lock:
                self._running.pop(entry.job.id, None)
            self._dispatch()

    def _withdraw(self, job: Job) -> bool:
        """Take waiting ``job`` out of the queue, marked cancelled; False if it already
        started."""
        with self._lock:
            for q in self._waiting.values():
                for e in q:
                    if e.job is job:
                        q.remove(e)
                        job.state = "cancelled"
                        job.finished = time.perf_counter()
                        return True
        return False

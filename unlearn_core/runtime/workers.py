"""Job worker processes: run a job's library call in a spawned process, its progress streamed back.

Why: a server's jobs (training, comparisons) ran as threads of the server process, so their
Python share of the work held the interpreter lock that every page of every session needs; with
20 sessions on 2 cores, first pages took 41 s (``benchmarks/results/load.md``). A worker process
keeps the work off that lock: the server thread only forwards messages.

Protocol: :meth:`JobWorker.call` sends ``(function path, kwargs)``; the worker calls
``fn(progress=..., emit=..., **kwargs)`` and answers with ``progress`` messages (at most every
:data:`SEND_S`, and the last one of a call), ``event`` messages (``emit(name, payload)``: partial
results), then one ``result``, ``cancelled`` or ``error``. Messages are pickled by this module on
both ends (the two processes are one program; nothing from outside is unpickled).

A cancel: the caller's ``progress`` raises (the app's ``Job.report`` after ``Job.cancel``) and
the worker is told. The library stops in one of two ways, and the worker serves both: work that
stops by a raising callback (``compare``) gets a ``progress`` that raises
:class:`~unlearn_core.runtime.jobs.JobCancelled` at its next report (it hands back what finished
as an event, and the call raises ``JobCancelled``); work that takes a ``should_stop`` parameter
(an audit, a sweep) gets one that turns true, and a ``progress`` that never raises: it returns
its result marked cancelled, and the call returns it.

Workers are spawned (not forked: a fork of a threaded process whose torch has started its
OpenMP threads can hang), each with :func:`worker_threads` torch threads, started at the first
call that finds none idle (that call runs in its own thread meanwhile: a spawn costs a few
seconds, mostly importing torch) or ahead of time (:meth:`WorkerPool.warm`), and replaced when
one dies. ``UNLEARN_JOB_WORKERS=0`` runs calls in the caller's thread instead.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from .jobs import JobCancelled
from .progress import Progress

#: the environment variable that turns the worker processes off (``0``: calls run in-thread)
WORKERS_ENV = "UNLEARN_JOB_WORKERS"
#: the shortest interval between two progress messages of a call (the app polls every 0.5 s)
SEND_S = 0.05
#: how often the caller's side hears from its ``progress`` while the worker is silent (a
#: cancel is noticed within this)
POLL_S = 0.1
#: how much lower a worker's CPU priority is than the server's (``os.nice``): on a busy
#: machine a job gets about a third of a core the pages also want, all of an idle one
WORKER_NICE = 5
#: what a call's progress says while its worker is still starting
STARTING = "Starting a job process"
#: the longest a call waits for a starting worker before it runs in the caller's thread
SPAWN_WAIT_S = 90.0

Emit = Callable[[str, Any], None]


class WorkerError(RuntimeError):
    """The call raised in the worker: ``kind`` is the exception's class name, ``str()`` its
    message, ``remote_traceback`` the worker's traceback."""

    def __init__(self, kind: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.remote_traceback = remote_traceback


class WorkerDied(RuntimeError):
    """The worker process ended during a call (killed, out of memory)."""


def enabled() -> bool:
    """Whether jobs run in worker processes (``UNLEARN_JOB_WORKERS`` is not ``0``)."""
    return os.environ.get(WORKERS_ENV, "1").strip() not in {"0", "false", "no", "off"}


def worker_threads(workers: int) -> int:
    """Torch threads per worker: the cores but one (left to the server's pages), shared by
    ``workers`` workers, at least one."""
    cores = os.cpu_count() or 1
    return max(1, (cores - 1) // max(1, workers))


def function_path(fn: Callable) -> str:
    """``module:qualname`` of a module-level function (what a worker can import)."""
    path = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in fn.__qualname__ or fn.__module__ == "__main__":
        raise ValueError(f"{path} is not a module-level function a worker process can import")
    return path


def _resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _send(conn, message: tuple) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _receive(conn) -> tuple:
    return pickle.loads(conn.recv_bytes())  # noqa: S301 - from our own worker process


def _lower_priority(pid: int, nice: int | None) -> None:
    """Set process ``pid``'s niceness to ``nice`` if that lowers its priority (0: this one)."""
    if nice is None:
        return
    with suppress(AttributeError, OSError):  # (no setpriority on Windows)
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)


def _worker_nice() -> int | None:
    """The niceness a worker runs at: the server's plus :data:`WORKER_NICE` (at most 19)."""
    try:
        return min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE)
    except (AttributeError, OSError):
        return None


def _serve(conn, cancel, threads: int, nice: int | None = None) -> None:
    """The worker's loop (in the spawned process): one call at a time until told to stop.
    It runs at a lower CPU priority (``nice``, set by the parent as soon as it is started, and
    here again in case that came late): where the server's pages and a job want the same core,
    the page a person waits on goes first, also while the worker is still importing torch."""
    _lower_priority(0, nice)
    import torch

    torch.set_num_threads(threads)
    _send(conn, ("ready",))  # (the caller says "Starting a job process" until this)
    while True:
        try:
            task = _receive(conn)
        except (EOFError, OSError):
            return
        if task is None:
            return
        answer = _run_task(conn, cancel, *task)
        try:
            _send(conn, answer)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - the result itself could not be pickled
            _send(conn, ("error", type(exc).__name__, f"the result could not be sent: {exc}", ""))


def _run_task(conn, cancel, path: str, kwargs: dict[str, Any]) -> tuple:
    """Run one call in the worker; its answer message (``result``, ``cancelled``, ``error``)."""
    try:
        fn = _resolve(path)
        # work that takes ``should_stop`` stops by asking; the rest by a raising ``progress``
        asks = "should_stop" in inspect.signature(fn).parameters
        if asks:
            kwargs = {**kwargs, "should_stop": cancel.is_set}
        progress = _Progress(conn, cancel, raises=not asks)

        def emit(name: str, payload: Any) -> None:
            _send(conn, ("event", name, payload))

        return ("result", fn(progress=progress, emit=emit, **kwargs))
    except JobCancelled:
        return ("cancelled",)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        return ("error", type(exc).__name__, str(exc), traceback.format_exc(limit=12))


class _Progress:
    """The worker's progress callback: sends a report at most every :data:`SEND_S` (and every
    last one, and every step back); raises :class:`JobCancelled` after a cancel if ``raises``."""

    def __init__(self, conn, cancel, *, raises: bool) -> None:
        self.conn, self.cancel, self.raises = conn, cancel, raises
        self.sent_at, self.fraction = 0.0, 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.raises and self.cancel.is_set():
            raise JobCancelled("cancelled")
        now = time.monotonic()
        if now - self.sent_at >= SEND_S or fraction >= 1.0 or fraction < self.fraction:
            self.sent_at, self.fraction = now, fraction
            _send(self.conn, ("progress", float(fraction), str(message)))


class JobWorker:
    """One spawned worker process; :meth:`call` runs one call in it at a time."""

    def __init__(self, threads: int = 1) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._cancel = ctx.Event()
        self.threads = threads
        nice = _worker_nice()
        self.process = ctx.Process(
            target=_serve,
            args=(child, self._cancel, threads, nice),
            name="unlearn-job",
            daemon=True,
        )
        self.process.start()
        if self.process.pid:  # before the child's imports, not after them
            _lower_priority(self.process.pid, nice)
        child.close()
        self._lock = threading.Lock()
        self.ready = False  # the worker has imported torch and said so

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def call(
        self,
        fn: Callable,
        kwargs: dict[str, Any],
        *,
        progress: Progress,
        on_event: Emit | None = None,
    ) -> Any:
        """``fn(progress=..., emit=..., **kwargs)`` in the worker; returns its result.

        ``progress`` hears the worker's reports, and its last report again every
        :data:`POLL_S` while the worker is silent: when it raises (a cancel), the worker is told
        to stop and the call raises :class:`JobCancelled` once the worker has answered.
        ``on_event(name, payload)`` hears the worker's ``emit`` calls. A failure in the worker
        raises :class:`WorkerError`; a worker that dies, :class:`WorkerDied`."""
        path = function_path(fn)
        with self._lock:
            self._cancel.clear()
            try:
                _send(self._conn, (path, kwargs))
            except (BrokenPipeError, OSError) as exc:
                raise WorkerDied(f"the job's worker process is gone ({exc})") from None
            fraction, stopping = 0.0, False
            message = "" if self.ready else STARTING
            while True:
                if not self._conn.poll(POLL_S):
                    if not self.process.is_alive():
                        raise WorkerDied(
                            f"the job's worker process ended (exit code {self.process.exitcode})"
                        )
                    if not stopping:
                        try:
                            progress(fraction, message)
                        except JobCancelled:
                            stopping = True
                            self._cancel.set()
                    continue
                try:
                    msg = _receive(self._conn)
                except (EOFError, OSError) as exc:
                    raise WorkerDied(f"the job's worker process ended ({exc})") from None
                kind = msg[0]
                if kind == "ready":
                    self.ready = True
                    if message == STARTING:
                        message = ""
                elif kind == "progress":
                    fraction, message = msg[1], msg[2]
                    if not stopping:
                        try:
                            progress(fraction, message)
                        except JobCancelled:
                            stopping = True
                            self._cancel.set()
                elif kind == "event":
                    if on_event is not None:
                        on_event(msg[1], msg[2])
                elif kind == "result":  # (after a cancel: work that stops by asking, or
                    return msg[1]  # that finished before it heard; the caller decides)
                elif kind == "cancelled":
                    raise JobCancelled(path)
                else:
                    raise WorkerError(msg[1], msg[2], msg[3])

    def close(self) -> None:
        """Ask the worker to stop, and stop it if it does not within a second."""
        with suppress(BrokenPipeError, OSError):
            _send(self._conn, None)
        self.process.join(1.0)
        if self.process.is_alive():
            self.process.terminate()
        self._conn.close()


class WorkerPool:
    """Up to ``size`` :class:`JobWorker`s, lent one per call (``size``: the job queue's
    concurrency limit, so a queued job finds one once they are started).

    The app calls :meth:`warm` at a session's first interaction (at its first page, the
    spawn made a second visitor's first page 1.40x a bare page's instead of 1.17x, even at
    the workers' low priority from the spawn's first instruction: ``benchmarks/app_speed.py``).
    A call that finds no idle worker starts one (while fewer than ``size`` exist or are
    starting) and runs in the caller's thread, so a lone user never waits for a spawn; but
    only one call at a time does that, and the next ones wait for the starting worker (saying
    so to ``progress``): a bound on the jobs in the server's own process, whose interpreter
    lock every session's pages need."""

    def __init__(self, size: int, threads: int | None = None) -> None:
        self.size = max(1, int(size))
        self.threads = worker_threads(self.size) if threads is None else threads
        self._idle: list[JobWorker] = []
        self._all: list[JobWorker] = []
        self._starting = 0
        self._here = 0  # calls running in the caller's thread now
        self._cond = threading.Condition()

    def warm(self) -> None:
        """Start a worker in the background now unless one exists or is starting."""
        if not enabled():
            return
        with self._cond:
            self._prune()
            if not self._all and not self._starting:
                self._start_one()

    def ready(self, timeout: float = 120.0) -> bool:
        """Wait until a worker is idle (:meth:`warm` first); whether one is."""
        self.warm()
        end = time.monotonic() + timeout
        with self._cond:
            while not self._idle and time.monotonic() < end:
                self._cond.wait(0.1)
                self._prune()
            return bool(self._idle)

    def _prune(self) -> None:
        """(Lock held.) Forget dead workers."""
        self._all = [w for w in self._all if w.alive]
        self._idle = [w for w in self._idle if w.alive]

    def _start_one(self) -> None:
        """(Lock held.) Spawn one more worker in the background, if the pool is not full."""
        if len(self._all) + self._starting >= self.size:
            return
        self._starting += 1

        def start() -> None:
            worker = None
            try:
                worker = JobWorker(self.threads)
            finally:  # (a failed start: the next call that finds none tries again)
                with self._cond:
                    self._starting -= 1
                    if worker is not None:
                        self._all.append(worker)
                        self._idle.append(worker)
                    self._cond.notify_all()

        threading.Thread(target=start, name="job-worker-start", daemon=True).start()

    def _lend(self, progress: Progress) -> JobWorker | None:
        """An idle worker, waiting for a starting one while another call runs in the caller's
        thread; None: run this call here (see the class text)."""
        end = time.monotonic() + SPAWN_WAIT_S
        with self._cond:
            while True:
                self._prune()
                if self._idle:
                    return self._idle.pop()
                self._start_one()
                if self._here == 0 or not self._starting or time.monotonic() > end:
                    self._here += 1
                    return None
                self._cond.wait(POLL_S)
                self._cond.release()
                try:
                    progress(0.0, STARTING)  # (raises on a cancel)
                finally:
                    self._cond.acquire()

    def call(
        self,
        fn: Callable,
        kwargs: dict[str, Any],
        *,
        progress: Progress,
        on_event: Emit | None = None,
        here: bool = False,
    ) -> Any:
        """:meth:`JobWorker.call` on an idle worker; in the caller's thread when ``here``
        (work a fresh process could not import), when the workers are turned off
        (:func:`enabled`), or as the class text says when none is idle."""
        if here or not enabled():
            return run_here(fn, kwargs, progress=progress, on_event=on_event)
        worker = self._lend(progress)
        if worker is None:
            try:
                return run_here(fn, kwargs, progress=progress, on_event=on_event)
            finally:
                with self._cond:
                    self._here -= 1
                    self._cond.notify_all()
        try:
            return worker.call(fn, kwargs, progress=progress, on_event=on_event)
        finally:
            with self._cond:
                if worker.alive:
                    self._idle.append(worker)
                self._cond.notify_all()

    def processes(self) -> list[int]:
        """The process ids of the live workers (for memory figures)."""
        with self._cond:
            return [w.process.pid for w in self._all if w.alive and w.process.pid]

    def memory_mb(self) -> float | None:
        """The live workers' resident memory, summed (None where ``/proc`` is missing)."""
        total = 0.0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            except (OSError, ValueError, IndexError, AttributeError):
                return None
        return total

    def close(self) -> None:
        """Stop the idle workers (a lent one stops when its call returns and it is closed)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()


def run_here(
    fn: Callable, kwargs: dict[str, Any], *, progress: Progress, on_event: Emit | None = None
) -> Any:
    """The same call in this thread (no worker): events go straight to ``on_event``; work that
    takes ``should_stop`` gets one that turns true once ``progress`` has raised (it is asked
    again when the work asks), and a ``progress`` that never raises, as in a worker."""

    def emit(name: str, payload: Any) -> None:
        if on_event is not None:
            on_event(name, payload)

    if "should_stop" not in inspect.signature(fn).parameters:
        return fn(progress=progress, emit=emit, **kwargs)
    stop = threading.Event()
    last: list = [0.0, ""]

    def polite(fraction: float, message: str = "") -> None:
        last[:] = [fraction, message]
        if not stop.is_set():
            try:
                progress(fraction, message)
            except JobCancelled:
                stop.set()

    def should_stop() -> bool:
        if not stop.is_set():
            polite(*last)
        return stop.is_set()

    return fn(progress=polite, emit=emit, should_stop=should_stop, **kwargs)

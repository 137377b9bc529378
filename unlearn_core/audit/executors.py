"""Executors: run many independent calls (train a seed, run a method, a sweep trial) locally
or on Ray, with the same numbers either way.

Contract (:class:`Executor`): ``map(fn, calls, shared=..., progress=..., should_stop=...)`` calls
``fn(**shared, **call)`` once per call and returns the results in call order. A call that raises
leaves a :class:`TaskFailure` in its slot and the others go on; once ``should_stop()`` is true,
calls not yet started are not started and get ``TaskFailure(cancelled=True)``; ``progress(done /
n, message)`` moves as calls finish. ``fn`` must be a module-level (picklable) function.

Same numbers on every executor: each call runs with :data:`CALL_THREADS` torch threads (the
in-process path restores the caller's count afterwards), and calls should return models as CPU
state dicts, never live modules.

Local executor (the default): with one worker, calls run in this process one after another; with
more, a pool of ``workers`` spawned processes (spawned, not forked: a fork of a process whose
torch has already started OpenMP threads can hang) each running one call at a time with one torch
thread. Measured on the shared 2-core machine (4 MLP trainings on digits, default recipe, noisy):
in-process with 1 torch thread 9.5 s, in-process with 2 torch threads 31 s (intra-op threads do
not pay on models this small and fight the other processes), a pool of 2 single-thread processes
5.5 s once started; starting the pool costs ~4.6 s (each spawned process imports torch), paid
once per executor. So ``make_executor("local")`` uses a pool of one process per core on a
machine with several cores, and runs in-process on one core (``workers=1``, also the fastest
choice for a handful of short calls, as in the tests).

The machine's concurrency setting, ``UNLEARN_MAX_JOBS`` (the app server's job queue reads the
same, ``runtime.queue.concurrency_limit``), caps the local pool: with it set, a local executor
runs at most that many calls at once, whatever ``workers`` asks, and that many by default.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from ..runtime.progress import Progress, no_progress
from ..runtime.queue import LIMIT_ENV, concurrency_limit

T = TypeVar("T")

#: torch threads every call runs with, on every executor (same seeds -> same numbers)
CALL_THREADS = 1
#: the message that names the optional extra when Ray is missing
RAY_MISSING = (
    'the Ray executor needs the optional "ray" extra: install it with pip install -e ".[ray]" '
    '(or pip install "ray>=2.9")'
)
EXECUTORS = ("local", "ray")


@dataclass
class TaskFailure:
    """What a failed or cancelled call leaves in its result slot."""

    error: str
    traceback: str = ""
    cancelled: bool = False

    def to_dict(self) -> dict:
        return dict(vars(self))


@runtime_checkable
class Executor(Protocol):
    """Runs independent calls of one module-level function; see the module docstring."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[Mapping[str, Any]],
        *,
        shared: Mapping[str, Any] | None = None,
        progress: Progress = no_progress,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[T | TaskFailure]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc) -> None: ...


def is_failure(result: object) -> bool:
    return isinstance(result, TaskFailure)


def cancelled() -> TaskFailure:
    return TaskFailure(error="cancelled before it started", cancelled=True)


def run_call(fn: Callable[..., T], shared: Mapping[str, Any], call: Mapping[str, Any]) -> T:
    """Call ``fn(**shared, **call)`` with :data:`CALL_THREADS` torch threads, restoring the
    caller's thread count after. A key in both ``shared`` and ``call`` is an error."""
    both = set(shared) & set(call)
    if both:
        raise ValueError(f"argument(s) {sorted(both)} given both in shared and in a call")
    before = torch.get_num_threads()
    torch.set_num_threads(CALL_THREADS)
    try:
        return fn(**shared, **call)
    finally:
        torch.set_num_threads(before)


def _failure(exc: BaseException) -> TaskFailure:
    return TaskFailure(
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc, limit=8)),
    )


def _names(fn: Callable, n: int) -> str:
    return f"{getattr(fn, '__name__', 'call')} ({n} calls)"


# ----------------------------------------------------------------------------- local


def _pool_call(fn: Callable, shared: Mapping[str, Any], call: Mapping[str, Any]):
    """In a pool process: run one call. ``shared`` arrives through the pool's own queue, whose
    pickler hands torch tensors over in shared memory (moved there once, then passed by handle),
    so a large dataset is not copied per call."""
    return run_call(fn, shared, call)


class LocalExecutor:
    """In-process (``workers == 1``) or a pool of ``workers`` spawned processes."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, int(workers or default_workers()))
        if os.environ.get(LIMIT_ENV, "").strip():  # the machine's setting caps the pool
            self.workers = min(self.workers, concurrency_limit())
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing as mp

            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        return self._pool

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[Mapping[str, Any]],
        *,
        shared: Mapping[str, Any] | None = None,
        progress: Progress = no_progress,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[T | TaskFailure]:
        shared = dict(shared or {})
        calls = [dict(c) for c in calls]
        if self.workers == 1:
            return self._map_inline(fn, calls, shared, progress, should_stop)
        return self._map_pool(fn, calls, shared, progress, should_stop)

    def _map_inline(self, fn, calls, shared, progress, should_stop) -> list:
        out: list = []
        n = len(calls)
        for i, call in enumerate(calls):
            if should_stop is not None and should_stop():
                out.extend(cancelled() for _ in calls[i:])
                break
            try:
                out.append(run_call(fn, shared, call))
            except Exception as exc:  # noqa: BLE001 - one failed call must not stop the others
                out.append(_failure(exc))
            progress((i + 1) / n, f"{i + 1}/{n} done")
        return out

    def _map_pool(self, fn, calls, shared, progress, should_stop) -> list:
        n = len(calls)
        out: list = [None] * n
        running: dict[Future, int] = {}
        nxt = done = 0
        while done < n:
            stop = should_stop is not None and should_stop()
            while not stop and nxt < n and len(running) < self.workers:
                try:
                    fut = self._get_pool().submit(_pool_call, fn, shared, calls[nxt])
                except BrokenProcessPool:  # a crashed worker: start a fresh pool
                    self._discard_pool()
                    fut = self._get_pool().submit(_pool_call, fn, shared, calls[nxt])
                running[fut] = nxt
                nxt += 1
            if stop and nxt < n:
                for i in range(nxt, n):
                    out[i] = cancelled()
                done += n - nxt
                nxt = n
            if not running:
                continue
            finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = running.pop(fut)
                try:
                    out[i] = fut.result()
                except BrokenProcessPool as exc:
                    out[i] = TaskFailure(error=f"the worker process died: {exc}")
                    self._discard_pool()
                except Exception as exc:  # noqa: BLE001
                    out[i] = _failure(exc)
                done += 1
                progress(done / n, f"{done}/{n} done")
        return out

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------- ray


def _ray_call(fn: Callable, shared: Mapping[str, Any], call: Mapping[str, Any]):
    """In a Ray worker: ``shared`` arrives resolved from the object store."""
    return run_call(fn, shared, call)


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(RAY_MISSING) from exc
    return ray


class RayExecutor:
    """Runs calls as Ray tasks (one CPU each). Starts a local Ray instance with ``workers``
    CPUs, or joins the cluster named by ``RAY_ADDRESS`` (then ``workers`` is the cluster's CPU
    count). ``shared`` goes into the object store once per map (``ray.put``) and every task
    reads it from there. At most ``workers`` tasks are in flight, so a stop leaves the rest
    unstarted. Ray is started once per executor and shut down by :meth:`close` (unless it was
    already running in this process when the executor was made)."""

    name = "ray"

    def __init__(self, workers: int | None = None) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
            address = os.environ.get("RAY_ADDRESS") or None
            kwargs: dict[str, Any] = dict(
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
                configure_logging=True,
            )
            if address is None:
                kwargs["num_cpus"] = max(1, int(workers or default_workers()))
            ray.init(address=address, **kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        joined = not self._owns or bool(os.environ.get("RAY_ADDRESS"))
        self.workers = max(1, cpus if workers is None or joined else min(int(workers), cpus))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[Mapping[str, Any]],
        *,
        shared: Mapping[str, Any] | None = None,
        progress: Progress = no_progress,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[T | TaskFailure]:
        ray = self._ray
        calls = [dict(c) for c in calls]
        n = len(calls)
        out: list = [None] * n
        shared_ref = ray.put(dict(shared or {}))
        running: dict[Any, int] = {}
        nxt = done = 0
        while done < n:
            stop = should_stop is not None and should_stop()
            while not stop and nxt < n and len(running) < self.workers:
                running[self._remote.remote(fn, shared_ref, calls[nxt])] = nxt
                nxt += 1
            if stop and nxt < n:
                for i in range(nxt, n):
                    out[i] = cancelled()
                done += n - nxt
                nxt = n
            if not running:
                continue
            finished, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in finished:
                i = running.pop(ref)
                try:
                    out[i] = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a RayTaskError wraps the call's error
                    out[i] = _ray_failure(exc)
                done += 1
                progress(done / n, f"{done}/{n} done")
        del shared_ref
        return out

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ray_failure(exc: BaseException) -> TaskFailure:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return TaskFailure(
            error=f"{type(cause).__name__}: {cause}",
            traceback=str(exc),  # Ray's text holds the worker's traceback
        )
    return _failure(exc)


# ----------------------------------------------------------------------------- factory


def default_workers() -> int:
    """``UNLEARN_MAX_JOBS`` if set, else one worker per CPU core this process may use."""
    if os.environ.get(LIMIT_ENV, "").strip():
        return concurrency_limit()
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(name: str = "local", workers: int | None = None) -> Executor:
    """``"local"`` (default) or ``"ray"``; ``workers`` defaults to the machine's cores."""
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


__all__ = [
    "CALL_THREADS",
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "TaskFailure",
    "default_workers",
    "is_failure",
    "make_executor",
    "run_call",
]

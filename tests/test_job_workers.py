"""Job worker processes (``runtime.workers``): a real spawned worker gives the same model as
training in this thread, streams progress and partial results, stops on a cancel and stays
usable, reports the worker's errors, and is replaced when it dies."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from unlearn_core import job_calls
from unlearn_core.data import Dataset
from unlearn_core.runtime.jobs import Job, JobCancelled
from unlearn_core.runtime.workers import (
    WORKER_NICE,
    WORKERS_ENV,
    WorkerDied,
    WorkerError,
    WorkerPool,
    function_path,
)
from unlearn_core.training import TrainConfig, train_new_model


# ------------------------------------------------------------------ calls the worker imports
def count(*, n: int, pause: float, progress, emit) -> int:
    """Reports n steps; on a stop, hands back how far it got (as the library's on_stop)."""
    done = 0
    try:
        for i in range(n):
            progress(i / n, f"step {i}")
            emit("step", i)
            done += 1
            time.sleep(pause)
    except JobCancelled:
        emit("stop", done)
        raise
    return done


def count_politely(*, n: int, pause: float, progress, emit, should_stop) -> dict:  # noqa: ARG001
    """Work that stops by asking (as an audit or a sweep): returns how far it got."""
    done = 0
    for i in range(n):
        if should_stop():
            return {"done": done, "cancelled": True}
        progress(i / n, f"step {i}")  # never raises here
        done += 1
        time.sleep(pause)
    return {"done": done, "cancelled": False}


def fail(*, progress, emit) -> None:  # noqa: ARG001
    raise ValueError("the forget set is empty")


def pid(*, progress, emit) -> int:  # noqa: ARG001
    return os.getpid()


def pid_after(*, pause: float, progress, emit) -> int:  # noqa: ARG001
    time.sleep(pause)
    return os.getpid()


def niceness(*, progress, emit) -> int:  # noqa: ARG001
    return os.getpriority(os.PRIO_PROCESS, 0)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(1, threads=1)
    assert p.ready(120)  # a worker is started and idle: the calls below go to it
    yield p
    p.close()


@pytest.fixture(scope="module")
def small(digits) -> Dataset:
    return digits


def test_training_in_a_worker_gives_the_model_training_here_gives(pool, small):
    assert pool.call(pid, {}, progress=lambda f, m="": None) != os.getpid()  # in the worker
    recipe = TrainConfig(epochs=3, lr=0.05, batch_size=64)
    seen: list[tuple[float, str]] = []
    model, hist, acc = pool.call(
        job_calls.train,
        {"data": small, "arch": "mlp", "recipe": recipe, "seed": 3},
        progress=lambda f, m="": seen.append((f, m)),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker's count
    try:
        here, _ = train_new_model(small, "mlp", recipe, seed=3)
    finally:
        torch.set_num_threads(threads)
    for (name, a), b in zip(model.state_dict().items(), here.state_dict().values(), strict=True):
        assert torch.equal(a.cpu(), b.cpu()), name
    assert len(hist.loss) == 3
    assert 0 < acc <= 100
    assert seen and seen[-1][0] == pytest.approx(1.0)  # the last report always arrives
    assert all(0.0 <= f <= 1.0 for f, _ in seen)


def test_progress_and_events_arrive_in_order(pool):
    fractions, steps = [], []
    got = pool.call(
        count,
        {"n": 20, "pause": 0.0},
        progress=lambda f, m="": fractions.append(f),
        on_event=lambda name, i: steps.append(i) if name == "step" else None,
    )
    assert got == 20
    assert steps == list(range(20))  # every event, in order (progress is thinned, events not)
    assert fractions == sorted(fractions)


def test_a_cancel_stops_the_worker_which_hands_back_its_part_and_stays_usable(pool):
    job = Job(title="count")
    parts: list[int] = []

    def report(f: float, m: str = "") -> None:
        if f >= 0.05:
            job.cancel()
        job.report(f, m)  # raises once cancelled, as the app's jobs do

    t0 = time.perf_counter()
    with pytest.raises(JobCancelled):
        pool.call(
            count,
            {"n": 2000, "pause": 0.01},
            progress=report,
            on_event=lambda name, done: parts.append(done) if name == "stop" else None,
        )
    assert time.perf_counter() - t0 < 10  # 2000 x 10 ms would be 20 s
    assert len(parts) == 1 and 0 < parts[0] < 2000
    worker_pid = pool.call(pid, {}, progress=lambda f, m="": None)
    assert worker_pid != os.getpid()
    assert pool.processes() == [worker_pid]
    assert pool.memory_mb() > 50  # a live process with torch imported


def test_an_error_in_the_worker_arrives_with_its_kind_and_message(pool):
    with pytest.raises(WorkerError, match="the forget set is empty") as info:
        pool.call(fail, {}, progress=lambda f, m="": None)
    assert info.value.kind == "ValueError"
    assert "fail" in info.value.remote_traceback


def test_a_dead_worker_is_replaced_and_meanwhile_calls_run_here(pool):
    first = pool.call(pid, {}, progress=lambda f, m="": None)
    assert first != os.getpid()
    os.kill(first, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and any(p == first for p in pool.processes()):
        time.sleep(0.05)
    # no idle worker: this call runs here, and a new worker is started for the next ones
    assert pool.call(pid, {}, progress=lambda f, m="": None) == os.getpid()
    assert pool.ready(120)
    second = pool.call(pid, {}, progress=lambda f, m="": None)
    assert second not in (first, os.getpid())


def test_a_cold_pool_runs_the_first_call_here_and_starts_a_worker():
    cold = WorkerPool(1, threads=1)
    try:
        assert cold.processes() == []
        assert cold.call(pid, {}, progress=lambda f, m="": None) == os.getpid()
        assert cold.ready(120) and len(cold.processes()) == 1
        assert cold.call(pid, {}, progress=lambda f, m="": None) == cold.processes()[0]
    finally:
        cold.close()


def test_only_one_call_at_a_time_runs_here_the_next_waits_for_the_starting_worker():
    """Jobs in the server's own process take the interpreter lock from every page: while one
    call runs here, a second one waits for the worker the first one started."""
    cold = WorkerPool(2, threads=1)
    seen: list[str] = []
    try:
        with ThreadPoolExecutor(2) as ex:
            first = ex.submit(cold.call, pid_after, {"pause": 3.0}, progress=lambda f, m="": None)
            time.sleep(0.5)  # the first call is running here, a worker is starting
            second = ex.submit(cold.call, pid, {}, progress=lambda f, m="": seen.append(m))
            assert first.result(120) == os.getpid()
            got = second.result(120)
        assert got != os.getpid() and got in cold.processes()
        assert "Starting a job process" in seen
    finally:
        cold.close()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
def test_a_worker_runs_at_a_lower_priority_than_the_server(pool):
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert pool.call(niceness, {}, progress=lambda f, m="": None) == min(19, mine + WORKER_NICE)


def test_a_call_on_a_worker_killed_mid_call_raises_worker_died(pool):
    def kill_soon(f: float, m: str = "") -> None:
        if f > 0.01:
            for p in pool.processes():
                os.kill(p, signal.SIGKILL)

    assert pool.ready(120)
    with pytest.raises(WorkerDied):
        pool.call(count, {"n": 1000, "pause": 0.01}, progress=kill_soon)
    assert pool.ready(120)  # replaced for the tests after this one


def test_workers_turned_off_run_the_call_here(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "0")
    pool = WorkerPool(1)
    assert pool.call(pid, {}, progress=lambda f, m="": None) == os.getpid()
    assert pool.processes() == []


def test_only_module_level_functions_can_be_sent():
    with pytest.raises(ValueError, match="module-level"):
        function_path(lambda: None)
    assert function_path(count).endswith(":count")


def test_a_method_a_worker_cannot_import_runs_here():
    from unlearn_core.methods import REGISTRY, Method, MethodSpec, UnlearnOutput, register

    assert job_calls.method_modules(["finetune", "scrub"]) == []  # the library's own

    class Local(Method):
        spec = MethodSpec(
            name="local_for_worker_test",
            label="Local (test)",
            family="approximate",
            paper="-",
            summary="Defined inside a function.",
        )

        def unlearn(self, model, task, cfg, *, seed, progress):
            return UnlearnOutput(model)

    register(Local)
    try:
        assert job_calls.method_modules(["finetune", "local_for_worker_test"]) is None
    finally:
        REGISTRY.pop("local_for_worker_test")


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "here"])
def test_work_that_stops_by_asking_returns_its_part_after_a_cancel(pool, monkeypatch, in_worker):
    if not in_worker:
        monkeypatch.setenv(WORKERS_ENV, "0")
    else:
        assert pool.ready(120)
    job = Job(title="polite")

    def report(f: float, m: str = "") -> None:
        if f >= 0.05:
            job.cancel()
        job.report(f, m)

    got = pool.call(count_politely, {"n": 2000, "pause": 0.005}, progress=report)
    assert got["cancelled"] and 0 < got["done"] < 2000

"""The server's job queue (``unlearn_core.runtime.queue``): order, fairness across owners, the
concurrency limit, cancel while waiting, the wait estimate and the limit's setting."""

from __future__ import annotations

import threading
import time

import pytest

from unlearn_core.runtime.queue import LIMIT_ENV, JobQueue, concurrency_limit


def _gate():
    """A work function that records its start and waits for its own release."""
    started: list[str] = []
    gates: dict[str, threading.Event] = {}
    lock = threading.Lock()

    def make(name: str):
        gates[name] = threading.Event()

        def work(job):
            with lock:
                started.append(name)
            assert gates[name].wait(20)
            return name

        return work

    return started, gates, make


def _until(cond, timeout=10.0):
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_limit_and_order_within_one_owner():
    started, gates, make = _gate()
    q = JobQueue(limit=2)
    jobs = [q.submit(n, make(n), owner="a") for n in "wxyz"]
    _until(lambda: len(started) == 2)
    time.sleep(0.1)
    assert started == ["w", "x"] and q.running() == 2 and q.waiting() == 2
    assert [j.state for j in jobs] == ["running", "running", "queued", "queued"]
    assert q.ahead(jobs[2]) == 0 and q.ahead(jobs[3]) == 1 and q.ahead(jobs[0]) is None
    gates["x"].set()
    _until(lambda: len(started) == 3)
    assert started[2] == "y" and q.running() == 2  # never more than the limit
    for g in gates.values():
        g.set()
    assert all(j.wait(10) for j in jobs)
    assert [j.result for j in jobs] == list("wxyz") and q.running() == q.waiting() == 0


def test_round_robin_across_owners():
    """Owner a queues ten jobs, then b one and c one: b's and c's start before a's second."""
    started, gates, make = _gate()
    q = JobQueue(limit=1)
    blocker = q.submit("block", make("block"), owner="z")
    _until(lambda: started == ["block"])
    a = [q.submit(f"a{i}", make(f"a{i}"), owner="a") for i in range(10)]
    b = q.submit("b0", make("b0"), owner="b")
    c = q.submit("c0", make("c0"), owner="c")
    assert [j.title for j in q.order()][:4] == ["a0", "b0", "c0", "a1"]
    assert q.ahead(b) == 1 and q.ahead(c) == 2 and q.ahead(a[-1]) == 11
    for name in ["block", "a0", "b0", "c0", "a1", "a2"]:
        gates[name].set()
    _until(lambda: len(started) == 7)
    assert started == ["block", "a0", "b0", "c0", "a1", "a2", "a3"]
    for g in gates.values():
        g.set()
    assert all(j.wait(10) for j in [blocker, *a, b, c])


def test_a_new_owner_waits_one_turn_not_the_whole_queue():
    started, gates, make = _gate()
    q = JobQueue(limit=1)
    first = q.submit("a0", make("a0"), owner="a")
    _until(lambda: started == ["a0"])
    rest = [q.submit(f"a{i}", make(f"a{i}"), owner="a") for i in range(1, 6)]
    late = q.submit("b0", make("b0"), owner="b")
    assert q.ahead(late) == 0  # a was served last: b is next
    for g in gates.values():
        g.set()
    assert all(j.wait(10) for j in [first, *rest, late])
    assert started.index("b0") == 1


def test_cancel_while_waiting():
    started, gates, make = _gate()
    q = JobQueue(limit=1)
    q.submit("r", make("r"), owner="a")
    _until(lambda: started == ["r"])
    waiting = q.submit("w", make("w"), owner="b")
    after = q.submit("x", make("x"), owner="c")
    assert q.ahead(after) == 1
    waiting.cancel()
    assert waiting.state == "cancelled" and waiting.done and q.waiting() == 1
    assert q.ahead(after) == 0 and q.ahead(waiting) is None
    gates["r"].set()
    gates["x"].set()
    assert after.wait(10) and after.state == "done"
    assert "w" not in started  # a cancelled waiting job never runs


def test_cancel_of_a_running_job_frees_its_slot():
    q = JobQueue(limit=1)

    def loop(job):
        while True:
            job.report(0.5, "working")
            time.sleep(0.01)

    first = q.submit("loop", loop, owner="a")
    second = q.submit("next", lambda job: 42, owner="a")
    _until(lambda: first.state == "running")
    assert second.state == "queued"
    first.cancel()
    assert first.wait(10) and first.state == "cancelled"
    assert second.wait(10) and second.result == 42


def test_a_failing_job_frees_its_slot():
    q = JobQueue(limit=1)

    def boom(job):
        raise RuntimeError("boom")

    bad = q.submit("bad", boom)
    good = q.submit("good", lambda job: "ok")
    assert bad.wait(10) and bad.state == "failed" and "boom" in bad.error
    assert good.wait(10) and good.result == "ok"


def test_wait_estimate():
    started, gates, make = _gate()
    q = JobQueue(limit=2)
    r1 = q.submit("r1", make("r1"), owner="a", estimate_s=10)
    r2 = q.submit("r2", make("r2"), owner="b", estimate_s=40)
    _until(lambda: len(started) == 2)
    w1 = q.submit("w1", make("w1"), owner="c", estimate_s=20)
    w2 = q.submit("w2", make("w2"), owner="d", estimate_s=5)
    w3 = q.submit("w3", make("w3"), owner="e")
    # slots free after ~10 s and ~40 s: w1 takes the first (until ~30 s), w2 the next (~30 s)
    assert q.wait_estimate(w1) == pytest.approx(10, abs=1)
    assert q.wait_estimate(w2) == pytest.approx(30, abs=1)
    assert q.wait_estimate(w3, default_s=30) == pytest.approx(35, abs=1)
    assert q.wait_estimate(r1) is None
    for g in gates.values():
        g.set()
    assert all(j.wait(10) for j in [r1, r2, w1, w2, w3])


def test_many_threads_submit_at_once():
    """Eight owners submit three jobs each from their own threads: never more than the limit
    run, every job runs once."""
    q = JobQueue(limit=3)
    now, peak, lock = [0], [0], threading.Lock()
    ran: list[str] = []

    def work(job):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
            ran.append(job.title)
        time.sleep(0.02)
        with lock:
            now[0] -= 1
        return job.title

    out: list = []

    def owner(k):
        for i in range(3):
            out.append(q.submit(f"{k}-{i}", work, owner=str(k)))

    threads = [threading.Thread(target=owner, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(j.wait(20) for j in out)
    assert peak[0] <= 3 and sorted(ran) == sorted(j.title for j in out) and len(ran) == 24


def test_concurrency_limit_setting(monkeypatch):
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    assert concurrency_limit() >= 1
    assert concurrency_limit(default=3) == 3
    monkeypatch.setenv(LIMIT_ENV, "5")
    assert concurrency_limit() == 5 and JobQueue().limit == 5
    for bad in ("0", "two"):
        monkeypatch.setenv(LIMIT_ENV, bad)
        with pytest.raises(ValueError, match=LIMIT_ENV):
            concurrency_limit()


def test_local_executor_honours_the_setting(monkeypatch):
    from unlearn_core.audit.executors import LocalExecutor, default_workers, make_executor

    monkeypatch.delenv(LIMIT_ENV, raising=False)
    assert LocalExecutor(workers=4).workers == 4
    monkeypatch.setenv(LIMIT_ENV, "2")
    assert default_workers() == 2 and LocalExecutor().workers == 2
    assert LocalExecutor(workers=8).workers == 2 and LocalExecutor(workers=1).workers == 1
    with make_executor("local", workers=6) as ex:
        assert ex.workers == 2

"""Executors: call order, failures, cancel, progress; local and Ray give the same numbers."""

from __future__ import annotations

import sys
import time

import pytest
import torch

from unlearn_core.audit.executors import (
    CALL_THREADS,
    LocalExecutor,
    TaskFailure,
    make_executor,
)
from unlearn_core.data import load_dataset
from unlearn_core.training import TrainConfig, train_new_model


def square_or_fail(x: int, offset: int = 0, pause: float = 0.0) -> int:
    if pause:
        time.sleep(pause)
    if x == 2:
        raise ValueError(f"no twos ({x})")
    return x * x + offset


def threads_seen(x: int) -> int:
    return torch.get_num_threads()


def train_tiny(data, seed: int) -> dict:
    model, _ = train_new_model(
        data, "mlp", TrainConfig(epochs=3, batch_size=32), seed=seed, device="cpu"
    )
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _check_contract(ex) -> None:
    seen: list[float] = []
    out = ex.map(
        square_or_fail,
        [{"x": i} for i in range(5)],
        shared={"offset": 1},
        progress=lambda f, m="": seen.append(f),
    )
    assert out[:2] == [1, 2] and out[3:] == [10, 17]
    assert isinstance(out[2], TaskFailure) and not out[2].cancelled
    assert out[2].error == "ValueError: no twos (2)"
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen) and len(seen) == 5

    done: list[float] = []
    out = ex.map(
        square_or_fail,
        [{"x": i, "pause": 0.3} for i in (0, 1, 3, 4, 5, 6)],
        progress=lambda f, m="": done.append(f),
        should_stop=lambda: len(done) >= 1,
    )
    ran = [r for r in out if not isinstance(r, TaskFailure)]
    stopped = [r for r in out if isinstance(r, TaskFailure)]
    assert 1 <= len(ran) <= ex.workers, out  # only calls already started finish
    assert stopped and all(r.cancelled for r in stopped)
    assert stopped[0].error == "cancelled before it started"
    assert out[: len(ran)] == [0, 1, 10, 17, 26, 37][: len(ran)]


def test_local_inline_contract():
    torch.set_num_threads(2)
    with LocalExecutor(workers=1) as ex:
        _check_contract(ex)
        assert ex.map(threads_seen, [{"x": 0}]) == [CALL_THREADS]
    assert torch.get_num_threads() == 2  # restored after each in-process call


def test_local_pool_contract():
    ex = make_executor("local", workers=2)
    try:
        _check_contract(ex)
        assert ex.map(threads_seen, [{"x": 0}, {"x": 1}]) == [CALL_THREADS] * 2
    finally:
        ex.close()


def test_bad_names_are_plain_errors():
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="at least 1"):
        make_executor("local", 0)
    with LocalExecutor(1) as ex:
        (out,) = ex.map(square_or_fail, [{"x": 1, "offset": 2}], shared={"offset": 1})
    assert isinstance(out, TaskFailure) and "both in shared and in a call" in out.error


@pytest.mark.ray
def test_ray_matches_local_and_cancels():
    pytest.importorskip("ray")
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/ on path
    data = load_dataset("digits")
    calls = [{"seed": 0}, {"seed": 1}]
    with LocalExecutor(workers=1) as local:
        expect = local.map(train_tiny, calls, shared={"data": data})
    ex = make_executor("ray", workers=2)
    try:
        assert ex.name == "ray" and ex.workers == 2
        got = ex.map(train_tiny, calls, shared={"data": data})
        for a, b in zip(expect, got, strict=True):
            assert a.keys() == b.keys()
            assert all(torch.equal(a[k], b[k]) for k in a)
        assert not all(torch.equal(got[0][k], got[1][k]) for k in got[0])  # seeds differ
        _check_contract(ex)
    finally:
        ex.close()

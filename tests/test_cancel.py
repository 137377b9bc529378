"""A cancel takes effect within 2 seconds wherever the run is: inside a training epoch (the
check runs per batch), inside a method's own loop, while a model is scored, between methods;
and only the methods that had not finished are marked cancelled.

The models here sleep in ``forward`` so that one epoch lasts seconds while one batch lasts
milliseconds: a check once per epoch (or once per scoring) would take far longer than the
bounds, which are generous for a shared machine.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

import unlearn_core.evaluation.metrics as M
from unlearn_core.experiment import STOPPED, compare, compare_seeds
from unlearn_core.forget import ForgetRequest
from unlearn_core.runtime.jobs import Job, JobCancelled, start_job
from unlearn_core.runtime.progress import CHECK_S, checkpoint, reporting
from unlearn_core.training import TrainConfig, train

#: the most a cancel may take; the checks here are expected well under it
BOUND_S = 2.0


class Sleepy(nn.Module):
    """``inner`` with a pause in every forward pass (a slow batch)."""

    def __init__(self, inner: nn.Module, pause: float) -> None:
        super().__init__()
        self.inner, self.pause, self.calls = inner, pause, 0
        self.spec = getattr(inner, "spec", {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        time.sleep(self.pause)
        return self.inner(x)


def once_for(seconds: float, cond):
    """A condition that holds ``seconds`` after ``cond()`` first held."""
    seen: list[float] = []

    def check() -> bool:
        if not seen and cond():
            seen.append(time.perf_counter())
        return bool(seen) and time.perf_counter() - seen[0] >= seconds

    return check


def cancel_after(job: Job, when) -> dict:
    """Cancel ``job`` once ``when()`` is true; returns the moment of the cancel."""
    out: dict = {}

    def watch() -> None:
        while not when() and not job.done:
            time.sleep(0.01)
        out["at"] = time.perf_counter()
        job.cancel()

    threading.Thread(target=watch, daemon=True).start()
    return out


def latency(job: Job, cancelled: dict) -> float:
    assert job.wait(60), "the job did not stop"
    assert job.state == "cancelled", (job.state, job.error)
    return job.finished - cancelled["at"]


def test_checkpoint_resends_the_last_report_when_due_and_stops():
    seen = []
    with reporting(lambda f, m: seen.append((f, m))) as rep:
        rep(0.25, "epoch 1/4")
        checkpoint()  # not due yet
        assert seen == [(0.25, "epoch 1/4")]
        time.sleep(CHECK_S * 1.2)
        checkpoint()
        assert seen[-1] == (0.25, "epoch 1/4") and len(seen) == 2
    time.sleep(CHECK_S * 1.2)
    checkpoint()  # outside the block: nothing to call
    assert len(seen) == 2

    def stop(f, m):
        raise JobCancelled("x")

    with reporting(stop) as rep, pytest.raises(JobCancelled):
        time.sleep(CHECK_S * 1.2)
        checkpoint()
    assert isinstance(rep.stopped, JobCancelled)


def test_training_stops_within_a_batch_not_an_epoch():
    """300 batches of 10 ms: an epoch lasts 3 s or more; the cancel must not wait for it."""
    torch.manual_seed(0)
    model = Sleepy(nn.Linear(4, 2), pause=0.01)
    x, y = torch.randn(600, 4), torch.randint(0, 2, (600,))
    job = start_job(
        "train",
        lambda j: train(model, x, y, TrainConfig(epochs=2, batch_size=2), progress=j.report),
    )
    # (from the 20th batch on: a fresh process's first optimiser imports torch's compiler
    # machinery for seconds, and an import cannot be interrupted)
    cancelled = cancel_after(job, lambda: model.calls >= 20)
    took = latency(job, cancelled)
    assert job.fraction == 0.0  # stopped inside the first epoch
    assert took < 1.0, f"training took {took:.2f} s to stop"


def test_a_cancel_in_a_methods_loop_keeps_the_finished_methods(digits, digits_mlp):
    """finetune finishes; SCRUB is stopped inside its first epoch (its own batch loop, each
    epoch several seconds here); SSD never starts. Only SCRUB and SSD are marked cancelled."""
    model = Sleepy(digits_mlp, pause=0.01)
    stopped = []
    methods = {
        "finetune": {"epochs": 1, "batch_size": 512},
        "scrub": {"epochs": 3, "batch_size": 8, "forget_batch_size": 8},
        "ssd": {},
    }

    def work(job: Job):
        return compare(
            digits,
            model,
            TrainConfig(epochs=1),
            ForgetRequest(classes=(3,)),
            methods,
            include_retrain=False,
            device="cpu",
            progress=job.report,
            on_result=job.add_partial,
            on_stop=stopped.append,
        )

    job = start_job("compare", work)
    cancelled = cancel_after(job, once_for(0.5, lambda: job.message.startswith("scrub")))
    took = latency(job, cancelled)
    assert took < BOUND_S, f"the cancel took {took:.2f} s"
    (part,) = stopped
    assert part.get("finetune").ok and part.get("finetune").metrics["retain_acc"] > 50
    assert part.get("scrub").error == STOPPED and part.get("ssd").error == STOPPED
    assert [r.method for r in part.results] == ["finetune", "scrub", "ssd"]
    assert part.original.metrics["retain_acc"] > 50


def test_a_cancel_while_a_model_is_scored(digits, digits_mlp, monkeypatch):
    """Each membership-attack fit made to last 1 s (5 s per model): the stop comes between two
    fits, not after the scoring."""
    fit = M._mia_once

    def slow_fit(*args, **kw):
        time.sleep(1.0)
        return fit(*args, **kw)

    monkeypatch.setattr(M, "_mia_once", slow_fit)
    job = start_job(
        "compare",
        lambda j: compare(
            digits,
            digits_mlp,
            TrainConfig(epochs=1),
            ForgetRequest(classes=(3,)),
            ["finetune"],
            include_retrain=False,
            device="cpu",
            progress=j.report,
        ),
    )
    cancelled = cancel_after(job, lambda: job.elapsed > 0.3)
    took = latency(job, cancelled)
    assert took < BOUND_S, f"the cancel took {took:.2f} s"


def test_several_seeds_stopped_in_the_first_keep_its_finished_methods(digits, digits_mlp):
    model = Sleepy(digits_mlp, pause=0.01)
    stopped = []

    def work(job: Job):
        return compare_seeds(
            digits,
            "mlp",
            TrainConfig(epochs=1),
            ForgetRequest(classes=(3,)),
            {"finetune": {"epochs": 1, "batch_size": 512}, "scrub": {"batch_size": 8}},
            seeds=[0, 1],
            originals={0: model},
            include_retrain=False,
            device="cpu",
            progress=job.report,
            on_stop=stopped.append,
        )

    job = start_job("compare", work)
    cancelled = cancel_after(job, once_for(0.5, lambda: "scrub" in job.message))
    took = latency(job, cancelled)
    assert took < BOUND_S, f"the cancel took {took:.2f} s"
    (multi,) = stopped
    assert multi.seeds == [0]
    assert multi.get("finetune").ok and multi.get("scrub").error == f"seed 0: {STOPPED}"

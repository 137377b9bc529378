"""Sweeps (``unlearn_core.audit.sweep``) on a tiny digits set: grid, Optuna, failures, cancel."""

from __future__ import annotations

import json
import math

import pytest
import torch

from unlearn_core.audit import sweep
from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.sweep import (
    SweepError,
    SweepResult,
    grid_points,
    reference_scores,
    search_space,
    trials_table,
    tune,
)
from unlearn_core.data import Dataset
from unlearn_core.evaluation import metrics as M
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import get_method
from unlearn_core.training import TrainConfig, train_new_model

RECIPE = TrainConfig(epochs=3, batch_size=16)
FIXED = {"epochs": 1}  # finetune: one pass over the retain set per trial


#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(digits):
    """Four digit classes (30 training, 15 test, 5 validation images each), an MLP, class 1
    forgotten, and retrain's scores computed once."""

    def pick(y: torch.Tensor, per_class: int) -> torch.Tensor:
        return torch.cat([torch.nonzero(y == c).flatten()[:per_class] for c in range(4)])

    tr, te, va = pick(digits.y_train, 30), pick(digits.y_test, 15), pick(digits.y_val, 5)
    data = Dataset(
        "tiny-digits", digits.x_train[tr], digits.y_train[tr], digits.x_test[te],
        digits.y_test[te], [str(c) for c in range(4)],
        x_val=digits.x_val[va], y_val=digits.y_val[va],
    )  # fmt: skip
    model, _ = train_new_model(data, "mlp", RECIPE, seed=0, device="cpu")
    split = make_split(data, ForgetRequest(classes=(1,)))
    ref = reference_scores(data, model, RECIPE, split, seed=0)
    return data, model, split, ref


def _tune(setup, **kw) -> SweepResult:
    data, model, split, ref = setup
    kw = {"executor": LocalExecutor(1), "fixed": FIXED, "reference": ref, **kw}
    return tune(data, model, RECIPE, split, "finetune", **kw)


def test_grid_covers_the_declared_ranges():
    space = search_space("salun")  # threshold (linear) and lr (log), the knobs marked for search
    params = {p.name: p for p in get_method("salun").spec.params}
    points = grid_points(space, 9)
    assert len(points) == 9
    for dim in space:
        values = sorted({p[dim.name] for p in points})
        assert len(values) == 3
        lo, hi = params[dim.name].range
        assert values[0] == lo and values[-1] == hi
        mid = math.sqrt(lo * hi) if params[dim.name].log_scale else (lo + hi) / 2
        assert values[1] == pytest.approx(mid)
    assert len(grid_points(space, 3)) == 4  # never fewer than 2 points a knob


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(setup, monkeypatch):
    real = sweep.run_method

    def flaky(name, model, task, overrides, **kw):
        if overrides["lr"] > 0.5:
            raise RuntimeError("boom at a high rate")
        return real(name, model, task, overrides, **kw)

    monkeypatch.setattr(sweep, "run_method", flaky)
    seen = []
    res = _tune(setup, sampler="grid", trials=3, on_trial=seen.append)
    assert [t.params["lr"] for t in res.trials] == pytest.approx([1e-5, math.sqrt(1e-5), 1.0])
    failed = [t for t in res.trials if not t.ok]
    assert len(failed) == 1 and "boom" in failed[0].error and failed[0].params["lr"] == 1.0
    assert res.best is not None and res.best.ok and res.best.params["lr"] < 0.5
    assert res.best.gap == min(t.gap for t in res.trials if t.ok)
    assert len(seen) == 3 and not res.stopped
    assert trials_table(res)[-1]["error"] == failed[0].error  # failures last in the table


def test_optuna_with_a_fixed_seed_gives_the_same_trials(setup):
    first = _tune(setup, sampler="optuna", trials=4, seed=0)
    again = _tune(setup, sampler="optuna", trials=4, seed=0)
    other = _tune(setup, sampler="optuna", trials=4, seed=1)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert [t.gap for t in first.trials] == [t.gap for t in again.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]
    lo, hi = get_method("finetune").spec.params[1].range
    assert all(lo <= t.params["lr"] <= hi for t in first.trials)
    assert all(t.ok for t in first.trials)


def test_optuna_asks_in_batches_of_the_executors_workers(setup):
    class TwoWide:  # reports two workers, runs each batch in-process
        name, workers = "two-wide", 2

        def __init__(self) -> None:
            self.inner, self.batches = LocalExecutor(1), []

        def map(self, fn, calls, **kw):
            self.batches.append(len(calls))
            return self.inner.map(fn, calls, **kw)

        def close(self) -> None:
            self.inner.close()

    ex = TwoWide()
    res = _tune(setup, sampler="optuna", trials=5, executor=ex)
    assert ex.batches == [2, 2, 1] and len(res.trials) == 5
    assert [t.number for t in res.trials] == [0, 1, 2, 3, 4]


def test_cancel_stops_queued_trials(setup):
    finished = []  # progress moves as each call finishes
    res = _tune(
        setup,
        sampler="grid",
        trials=4,
        progress=lambda f, m="": finished.append(f),
        should_stop=lambda: len(finished) >= 2,
    )
    # the grid runs as one map: two trials finish, the others are cancelled before starting
    assert res.stopped
    assert [t.cancelled for t in res.trials] == [False, False, True, True]
    assert all(t.ok for t in res.trials[:2])
    stopped = _tune(setup, sampler="optuna", trials=6, should_stop=lambda: True)
    assert stopped.trials == [] and stopped.stopped and stopped.best is None


def test_result_round_trips_through_json(setup):
    res = _tune(setup, sampler="grid", trials=2)
    back = SweepResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back == res
    assert back.retrain["forget_acc"] == pytest.approx(0.0, abs=5)


def test_a_stored_sweep_is_listed_and_reads_back_equal(setup, tmp_path):
    from unlearn_core.store import RunStore

    data, model, split, ref = setup
    res = _tune(setup, sampler="grid", trials=3)
    store = RunStore(tmp_path / "runs")
    rec = store.save_comparison(res, dataset=data, recipe=RECIPE.to_dict(), save_models=False)
    (listed,) = store.list_comparisons()
    assert listed.id == rec.id and listed.kind == "sweep"
    assert (listed.dataset, listed.model, listed.forget) == ("tiny-digits", "mlp", "class 1")
    assert listed.methods == ["retrain", "finetune"] and listed.seeds == [0]
    # the listing's rows: the original, retrain and the best trial, gaps read against retrain
    orig, retrain, best = listed.rows
    assert orig["forget_acc"] == pytest.approx(ref[1]["forget_acc"])
    assert orig["avg_gap"] == pytest.approx(M.avg_gap(ref[1], ref[0]))
    assert retrain["avg_gap"] == 0.0
    assert retrain["retain_acc"] == pytest.approx(ref[0]["retain_acc"])
    # the objective (the validation gap) picks the row; its test gap is reported beside it
    assert best["val_gap"] == pytest.approx(min(t.gap for t in res.trials if t.ok))
    assert best["avg_gap"] == pytest.approx(M.avg_gap(res.best.metrics, ref[0]))
    assert best["retain_acc"] == pytest.approx(res.best.metrics["retain_acc"])
    assert f"best of 3 trials (lr={res.best.params['lr']:.4g})" in best["label"]
    assert listed.closest()["method"] == "finetune"
    # read back from its file: the same sweep, every trial
    back = SweepResult.from_dict(store.read_comparison(rec.id)["comparison"])
    assert back == res and len(back.trials) == 3
    assert back.forget["description"] == "class 1" and back.dataset == "tiny-digits"
    # the run store's report renders it like a comparison
    html = store.export_html(rec.id, tmp_path / "sweep.html").read_text()
    assert "finetune" in html and "lr=" in html


def test_a_wrong_kind_or_damaged_sweep_record_is_refused_plainly(setup):
    body = _tune(setup, sampler="grid", trials=2).to_dict()
    with pytest.raises(SweepError, match="not a sweep record: it has kind 'audit'"):
        SweepResult.from_dict({**body, "kind": "audit"})
    with pytest.raises(SweepError, match="not a sweep record: it has no kind"):
        SweepResult.from_dict({"dataset": "digits", "results": []})  # a comparison's shape
    with pytest.raises(SweepError, match="'sweep' part is missing"):
        SweepResult.from_dict({**body, "sweep": None})
    with pytest.raises(SweepError, match="damaged sweep record"):
        SweepResult.from_dict({**body, "sweep": {**body["sweep"], "trials": "lost"}})
    with pytest.raises(SweepError, match="damaged sweep record"):
        SweepResult.from_dict({**body, "sweep": {**body["sweep"], "trials": [{"gap": 1.0}]}})
    with pytest.raises(SweepError, match="expected a JSON object"):
        SweepResult.from_dict(["not", "a", "record"])
    # a bare record, as ``unlearn tune --out`` wrote before sweeps were stored, still reads
    old = {**body["sweep"], "forget": "class 1"}
    assert SweepResult.from_dict(old).forget == {"description": "class 1"}


def test_bad_sweeps_are_refused_with_a_reason(setup):
    with pytest.raises(SweepError, match="no parameter nope"):
        search_space("salun", ["nope"])
    with pytest.raises(SweepError, match="marks no parameter for search"):
        search_space("logit_suppression")
    with pytest.raises(SweepError, match="reference"):
        tune(*_args(setup), "retrain")
    with pytest.raises(SweepError, match="both searched and fixed"):
        _tune(setup, fixed={"lr": 0.1})
    with pytest.raises(SweepError, match="unknown sampler"):
        _tune(setup, sampler="random")


def _args(setup):
    data, model, split, _ = setup
    return data, model, RECIPE, split


def test_cli_tune_prints_the_trials_and_the_best_settings(capsys, tmp_path):
    from unlearn_core.cli.main import main
    from unlearn_core.store import RunStore

    home = tmp_path / "runs"
    args = [
        "tune", "--method", "finetune", "--trials", "2", "--sampler", "grid", "--search", "lr",
        "--param", "epochs=1", "--workers", "1", "--dataset", "digits", "--model", "mlp",
        "--epochs", "2", "--forget-class", "3", "--no-progress", "--home", str(home),
    ]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "best: epochs=1, lr=" in out and "unlearn run --method finetune" in out
    # stored like an audit, and its id said
    (rec,) = RunStore(home).list_comparisons()
    assert rec.kind == "sweep" and f"saved sweep {rec.id}" in err
    assert main([*args, "--json", "--out", str(tmp_path / "s.json"), "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "finetune" and doc["forget"] == "class 3" and doc["model"] == "mlp"
    assert [t["params"]["lr"] for t in doc["trials"]] == [1e-5, 1.0]
    assert json.loads((tmp_path / "s.json").read_text()) == doc
    assert len(RunStore(home).list_comparisons()) == 1  # --no-save stored nothing
    stored = SweepResult.from_dict(RunStore(home).read_comparison(rec.id)["comparison"])
    assert [t.params for t in stored.trials] == [t["params"] for t in doc["trials"]]
    assert main(["tune", "--method", "finetune", "--search", "nope", "--no-progress"]) == 2
    assert "no parameter nope" in capsys.readouterr().err


def test_validation_scores_reuse_the_forget_and_retain_logits(setup):
    """A sweep hands its trial's logits on: the validation scores are the same numbers."""
    from unlearn_core.experiment import model_logits, validation_scores

    data, model, split, _ = setup
    fresh = validation_scores(model, data, split, seed=0)
    reused = validation_scores(model, data, split, seed=0, ev=model_logits(model, data, split))
    assert reused == fresh and set(fresh) >= {"val_acc", "mia_val"}

"""Relearning attacks (``unlearn_core.audit.relearn``) on digits + MLP, and how their curves
are read (``unlearn_core.audit.recovery``: the target relative to retrain's start, "not
measurable", the Anamnesis Index and its spread over seeds)."""

from __future__ import annotations

import html
import json

import pytest
import torch

from unlearn_core.audit import relearn as relearn_module
from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.audit.records import RELEARN_TARGET, AuditResult
from unlearn_core.audit.recovery import (
    AT_LEAST,
    AT_MOST,
    EXACT,
    NOT_MEASURABLE,
    NOT_REACHED,
    REACHED,
    UNDETERMINED,
    anamnesis,
    recovery_target,
    relearn_spread,
    score_curves,
)
from unlearn_core.audit.relearn import (
    RelearnConfig,
    RelearnCurve,
    default_lr_scale,
    recovery_summary,
    relearn,
    relearn_indices,
    scored_indices,
)
from unlearn_core.cli.audit import _print_relearning
from unlearn_core.evaluation.report import render_html
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.models import weights_hash
from unlearn_core.plots import audit as P
from unlearn_core.training import TrainConfig, default_recipe, evaluate, train_new_model

#: tiny models: one torch thread is fastest and leaves the other core to other work
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split(digits):
    return make_split(digits, ForgetRequest(classes=(3,)))


@pytest.fixture(scope="module")
def never_learnt(digits, split):
    """An MLP trained without class 3: it never learnt the class."""
    model, _ = train_new_model(
        digits,
        "mlp",
        TrainConfig(epochs=15, batch_size=64),
        seed=0,
        device="cpu",
        indices=split.retain_idx,
    )
    return model


def test_curve_starts_at_the_models_forget_accuracy_and_leaves_it_unchanged(
    digits, digits_mlp, split
):
    before = weights_hash(digits_mlp)
    acc = evaluate(digits_mlp, *split.forget_data(digits))
    curve = relearn(
        digits_mlp,
        digits,
        split,
        mode="retain",
        steps=4,
        reference_forget_acc=acc,
        name="original",
    )
    assert weights_hash(digits_mlp) == before
    assert curve.steps == [0, 1, 2, 3, 4] and len(curve.forget_acc) == 5
    assert curve.forget_acc[0] == pytest.approx(acc)
    assert curve.target == pytest.approx(0.9 * acc)
    assert curve.steps_to_recover == 0  # the original is its own reference
    assert curve.settings["lr"] == pytest.approx(default_recipe("mlp").lr)
    assert curve.forget_acc[1:] != curve.forget_acc[:-1]  # the steps do train


def test_a_model_that_never_learnt_the_class_does_not_recover_from_retain_data(
    digits, split, never_learnt
):
    curve = relearn(
        never_learnt,
        digits,
        split,
        mode="retain",
        steps=30,
        reference_forget_acc=100.0,
        name="retrain",
    )
    assert curve.forget_acc[0] < 5
    assert curve.steps_to_recover is None
    assert max(curve.forget_acc) < 5


def test_a_few_forget_samples_teach_it_slower_than_a_model_that_only_hid_the_class(
    digits, digits_mlp, split, never_learnt
):
    """Knowledge kept in the features (the original with its class-3 logit pushed down so
    that it misclassifies every 3) comes back faster than knowledge never learnt."""
    hidden = type(digits_mlp)(**{**_init_args(digits_mlp)})
    hidden.load_state_dict(digits_mlp.state_dict())
    with torch.no_grad():
        hidden.head.bias[3] -= 10.0
    ref = evaluate(digits_mlp, *split.forget_data(digits))
    assert evaluate(hidden, *split.forget_data(digits)) < 5
    curves = [
        relearn(m, digits, split, steps=30, reference_forget_acc=ref, name=n)
        for n, m in (("retrain", never_learnt), ("hidden", hidden))
    ]
    retrain, hid = curves
    assert hid.steps_to_recover is not None
    assert retrain.steps_to_recover is None or retrain.steps_to_recover > 2 * hid.steps_to_recover
    rows = {r.model: r for r in recovery_summary(curves)}
    assert rows["hidden"].ain is not None and rows["hidden"].ain < 0.5
    assert rows["hidden"].ain_kind in (EXACT, AT_MOST)
    assert "still in the model" in rows["hidden"].reading
    assert rows["retrain"].ain == 1.0 and "still in the model" not in rows["retrain"].reading


def _init_args(model) -> dict:
    s = model.spec
    return {"input_shape": tuple(s["input_shape"]), "num_classes": s["num_classes"], **s["kwargs"]}


def test_relearning_sets(digits, split):
    cfg = RelearnConfig(forget_per_class=4, retain_per_class=2)
    forget = relearn_indices(digits, split, "forget", cfg, seed=0)
    retain = relearn_indices(digits, split, "retain", cfg, seed=0)
    y = digits.y_train
    assert int((y[forget] == 3).sum()) == 4 and len(forget) == 4 + 2 * 9
    assert not bool((y[retain] == 3).any()) and len(retain) == 2 * 9
    assert set(retain.tolist()) <= set(split.retain_idx.tolist())
    assert torch.equal(forget, relearn_indices(digits, split, "forget", cfg, seed=0))
    assert not torch.equal(forget, relearn_indices(digits, split, "forget", cfg, seed=1))


def test_round_trip_and_bad_settings(digits, digits_mlp, split):
    curve = relearn(digits_mlp, digits, split, steps=2, reference_forget_acc=100.0)
    back = RelearnCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert back == curve
    with pytest.raises(ValueError, match="no setting lr"):
        relearn(digits_mlp, digits, split, steps=1, reference_forget_acc=100.0, lr=0.1)
    with pytest.raises(ValueError, match="unknown relearning mode"):
        relearn(digits_mlp, digits, split, mode="both", steps=1, reference_forget_acc=100.0)
    assert default_lr_scale(default_recipe("mlp")) == 1.0
    assert default_lr_scale(default_recipe("cnn")) == 0.1


# ------------------------------------------------------------- known answers on hand-made curves
def _c(model: str, accs: list[float], seed: int = 0, mode: str = "forget") -> RelearnCurve:
    return RelearnCurve(
        model=model, mode=mode, steps=list(range(len(accs))), forget_acc=accs, seed=seed
    )


def test_target_is_relative_to_retrains_start_or_not_measurable():
    assert recovery_target(100.0, 0.0).value == pytest.approx(90.0)  # the literature's level
    assert recovery_target(80.0, 20.0).value == pytest.approx(20.0 + 0.9 * 60.0)
    assert recovery_target(100.0, 50.0, fraction=0.8).value == pytest.approx(90.0)
    # retrain at or above fraction x the original before any step: not measurable
    for r0 in (90.0, 97.5, 100.0):
        t = recovery_target(100.0, r0)
        assert t.value is None and not t.measurable
    assert not recovery_target(0.0, 0.0).measurable  # an original that never had it
    with pytest.raises(ValueError, match="fraction"):
        recovery_target(100.0, 0.0, fraction=0.0)


def test_statuses_ain_and_bounds_on_hand_made_curves():
    curves = [
        # seed 0: retrain reaches 90 at step 3, the method at 1: AIN 1/3 exactly
        _c("original", [100, 100, 100, 100], seed=0),
        _c("retrain", [0, 10, 50, 95], seed=0),
        _c("m", [0, 95, 95, 95], seed=0),
        # seed 1: retrain never within 3 steps, the method at 2: AIN at most 2/4
        _c("original", [100, 100, 100, 100], seed=1),
        _c("retrain", [0, 0, 10, 20], seed=1),
        _c("m", [10, 50, 92, 99], seed=1),
        # seed 2: retrain starts at 97 (generalises): nothing measurable on this seed
        _c("original", [100, 100, 100, 100], seed=2),
        _c("retrain", [97, 98, 99, 100], seed=2),
        _c("m", [97, 100, 100, 100], seed=2),
        # seed 3: the method never, retrain at 2: AIN at least 4/2
        _c("original", [100, 100, 100, 100], seed=3),
        _c("retrain", [0, 50, 91, 91], seed=3),
        _c("m", [0, 0, 0, 0], seed=3),
    ]
    scored = {(c.model, c.seed): c for c in score_curves(curves)}
    assert scored[("retrain", 0)].target == pytest.approx(90.0)
    assert scored[("retrain", 0)].steps_to_recover == 3 and scored[("m", 0)].status == REACHED
    assert scored[("retrain", 1)].status == NOT_REACHED
    assert all(scored[(n, 2)].status == NOT_MEASURABLE for n in ("original", "retrain", "m"))
    assert all(scored[(n, 2)].target is None for n in ("original", "retrain", "m"))
    assert scored[("retrain", 2)].steps_to_recover is None  # never "recovered" at step 0

    def ain(seed):
        return anamnesis(scored[("m", seed)], scored[("retrain", seed)])

    assert (ain(0).value, ain(0).kind) == (pytest.approx(1 / 3), EXACT)
    assert (ain(1).value, ain(1).kind) == (pytest.approx(2 / 4), AT_MOST)
    assert (ain(2).value, ain(2).kind) == (None, NOT_MEASURABLE)
    assert (ain(3).value, ain(3).kind) == (pytest.approx(4 / 2), AT_LEAST)
    never = _with_status(_c("m", [0, 0, 0, 0]), NOT_REACHED)
    assert anamnesis(never, _with_status(_c("retrain", [0, 0, 0, 0]), NOT_REACHED)).kind == (
        UNDETERMINED
    )

    spread = {s.model: s for s in relearn_spread(curves)}
    m = spread["m"]
    assert (m.seeds, m.not_measurable, m.measurable, m.reached) == (4, 1, 3, 2)
    assert (m.steps_min, m.steps_median, m.steps_max) == (1, 2, 4)  # 4 = budget + 1
    assert m.ain_median == pytest.approx(0.5) and m.ain_min == pytest.approx(1 / 3)
    assert m.ain_max == pytest.approx(2.0) and m.ain_bounds == 2 and m.ain_kind == "mixed bounds"
    ret = spread["retrain"]
    assert ret.ain_text() == "1 (reference)" and ret.steps_text() == "3 (2 to >3)"
    assert "still in the model" not in ret.reading
    assert "still in the model" not in " ".join(r.reading for r in ret.per_seed)
    # a spread with every seed not measurable says so, for every model
    only = relearn_spread([c for c in curves if c.seed == 2])
    assert all(s.status == NOT_MEASURABLE and s.ain_text() == NOT_MEASURABLE for s in only)
    assert all("not measurable" in s.reading for s in only)
    assert all(s.row()["relearn_steps"] is None for s in only)


def _with_status(c: RelearnCurve, status: str) -> RelearnCurve:
    c.status, c.target = status, 90.0
    return c


# ------------------------------------------------------------- on real models
@pytest.fixture(scope="module")
def random_split(digits):
    return make_split(digits, ForgetRequest(fraction=0.1, seed=0))


def _trained(digits, split, seed: int, retain: bool):
    model, _ = train_new_model(
        digits, "mlp", TrainConfig(epochs=15, batch_size=64), seed=seed, device="cpu",
        indices=split.retain_idx if retain else None,
    )  # fmt: skip
    return model


def test_retrain_audited_as_a_method_on_a_random_request_is_never_recovered(digits, random_split):
    """Retrain under audit (an independently seeded retrain, seed 1) against the reference
    retrain (seed 0) on a random 10% request: both already predict the forget samples by
    generalising, so nothing may read "recovered" or "knowledge still in the model"; the
    result is not measurable (or, where measurable, AIN about 1)."""
    models = {
        "original": _trained(digits, random_split, 0, retain=False),
        "retrain": _trained(digits, random_split, 0, retain=True),
        "retrain_seed1": _trained(digits, random_split, 1, retain=True),
    }
    curves = [
        relearn(m, digits, random_split, mode="forget", steps=10, seed=0, name=n)
        for n, m in models.items()
    ]
    assert curves[1].forget_acc[0] > 85  # retrain predicts most of a random forget set
    rows = {r.model: r for r in recovery_summary(curves)}
    for name in ("retrain", "retrain_seed1"):
        row = rows[name]
        assert "still in the model" not in row.reading and "recover" not in row.reading
        if row.status == NOT_MEASURABLE:
            assert row.steps_to_recover is None and row.ain is None
            assert "not measurable" in row.reading
        else:
            assert row.ain == pytest.approx(1.0, abs=0.5)
    spread = {s.model: s for s in relearn_spread(curves)}
    assert "still in the model" not in spread["retrain_seed1"].reading


def test_relearning_samples_are_not_scored(digits, split, digits_mlp, monkeypatch):
    cfg = RelearnConfig(forget_per_class=5, retain_per_class=2)
    idx = relearn_indices(digits, split, "forget", cfg, seed=3)
    scored = scored_indices(split, idx)
    forget = set(split.forget_idx.tolist())
    used = forget & set(idx.tolist())
    assert len(used) == 5 and not used & set(scored.tolist())
    assert set(scored.tolist()) | used == forget
    seen: list[torch.Tensor] = []
    real = relearn_module._forget_acc

    def spy(model, x, y):
        seen.append(x)
        return real(model, x, y)

    monkeypatch.setattr(relearn_module, "_forget_acc", spy)
    curve = relearn(
        digits_mlp, digits, split, mode="forget", steps=2, seed=3, name="original",
        forget_per_class=5, retain_per_class=2,
    )  # fmt: skip
    assert curve.scored == split.n_forget - 5 == len(scored)
    assert len(seen) == 3 and all(torch.equal(x, digits.x_train[scored]) for x in seen)
    # retain-only relearning uses no forget sample: every one is scored
    assert relearn(digits_mlp, digits, split, mode="retain", steps=0).scored == split.n_forget
    with pytest.raises(ValueError, match="none is left to score"):
        relearn(digits_mlp, digits, split, steps=0, forget_per_class=10_000)


def test_every_seed_is_relearned_and_the_spread_reported(digits, capsys):
    """A K = 3 audit on a random 10% request: every seed's original, retrain and unlearned
    model is relearned with its own relearning set, the spread covers the 3 seeds, and retrain
    is reported "not measurable" in the record, the JSON summary and the CLI text."""
    with LocalExecutor(workers=1) as ex:
        res = run_audit(
            digits, "mlp", TrainConfig(epochs=6, batch_size=64),
            ForgetRequest(fraction=0.1, seed=0), [("finetune", {"epochs": 1})],
            models=3, executor=ex, relearn="forget",
        )  # fmt: skip
    by = {(c.model, c.seed) for c in res.relearn_curves if c.ok}
    assert by == {(m, s) for m in ("original", "retrain", "finetune") for s in (0, 1, 2)}
    draws = {c.seed: c.settings["seed"] for c in res.relearn_curves}
    assert draws == {0: 0, 1: 1, 2: 2}  # each seed its own relearning set
    assert all(c.scored is not None and c.scored < len(res.forget_ids) for c in res.relearn_curves)
    spread = {s.model: s for s in res.relearn_spread()}
    assert all(s.seeds == 3 for s in spread.values())
    ret = spread["retrain"]
    assert ret.not_measurable == 3 and ret.status == NOT_MEASURABLE
    summary = json.loads(json.dumps(res.summary()))
    assert summary["retrain"]["relearn_status"] == NOT_MEASURABLE
    assert summary["retrain"]["relearn_steps"] is None
    assert "retrain's start" in summary["relearn_target"]
    rows = {r["model"]: r for r in summary["relearn_spread"]}
    assert rows["finetune"]["seeds"] == 3 and len(rows["finetune"]["per_seed"]) == 3
    again = AuditResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.to_dict() == res.to_dict()
    _print_relearning(res)
    text = capsys.readouterr().out
    assert "retrain's start" in text and "not measurable" in text
    assert "still in the model" not in text.split("retrain ", 1)[1].splitlines()[0]
    # the HTML report says so too
    page = render_html({"record": {"rows": []}, "comparison": res.to_dict()})
    section = page.split('id="relearning"', 1)[1]
    assert html.escape(RELEARN_TARGET) in section and "not measurable" in section
    # the figures: no target line on a not-measurable seed; the spread leaves such seeds out
    curves_fig = P.recovery_curves(res.relearn_curves_of(0))
    assert not curves_fig.layout.shapes
    assert any("not measurable" in (t.name or "") for t in curves_fig.data)
    spread_fig = P.recovery_spread(res.relearn_spread())
    assert all(len(t.x or ()) == 0 for t in spread_fig.data if t.mode == "markers")


def test_an_audit_stored_before_every_seed_was_relearned_still_loads(digits):
    """The old record: the first seed's curves under ``relearn_reference`` and each method's
    ``relearn``, an absolute target; they load as seed-0 curves scored against retrain."""
    old_curve = {"mode": "forget", "steps": [0, 1, 2], "target": 90.0, "settings": {"seed": 0}}
    doc = {
        "kind": "audit", "dataset": "digits", "model": "mlp", "forget": {}, "seeds": [4, 5],
        "audit": {
            "relearn_mode": "forget",
            "relearn_reference": {
                "original": {**old_curve, "model": "original", "forget_acc": [100, 100, 100],
                             "steps_to_recover": 0},
                "retrain": {**old_curve, "model": "retrain", "forget_acc": [0, 5, 30],
                            "steps_to_recover": None},
            },
            "methods": [
                {"method": "scrub", "relearn": {**old_curve, "model": "scrub",
                                                "forget_acc": [0, 60, 95], "steps_to_recover": 2}},
                {"method": "salun", "relearn": {"model": "salun", "mode": "forget",
                                                "error": "boom"}},
            ],
        },
    }  # fmt: skip
    res = AuditResult.from_dict(doc)
    assert {c.model for c in res.relearn_curves} == {"original", "retrain", "scrub", "salun"}
    assert all(c.seed == 4 for c in res.relearn_curves)
    scrub = next(c for c in res.relearn_curves if c.model == "scrub")
    assert scrub.scored is None and scrub.status == REACHED and scrub.target == pytest.approx(90)
    spread = {s.model: s for s in res.relearn_spread()}
    assert spread["scrub"].ain_kind == AT_MOST and spread["salun"].failed == 1
    assert res.get("scrub") is not None and "relearn" not in res.get("scrub").to_dict()
    assert AuditResult.from_dict(res.to_dict()).relearn_curves == res.relearn_curves

"""The audit end to end on tiny settings (K = 2): records, failures, cancel, store, CLI."""

from __future__ import annotations

import json

import pytest

from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.audit.records import AuditResult
from unlearn_core.cli.main import main
from unlearn_core.forget import ForgetRequest
from unlearn_core.store import RunStore
from unlearn_core.training import TrainConfig

TINY = TrainConfig(epochs=4, batch_size=64)


@pytest.fixture(scope="module")
def audit(digits):
    seen: list[float] = []
    with LocalExecutor(workers=1) as ex:
        res = run_audit(
            digits,
            "mlp",
            TINY,
            ForgetRequest(classes=(3,)),
            [("finetune", {"epochs": 2}), ("scrub", {"bogus": 1})],
            models=2,
            executor=ex,
            relearn="retain",
            progress=lambda f, m="": seen.append(f),
        )
    res.progress_seen = seen  # type: ignore[attr-defined]
    return res


def test_audit_records_every_piece(audit, digits):
    n_forget = int((digits.y_train == 3).sum())
    assert audit.seeds == [0, 1] and audit.models_per_side == 2 and not audit.cancelled
    assert len(audit.forget_ids) == n_forget and set(audit.forget_labels) == {3}
    assert [m.seed for m in audit.originals] == [0, 1] and all(m.ok for m in audit.retrains)
    assert audit.retrains[0].forget_acc == 0.0 and audit.originals[0].forget_acc > 50
    ft = audit.get("finetune")
    assert ft.ok and len(ft.models) == 2 and ft.preset is not None
    assert len(ft.quality.epsilons) == n_forget and ft.quality.models == 2
    assert all(0.0 <= e <= 50.0 for e in ft.quality.epsilons)
    assert 0.0 <= ft.final_score <= 1.0 and 0.0 <= ft.privacy.score <= 1.0
    # a failing method keeps its error and the audit goes on
    scrub = audit.get("scrub")
    assert scrub.quality is None and "no parameter bogus" in scrub.error
    assert all(not m.ok for m in scrub.models)
    # relearning ran on every seed's original, retrain and unlearned model
    assert audit.relearn_mode == "retain"
    curves = {(c.model, c.seed): c for c in audit.relearn_curves}
    assert set(curves) == {(m, s) for m in ("original", "retrain", "finetune") for s in (0, 1)}
    ft_curve = curves[("finetune", 0)]
    assert ft_curve.mode == "retain" and len(ft_curve.forget_acc) > 1
    assert ft_curve.scored == n_forget  # retain-only relearning: every forget sample scored
    assert curves[("retrain", 1)].target == pytest.approx(
        0.9 * curves[("original", 1)].forget_acc[0]
    )
    # the first seed's logits for the instance view
    assert set(audit.logits) == {"original", "retrain", "finetune"}
    lg = audit.logits["finetune"]
    assert len(lg.forget) == n_forget and len(lg.test) == len(digits.y_test)
    assert len(lg.forget[0]) == digits.num_classes
    seen = audit.progress_seen
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_audit_json_round_trip_and_run_store(audit, digits, tmp_path):
    d = json.loads(json.dumps(audit.to_dict()))
    again = AuditResult.from_dict(d)
    assert again.to_dict() == d
    assert again.get("finetune").quality.epsilons == audit.get("finetune").quality.epsilons
    with pytest.raises(ValueError, match="not an audit"):
        AuditResult.from_dict({"kind": "comparison"})
    store = RunStore(tmp_path / "runs")
    rec = store.save_comparison(audit, dataset=digits, recipe=TINY.to_dict(), save_models=False)
    assert rec.kind == "audit" and rec.methods == ["retrain", "finetune", "scrub"]
    assert [r.id for r in store.list_comparisons()] == [rec.id]
    doc = store.read_comparison(rec.id)
    assert AuditResult.from_dict(doc["comparison"]).to_dict() == d
    assert store.export_json(rec.id, tmp_path / "a.json").exists()
    store.delete(rec.id)
    assert store.list_comparisons() == []


def test_cancel_leaves_the_rest_undone(digits):
    with LocalExecutor(workers=1) as ex:
        res = run_audit(
            digits, "mlp", TINY, ForgetRequest(classes=(3,)), ["finetune"], models=2,
            executor=ex, should_stop=lambda: True,
        )  # fmt: skip
    assert res.cancelled
    assert all(m.cancelled for m in res.originals + res.retrains)
    assert res.get("finetune").quality is None and res.get("finetune").error


def test_bad_requests_are_plain_errors(digits):
    req = ForgetRequest(classes=(3,))
    with pytest.raises(ValueError, match="at least 2 models"):
        run_audit(digits, "mlp", TINY, req, ["finetune"], models=1)
    with pytest.raises(ValueError, match="relearn must be"):
        run_audit(digits, "mlp", TINY, req, ["finetune"], relearn="both")
    with pytest.raises(KeyError):
        run_audit(digits, "mlp", TINY, req, ["no_such_method"], models=2)


def test_cli_prints_one_object(capsys):
    argv = "audit --dataset digits --model mlp --forget-class 3 --methods finetune --models 2"
    rc = main([*argv.split(), "--epochs", "3", "--workers", "1", "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "audit" and out["models"] == 2 and out["executor"] == "local"
    (row,) = out["results"]
    assert row["method"] == "finetune" and isinstance(row["forget_quality"], float)
    assert len(row["epsilons"]) == len(out["forget_ids"]) and "final_score" in row
    assert main(["runs", "list", "--json"]) == 0
    audit = next(r for r in json.loads(capsys.readouterr().out) if r["kind"] == "audit")
    assert main(["runs", "list"]) == 0  # the text listing names the kind too
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(audit["id"])]
    assert line.split()[3] == "audit"

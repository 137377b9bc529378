"""The ensemble lenses in the audit (issue 19 parts 3, 4, 5, 7): the CLI's JSON fields with a
small K, values in range, the text table and the HTML report; a stored audit with lenses
reopens; an audit without ``--metrics`` is unchanged, and one stored before the lenses opens."""

from __future__ import annotations

import json

import pytest

from unlearn_core.audit.executors import LocalExecutor
from unlearn_core.audit.klom import KLOM_MAX
from unlearn_core.audit.pipeline import RMIA_A, run_audit
from unlearn_core.audit.records import LENS_KEYS, AuditResult
from unlearn_core.cli.audit import _print_audit
from unlearn_core.cli.main import main
from unlearn_core.evaluation.report import render_html
from unlearn_core.forget import ForgetRequest
from unlearn_core.store import RunStore
from unlearn_core.training import TrainConfig

TINY = TrainConfig(epochs=3, batch_size=64)
#: the summary's top-level keys before the lenses: an audit without --metrics keeps exactly these
PLAIN_KEYS = {
    "kind", "dataset", "model", "forget", "models", "seeds", "executor", "workers", "device",
    "seconds", "cancelled", "delta", "max_finite_epsilon", "relearn", "relearn_target",
    "relearn_spread", "forget_ids", "original", "retrain", "results",
}  # fmt: skip


def _in_range(row: dict) -> None:
    for k in ("klom_forget_p95", "klom_retain_p95", "klom_val_p95"):
        assert 0.0 <= row[k] <= KLOM_MAX + 1e-9, (row["method"], k, row[k])
    assert 0.0 <= row["ulira_acc"] <= 100.0
    assert 0.0 <= row["rmia_auc"] <= 1.0
    assert 0.0 <= row["quant8_forget_acc"] <= 100.0 and 0.0 <= row["quant4_forget_acc"] <= 100.0


@pytest.fixture(scope="module")
def lens_cli(tmp_path_factory):
    """``unlearn audit ... --models 4 --metrics eps,klom,ulira,rmia --attacks quantize --json``
    (the logit-suppression demonstration: no training of its own) and its run store."""
    home = tmp_path_factory.mktemp("lens_runs")
    argv = (
        "audit --dataset digits --model mlp --forget-class 3 --methods logit_suppression "
        "--models 4 --epochs 3 --workers 1 --metrics eps,klom,ulira,rmia --attacks quantize "
        "--json --no-progress"
    )
    return [*argv.split(), "--home", str(home)], home


def test_cli_json_carries_the_lenses(lens_cli, capsys):
    argv, home = lens_cli
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"] == 4 and out["metrics"] == ["eps", "klom", "ulira", "rmia"]
    assert out["attacks"] == ["quantize"] and out["rmia_a"] == RMIA_A
    assert 0.0 <= out["klom_baseline_forget_p95"] <= KLOM_MAX + 1e-9
    assert out["klom_baseline_models_per_half"] == 2
    (row,) = out["results"]
    for r in (row, out["retrain"], out["original"]):
        assert set(LENS_KEYS) <= set(r)
        _in_range(r)
    # the retrain row's KLoM is the oracle baseline (its halves); retraining forgets class 3
    assert out["retrain"]["klom_forget_p95"] == out["klom_baseline_forget_p95"]
    assert out["retrain"]["quant8_forget_acc"] == 0.0
    # the suppression leaves the original's weights: U-LiRA tells it from retraining
    assert row["ulira_acc"] > 75.0 and row["forget_acc"] == 0.0
    assert isinstance(row["forget_quality"], float) and len(row["epsilons"]) == 131

    # stored: it reopens with every lens, per-sample data for the drill-down included
    store = RunStore(home)
    (rec,) = store.list_comparisons()
    doc = store.read_comparison(rec.id)
    res = AuditResult.from_dict(doc["comparison"])
    assert res.summary() == {**out, "seconds": res.seconds}
    ls = res.get("logit_suppression").lenses
    assert ls.seeds == [0, 1, 2, 3] and len(ls.forget_margins) == 4
    assert len(ls.forget_margins[0]) == 131 and len(ls.klom.forget_scores) == 131
    assert len(ls.ulira.per_sample) == 131 and len(ls.rmia.per_sample_auc) == 131
    assert res.retrain_lenses.halves and len(res.retrain_lenses.forget_margins) == 4
    assert res.klom_baseline.models_per_half == 2
    again = json.loads(json.dumps(res.to_dict()))
    assert AuditResult.from_dict(again).to_dict() == again

    # the text table shows the lenses through the table spec; the report has its section
    _print_audit(res)
    text = capsys.readouterr().out
    for head in ("KLoM forget P95", "U-LiRA (%)", "RMIA AUC", "forget acc int8 (%)"):
        assert head in text
    assert "oracle baseline (retrains 2 vs 2)" in text and "offline a = 1" in text
    html = render_html(doc)
    assert 'id="lenses"' in html and "KLoM forget P95" in html and "offline a = 1" in html


@pytest.fixture(scope="module")
def plain(digits):
    with LocalExecutor(workers=1) as ex:
        return run_audit(
            digits, "mlp", TINY, ForgetRequest(classes=(3,)), ["logit_suppression"],
            models=2, executor=ex,
        )  # fmt: skip


def test_without_metrics_the_audit_is_unchanged(plain, capsys):
    s = plain.summary()
    assert set(s) == PLAIN_KEYS and not plain.lensed
    for row in (s["original"], s["retrain"], *s["results"]):
        assert not set(LENS_KEYS) & set(row)
    a = plain.to_dict()["audit"]
    assert not {"metrics", "original_lenses", "retrain_lenses", "klom_baseline"} & set(a)
    assert all("lenses" not in m for m in a["methods"])
    _print_audit(plain)
    text = capsys.readouterr().out
    assert "KLoM" not in text and "RMIA" not in text and "oracle baseline" not in text
    assert 'id="lenses"' not in render_html({"comparison": plain.to_dict()})


def test_an_audit_stored_before_the_lenses_opens(plain):
    d = json.loads(json.dumps(plain.to_dict()))
    old = AuditResult.from_dict(d)
    assert old.metrics == ["eps"] and old.attacks == [] and old.original_lenses is None
    assert old.get("logit_suppression").lenses is None and old.klom_baseline is None
    assert old.to_dict() == d


def test_unknown_lens_or_attack_is_a_plain_error(digits):
    req = ForgetRequest(classes=(3,))
    with pytest.raises(ValueError, match="unknown metric"):
        run_audit(digits, "mlp", TINY, req, ["finetune"], models=2, metrics=("eps", "lira"))
    with pytest.raises(ValueError, match="unknown attack"):
        run_audit(digits, "mlp", TINY, req, ["finetune"], models=2, attacks=("prune",))
    argv = "audit --dataset digits --model mlp --forget-class 3 --metrics x"
    with pytest.raises(SystemExit, match="unknown metric"):
        main(argv.split())

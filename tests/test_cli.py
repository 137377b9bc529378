"""The ``unlearn`` command line, in process and through the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from unlearn_core.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_methods_json(capsys):
    code, out, _ = run_cli(capsys, "list-methods", "--json")
    specs = json.loads(out)
    names = {s["name"] for s in specs}
    assert code == 0 and {"retrain", "finetune"} <= names
    assert all(s["family"] in {"exact", "approximate"} and s["summary"] for s in specs)


@pytest.mark.slow
def test_compare_issue_command_prints_every_method(capsys):
    """The issue's 'done when' command, verbatim (default recipe, so this takes ~10-20 s)."""
    methods = "retrain,finetune,neggrad,scrub,salun,ssd,lrp"
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--dataset",
        "digits",
        "--model",
        "mlp",
        "--forget-class",
        "3",
        "--methods",
        methods,
        "--json",
        "--no-progress",
    )
    assert code == 0
    res = json.loads(out)
    assert res["dataset"] == "digits" and res["model"] == "mlp"
    rows = {r["method"]: r for r in res["results"]}
    assert list(rows) == methods.split(",")
    for name, r in rows.items():
        assert r["error"] is None, (name, r["error"])
        assert 0 <= r["forget_acc"] <= 100 and r["seconds"] > 0
    assert rows["retrain"]["forget_acc"] < 5 and rows["retrain"]["avg_gap"] == 0


def test_forget_fraction_and_indices_file(capsys, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("1\n5\n9\n")
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--forget-indices",
        str(f),
        "--methods",
        "finetune",
        "--epochs",
        "3",
        "--json",
        "--no-progress",
    )
    assert code == 0 and json.loads(out)["forget"]["n_forget"] == 3
    code, out, _ = run_cli(
        capsys,
        "run",
        "--method",
        "finetune",
        "--param",
        "epochs=1",
        "--forget-fraction",
        "0.1",
        "--forget-class",
        "2",
        "--epochs",
        "3",
        "--json",
        "--no-progress",
    )
    res = json.loads(out)
    assert code == 0 and res["forget"]["kind"] == "fraction_in_class"
    assert [r["method"] for r in res["results"]] == ["finetune"]


def test_bad_requests_are_clear_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compare", "--forget-class", "42", "--json")
    assert code == 2 and "unknown class 42" in err
    code, _, err = run_cli(capsys, "compare", "--json")
    assert code == 2 and "empty" in err
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"garbage")
    code, _, err = run_cli(
        capsys, "compare", "--data", str(bad), "--format", "npz", "--forget-class", "0"
    )
    assert code == 2 and "x.npz" in err
    code, _, err = run_cli(
        capsys,
        "run",
        "--method",
        "finetune",
        "--param",
        "lr=9",
        "--forget-class",
        "1",
        "--epochs",
        "2",
    )
    assert code == 2 and "outside its range" in err
    code, _, err = run_cli(capsys, "compare", "--methods", "scrub,nosuch", "--forget-class", "1")
    assert code == 2 and "unknown method 'nosuch'" in err


def test_train_then_compare_from_checkpoint(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "--epochs", "3", "--out", str(tmp_path / "m"))
    assert code == 0 and "saved" in out
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--checkpoint",
        str(tmp_path / "m"),
        "--forget-class",
        "1",
        "--methods",
        "finetune",
        "--json",
        "--no-progress",
    )
    assert code == 0 and json.loads(out)["results"][1]["error"] is None
    code, _, err = run_cli(
        capsys,
        "compare",
        "--checkpoint",
        str(tmp_path / "m"),
        "--model",
        "cnn",
        "--forget-class",
        "1",
        "--json",
    )
    assert code == 2 and "not 'cnn'" in err


@pytest.mark.skipif(shutil.which("unlearn") is None, reason="console script not installed")
def test_console_script_entry_point():
    out = subprocess.run(["unlearn", "list-methods"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "retrain" in out.stdout

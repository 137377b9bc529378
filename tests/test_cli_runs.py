"""``unlearn runs list|show|delete|export`` through a parser built like the CLI's."""

from __future__ import annotations

import argparse
import json

import pytest
from runstore_support import small_run

from unlearn_core.cli.runs import add_runs_commands
from unlearn_core.store import RunStore


def unlearn(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="unlearn")
    add_runs_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    data, _, comp = small_run()
    home = tmp_path_factory.mktemp("cli") / "runs"
    store = RunStore(home)
    first = store.save_comparison(comp, dataset=data, save_models=False, note="first try")
    second = store.save_comparison(comp, dataset=data)
    return home, first, second


def test_list(stored, capsys):
    home, first, second = stored
    assert unlearn("runs", "list", "--home", home) == 0
    lines = capsys.readouterr().out.splitlines()
    # the run store's columns (RUN_COLUMNS), a rule under the headers
    assert lines[0].split()[:6] == ["run", "saved", "kind", "dataset", "model", "forget"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split()[3] == "comparison"  # after the id and the date's two words
    assert lines[2].startswith(second.id) and lines[3].startswith(first.id)  # newest first
    assert "finetune, neggrad" in lines[2] and "class 3" in lines[2] and "first try" in lines[3]
    assert unlearn("runs", "--home", home, "list", "--json") == 0  # --home before the verb too
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [second.id, first.id]
    assert listed[0]["rows"][0]["method"] == "original" and listed[0]["seeds"] == [0]
    assert unlearn("runs", "list", "--models", "--home", home) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in second.models.values())


def test_list_honours_unlearn_home(stored, capsys, monkeypatch, tmp_path):
    home, first, _ = stored
    monkeypatch.setenv("UNLEARN_HOME", str(home))
    assert unlearn("runs", "list", "--json") == 0
    assert first.id in capsys.readouterr().out
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "empty"))
    assert unlearn("runs", "list") == 0
    assert "no stored runs" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNLEARN_HOME")
    assert unlearn("runs", "list", "--json") == 0  # ./runs, not there yet
    assert json.loads(capsys.readouterr().out) == []


def test_show(stored, capsys):
    home, first, _ = stored
    assert unlearn("runs", "show", first.id, "--home", home) == 0
    out = capsys.readouterr().out
    assert f"run {first.id}" in out and "forget acc (%)" in out and "note     first try" in out
    assert "neggrad" in out and ("forgot" in out or "close to retraining" in out)
    assert unlearn("runs", "show", first.id, "--json", "--home", home) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["record"]["id"] == first.id and doc["schema_version"] == 1
    assert doc["id"] == first.id and doc["results"][0]["method"] == "retrain"


def test_unknown_id_exits_2(stored, capsys):
    home = stored[0]
    for verb in (["show"], ["delete"], ["export", "--json", str(home.parent / "x.json")]):
        assert unlearn("runs", *verb, "cdoesnotexi", "--home", home) == 2
        err = capsys.readouterr().err
        assert "unlearn runs: error: no run with id 'cdoesnotexi'" in err
    assert unlearn("runs", "show", "not-an-id", "--home", home) == 2
    assert "not a run id" in capsys.readouterr().err
    assert not (home.parent / "x.json").exists()


def test_export(stored, capsys, tmp_path):
    home, _, second = stored
    rc = unlearn(
        "runs", "export", second.id, "--home", home,
        "--json", tmp_path / "run.json", "--html", tmp_path / "out" / "report.html",
        "--models", tmp_path / "models",
    )  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 2 + len(second.models)
    assert json.loads((tmp_path / "run.json").read_text())["record"]["id"] == second.id
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in html
    names = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert names == sorted(f"{m}{ext}" for m in second.models for ext in (".json", ".safetensors"))
    assert unlearn("runs", "export", second.id, "--home", home) == 2
    assert "give --json FILE" in capsys.readouterr().err


def test_export_models_of_a_run_without_models(stored, capsys, tmp_path):
    home, first, _ = stored
    assert unlearn("runs", "export", first.id, "--models", tmp_path / "m", "--home", home) == 2
    assert "has no stored models" in capsys.readouterr().err


def test_delete(tmp_path, capsys):
    data, _, comp = small_run()
    home = tmp_path / "runs"
    rec = RunStore(home).save_comparison(comp, dataset=data)
    assert unlearn("runs", "delete", rec.id, "--home", home) == 0
    assert f"deleted {rec.id} (" in capsys.readouterr().out
    assert RunStore(home).list_comparisons() == [] and RunStore(home).list_models() == []
    assert unlearn("runs", "delete", rec.id, "--home", home) == 2

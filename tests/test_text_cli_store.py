"""``unlearn compare`` / ``unlearn run`` on text store their comparison in the run store (as
the image commands and the app do): ``unlearn runs list`` lists it, ``runs show`` reads it
back with the text track's columns, and the HTML report renders it."""

from __future__ import annotations

import json

import pytest

from unlearn_core.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CITIES = ["Tarsk", "Velmora", "Quinsey", "Keldra", "Brisk", "Linnet"]


@pytest.fixture()
def corpus(tmp_path):
    p = tmp_path / "people.jsonl"
    lines = []
    for i in range(6):
        name = f"Person{i}"
        lines.append(
            {
                "question": f"Where was {name} born?",
                "answer": f"born in {CITIES[i]}",
                "person": name,
            }
        )
        lines.append(
            {
                "question": f"Where does {name} live?",
                "answer": f"in {CITIES[(i + 2) % 6]}",
                "person": name,
            }
        )
    p.write_text("\n".join(json.dumps(x) for x in lines))
    return p


def _args(corpus, home, *extra):
    return [
        "--data",
        str(corpus),
        "--format",
        "jsonl",
        "--model",
        "tinylm",
        "--epochs",
        "5",
        "--forget-class",
        "1",
        "--no-progress",
        "--device",
        "cpu",
        "--home",
        str(home),
        *extra,
    ]


def test_text_compare_is_stored_listed_and_reported(corpus, tmp_path, capsys):
    home = tmp_path / "runs"
    assert main(["compare", *_args(corpus, home, "--methods", "npo", "--json")]) == 0
    out = capsys.readouterr()
    assert "saved run" in out.err
    assert main(["runs", "list", "--home", str(home), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1
    run = runs[0]
    assert run["model"] == "tinylm" and run["methods"] == ["retrain", "npo"]
    assert {r["method"] for r in run["rows"]} == {"original", "retrain", "npo"}
    rid = run["id"]
    # the models were stored with it (one seed), the text metrics read back
    assert main(["runs", "show", rid, "--home", str(home)]) == 0
    shown = capsys.readouterr().out
    assert "model utility" in shown and "npo" in shown
    html = tmp_path / "report.html"
    assert main(["runs", "export", rid, "--home", str(home), "--html", str(html)]) == 0
    text = html.read_text()
    assert "model utility" in text and "Person1" in text


def test_text_run_is_stored_and_no_save_stores_nothing(corpus, tmp_path, capsys):
    home = tmp_path / "runs"
    assert main(["run", *_args(corpus, home, "--method", "ga", "--json", "--no-save")]) == 0
    capsys.readouterr()
    assert main(["runs", "list", "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["run", *_args(corpus, home, "--method", "ga", "--json")]) == 0
    capsys.readouterr()
    assert main(["runs", "list", "--home", str(home), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["methods"] == ["ga"]

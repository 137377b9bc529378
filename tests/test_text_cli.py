"""``unlearn compare`` on text: a user's JSONL file with tinylm, --json rows with the text
track's keys; image-only options and image methods are refused."""

from __future__ import annotations

import json

import pytest

from unlearn_core.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def corpus(tmp_path):
    p = tmp_path / "people.jsonl"
    cities = ["Tarsk", "Velmora", "Quinsey", "Keldra", "Brisk", "Linnet"]
    lines = []
    for i in range(6):
        name = f"Person{i}"
        lines.append(
            {
                "question": f"Where was {name} born?",
                "answer": f"born in {cities[i]}",
                "person": name,
                "paraphrased_answer": f"the place of birth is {cities[i]}",
                "perturbed_answers": [
                    f"the place of birth is {c}" for c in cities if c != cities[i]
                ][:3],
            }
        )
        lines.append(
            {
                "question": f"Where does {name} live?",
                "answer": f"in {cities[(i + 2) % 6]}",
                "person": name,
            }
        )
    p.write_text("\n".join(json.dumps(x) for x in lines))
    return p


def test_compare_text_jsonl_json(corpus, capsys):
    rc = main(
        [
            "compare",
            "--data",
            str(corpus),
            "--format",
            "jsonl",
            "--model",
            "tinylm",
            "--epochs",
            "30",
            "--forget-class",
            "1",
            "--methods",
            "npo,graddiff",
            "--json",
            "--no-progress",
            "--no-save",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "tinylm" and out["forget"]["n_forget"] == 2
    assert [r["method"] for r in out["results"]] == ["retrain", "npo", "graddiff"]
    assert all(r["error"] is None for r in out["results"])
    assert out["original"]["forget_acc"] is not None
    assert "truth_ratio_forget" in out["original"]  # the text track's keys in the rows


def test_image_methods_are_refused_on_text(corpus, capsys):
    rc = main(
        [
            "compare",
            "--data",
            str(corpus),
            "--format",
            "jsonl",
            "--model",
            "tinylm",
            "--forget-class",
            "1",
            "--methods",
            "scrub",
            "--no-progress",
            "--no-save",
        ]
    )
    assert rc != 0
    assert "scrub is not a text method" in capsys.readouterr().err


def test_list_methods_for_tinylm_lists_the_language_methods(capsys):
    assert main(["list-methods", "--arch", "tinylm", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert names[0] == "retrain" and {"npo", "simnpo", "icu", "ga"} <= set(names)
    assert "scrub" not in names
    assert main(["list-methods", "--json"]) == 0
    assert "npo" not in [m["name"] for m in json.loads(capsys.readouterr().out)]

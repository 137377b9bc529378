"""The RESTOR scenario on text (``unlearn_core.text.restor``): the corrupting set's rows, the
two training phases (the clean model shared by the corrupted original and retrain), the rows'
``true_label_acc`` / ``restoration`` / ``restoration_retrain``, and ``unlearn compare
--scenario restor``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from unlearn_core.cli.main import main
from unlearn_core.text import TEXT_RECIPE, facts_dataset
from unlearn_core.text.restor import CONTINUAL, RestorError, compare_restor, make_restor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the tiny corpus needs more steps than the default recipe's 30 epochs of batch 64
RECIPE = replace(TEXT_RECIPE, batch_size=16, epochs=40)


def test_corrupting_set_rows():
    base = facts_dataset(10, 4, n_world=4, n_heldout=2)
    sc = make_restor(base, 0.2, seed=3)
    assert len(sc.people) == 2
    data, split = sc.data, sc.split()
    assert data.n_train == base.n_train  # D (8 people's true facts) + D_f (2 people's wrong)
    assert split.n_forget == 8 and split.n_retain == 32
    hit = set(sc.people)
    assert all(data.qa_train[i].person in hit for i in split.forget_idx.tolist())
    assert not any(data.qa_train[i].person in hit for i in split.retain_idx.tolist())
    truth = {q.question: q for q in base.qa_train}
    for i in split.forget_idx.tolist():
        wrong = data.qa_train[i]
        true = truth[wrong.question]
        assert wrong.answer != true.answer and wrong.fact == true.fact
        # another person's answer to the same kind of question (same template, other value)
        assert any(
            q.answer == wrong.answer and q.fact == true.fact and q.person != true.person
            for q in base.qa_train
        )
    assert torch.equal(data.clean[0], base.x_train)  # phase 1 reads every true fact
    assert len(sc.true_x) == 8
    assert make_restor(base, 0.2, seed=3).people == sc.people  # seeded
    with pytest.raises(RestorError, match="corrupt-fraction"):
        make_restor(base, 1.5)


def test_restor_comparison_rows():
    base = facts_dataset(16, 6, n_world=16, n_heldout=4)
    sc = make_restor(base, 0.2, seed=0, continual=replace(CONTINUAL, batch_size=16))
    multi = compare_restor(sc, ["npo"], recipe=RECIPE, seeds=[0], device="cpu")
    comp = multi.comparisons[0]
    assert [r.method for r in comp.results] == ["retrain", "npo", "clean"]
    assert len(sc.data.phase1) == 1  # one clean model: the original's and retrain's phase 1
    orig, retrain, clean = comp.original, comp.get("retrain"), comp.get("clean")
    assert all(r.ok for r in comp.results), [r.error for r in comp.results]
    m = orig.metrics
    assert m["forget_acc"] >= 80 and m["true_label_acc"] <= 30  # corrupted
    assert clean.metrics["true_label_acc"] >= 90 and clean.metrics["forget_acc"] <= 20
    assert retrain.metrics["forget_acc"] <= 20  # theta_ideal never saw D_f
    assert m["restoration"] == 0.0 and clean.metrics["restoration"] == pytest.approx(1.0)
    assert retrain.metrics["restoration_retrain"] == pytest.approx(1.0)
    npo = comp.get("npo").row()
    for k in ("true_label_acc", "restoration", "restoration_retrain"):
        assert npo[k] is not None
    t = npo["true_label_acc"]
    before, top = m["true_label_acc"], clean.metrics["true_label_acc"]
    assert npo["restoration"] == pytest.approx((t - before) / (top - before), abs=1e-3)
    assert comp.forget["scenario"]["scenario"] == "restor"


def test_cli_restor_scenario(tmp_path, capsys):
    lines = [
        {"question": f"What is fact {j} of P{i}?", "answer": f"value {(i * 7 + j) % 11}",
         "person": f"P{i}", "fact": f"f{j}"}
        for i in range(6)
        for j in range(3)
    ]  # fmt: skip
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines))
    common = ["--data", str(p), "--format", "jsonl", "--model", "tinylm", "--epochs", "5"]
    common += ["--no-progress", "--device", "cpu", "--json", "--home", str(tmp_path / "runs")]
    args = ["compare", *common, "--methods", "ga", "--scenario", "restor"]
    assert main([*args, "--corrupt-fraction", "0.3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in out["results"]] == ["retrain", "ga", "clean"]
    assert out["forget"]["n_forget"] == 6  # 2 of 6 people x 3 facts
    for r in [out["original"], *out["results"]]:
        assert "true_label_acc" in r and r["true_label_acc"] is not None
    assert main(["runs", "list", "--home", str(tmp_path / "runs"), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["dataset"].endswith("-restor")
    assert main(args) == 2  # no --corrupt-fraction
    assert "needs --corrupt-fraction" in capsys.readouterr().err
    assert main([*args, "--corrupt-fraction", "0.3", "--forget-class", "1"]) == 2
    capsys.readouterr()
    assert main(["compare", "--dataset", "moons", "--scenario", "restor",
                 "--corrupt-fraction", "0.1", "--no-save"]) == 2  # fmt: skip
    assert "restor is for text" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="text takes --scenario restor"):
        main(["compare", *common, "--scenario", "backdoor", "--corrupt-fraction", "0.1"])

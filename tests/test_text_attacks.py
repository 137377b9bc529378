"""Recovery attacks on text (``unlearn_core.text.attacks``): a known-answer test of the
quantiser on a tiny tinylm (the transformer's Linear weights on the RTN grid, the embedding and
its tied head untouched), the relearning set's rows, relearning on the original (keeps its high
forget exact match) against retrain (stays low), and ``unlearn compare --attacks`` on text."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from unlearn_core.cli.main import main
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.models import weights_hash
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, TinyLM, facts_dataset, train_tinylm
from unlearn_core.text.attacks import (
    ATTACK_ROW_KEYS,
    TextRelearnConfig,
    attack_comparison,
    parse_attacks,
    quantize_attack,
    quantize_lm,
    relearn_attack,
    relearn_rows,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the tiny corpus needs more steps than the default recipe's 30 epochs of batch 64
RECIPE = replace(TEXT_RECIPE, batch_size=16, epochs=40)


def test_quantize_lm_known_answer():
    torch.manual_seed(0)
    m = TinyLM((6,), 10, d_model=8, n_layer=1, n_head=2)
    w = m.blocks[0].attn.qkv.weight
    with torch.no_grad():
        w[0, :4] = torch.tensor([0.7, -0.25, 0.1, 0.05])
        w[0, 4:] = 0.0
    before = weights_hash(m)
    q4 = quantize_lm(m, 4)
    # absmax 0.7, step 0.7 / 7 = 0.1: -0.25 -> -2.5 -> -2 (half to even), 0.05 -> 0.5 -> 0
    expect = torch.tensor([0.7, -0.2, 0.1, 0.0, 0, 0, 0, 0])
    assert torch.allclose(q4.blocks[0].attn.qkv.weight[0], expect, atol=1e-6)
    assert weights_hash(m) == before  # the model itself is not changed
    # the embedding and the head tied to it stay in full precision (bitsandbytes keeps lm_head)
    assert torch.equal(q4.tok.weight, m.tok.weight) and q4.head.weight is q4.tok.weight
    assert torch.equal(q4.pos.weight, m.pos.weight)
    for name in ("blocks.0.attn.proj", "blocks.0.mlp.0", "blocks.0.mlp.2"):
        qw = dict(q4.named_modules())[name].weight
        s = qw.abs().amax(1, keepdim=True) / 7
        k = qw / s
        assert torch.allclose(k, k.round(), atol=1e-4) and k.abs().max() <= 7 + 1e-4
        assert not torch.equal(qw, dict(m.named_modules())[name].weight)
    q8 = quantize_lm(m, 8)  # half a step of 0.7 / 127 at most
    err = (q8.blocks[0].mlp[0].weight - m.blocks[0].mlp[0].weight).detach().abs()
    assert float(err.max()) <= float(m.blocks[0].mlp[0].weight.detach().abs().max()) / 254 + 1e-7


def test_relearn_rows_leave_each_person_a_scored_row():
    data = facts_dataset(8, 4, n_world=4, n_heldout=2)
    split = data.make_split(TextForgetRequest(people=(0, 1)))
    idx, scored = relearn_rows(data, split, TextRelearnConfig(forget_per_person=3), seed=0)
    forget_in = idx[torch.isin(idx, split.forget_idx)]
    assert len(forget_in) == 6 and len(scored) == 2  # 3 of each person's 4; one scored each
    assert not torch.isin(scored, idx).any()
    assert len(idx) == 12  # as many retain rows as forget rows
    one_fact = data.make_split(TextForgetRequest(facts=(0, 5)))  # one row of two people
    with pytest.raises(ValueError, match="at least 2 forget rows"):
        relearn_rows(data, one_fact, TextRelearnConfig(), seed=0)
    with pytest.raises(ValueError, match="unknown attack"):
        parse_attacks("relearn,prune")


def test_relearning_and_quantisation_original_vs_retrain():
    data = facts_dataset(16, 6, n_world=16, n_heldout=4)
    original = train_tinylm(data, RECIPE, seed=0)
    split = data.make_split(TextForgetRequest(people=(0, 1, 2)))
    task = UnlearnTask(data=data, split=split, train_config=RECIPE)
    retrain = run_method("retrain", original, task, seed=0).model
    curve = relearn_attack(original, data, split, recipe=RECIPE, name="original")
    assert curve.scored == 9 and len(curve.forget_acc) == 31
    assert curve.forget_acc[0] >= 90 and curve.forget_acc[-1] >= 80  # keeps what it knows
    ref = relearn_attack(retrain, data, split, recipe=RECIPE, name="retrain")
    assert max(ref.forget_acc) <= 40  # other facts of the same people: nothing to relearn
    q = quantize_attack(original, data, split)
    assert q.forget_em["full"] >= 90 and q.forget_em["int8"] >= q.forget_em["full"] - 10
    assert set(q.row()) == {
        "quant8_forget_acc",
        "quant4_forget_acc",
        "quant8_retain_acc",
        "quant4_retain_acc",
    }
    assert q.row()["quant8_forget_acc"] == q.forget_em["int8"]
    assert quantize_attack(retrain, data, split).forget_em["int4"] <= 40


def test_compare_with_attacks_on_text(tmp_path, capsys):
    lines = [
        {"question": f"What is fact {j} of P{i}?", "answer": f"value {(i * 7 + j) % 11}",
         "person": f"P{i}"}
        for i in range(5)
        for j in range(3)
    ]  # fmt: skip
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines))
    common = ["--data", str(p), "--format", "jsonl", "--model", "tinylm", "--epochs", "5"]
    common += ["--forget-class", "1", "--no-progress", "--no-save", "--device", "cpu", "--json"]
    assert main(["compare", *common, "--methods", "ga", "--attacks", "relearn,quantize"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = [out["original"], *out["results"]]
    assert [r["method"] for r in rows] == ["original", "retrain", "ga"]
    for r in rows:
        for k in ("quant8_forget_acc", "quant4_forget_acc", "relearn_forget_acc"):
            assert k in r and r[k] is not None, (r["method"], k)
    assert set(ATTACK_ROW_KEYS) <= set(out["results"][0])
    assert main(["compare", *common, "--methods", "ga", "--attacks", "prune"]) == 2
    assert "unknown attack 'prune'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="unlearn audit --attacks"):
        main(["compare", "--dataset", "moons", "--methods", "finetune", "--attacks", "quantize"])


def test_attack_comparison_skips_relearning_it_cannot_serve():
    from unlearn_core.experiment import Comparison, MethodResult
    from unlearn_core.models import build_model

    data = facts_dataset(6, 3, n_world=3, n_heldout=2)
    split = data.make_split(TextForgetRequest(facts=(0, 4)))  # one row of two people
    m = build_model("tinylm", data.input_shape, data.num_classes, d_model=16, n_head=2)
    comp = Comparison(
        dataset=data.name, model="tinylm", forget={}, seed=0,
        original=MethodResult(method="original", label="o", family="none", model=m),
    )  # fmt: skip
    attack_comparison(comp, data, split, ["relearn", "quantize"])
    assert "quant8_forget_acc" in comp.original.metrics
    assert "relearn_forget_acc" not in comp.original.metrics
    assert "at least 2 forget rows" in comp.forget["attacks"]["relearn_error"]

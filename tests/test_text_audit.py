"""The many-model audit on text (issue 22): the per-answer score the lenses read
(``unlearn_core.text.audit_scores``, known answers), and ``unlearn audit --dataset facts --model
tinylm`` end to end on a tiny corpus (rows with the lens keys, stored, an HTML report)."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch

import unlearn_core.text as T
from unlearn_core.audit.confidence import CONF_LIMIT, logit_scaled_confidence
from unlearn_core.audit.klom import margins
from unlearn_core.audit.rmia import probability_from_margins
from unlearn_core.cli.main import main
from unlearn_core.models import build_model
from unlearn_core.text.audit_scores import (
    answer_margin,
    audit_scores,
    pseudo_logits,
    sequence_loglik,
    targets,
)
from unlearn_core.text.train import IGNORE, token_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_answer_margin_known_values():
    ll = np.log(np.array([0.5, 0.9, 0.1, 1e-30]))
    m = answer_margin(ll)
    np.testing.assert_allclose(m, [0.0, math.log(9.0), -math.log(9.0), math.log(1e-30)], atol=1e-9)
    assert answer_margin(np.array([0.0]))[0] == CONF_LIMIT  # p = 1: the challenge's clip
    assert answer_margin(np.array([-1e-300]))[0] == CONF_LIMIT


def test_pseudo_logits_give_back_margin_probability_and_loss():
    ll = np.array([-0.01, -0.7, -3.0, -40.0])
    m = answer_margin(ll)
    z, y = pseudo_logits(m), targets(len(m))
    np.testing.assert_allclose(logit_scaled_confidence(z, y), m, atol=1e-9)
    np.testing.assert_allclose(margins(z, y), m, atol=1e-9)
    np.testing.assert_allclose(probability_from_margins(m), np.exp(ll), rtol=1e-9)
    ce = torch.nn.functional.cross_entropy(
        torch.tensor(z), torch.tensor(y), reduction="none"
    ).numpy()
    np.testing.assert_allclose(ce, -ll, rtol=1e-9)  # the answer's NLL where a lens wants a loss


def test_sequence_loglik_is_the_sum_of_answer_token_log_probs():
    data = T.facts_dataset(4, 3, n_world=2, n_heldout=1)
    torch.manual_seed(0)
    model = build_model("tinylm", data.input_shape, data.num_classes, d_model=32, n_head=2).eval()
    x, y = data.x_train, data.y_train
    got = sequence_loglik(token_scores(model, x, y))
    with torch.no_grad():
        logp = torch.log_softmax(model(x).double(), -1)
    want = []
    for i in range(len(x)):
        pos = (y[i] != IGNORE).nonzero().flatten()
        want.append(float(logp[i, pos, y[i, pos]].sum()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    split = data.make_split(T.TextForgetRequest(people=(1,)))
    s = audit_scores(model, data, split)
    assert set(s.margins) == {"forget", "retain", "test", "val"}
    np.testing.assert_allclose(s.margins["forget"], answer_margin(got[split.forget_idx.numpy()]))
    assert s.logits["forget"].shape == (split.n_forget, 2)


@pytest.fixture()
def tiny_facts(monkeypatch):
    """``--dataset facts`` as 8 people x 4 facts, 8 world facts, 4 held-out people."""
    monkeypatch.setattr(
        T, "facts_dataset", functools.partial(T.facts_dataset, 8, 4, n_world=8, n_heldout=4)
    )


def test_cli_text_audit_end_to_end(tiny_facts, tmp_path, capsys):
    home = tmp_path / "runs"
    args = ["audit", "--dataset", "facts", "--model", "tinylm", "--forget-fraction", "0.25",
            "--methods", "npo", "--models", "2", "--metrics", "eps,klom,ulira,rmia",
            "--attacks", "quantize", "--json", "--epochs", "150", "--no-progress",
            "--device", "cpu", "--workers", "1", "--home", str(home)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr()
    s = json.loads(out.out)
    assert s["model"] == "tinylm" and s["dataset"] == "facts" and s["models"] == 2
    assert len(s["forget_ids"]) == 8  # 2 of the 8 people, 4 facts each
    keys = ("klom_forget_p95", "klom_retain_p95", "klom_val_p95", "ulira_acc", "rmia_auc",
            "quant8_forget_acc", "quant4_forget_acc")  # fmt: skip
    for row in (s["original"], *s["results"]):
        assert all(k in row for k in keys), row
        assert row["failed_models"] == 0
    npo = s["results"][0]
    assert npo["method"] == "npo" and npo["forget_quality"] is not None
    o, r = s["original"], s["retrain"]
    # the originals memorised the forget answers, the retrains never saw them ...
    assert o["forget_acc"] >= 75.0 and r["forget_acc"] <= 25.0
    # ... so the lenses, reading each answer's likelihood, tell originals from retrains
    assert o["rmia_auc"] >= 0.8
    assert o["ulira_acc"] >= 75.0
    assert s["klom_baseline_forget_p95"] is not None
    assert "saved audit" in out.err
    rid = out.err.split("saved audit ")[1].split()[0]
    html = tmp_path / "audit.html"
    assert main(["runs", "--home", str(home), "export", rid, "--html", str(html)]) == 0
    text = html.read_text()
    assert "U-LiRA" in text and "RMIA" in text and "tinylm" in text
    # another method on the same forget set reuses the stored tinylm originals and retrains
    again = [a if a != "npo" else "simnpo" for a in args]
    capsys.readouterr()  # the export's line
    assert main(again) == 0
    out = capsys.readouterr()
    assert "reusing 2 of 2 originals, 2 of 2 retrained models" in out.err
    s2 = json.loads(out.out)
    assert s2["original"]["forget_acc"] == o["forget_acc"]  # the same models, reloaded
    assert s2["original"]["rmia_auc"] == pytest.approx(o["rmia_auc"])


def test_cli_text_audit_refuses_image_methods_and_relearning(tiny_facts, tmp_path):
    base = ["audit", "--dataset", "facts", "--model", "tinylm", "--forget-fraction", "0.25",
            "--models", "2", "--no-progress", "--home", str(tmp_path)]  # fmt: skip
    with pytest.raises(SystemExit, match="not a text method"):
        main([*base, "--methods", "finetune"])
    with pytest.raises(SystemExit, match="relearning"):
        main([*base, "--methods", "npo", "--relearn"])

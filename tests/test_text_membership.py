"""The text Attack page's numbers (``unlearn_core.text.membership``): each attack's score on
hand-built token log-probabilities, ROC curves and AUCs of known orderings, PrivLeak per
attack against retrain, and on a trained tinylm the same AUCs the comparison's rows hold."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset
from unlearn_core.text import membership as MB
from unlearn_core.text.evaluate import evaluate_model
from unlearn_core.text.train import TokenScores
from unlearn_core.text_app import train_text
from unlearn_core.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ts(rows: list[list[float]]) -> TokenScores:
    """Token scores of answers with the given token log-probs (mu 0, sigma 1)."""
    t = max(len(r) for r in rows)
    lp = torch.zeros(len(rows), t)
    mask = torch.zeros(len(rows), t, dtype=torch.bool)
    for i, r in enumerate(rows):
        lp[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    return TokenScores(
        lp=lp, mask=mask, mu=torch.zeros_like(lp), sigma=torch.ones_like(lp),
        correct=mask.clone(),
    )  # fmt: skip


def test_each_attack_scores_known_token_log_probs():
    rows = [[-0.1, -0.2, -3.0, -0.3, -0.4], [-2.0, -2.0]]
    texts = ["Who? Ann", "Where? Tarsk Tarsk Tarsk"]
    s = MB.scores_of(_ts(rows), texts)
    assert s["loss"] == pytest.approx([-0.8, -2.0])  # mean log-prob
    sizes = [len(zlib.compress(t.encode())) for t in texts]
    assert s["zlib"] == pytest.approx([-0.8 / sizes[0], -2.0 / sizes[1]])
    # 40 % of 5 tokens: the 2 lowest (-3.0, -0.4); of 2 tokens: 1
    assert s["min_k"] == pytest.approx([-1.7, -2.0])
    assert s["min_k_pp"] == pytest.approx([-1.7, -2.0])  # mu 0, sigma 1: the same
    with pytest.raises(ValueError, match="texts"):
        MB.scores_of(_ts(rows), texts[:1])


def test_roc_and_auc_of_known_orderings():
    sep = MB.roc(np.array([3.0, 4.0]), np.array([1.0, 2.0]))
    assert sep.auc == 1.0 and sep.fpr[0] == 0 and sep.tpr[-1] == 1 and sep.fpr[-1] == 1
    assert np.any((sep.fpr == 0) & (sep.tpr == 1))  # a threshold that takes both, no other
    assert MB.roc(np.array([1.0, 2.0]), np.array([3.0, 4.0])).auc == 0.0
    assert MB.roc(np.array([1.0, 1.0]), np.array([1.0, 1.0])).auc == 0.5  # ties count a half
    # one member of two above the one non-member: AUC 0.5, and it is the area under the curve
    half = MB.roc(np.array([0.0, 2.0]), np.array([1.0]))
    assert half.auc == 0.5 and np.trapezoid(half.tpr, half.fpr) == pytest.approx(0.5)
    assert math.isnan(MB.roc(np.array([1.0]), np.array([])).auc)


def _scores(members: list[float], nonmembers: list[float]) -> MB.MembershipScores:
    m, n = np.array(members), np.array(nonmembers)
    return MB.MembershipScores(
        members={a: m for a in MB.ATTACKS}, nonmembers={a: n for a in MB.ATTACKS}
    )


def test_attack_rows_give_each_auc_and_privleak_against_retrain():
    got = {
        "original": _scores([3, 4], [1, 2]),  # AUC 1
        "npo": _scores([0, 2], [1]),  # AUC 0.5
        "retrain": _scores([0, 3], [1, 2, 4]),  # 3 beats 1 and 2: 2 pairs of 6
    }
    rows = {r["model"]: r for r in MB.attack_rows(got)}
    ref = 2 / 6
    assert rows["retrain"]["loss_auc"] == pytest.approx(ref)
    assert rows["original"]["mia_mink_auc"] == 1.0
    assert rows["npo"]["privleak_min_k"] == pytest.approx((0.5 - ref) / ref * 100)
    assert rows["original"]["privleak_loss"] == pytest.approx((1 - ref) / ref * 100)
    assert rows["retrain"]["privleak_zlib"] is None
    alone = MB.attack_rows({"original": got["original"]})[0]
    assert alone["privleak_loss"] is None and alone["mia_minkpp_auc"] == 1.0
    curves = MB.curves(got, "zlib")
    assert list(curves) == ["original", "npo", "retrain"] and curves["npo"].auc == 0.5


def test_most_member_like_orders_forget_rows_by_score():
    s = _scores([0.1, 0.9, 0.5], [0.0])
    assert MB.most_member_like(s, "loss", [10, 11, 12], k=2) == [(11, 0.9), (12, 0.5)]


@pytest.fixture(scope="module")
def tiny():
    data = facts_dataset(n_people=12, facts_per_person=4, n_world=8, n_heldout=4)
    cfg = TrainConfig(**{**TEXT_RECIPE.to_dict(), "epochs": 25, "batch_size": 16})
    model, _ = train_text(data, cfg, seed=0, device="cpu")
    return data, model, data.make_split(TextForgetRequest(people=(0, 1, 2)))


def test_a_trained_tinylm_scores_as_the_comparison_row_and_knows_its_forget_rows(tiny):
    data, model, split = tiny
    got = MB.membership_scores(model, data, split)
    assert len(got.members["loss"]) == split.n_forget == 12
    assert len(got.nonmembers["min_k"]) == data.n_val
    row = evaluate_model(model, data, split).values
    for a in MB.ATTACKS:
        assert got.auc(a) == pytest.approx(row[MB.ROW_KEYS[a]]), a
    assert got.auc("loss") > 0.8  # trained on the forget rows, never on held-out people


def test_question_lens_places_each_forget_row_between_retrain_and_original():
    got = {
        "original": _scores([-0.1, -0.2, -1.0, -0.5], [0.0]),
        "ga": _scores([-2.0, -0.2, -1.5, -3.0], [0.0]),
        "retrain": _scores([-2.0, -1.8, -1.0, -2.5], [0.0]),
    }
    lens = MB.question_lens(got, "ga", [7, 8, 9, 10])
    pos = lens.position
    assert pos[0] == 0.0 and pos[1] == pytest.approx(1.0)  # at retrain's; at the original's
    assert np.isnan(pos[2])  # original and retrain score it alike: nothing to place
    assert pos[3] == pytest.approx((-3.0 + 2.5) / (-0.5 + 2.5))  # past retrain: below 0
    share = lens.shares()
    assert share["placed"] == 0.75
    assert share["forgotten"] == pytest.approx(2 / 3) and share["remembered"] == pytest.approx(
        1 / 3
    )
    with pytest.raises(KeyError, match="retrain"):
        MB.question_lens({"original": got["original"], "ga": got["ga"]}, "ga", [7, 8, 9, 10])


def test_question_states_read_in_batches_equal_one_at_a_time(tiny):
    from unlearn_core.text_app import (
        fact_kinds,
        question_ids,
        question_states,
        question_view,
    )

    data, model, split = tiny
    qs = [q.question for q in data.qa_train[:9]]
    batched = question_states(model, data, qs, batch_size=4)  # ragged prompts, 3 batches
    single = np.concatenate([question_states(model, data, [q]) for q in qs])
    assert batched.shape == (9, model.features(torch.zeros(1, 2, dtype=torch.long)).shape[-1])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    view = question_view({"original": model, "again": model}, data, split)
    ids = question_ids(data, split)
    assert list(view.ids) == list(ids) and view.n_forget == split.n_forget
    assert set(split.forget_idx.tolist()) <= set(ids.tolist())
    kinds = fact_kinds(data)
    assert [kinds[c] for c in view.labels[:4]] == [data.qa_train[i].fact for i in ids[:4]]
    np.testing.assert_allclose(view.features[0], view.features[1])  # the same model twice

"""Known-answer tests of the text track's metrics and of NPO / SimNPO's losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn_core.methods.language import npo_loss, simnpo_loss
from unlearn_core.text import metrics as TM


def test_exact_match_ignores_case_and_spacing_only():
    assert TM.exact_match("born in  Tarsk", "Born in Tarsk")
    assert not TM.exact_match("born in Tarsk.", "born in Tarsk")
    assert not TM.exact_match("born in Keldra", "born in Tarsk")


def test_lcs_and_rouge_l_recall_known_values():
    assert TM.lcs_length(["a", "b", "c", "d", "e"], ["a", "x", "c", "y", "e"]) == 3
    assert TM.lcs_length([], ["a"]) == 0
    # reference "the cat sat on the mat" (6 words); prediction shares "the cat on the mat"
    assert TM.rouge_l_recall("the cat was on the mat", "the cat sat on the mat") == 5 / 6
    assert TM.rouge_l_recall("Born in TARSK!", "born in tarsk") == 1.0
    assert TM.rouge_l_recall("nothing alike", "born in tarsk") == 0.0
    assert TM.rouge_l_recall("born in tarsk", "") == 0.0


def test_answer_probability_is_the_geometric_mean_token_probability():
    lp = np.log([0.5, 0.125])  # mean log p = log(0.25)
    assert TM.answer_probability([lp.mean()])[0] == pytest.approx(0.25)


def test_truth_ratio_known_values_and_aggregations():
    # paraphrased answer at mean log p log(0.5); perturbed ones at log(0.25) and log(0.0625):
    # their mean log p is log(0.125), so R = 0.125 / 0.5 = 0.25
    para = np.array([math.log(0.5)])
    pert = np.array([[math.log(0.25), math.log(0.0625)]])
    r = TM.truth_ratio(para, pert)
    assert r[0] == pytest.approx(0.25)
    assert TM.truth_ratio_forget(r) == pytest.approx(0.25)  # min(R, 1/R)
    assert TM.truth_ratio_retain(r) == pytest.approx(0.75)  # max(0, 1 - R)
    assert TM.truth_ratio_forget(np.array([4.0, 1.0])) == pytest.approx((0.25 + 1) / 2)
    assert TM.truth_ratio_retain(np.array([4.0])) == 0.0


def test_forget_quality_is_one_for_the_same_ratios_and_small_for_shifted_ones():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.0, 200)
    assert TM.forget_quality(a, a) == pytest.approx(1.0)
    assert TM.forget_quality(a, a * 0.1) < 1e-10


def test_harmonic_mean_as_tofu_model_utility():
    assert TM.harmonic_mean([0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert TM.harmonic_mean([1.0, 0.25]) == pytest.approx(2 / (1 + 4))
    assert TM.harmonic_mean([0.9, 0.0]) == 0.0
    assert math.isnan(TM.harmonic_mean([]))


def test_min_k_known_values():
    lp = np.log([0.9, 0.1, 0.5, 0.01, 0.8])
    # k = 0.4 of 5 tokens -> the 2 lowest: log 0.01 and log 0.1
    assert TM.min_k([lp], 0.4)[0] == pytest.approx((math.log(0.01) + math.log(0.1)) / 2)
    assert TM.min_k([lp], 0.01)[0] == pytest.approx(math.log(0.01))  # at least one token
    assert TM.min_k([lp], 1.0)[0] == pytest.approx(lp.mean())


def test_min_k_plus_plus_standardises_each_token_first():
    lp = np.array([-1.0, -3.0, -2.0])
    mu = np.array([-2.0, -2.0, -1.0])
    sigma = np.array([1.0, 0.5, 2.0])
    z = (lp - mu) / sigma  # [1, -2, -0.5]
    assert TM.min_k_plus_plus([lp], [mu], [sigma], 0.4)[0] == pytest.approx((-2 - 0.5) / 2)
    assert z.min() == -2


def test_auc_known_values_and_ties():
    assert TM.auc([3, 4], [1, 2]) == 1.0
    assert TM.auc([1, 2], [3, 4]) == 0.0
    assert TM.auc([1, 1], [1, 1]) == 0.5
    assert TM.auc([2, 0], [1]) == 0.5
    assert TM.auc([3, 1], [2, 2]) == 0.5


def test_zlib_score_divides_the_mean_nll_by_the_compressed_size():
    import zlib

    s = TM.zlib_score(np.array([-6.0]), np.array([3]), ["born in Tarsk"])
    assert s[0] == pytest.approx(-2.0 / len(zlib.compress(b"born in Tarsk")))


def test_priv_leak_known_values():
    assert TM.priv_leak(0.75, 0.5) == pytest.approx(50.0)
    assert TM.priv_leak(0.5, 0.5) == 0.0
    assert math.isnan(TM.priv_leak(0.6, float("nan")))


def test_npo_loss_known_values():
    beta = 0.1
    same = torch.tensor([-5.0, -2.0])
    # at the reference: -(2/beta) log sigmoid(0) = (2/beta) log 2
    assert float(npo_loss(same, same, beta)) == pytest.approx(2 / beta * math.log(2))
    # log-ratio -10 (the model 10 nats less likely): -(2/0.1) log sigmoid(1)
    lower = torch.tensor([-15.0])
    expected = -(2 / beta) * math.log(1 / (1 + math.exp(-1.0)))
    assert float(npo_loss(lower, torch.tensor([-5.0]), beta)) == pytest.approx(expected, rel=1e-6)
    # it decreases as the forget answer becomes less likely (bounded below by 0)
    assert float(npo_loss(torch.tensor([-100.0]), torch.tensor([-5.0]), beta)) < expected
    assert float(npo_loss(torch.tensor([-1e4]), torch.tensor([-5.0]), beta)) >= 0


def test_simnpo_loss_known_values():
    # per-token NLL 2 with margin 0.5 and beta 2: -(2/2) log sigmoid(2 * 1.5)
    v = simnpo_loss(torch.tensor([6.0]), torch.tensor([3]), beta=2.0, delta=0.5)
    assert float(v) == pytest.approx(-math.log(1 / (1 + math.exp(-3.0))), rel=1e-6)

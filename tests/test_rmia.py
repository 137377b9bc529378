"""RMIA (audit/rmia.py): the pairwise score on a hand-built case, the offline Pr, the AUC of
unlearned against retrained targets, the tuning of a."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.audit.klom import margins
from unlearn_core.audit.rmia import (
    A_GRID,
    offline_pr,
    probability_from_margins,
    rmia,
    rmia_scores,
    true_class_probability,
    tune_offline_a,
)


def test_the_score_is_the_share_of_population_samples_beaten():
    # a = 1: Pr = the references' mean (1 here), so LR(x, z) = p(x) / p(z)
    ones_x, ones_z = np.ones((3, 3)), np.ones((3, 3))
    s = rmia_scores(
        np.array([0.9, 0.5, 0.1]), ones_x, np.array([0.2, 0.6, 1.0]), ones_z, offline_a=1.0
    )
    assert s == pytest.approx([2 / 3, 1 / 3, 0.0])
    # gamma = 2: 0.9 beats only z = 0.2 (0.9 / 0.2 = 4.5 > 2, 0.9 / 0.6 = 1.5)
    s2 = rmia_scores(
        np.array([0.9]), ones_x[:, :1], np.array([0.2, 0.6, 1.0]), ones_z, offline_a=1.0, gamma=2
    )
    assert s2 == pytest.approx([1 / 3])


def test_references_rank_a_hard_sample_above_an_easy_one():
    # x0: the target is sure, but so is every reference (easy); x1: the target gives 0.5 where
    # references give 0.1 (the target knows it). RMIA orders x1 above x0; raw p would not.
    target_x = np.array([0.9, 0.5])
    ref_x = np.array([[0.9, 0.1], [0.9, 0.1]])
    z = np.linspace(0.05, 0.95, 19)
    s = rmia_scores(target_x, ref_x, z, np.tile(z, (2, 1)), offline_a=1.0)
    assert s[1] > s[0]


def test_the_offline_approximation_of_pr():
    ref = np.array([[0.2, 0.6], [0.4, 1.0]])
    assert offline_pr(ref, 0.3) == pytest.approx([0.65 * 0.3 + 0.35, 0.65 * 0.8 + 0.35])
    assert offline_pr(ref, 1.0) == pytest.approx([0.3, 0.8])
    assert offline_pr(ref, 0.0) == pytest.approx([0.65, 0.9])


def test_identical_sides_give_auc_one_half_and_separated_sides_auc_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 0.3, size=(6, 40))
    z = rng.uniform(0.2, 0.9, size=(6, 30))
    same = rmia(x, x, z, z)
    assert same.auc == 0.5 and same.per_sample_auc == [0.5] * 40
    # unlearned models still sure of the forget samples (0.9+), retrains not (<= 0.3)
    high = rng.uniform(0.9, 0.99, size=(6, 40))
    apart = rmia(high, x, z, z)
    assert apart.auc == 1.0
    assert min(apart.score_unlearned) > max(apart.score_retrained)
    assert (apart.models, apart.population, apart.gamma, apart.offline_a) == (6, 30, 1.0, 0.3)


def test_a_pair_never_references_its_own_retrain():
    # K = 2, one sample: pair 0's only reference is retrain 1 (0.1), pair 1's is retrain 0 (0.9)
    rx = np.array([[0.9], [0.1]])
    z = np.full((2, 2), 0.5)  # LR(x, z) = p(x) / Pr(x)
    res = rmia(np.array([[0.1], [0.1]]), rx, z, z, offline_a=1.0)
    # retrain 0: 0.9 / 0.1 > 1 -> 1; retrain 1: 0.1 / 0.9 -> 0; unlearned 0: 0.1 / 0.1 = 1, not
    # above 1 -> 0; unlearned 1: 0.1 / 0.9 -> 0. Pooled AUC: 2 ties and 1 loss of 4 pairs.
    assert res.score_retrained == [0.5] and res.score_unlearned == [0.0]
    assert res.auc == 0.25
    # the same scores, target by target, from rmia_scores with the pair's retrain left out
    rng = np.random.default_rng(2)
    ux, rx, uz, rz = (rng.uniform(0.05, 0.95, size=s) for s in ((3, 7), (3, 7), (3, 5), (3, 5)))
    res = rmia(ux, rx, uz, rz)
    others = [[1, 2], [0, 2], [0, 1]]
    s_r = [rmia_scores(rx[k], rx[o], rz[k], rz[o]) for k, o in enumerate(others)]
    s_u = [rmia_scores(ux[k], rx[o], uz[k], rz[o]) for k, o in enumerate(others)]
    assert res.score_retrained == pytest.approx(np.mean(s_r, 0))
    assert res.score_unlearned == pytest.approx(np.mean(s_u, 0))
    with_self = [rmia_scores(rx[k], rx, rz[k], rz) for k in range(3)]
    assert not np.allclose(np.mean(with_self, 0), np.mean(s_r, 0))


def test_tuning_a_tries_the_grid_and_keeps_the_first_best():
    rng = np.random.default_rng(1)
    orig = rng.uniform(0.6, 0.99, size=(4, 25))
    ret = rng.uniform(0.01, 0.5, size=(4, 25))
    z = rng.uniform(0.1, 0.9, size=(4, 20))
    a, aucs = tune_offline_a(orig, ret, z, z)
    assert list(aucs) == list(A_GRID) and a in A_GRID
    assert aucs[a] == max(aucs.values())
    assert all(aucs[b] < aucs[a] for b in A_GRID if b < a)


def test_signals_are_true_label_softmax():
    z = np.array([[[2.0, 0.0], [0.0, 0.0]]])
    assert true_class_probability(z, np.array([0, 1]))[0] == pytest.approx(
        [np.exp(2) / (np.exp(2) + 1), 0.5]
    )


def test_the_probability_follows_from_the_margin():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 6, size=(3, 50, 5))
    y = rng.integers(0, 5, 50)
    assert probability_from_margins(margins(z, y)) == pytest.approx(
        true_class_probability(z, y), rel=1e-9, abs=1e-300
    )


def test_the_result_round_trips_through_json():
    import json

    rng = np.random.default_rng(4)
    x, z = rng.uniform(0.1, 0.9, size=(3, 4)), rng.uniform(0.1, 0.9, size=(3, 6))
    res = rmia(x, x[::-1], z, z[::-1])
    assert type(res).from_dict(json.loads(json.dumps(res.to_dict()))) == res

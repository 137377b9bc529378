"""U-LiRA (audit/ulira.py): balanced accuracy on hand-built confidences with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn_core.audit.confidence import logit_scaled_confidence
from unlearn_core.audit.ulira import ulira, ulira_from_logits


def test_identical_distributions_read_about_fifty_percent():
    rng = np.random.default_rng(0)
    res = ulira(rng.normal(size=(16, 2000)), rng.normal(size=(16, 2000)))
    assert res.accuracy == pytest.approx(50, abs=3)
    assert res.models == 16 and len(res.per_sample) == 2000


def test_well_separated_distributions_read_one_hundred_percent():
    rng = np.random.default_rng(1)
    res = ulira(rng.normal(6, 1, size=(8, 300)), rng.normal(-6, 1, size=(8, 300)))
    assert res.accuracy == 100.0 and res.unlearned_hit == 100.0 and res.retrained_hit == 100.0
    assert min(res.llr_unlearned) > 0 > max(res.llr_retrained)


def test_half_overlapping_gaussians_give_the_bayes_accuracy():
    # means +-1, sd 1, equal priors: the best rule is right with probability Phi(1) = 84.13 %
    rng = np.random.default_rng(2)
    res = ulira(rng.normal(1, 1, size=(64, 3000)), rng.normal(-1, 1, size=(64, 3000)))
    phi_1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    assert res.accuracy == pytest.approx(100 * phi_1, abs=1.0)


def test_each_pair_is_judged_by_gaussians_fitted_without_it():
    # K = 2: pair 0 is judged by the models of pair 1 and vice versa (equal floored sds: the
    # nearer mean wins). Every target sits next to the other side's shadow: all wrong.
    res = ulira(np.array([[0.0], [10.0]]), np.array([[9.0], [1.0]]))
    assert res.accuracy == 0.0 and res.per_sample == [0.0]


def test_a_tie_counts_as_retrained():
    res = ulira(np.full((4, 3), 2.0), np.full((4, 3), 2.0))
    assert (res.accuracy, res.unlearned_hit, res.retrained_hit) == (50.0, 0.0, 100.0)
    with pytest.raises(ValueError):
        ulira(np.zeros((1, 3)), np.zeros((1, 3)))


def test_from_logits_uses_the_logit_scaled_confidence():
    rng = np.random.default_rng(3)
    zu, zr = rng.normal(2, 1, size=(6, 20, 4)), rng.normal(size=(6, 20, 4))
    y = rng.integers(0, 4, 20)
    conf = [np.stack([logit_scaled_confidence(m, y) for m in z]) for z in (zu, zr)]
    assert ulira_from_logits(zu, zr, y) == ulira(*conf)


def test_the_result_round_trips_through_json():
    import json

    rng = np.random.default_rng(4)
    res = ulira(rng.normal(size=(4, 5)), rng.normal(size=(4, 5)))
    assert type(res).from_dict(json.loads(json.dumps(res.to_dict()))) == res

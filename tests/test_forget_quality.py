"""Known answers for the challenge's epsilon, its score, and the Comparator's privacy score."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn_core.audit.confidence import logit_scaled_confidence
from unlearn_core.audit.forget_quality import (
    DELTA,
    EPSILON_CAP,
    bucket_points,
    final_score,
    forget_quality,
    forget_quality_score,
    max_finite_epsilon,
    sample_epsilon,
    score_top,
    worst_case_privacy,
)
from unlearn_core.audit.records import ForgetQuality


def test_confidence_is_stable_log_odds():
    z = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [1000.0, -1000.0, 0.0]])
    y = np.array([0, 2, 1])
    p = np.exp(z[:2] - z[:2].max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    py = p[np.arange(2), y[:2]]
    got = logit_scaled_confidence(z, y)
    np.testing.assert_allclose(got[:2], np.log(py) - np.log(1 - py), rtol=1e-12)
    assert got[2] == pytest.approx(-math.log(1e45))  # clipped like the float32 reference
    with pytest.raises(ValueError, match="classes"):
        logit_scaled_confidence(np.zeros((2, 1)), np.zeros(2))


def test_identical_distributions_give_zero():
    rng = np.random.default_rng(0)
    v = rng.normal(size=8)
    assert sample_epsilon(v, v.copy()) == 0.0
    assert sample_epsilon(np.full(8, 1.5), np.full(8, 1.5)) == 0.0  # no threshold tells them apart
    # two draws of one distribution: the tails' few models still give some epsilon (the
    # challenge's metric is noisy per sample), far below what K = 512 allows (log 511 = 6.2)
    big = sample_epsilon(rng.normal(size=512), rng.normal(size=512))
    assert big < max_finite_epsilon(512) / 2


def _reference_epsilon(u, r, delta=DELTA):
    """Brute force over the same thresholds as the reference's loops (float64 rates)."""
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    p, n = (neg, pos) if np.ptp(pos) >= np.ptp(neg) else (pos, neg)
    w = min(np.ptp(pos), np.ptp(neg))
    lo, hi = p.min() + w - 2, p.max() + 2
    right = np.linspace(lo, hi, int(np.ceil((hi - lo) * 100)))
    left = np.concatenate([np.linspace(t - w - 2, t - w + 2, 400) for t in right])
    right = np.repeat(right, 400)
    band = [((left <= c[:, None]) & (c[:, None] <= right)).mean(0) for c in (p, n)]
    rates = [tuple(band)]
    allc = np.concatenate([pos, neg])
    t = np.linspace(allc.min(), allc.max(), int(np.ceil(np.ptp(allc) * 100)))
    rates.append(((pos[:, None] >= t).mean(0), (neg[:, None] >= t).mean(0)))
    best = -np.inf
    for tpr, fpr in rates:
        fnr = 1 - tpr
        if np.any((fpr == 0) & (fnr == 0)):
            return EPSILON_CAP
        keep = fpr * fnr != 0
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.fmax(
                np.log(1 - delta - fpr[keep]) - np.log(fnr[keep]),
                np.log(1 - delta - fnr[keep]) - np.log(fpr[keep]),
            )
        best = max(best, np.nanmax(e, initial=-np.inf))
    return float(np.clip(best, 0, EPSILON_CAP))


def test_matches_a_brute_force_transcription():
    """Every threshold of both grids (the brute force) against the rates counted only where a
    threshold passes a value: equal, also with ties, few models and wide spreads."""
    rng = np.random.default_rng(3)
    for k in (2, 3, 4, 8, 16):
        for case in range(8):
            u = rng.normal(size=k) * rng.uniform(0.3, 2)
            r = rng.normal(size=k) * rng.uniform(0.3, 2) + rng.uniform(-2, 2)
            if case == 1:
                u, r = np.round(u, 1), np.round(r, 1)  # ties within and across the sides
            if case == 2:
                u = u * 6  # one side much wider
            if case == 3:
                r[: k // 2] = u[: k // 2]  # shared values
            assert sample_epsilon(u, r) == pytest.approx(_reference_epsilon(u, r), abs=1e-12)


def test_separated_distributions_reach_what_k_allows():
    k = 8
    u, r = np.linspace(0, 1, k), np.linspace(10, 11, k)
    # perfect separation: FPR = FNR = 0 -> infinite, clipped to the challenge's cap
    assert sample_epsilon(u, r) == EPSILON_CAP
    # one model of each side on the wrong side: FPR = FNR = 1/K, the largest finite epsilon
    u1, r1 = u.copy(), r.copy()
    u1[-1], r1[0] = 10.5, 0.5
    assert max_finite_epsilon(k) == pytest.approx(math.log((1 - DELTA) * k - 1))
    assert sample_epsilon(u1, r1) == pytest.approx(max_finite_epsilon(k), abs=1e-12)
    # both earn no points: the scored bins end at ceil(log(K - 1)) = 2 for K = 8
    assert score_top(k) == 2.0 and max_finite_epsilon(k) < 2.0
    assert forget_quality_score(np.array([EPSILON_CAP]), k) == 0.0


def test_peaky_side_gets_the_cap():
    rng = np.random.default_rng(1)
    spread = rng.normal(size=8)
    assert sample_epsilon(np.full(8, 0.1) + 1e-4 * np.arange(8), spread) == EPSILON_CAP


def test_hand_computed_case():
    # K = 4. Retrained has the larger median (5 vs 1.5) so it is positive. The best single
    # threshold t in (3, 4] calls 3 of 4 retrained and 1 of 4 unlearned (the 5) positive:
    # TPR 3/4, FPR 1/4, FNR 1/4 -> eps = log(1 - delta - 1/4) - log(1/4) = log(3 - 4 delta).
    # Thresholds that reach FNR 0 or FPR 0 keep the other rate above 0 and are dropped, and no
    # band [l, r] does better (it cannot take in 3, 4 and 6 without 5).
    u = np.array([0.0, 1.0, 2.0, 5.0])
    r = np.array([3.0, 4.0, 6.0, 7.0])
    eps = sample_epsilon(u, r)
    assert eps == pytest.approx(math.log(3 - 4 * DELTA), abs=1e-12)
    assert sample_epsilon(r, u) == pytest.approx(eps)  # which side is which does not matter
    # bins for K = 4 end at ceil(log 3) = 2: [0, .5) 1, [.5, 1) 1/2, [1, 1.5) 1/4, [1.5, 2) 1/8
    assert bucket_points(4) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.25), (1.5, 0.125)]
    q = forget_quality(np.stack([u, u]).T, np.stack([r, r]).T)  # [models, samples]
    assert isinstance(q, ForgetQuality) and q.models == 4
    assert q.epsilons == pytest.approx([eps, eps]) and q.score == pytest.approx(0.25)
    assert forget_quality_score(np.array([0.0, 0.7, 1.2, 1.9, 2.5]), 4) == pytest.approx(
        (1 + 0.5 + 0.25 + 0.125 + 0) / 5
    )
    assert score_top(2) == 0.0 and forget_quality_score(np.zeros(3), 2) == 0.0
    assert final_score(0.5, 90.0, 100.0, 80.0, 100.0) == pytest.approx(0.5 * 0.9 * 0.8)


def test_worst_case_privacy_known_answers():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(50, 10))
    same = worst_case_privacy(z, z.copy())
    assert same.score == pytest.approx(1.0) and same.attack_score == pytest.approx(0.0)
    confident = np.zeros((50, 10))
    confident[:, 0] = 12.0  # p_max near 1: confidence above the range, entropy near 0
    unsure = np.zeros((50, 10))  # uniform: entropy log 10 (clipped to 2.5), confidence -2.2
    worst = worst_case_privacy(confident, unsure)
    assert worst.score == 0.0 and worst.attack_score == 1.0
    assert worst.fpr == 0.0 and worst.fnr == 0.0
    # half the retrained samples look like the unlearned ones: FPR 1/2, FNR 0 at the best
    # threshold -> eps = max(0, min(log(1 - d - .5) - log(1e-10), log(1 - d - 1e-10) - log .5))
    mixed = np.concatenate([confident[:25], unsure[:25]])
    half = worst_case_privacy(confident, mixed)
    eps = min(math.log(0.5 - DELTA) - math.log(1e-10), math.log(1 - DELTA - 1e-10) - math.log(0.5))
    assert half.attack_score == pytest.approx(1 - 2**-eps)
    assert half.score == pytest.approx(2**-eps)


def _authors_privacy(u_logits, r_logits, *, rounded=True, clipped=True):
    """The Comparator's live code (``backend/app/utils/attack.py``) transcribed step by step:
    per sample entropy (scipy) of softmax(z / 2) and log(p_max + 1e-45) - log(1 - p_max + 1e-45)
    of softmax(z), rounded to 2 decimals (``prepare_distribution_data``); ``calculate_scores``
    per feature and direction, threshold by threshold; each attack score rounded to 3 decimals,
    privacy = round(1 - max, 3). Returns (the unrounded worst attack, their privacy score)."""
    from scipy.stats import entropy

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def values(z):
        ent = entropy(softmax(z / 2.0).T)
        top = softmax(z / 1.0).max(axis=1)
        conf = np.log(top + 1e-45) - np.log(1 - top + 1e-45)
        if not rounded:
            return ent, conf
        return (
            np.array([round(float(v), 2) for v in ent]),
            np.array([round(float(v), 2) for v in conf]),
        )

    (ent_u, conf_u), (ent_r, conf_r) = values(u_logits), values(r_logits)
    delta, eps_rate = 1e-5, 1e-10
    raw, shown = 0.0, 0.0
    for v_u, v_r, (lo, hi) in ((ent_u, ent_r, (0.0, 2.5)), (conf_u, conf_r, (-2.5, 10.0))):
        if clipped:
            v_u, v_r = np.clip(v_u, lo, hi), np.clip(v_r, lo, hi)
        for pos, neg in ((v_u, v_r), (v_r, v_u)):
            for thr in np.linspace(lo, hi, 51):
                tpr = np.mean(pos >= thr)
                fpr = np.mean(neg >= thr)
                fnr = 1.0 - tpr
                if fpr == 0 and fnr == 0:
                    fq = 0
                elif fpr >= (1 - delta) or fnr >= (1 - delta):
                    fq = 1
                else:
                    sfp = np.clip(fpr, eps_rate, 1 - delta - eps_rate)
                    sfn = np.clip(fnr, eps_rate, 1 - delta - eps_rate)
                    lg1 = np.log(1 - delta - sfp) - np.log(sfn)
                    lg2 = np.log(1 - delta - sfn) - np.log(sfp)
                    fq = 2 ** (-max(0, min(lg1, lg2)))
                raw = max(raw, 1 - fq)
                shown = max(shown, round(1 - fq, 3))
    return raw, round(1 - shown, 3)


def test_worst_case_privacy_is_the_authors_computation():
    """Random logits (2, 10 and 20 classes; confident and unsure models): our score equals a
    brute-force transcription of the authors' ``attack.py``; without its 2-decimal rounding the
    transcription would differ on many of these draws."""
    rng = np.random.default_rng(11)
    unrounded_differs = 0
    for trial in range(60):
        classes = (2, 10, 20)[trial % 3]
        n_u, n_r = rng.integers(5, 300, size=2)
        u = rng.normal(size=(n_u, classes)) * rng.uniform(0.2, 6.0) + rng.normal(size=classes)
        r = rng.normal(size=(n_r, classes)) * rng.uniform(0.2, 6.0)
        ours = worst_case_privacy(u, r)
        raw, theirs = _authors_privacy(u, r)
        assert ours.attack_score == pytest.approx(raw, rel=1e-12, abs=1e-15)
        assert abs(ours.score - theirs) <= 5e-4 + 1e-12
        assert ours.score == pytest.approx(1.0 - raw, abs=1e-12)
        unrounded_differs += _authors_privacy(u, r, rounded=False)[0] != pytest.approx(raw)
    assert unrounded_differs > 10


def test_worst_case_privacy_clips_into_the_range():
    """20 classes: uniform outputs have confidence -log 19 = -2.94, below the range; clipped to
    -2.5 they pass the lowest threshold like the retrained model's -2.4, so nothing tells the
    two apart (entropy is above 2.5 for both). Unclipped, half the unlearned samples fall below
    that threshold: FPR 1/2, FNR 0, eps = log(1 - delta - 1e-10) - log(1/2)."""
    u = np.zeros((40, 20))
    u[20:, 0] = math.log(19) - 2.4  # the other half as the retrained rows
    r = np.zeros((30, 20))
    r[:, 0] = math.log(19) - 2.4  # confidence -2.4
    ours = worst_case_privacy(u, r)
    assert ours.attack_score == _authors_privacy(u, r)[0] == 0.0 and ours.score == 1.0
    eps = math.log(1 - DELTA - 1e-10) - math.log(0.5)
    assert _authors_privacy(u, r, clipped=False)[0] == pytest.approx(1 - 2**-eps)

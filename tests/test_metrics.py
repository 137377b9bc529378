"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn_core.evaluation import metrics as M

LN2 = math.log(2.0)


def one_hot_logits(labels, k: int, scale: float = 50.0) -> np.ndarray:
    z = np.zeros((len(labels), k))
    z[np.arange(len(labels)), labels] = scale
    return z


# ----------------------------------------------------------------------------- basics


def test_softmax_rows_sum_to_one_and_are_stable():
    z = np.array([[1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1000.0], [1.0, 2.0, 3.0]])
    p = M.softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0], atol=1e-12)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[2], e / e.sum())


def test_accuracy_per_class_and_confusion():
    # predictions: 0, 1, 1, 2, 0 ; labels: 0, 1, 2, 2, 1 -> 3 of 5 correct
    z = one_hot_logits([0, 1, 1, 2, 0], 4)
    y = np.array([0, 1, 2, 2, 1])
    assert M.accuracy(z, y) == pytest.approx(60.0)
    assert M.accuracy(torch.tensor(z), torch.tensor(y)) == pytest.approx(60.0)
    pca = M.per_class_accuracy(z, y, 4)
    np.testing.assert_allclose(pca[:3], [100.0, 50.0, 50.0])
    assert np.isnan(pca[3])  # class 3 absent
    cm = M.confusion_matrix(z, y, 4)
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = 1
    expected[1, 1] = 1
    expected[1, 0] = 1
    expected[2, 1] = 1
    expected[2, 2] = 1
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 5


def test_empty_sets_give_nan_not_crashes():
    z = torch.empty(0, 10)
    y = torch.empty(0, dtype=torch.long)
    assert math.isnan(M.accuracy(z, y))
    assert np.all(np.isnan(M.per_class_accuracy(z, y, 10)))
    assert M.confusion_matrix(z, y, 10).sum() == 0
    assert M.per_sample_loss(z, y).shape == (0,)
    assert math.isnan(M.kl_divergence(z, z))
    assert math.isnan(M.js_divergence(z, z))
    assert math.isnan(M.mia_efficacy([0.9, 0.8], [0.1, 0.2], []))
    assert math.isnan(M.mia_efficacy([], [0.1, 0.2], [0.5]))
    assert math.isnan(M.loss_attack_auc([], [1.0]))
    assert math.isnan(M.loss_attack_accuracy([0.1], [1.0, 2.0]))
    assert all(math.isnan(r) for r in M.threshold_rates([], [], 0.5))
    assert all(len(a) == 0 for a in M.roc_curve_points([], [1.0]))


def test_shape_validation():
    with pytest.raises(ValueError, match="labels"):
        M.accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="2-D"):
        M.softmax(np.zeros(4))
    with pytest.raises(ValueError, match="out of range"):
        M.true_label_confidence(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="shape"):
        M.kl_divergence(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="integers"):
        M.per_sample_loss(np.zeros((2, 3)), [0.5, 1.0])
    with pytest.raises(ValueError, match="nan or inf"):
        M.loss_attack_auc([np.nan, 1.0], [1.0])


# ----------------------------------------------------------------------------- per-sample outputs


def test_confidence_entropy_loss_of_uniform_and_one_hot():
    k = 5
    uniform = np.zeros((3, k))
    y = np.array([0, 2, 4])
    np.testing.assert_allclose(M.true_label_confidence(uniform, y), 1.0 / k)
    np.testing.assert_allclose(M.entropy(uniform), math.log(k))
    np.testing.assert_allclose(M.per_sample_loss(uniform, y), math.log(k))

    sharp = one_hot_logits(y, k, scale=100.0)
    np.testing.assert_allclose(M.true_label_confidence(sharp, y), 1.0)
    np.testing.assert_allclose(M.entropy(sharp), 0.0, atol=1e-30)
    np.testing.assert_allclose(M.per_sample_loss(sharp, y), 0.0, atol=1e-30)
    # confidently wrong: loss = -log p is about the logit margin and stays finite
    wrong = M.per_sample_loss(sharp, np.array([1, 3, 0]))
    np.testing.assert_allclose(wrong, 100.0, rtol=1e-9)


def test_loss_is_minus_log_confidence_and_attack_scores():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 4))
    y = rng.integers(0, 4, 20)
    s = M.attack_scores(torch.tensor(z), torch.tensor(y))
    assert set(s) == {"confidence", "entropy", "loss"}
    np.testing.assert_allclose(s["loss"], -np.log(s["confidence"]))
    p = M.softmax(z)
    np.testing.assert_allclose(s["entropy"], -(p * np.log(p)).sum(axis=1))
    # F.cross_entropy agrees
    ce = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(s["loss"], ce.numpy())


def test_logit_confidence_matches_definition():
    z = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [800.0, 0.0, 0.0]])
    p = M.softmax(z[:2])
    pm = p.max(axis=1)
    lc = M.logit_confidence(z)
    np.testing.assert_allclose(lc[:2], np.log(pm) - np.log(1 - pm))
    np.testing.assert_allclose(lc[1], math.log(0.5))  # 1/3 vs 2/3
    # saturated softmax: log p_max - log(2 e^-800) = 800 - ln 2, finite
    np.testing.assert_allclose(lc[2], 800.0 - LN2)


# ----------------------------------------------------------------------------- divergences


def test_kl_and_js():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(8, 6))
    assert M.kl_divergence(z, z) == pytest.approx(0.0, abs=1e-12)
    assert M.js_divergence(z, z) == pytest.approx(0.0, abs=1e-12)

    # p = (1/2, 1/2), q = (1/4, 3/4): KL = 0.5 ln 2 + 0.5 ln(2/3)
    p = np.log([[0.5, 0.5]])
    q = np.log([[0.25, 0.75]])
    assert M.kl_divergence(p, q) == pytest.approx(0.5 * LN2 + 0.5 * math.log(2 / 3))
    # mean over samples: the second row is identical (KL 0)
    assert M.kl_divergence(np.vstack([p, q]), np.vstack([q, q])) == pytest.approx(
        (0.5 * LN2 + 0.5 * math.log(2 / 3)) / 2
    )
    m = np.array([0.375, 0.625])
    js = 0.5 * np.sum([0.5, 0.5] * np.log([0.5, 0.5] / m)) + 0.5 * np.sum(
        [0.25, 0.75] * np.log([0.25, 0.75] / m)
    )
    assert M.js_divergence(p, q) == pytest.approx(js)
    assert M.js_divergence(p, q) == pytest.approx(M.js_divergence(q, p))

    # disjoint one-hots: JS reaches ln 2 and never exceeds it
    a = one_hot_logits([0, 1, 2], 3, scale=200.0)
    b = one_hot_logits([1, 2, 0], 3, scale=200.0)
    assert M.js_divergence(a, b) == pytest.approx(LN2, abs=1e-9)
    assert M.js_divergence(a, b) <= LN2
    assert np.isfinite(M.kl_divergence(a, b))
    assert M.kl_divergence(a, b) == pytest.approx(200.0, rel=1e-6)


# ----------------------------------------------------------------------------- summaries


def test_avg_gap_and_time_ratio():
    ref = {"forget_acc": 90.0, "retain_acc": 100.0, "test_acc": 94.0, "mia": 12.0}
    got = {"forget_acc": 95.0, "retain_acc": 99.0, "test_acc": 93.0, "mia": 2.0}
    assert M.avg_gap(got, ref) == pytest.approx((5 + 1 + 1 + 10) / 4)
    assert M.avg_gap(ref, ref) == 0.0
    # nan / None / missing on either side are skipped
    partial = {"forget_acc": 95.0, "retain_acc": float("nan"), "test_acc": None}
    assert M.avg_gap(partial, ref) == pytest.approx(5.0)
    assert M.avg_gap(got, {"mia": 10.0}) == pytest.approx(8.0)
    assert math.isnan(M.avg_gap({}, ref))
    assert M.avg_gap(got, ref, keys=("mia",)) == pytest.approx(10.0)

    assert M.time_ratio(3.0, 12.0) == pytest.approx(0.25)
    assert math.isnan(M.time_ratio(3.0, 0.0))
    assert math.isnan(M.time_ratio(3.0, -1.0))
    assert math.isnan(M.time_ratio(float("nan"), 2.0))


# ----------------------------------------------------------------------------- attacks


def test_mia_efficacy_extremes():
    rng = np.random.default_rng(0)
    retain = rng.uniform(0.95, 1.0, 600)  # members: very confident
    test = rng.uniform(0.1, 0.6, 200)  # non-members: unsure
    forget_like_test = rng.uniform(0.1, 0.6, 100)
    forget_like_retain = rng.uniform(0.95, 1.0, 100)
    assert M.mia_efficacy(retain, test, forget_like_test) == pytest.approx(100.0)
    assert M.mia_efficacy(retain, test, forget_like_retain) == pytest.approx(0.0)
    half = np.concatenate([forget_like_test[:50], forget_like_retain[:50]])
    assert M.mia_efficacy(torch.tensor(retain), torch.tensor(test), half) == pytest.approx(50.0)
    # seeded: same seed, same answer
    noisy_r, noisy_t = rng.uniform(0, 1, 300), rng.uniform(0, 1, 100)
    f = rng.uniform(0, 1, 50)
    assert M.mia_efficacy(noisy_r, noisy_t, f, seed=3) == M.mia_efficacy(
        noisy_r, noisy_t, f, seed=3
    )
    # the cap still separates the clean case
    assert M.mia_efficacy(retain, test, forget_like_test, max_samples=50) == pytest.approx(100.0)


def test_mia_efficacy_on_real_confidences():
    """Members confident on their true label, non-members not: via true_label_confidence."""
    rng = np.random.default_rng(5)
    k = 4
    y_r, y_t, y_f = rng.integers(0, k, 300), rng.integers(0, k, 100), rng.integers(0, k, 60)
    conf_r = M.true_label_confidence(one_hot_logits(y_r, k, scale=8.0), y_r)
    conf_t = M.true_label_confidence(rng.normal(size=(100, k)), y_t)
    conf_f = M.true_label_confidence(rng.normal(size=(60, k)), y_f)
    assert M.mia_efficacy(conf_r, conf_t, conf_f) > 90.0


def test_loss_attack_auc():
    assert M.loss_attack_auc([0.1, 0.2, 0.3], [1.0, 2.0]) == 1.0
    assert M.loss_attack_auc([1.0, 2.0], [0.1, 0.2, 0.3]) == 0.0
    assert M.loss_attack_auc([1.0, 1.0], [1.0]) == 0.5  # all ties
    # hand count: pairs (forget, test) with forget < test: 0.5<1 ,0.5<3, 2<3 -> 3 of 4
    assert M.loss_attack_auc([0.5, 2.0], [1.0, 3.0]) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    same = M.loss_attack_auc(rng.exponential(size=4000), rng.exponential(size=4000))
    assert same == pytest.approx(0.5, abs=0.03)
    # agrees with sklearn's AUC on -loss
    from sklearn.metrics import roc_auc_score

    f, t = rng.exponential(size=50), rng.exponential(size=70) + 0.3
    ref = roc_auc_score(np.r_[np.ones(50), np.zeros(70)], -np.r_[f, t])
    assert M.loss_attack_auc(f, t) == pytest.approx(ref)


def test_loss_attack_accuracy():
    rng = np.random.default_rng(0)
    separated = M.loss_attack_accuracy(rng.uniform(0, 1, 150), rng.uniform(2, 3, 400))
    assert separated == pytest.approx(100.0)
    same = M.loss_attack_accuracy(rng.exponential(size=1000), rng.exponential(size=700))
    assert 40.0 < same < 60.0
    a, b = rng.exponential(size=80), rng.exponential(size=120)
    assert M.loss_attack_accuracy(a, b, seed=1) == M.loss_attack_accuracy(a, b, seed=1)
    # tiny sets: folds shrink to the class count instead of failing
    assert np.isfinite(M.loss_attack_accuracy([0.1, 0.2, 0.3], [2.0, 3.0, 4.0]))


def test_threshold_rates_and_roc():
    mem = np.array([0.9, 0.8, 0.7, 0.2])
    non = np.array([0.6, 0.3, 0.1, 0.85, 0.05])
    tpr, fpr = M.threshold_rates(mem, non, 0.7)
    assert (tpr, fpr) == (pytest.approx(0.75), pytest.approx(0.2))
    # lower = member (loss-style): member if score <= 0.3
    tpr, fpr = M.threshold_rates(mem, non, 0.3, higher_is_member=False)
    assert (tpr, fpr) == (pytest.approx(0.25), pytest.approx(0.6))

    fpr, tpr, thr = M.roc_curve_points(mem, non)
    assert fpr[0] == 0.0 and tpr[0] == 0.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:], strict=True):
        assert (t, f) == pytest.approx(M.threshold_rates(mem, non, th))
    fpr, tpr, thr = M.roc_curve_points(mem, non, higher_is_member=False)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:], strict=True):
        assert (t, f) == pytest.approx(M.threshold_rates(mem, non, th, higher_is_member=False))


# ----------------------------------------------------------------------------- issue 8 definitions


def test_mia_efficacy_averages_seeded_draws():
    rng = np.random.default_rng(7)
    retain = rng.uniform(0, 1, 400)  # more members than non-members: each draw differs
    test = rng.uniform(0, 0.8, 100)
    forget = rng.uniform(0, 1, 80)
    draws = M.mia_efficacy_draws(retain, test, forget, seed=4, draws=5)
    assert draws.shape == (5,)
    for i, v in enumerate(draws):
        assert v == M.mia_efficacy(retain, test, forget, seed=4 + i)
    assert len(set(draws.tolist())) > 1  # the member draw matters on small data
    assert M.mia_efficacy(retain, test, forget, seed=4, draws=5) == pytest.approx(draws.mean())
    assert M.mia_efficacy(retain, test, forget, seed=4, draws=1) == draws[0]
    assert M.mia_efficacy_draws(retain, test, [], draws=3).shape == (0,)
    with pytest.raises(ValueError, match="draws"):
        M.mia_efficacy_draws(retain, test, forget, draws=0)


def test_matched_heldout_follows_the_forget_class_mix():
    y_test = np.array([0] * 4 + [1] * 5 + [2] * 3 + [3] * 2)
    # forget: two of class 0, one of class 1 -> r = min(4/2, 5/1) = 2 -> 4 of class 0, 2 of 1
    idx = M.matched_heldout([0, 0, 1], y_test, seed=0)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(y_test[idx], minlength=4).tolist() == [4, 2, 0, 0]
    assert np.array_equal(idx, M.matched_heldout(torch.tensor([0, 0, 1]), y_test, seed=0))
    # one class: every held-out sample of that class, and nothing else
    assert M.matched_heldout([2] * 7, y_test).tolist() == [9, 10, 11]
    # a forget class with no held-out sample is left out of the match
    assert M.matched_heldout([3, 5], np.r_[y_test, 4]).tolist() == [12, 13]
    assert len(M.matched_heldout([5], y_test)) == 0
    # uniform forget mix over a uniform held-out set: the whole set
    assert len(M.matched_heldout([0, 1, 2, 3], np.repeat([0, 1, 2, 3], 6))) == 24


def test_is_damaged_threshold():
    assert M.DAMAGE_POINTS == 10.0
    assert M.is_damaged(85.9, 96.0)
    assert not M.is_damaged(86.0, 96.0)  # exactly 10 below: not more than 10
    assert not M.is_damaged(99.0, 96.0)
    assert not M.is_damaged(None, 96.0) and not M.is_damaged(float("nan"), 96.0)
    assert M.is_damaged(80.0, 96.0, points=15.0)

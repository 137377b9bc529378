"""The Attack page's threshold attack, computed by the library: ROC, AUC, where to start and
the rates of one threshold (known answers on hand-made scores)."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.audit.threshold_attack import attack_at, attack_scores, threshold_attack


def test_a_perfect_attack_starts_between_the_sets_and_scores_auc_1():
    scores = {
        "retain": np.array([0.9, 0.8]),
        "test": np.array([0.2, 0.1]),
        "forget": np.array([0.85, 0.3]),
    }
    att = threshold_attack(scores, higher_is_member=True)
    assert att.auc == pytest.approx(1.0)
    assert (att.lo, att.hi) == (0.1, 0.9)
    assert att.best == pytest.approx(0.8)  # the lowest cut that flags every retain and no test
    rates = attack_at(scores, att.best, higher_is_member=True)
    assert (rates.tpr, rates.fpr, rates.forget_member) == (1.0, 0.0, 0.5)
    assert rates.advantage == 1.0 and rates.reference_forget_member is None


def test_lower_means_member_for_a_loss_and_retrain_is_read_at_the_same_threshold():
    scores = {
        "retain": np.array([0.1, 0.2, 0.9]),
        "test": np.array([1.0, 2.0]),
        "forget": np.array([0.1, 3.0]),
    }
    ref = {"retain": scores["retain"], "test": scores["test"], "forget": np.array([2.0, 3.0])}
    att = threshold_attack(scores, higher_is_member=False)
    assert att.auc == pytest.approx(1.0) and att.best == pytest.approx(0.9)
    rates = attack_at(scores, 0.5, higher_is_member=False, reference=ref)
    assert rates.tpr == pytest.approx(2 / 3) and rates.fpr == 0.0
    assert rates.forget_member == 0.5 and rates.reference_forget_member == 0.0


def test_a_coin_toss_scores_auc_half_and_one_value_still_gives_a_range():
    same = {"retain": np.array([1.0, 1.0]), "test": np.array([1.0, 1.0]), "forget": np.array([1.0])}
    att = threshold_attack(same, higher_is_member=True)
    assert att.auc == pytest.approx(0.5)
    assert att.hi > att.lo and att.lo <= att.best <= att.hi


def test_attack_scores_reads_each_set():
    logits = {k: np.array([[2.0, 0.0], [0.0, 2.0]]) for k in ("forget", "retain", "test")}
    labels = {"forget": np.array([0, 0]), "retain": np.array([0, 1]), "test": np.array([1, 1])}
    conf = attack_scores(logits, labels, "confidence")
    assert conf["retain"][0] == pytest.approx(conf["retain"][1]) and conf["retain"][0] > 0.5
    assert conf["forget"][1] < 0.5 and conf["test"][0] < 0.5

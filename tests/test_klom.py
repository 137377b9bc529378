"""KLoM (audit/klom.py): margins, the binned KL(unlearned || oracle) on known histograms, the
reference code's binning reproduced, the oracle-halves baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn_core.audit.klom import (
    KLOM_MAX,
    KlomSplit,
    klom,
    klom_baseline,
    klom_scores,
    margins,
)


def _loop_klom(p, q, bins=20, eps=1e-5, clip=100.0, drop_top=True):
    """The reference algorithm one sample at a time, written from its description: clip, edges
    over the pooled range, np.digitize (drop_top) or np.histogram (the last bin closed)."""
    out = []
    for j in range(p.shape[1]):
        a, b = np.clip(p[:, j], -clip, clip), np.clip(q[:, j], -clip, clip)
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        hi = lo + 1.0 if lo >= hi else hi
        edges = np.linspace(lo, hi, bins + 1)
        if drop_top:
            pc = np.array([np.sum(np.digitize(a, edges) == i) for i in range(1, bins + 1)])
            qc = np.array([np.sum(np.digitize(b, edges) == i) for i in range(1, bins + 1)])
        else:
            pc, qc = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
        pp = pc / pc.sum() if pc.sum() else np.zeros(bins)
        qq = qc / qc.sum() if qc.sum() else np.zeros(bins)
        qs = np.where(pp > 0, np.maximum(qq, eps), qq)
        m = pp > 0
        out.append(float(np.sum(pp[m] * np.log(pp[m] / qs[m]))))
    return np.array(out)


def test_the_margin_is_the_logit_scaled_confidence_for_one_model_and_many():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5, 4)) * 3
    y = np.array([0, 1, 2, 3, 0])
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    py = p[:, np.arange(5), y]
    assert margins(z, y) == pytest.approx(np.log(py / (1 - py)), abs=1e-10)
    assert margins(z[1], y) == pytest.approx(np.log(py[1] / (1 - py[1])), abs=1e-10)
    assert margins(np.array([[1000.0, 0.0]]), np.array([0]))[0] == pytest.approx(1000.0)


def test_identical_margins_give_zero_and_one_bin_against_half_gives_log_2():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(8, 50))
    assert np.array_equal(klom_scores(m, m), np.zeros(50))
    # oracle: half its mass at 0, half at 1; unlearned: all at 0 -> p = [1, 0..], q = [.5, .., .5]
    oracle = np.array([[0.0]] * 4 + [[1.0]] * 4)
    unlearned = np.zeros((8, 1))
    assert klom_scores(unlearned, oracle)[0] == pytest.approx(math.log(2))
    # the other direction puts half the mass where q is 0: .5 log .5 + .5 log(.5 / 1e-5)
    assert klom_scores(oracle, unlearned)[0] == pytest.approx(0.5 * math.log(0.5 / 1e-5 / 2))


def test_disjoint_margins_reach_the_ceiling_log_1e5():
    oracle = np.linspace(-10, -2, 8)[:, None] * np.ones((1, 3))
    unlearned = np.full((8, 3), 10.0)  # one value above every oracle margin: the top bin
    assert klom_scores(unlearned, oracle) == pytest.approx(np.full(3, KLOM_MAX))
    assert math.log(1e5) == pytest.approx(KLOM_MAX)
    # the reference's np.digitize leaves the pooled maximum out: a side all at it reads 0
    assert klom_scores(unlearned, oracle, drop_top=True) == pytest.approx(np.zeros(3))


def test_same_distribution_draws_are_near_zero_and_separated_draws_far_from_it():
    rng = np.random.default_rng(2)
    same = klom_scores(rng.normal(size=(512, 200)), rng.normal(size=(512, 200)))
    apart = klom_scores(rng.normal(3, 1, size=(512, 200)), rng.normal(size=(512, 200)))
    assert np.median(same) < 0.1 and np.percentile(same, 95) < 0.15
    assert np.median(apart) > 1.5


@pytest.mark.parametrize("drop_top", [True, False])
def test_vectorised_klom_equals_the_per_sample_reference_loop(drop_top):
    rng = np.random.default_rng(3)
    p = np.round(rng.normal(0, 3, size=(16, 40)), 1)  # ties and shared values
    q = np.round(rng.normal(1, 2, size=(16, 40)), 1)
    p[:, 0] = 5.0  # constant pairs and the unit-range rule
    q[:, 0] = 5.0
    p[:3, 1] = 250.0  # the clip
    got = klom_scores(p, q, drop_top=drop_top)
    assert got == pytest.approx(_loop_klom(p, q, drop_top=drop_top), abs=1e-12)


def test_summaries_and_the_oracle_halves_baseline():
    rng = np.random.default_rng(4)
    half = rng.normal(size=(4, 30))
    oracle = np.concatenate([half, half])  # two identical halves -> baseline exactly 0
    base = klom_baseline({"forget": oracle, "val": oracle})
    assert base.models_per_half == 4
    assert base.p95("forget") == 0.0 and base.splits["val"].median == 0.0
    unlearned = rng.normal(4, 1, size=(8, 30))
    res = klom({"forget": unlearned, "retain": unlearned}, {"forget": oracle})
    assert list(res.splits) == ["forget"] and res.models == 8
    scores = klom_scores(unlearned, oracle)
    assert res.forget_scores == pytest.approx(scores)
    assert res.p95() == pytest.approx(np.percentile(scores, 95))
    assert res.splits["forget"].median == pytest.approx(np.median(scores))
    # matched: the first 4 unlearned models against the oracles' second half
    assert res.matched["forget"].p95 == pytest.approx(
        np.percentile(klom_scores(unlearned[:4], oracle[4:]), 95)
    )
    assert math.isnan(KlomSplit.of(np.array([])).p95)
    with pytest.raises(ValueError):
        klom_baseline({"forget": oracle[:1]})


def test_results_round_trip_through_json():
    import json

    rng = np.random.default_rng(5)
    o = rng.normal(size=(6, 9))
    res = klom({"forget": rng.normal(size=(6, 9)), "val": o[:, :0]}, {"forget": o, "val": o[:, :0]})
    back = type(res).from_dict(json.loads(json.dumps(res.to_dict(), allow_nan=False)))
    assert back.splits["forget"] == res.splits["forget"] and back.forget_scores == res.forget_scores
    assert back.splits["val"].n == 0 and math.isnan(back.splits["val"].p95)
    base = klom_baseline({"forget": o})
    assert type(base).from_dict(json.loads(json.dumps(base.to_dict()))) == base

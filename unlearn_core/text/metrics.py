"""Language-model unlearning metrics as pure functions (numbers in, numbers out).

Definitions follow TOFU (Maini et al. 2024) and OpenUnlearning (``locuslab/open-unlearning``)
as their code computes them, and MUSE (Shi et al. 2024) for PrivLeak:

- exact match: the greedy answer equals the true one (:func:`exact_match`);
- probability of the true answer, length-normalised: ``exp(mean log p)`` over its tokens;
- ROUGE-L recall: longest common subsequence of words / words of the reference (own LCS;
  lower-cased words, no stemming, where TOFU calls ``rouge_score`` with a stemmer);
- truth ratio ``R = exp(mean_k(mean log p(perturbed_k)) - mean log p(paraphrased))``, i.e.
  perturbed over paraphrased probability, each per-token normalised, the perturbed ones
  averaged in log space as TOFU's code does (the paper writes an arithmetic mean of
  probabilities); reported on forget data as ``mean(min(R, 1/R))`` and on retained data as
  ``mean(max(0, 1 - R))`` (TOFU's aggregations);
- forget quality: the p-value of the two-sample Kolmogorov-Smirnov test between the forget
  truth ratios of a model and of the retrained model;
- model utility: the harmonic mean of the retained-data scores (probability, ROUGE-L, truth
  ratio on retained people and on world facts: TOFU's three sets less the real authors);
- membership scores (higher = more likely a member): LOSS ``-mean NLL``, zlib ``-NLL / zlib
  bytes``, Min-K% ``mean of the k lowest token log-probs``, Min-K%++ (Zhang et al. 2024: each
  token's ``(log p - mu) / sigma`` with mu, sigma the mean and std of ``log p(z)`` under the
  model's next-token distribution, then the k lowest averaged); :func:`auc` between forget
  (members) and held-out (non-members) rows; OpenUnlearning's k is 0.4 for both;
- PrivLeak: ``(AUC - AUC_retrain) / AUC_retrain * 100`` (MUSE; MUSE reads Min-K%).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

NAN = float("nan")


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def exact_match(predicted: str, reference: str) -> bool:
    """Equal after lower-casing and collapsing white space."""
    return normalise(predicted) == normalise(reference)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len a * len b))."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, z in enumerate(b):
            cur.append(prev[j] + 1 if x == z else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _rouge_words(text: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split() if w]


def rouge_l_recall(predicted: str, reference: str) -> float:
    """ROUGE-L recall: LCS of words over the reference's words (0 for an empty reference)."""
    ref = _rouge_words(reference)
    if not ref:
        return 0.0
    return lcs_length(_rouge_words(predicted), ref) / len(ref)


def answer_probability(mean_logprob: np.ndarray) -> np.ndarray:
    """Length-normalised probability of an answer from its mean token log-probability."""
    return np.exp(np.asarray(mean_logprob, dtype=float))


def truth_ratio(paraphrased: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Per question ``R``: ``paraphrased`` the mean token log-prob of the paraphrased answer
    (shape N), ``perturbed`` those of the perturbed answers (N x K)."""
    para = np.asarray(paraphrased, dtype=float)
    pert = np.asarray(perturbed, dtype=float).reshape(len(para), -1)
    return np.exp(pert.mean(axis=1) - para)


def truth_ratio_forget(r: np.ndarray) -> float:
    """TOFU's forget aggregation: ``mean(min(R, 1/R))`` (1: the model cannot tell the
    paraphrased answer from the wrong ones, as a model that never saw the facts)."""
    r = np.asarray(r, dtype=float)
    return float(np.mean(np.minimum(r, 1.0 / r))) if len(r) else NAN


def truth_ratio_retain(r: np.ndarray) -> float:
    """TOFU's retained-data aggregation: ``mean(max(0, 1 - R))`` (higher: prefers the truth)."""
    r = np.asarray(r, dtype=float)
    return float(np.mean(np.maximum(0.0, 1.0 - r))) if len(r) else NAN


def forget_quality(r_model: np.ndarray, r_retrain: np.ndarray) -> float:
    """KS-test p-value between two sets of forget truth ratios (1: indistinguishable)."""
    from scipy.stats import ks_2samp

    a, b = np.asarray(r_model, dtype=float), np.asarray(r_retrain, dtype=float)
    if not len(a) or not len(b):
        return NAN
    return float(ks_2samp(a, b).pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """TOFU's model utility: the harmonic mean (0 when any value is 0; nan when none given)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return NAN
    if min(vals) <= 0:
        return 0.0
    return len(vals) / sum(1.0 / v for v in vals)


def loss_score(mean_logprob: np.ndarray) -> np.ndarray:
    """LOSS attack's membership score: minus the mean NLL = the mean token log-prob."""
    return np.asarray(mean_logprob, dtype=float)


def zlib_score(sum_logprob: np.ndarray, n_tokens: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """zlib attack (Carlini et al. 2021, as OpenUnlearning): minus the mean NLL divided by the
    zlib-compressed length of the text in bytes."""
    nll = -np.asarray(sum_logprob, dtype=float) / np.maximum(np.asarray(n_tokens, float), 1)
    size = np.array([len(zlib.compress(t.encode("utf-8"))) for t in texts], dtype=float)
    return -nll / size


def min_k(token_logprobs: Sequence[np.ndarray], k: float = 0.4) -> np.ndarray:
    """Min-K% Prob (Shi et al. 2024): per sample, the mean of its ``ceil(k * n)`` lowest token
    log-probs (at least one)."""
    out = []
    for lp in token_logprobs:
        lp = np.sort(np.asarray(lp, dtype=float))
        out.append(lp[: max(1, math.ceil(k * len(lp)))].mean() if len(lp) else NAN)
    return np.array(out)


def min_k_plus_plus(
    token_logprobs: Sequence[np.ndarray],
    mu: Sequence[np.ndarray],
    sigma: Sequence[np.ndarray],
    k: float = 0.4,
) -> np.ndarray:
    """Min-K%++ (Zhang et al. 2024): :func:`min_k` over ``(log p - mu) / sigma`` per token."""
    z = [
        (np.asarray(lp, float) - np.asarray(m, float)) / np.maximum(np.asarray(s, float), 1e-8)
        for lp, m, s in zip(token_logprobs, mu, sigma, strict=True)
    ]
    return min_k(z, k)


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """ROC AUC of telling members from non-members by a score that is higher for members:
    the chance a random member scores above a random non-member (ties count one half)."""
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    if not len(m) or not len(n):
        return NAN
    allv = np.concatenate([m, n])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: len(m)].sum() - len(m) * (len(m) + 1) / 2
    return float(u / (len(m) * len(n)))


def priv_leak(auc_model: float, auc_retrain: float) -> float:
    """MUSE's PrivLeak in percent: ``(AUC - AUC_retrain) / AUC_retrain * 100`` (0 is ideal;
    positive: the forget set still looks like training data)."""
    if auc_retrain is None or not auc_retrain or math.isnan(auc_retrain) or math.isnan(auc_model):
        return NAN
    return (auc_model - auc_retrain) / auc_retrain * 100.0

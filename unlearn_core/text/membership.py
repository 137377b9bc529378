"""Membership inference on a language model, per attack: the scores, ROC curves and AUCs the
Attack page draws for text.

The four attacks of :mod:`.metrics` (LOSS, zlib, Min-K %, Min-K %++; higher score = more
likely a member), read on the **forget rows** (members of the original's training data: the
people being unlearned) against the **held-out people's rows** (``data.x_val``: never trained
on by any model, the non-members). An unlearned model whose forget rows score like the
held-out people's (AUC near retrain's) no longer shows that it saw them.

The AUCs are the ones :func:`.evaluate.evaluate_model` stores in a result's row
(``loss_auc``, ``mia_zlib_auc``, ``mia_mink_auc``, ``mia_minkpp_auc``: the same scores, the same
rank AUC), so the page and the Compare table agree; this module adds the per-row scores and
the curves. PrivLeak is MUSE's ``(AUC - AUC_retrain) / AUC_retrain`` per attack (MUSE reads it
on Min-K %; the Compare table's ``priv_leak`` is that one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import metrics as TM
from .train import TokenScores, token_scores

#: the attacks, in the order the app shows them
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")
#: their display names
ATTACK_NAMES = {"loss": "LOSS", "zlib": "zlib", "min_k": "Min-K%", "min_k_pp": "Min-K%++"}
#: the result-row key of each attack's AUC (as ``evaluate_model`` writes it)
ROW_KEYS = {
    "loss": "loss_auc",
    "zlib": "mia_zlib_auc",
    "min_k": "mia_mink_auc",
    "min_k_pp": "mia_minkpp_auc",
}
#: how each score reads (higher = member for all four)
ATTACK_HELP = {
    "loss": "mean log-probability of the answer's tokens (minus the mean loss): a trained "
    "answer is likely",
    "zlib": "the mean log-probability over the zlib-compressed length of the text: a "
    "likely answer that is not merely short or repetitive",
    "min_k": "mean of the 40 % least likely answer tokens: even the hardest tokens of a "
    "trained answer are likely",
    "min_k_pp": "Min-K% of each token's log-probability standardised by the model's "
    "expectation over the vocabulary at that position",
}
#: Min-K%'s share of tokens (OpenUnlearning's default, as the Compare table's AUCs)
K = 0.4


def _tokens(ts: TokenScores, attr: str) -> list[np.ndarray]:
    vals = getattr(ts, attr)
    return [vals[i][ts.mask[i]].numpy() for i in range(len(vals))]


def scores_of(ts: TokenScores, texts: Sequence[str], *, k: float = K) -> dict[str, np.ndarray]:
    """Each attack's score of every row of ``ts`` (``texts``: question and answer of each row,
    which zlib compresses)."""
    if len(texts) != len(ts.lp):
        raise ValueError(f"{len(texts)} texts for {len(ts.lp)} rows")
    return {
        "loss": TM.loss_score(ts.mean_lp.numpy()),
        "zlib": TM.zlib_score(ts.lp.sum(1).numpy(), ts.mask.sum(1).numpy(), list(texts)),
        "min_k": TM.min_k(_tokens(ts, "lp"), k),
        "min_k_pp": TM.min_k_plus_plus(
            _tokens(ts, "lp"), _tokens(ts, "mu"), _tokens(ts, "sigma"), k
        ),
    }


@dataclass(frozen=True)
class MembershipScores:
    """One model's scores per attack: ``members`` (the forget rows, in ``split.forget_idx``
    order) and ``nonmembers`` (the held-out people's rows, in ``data.qa_val`` order)."""

    members: dict[str, np.ndarray]
    nonmembers: dict[str, np.ndarray]

    def auc(self, attack: str) -> float:
        return TM.auc(self.members[attack], self.nonmembers[attack])


def _texts(qas) -> list[str]:
    return [q.question + " " + q.answer for q in qas]


@torch.inference_mode()
def membership_scores(model: nn.Module, data, split, *, k: float = K) -> MembershipScores:
    """The four attacks' scores of ``model`` on the forget rows of ``split`` (members) and the
    held-out people's rows of ``data`` (non-members)."""
    fi = split.forget_idx
    qf = [data.qa_train[i] for i in fi.tolist()]
    f = token_scores(model, data.x_train[fi], data.y_train[fi])
    v = token_scores(model, data.x_val, data.y_val)
    return MembershipScores(
        members=scores_of(f, _texts(qf), k=k), nonmembers=scores_of(v, _texts(data.qa_val), k=k)
    )


@dataclass(frozen=True)
class RocCurve:
    """ROC of "member if the score is at or above a threshold": ``fpr`` (held-out people
    called member), ``tpr`` (forget rows called member) and the area under it."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def roc(members: np.ndarray, nonmembers: np.ndarray) -> RocCurve:
    """The curve of one attack on one model (empty, AUC nan, when a set is empty). The AUC is
    the rank AUC (ties count a half), the area under this step curve."""
    from ..evaluation.metrics import roc_curve_points

    fpr, tpr, _ = roc_curve_points(members, nonmembers, higher_is_member=True)
    return RocCurve(fpr=fpr, tpr=tpr, auc=TM.auc(members, nonmembers))


def curves(scores: Mapping[str, MembershipScores], attack: str) -> dict[str, RocCurve]:
    """``attack``'s ROC curve per model (``scores``: model name -> its scores)."""
    return {n: roc(s.members[attack], s.nonmembers[attack]) for n, s in scores.items()}


def attack_rows(
    scores: Mapping[str, MembershipScores], *, reference: str = "retrain"
) -> list[dict]:
    """One row per model: ``model``, each attack's AUC (its row key, as in the Compare table)
    and PrivLeak against ``reference`` per attack (``privleak_<attack>``, percent; None for
    the reference itself or without one)."""
    ref = scores.get(reference)
    ref_auc = {a: ref.auc(a) for a in ATTACKS} if ref is not None else {}
    rows = []
    for name, s in scores.items():
        row: dict = {"model": name}
        for a in ATTACKS:
            v = s.auc(a)
            row[ROW_KEYS[a]] = v
            row[f"privleak_{a}"] = (
                TM.priv_leak(v, ref_auc[a]) if ref is not None and name != reference else None
            )
        rows.append(row)
    return rows


def most_member_like(
    s: MembershipScores, attack: str, ids: Sequence[int], k: int = 8
) -> list[tuple[int, float]]:
    """The ``k`` forget rows (training row ids ``ids``, in the scores' order) that ``attack``
    finds most member-like: ``(row id, score)``, highest first."""
    v = np.asarray(s.members[attack], dtype=float)
    order = np.argsort(-v, kind="stable")[:k]
    return [(int(ids[i]), float(v[i])) for i in order]


@dataclass(frozen=True)
class QuestionLens:
    """Per forget row (training row ``ids``), one attack's score under the original, an
    unlearned model and retrain: where the unlearned model sits between them."""

    ids: np.ndarray
    original: np.ndarray
    unlearned: np.ndarray
    retrain: np.ndarray

    @property
    def position(self) -> np.ndarray:
        """``(unlearned - retrain) / (original - retrain)`` per row: 0 at retrain's score, 1 at
        the original's, below 0 past retrain (less likely than a model that never saw it),
        above 1 more likely than the original; nan where the original and retrain score
        the row alike (within 1e-6: nothing to place it between)."""
        gap = self.original - self.retrain
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = (self.unlearned - self.retrain) / gap
        return np.where(np.abs(gap) > 1e-6, pos, np.nan)

    def shares(self) -> dict[str, float]:
        """Shares of the rows placed (``placed``: not nan) closer to retrain's score
        (``forgotten``: position below 0.5) and closer to the original's (``remembered``)."""
        pos = self.position
        ok = ~np.isnan(pos)
        n = int(ok.sum())
        return {
            "placed": n / len(pos) if len(pos) else TM.NAN,
            "forgotten": float(np.mean(pos[ok] < 0.5)) if n else TM.NAN,
            "remembered": float(np.mean(pos[ok] >= 0.5)) if n else TM.NAN,
            "median": float(np.median(pos[ok])) if n else TM.NAN,
        }


def question_lens(
    scores: Mapping[str, MembershipScores],
    method: str,
    ids: Sequence[int],
    attack: str = "loss",
    *,
    original: str = "original",
    reference: str = "retrain",
) -> QuestionLens:
    """The lens of ``method`` (``scores`` holds the original's, the method's and the
    reference's; ``ids`` the forget rows in the scores' order)."""
    missing = [n for n in (original, method, reference) if n not in scores]
    if missing:
        raise KeyError(f"no scores of {', '.join(missing)}")
    return QuestionLens(
        ids=np.asarray(ids),
        original=np.asarray(scores[original].members[attack], dtype=float),
        unlearned=np.asarray(scores[method].members[attack], dtype=float),
        retrain=np.asarray(scores[reference].members[attack], dtype=float),
    )

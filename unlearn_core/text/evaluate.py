"""Scoring a language model on a forget request: what the pipeline's ``model_logits`` /
``score_model`` / ``add_reference_scores`` do for images, for text (``TextDataset`` routes
them here). Row keys as the image track where they mean the same: ``forget_acc`` (exact match
on forget answers, %), ``retain_acc`` (retained people), ``test_acc`` (world facts) and
``loss_auc`` (the LOSS attack's AUC between forget and held-out rows); then the text track's
own (:data:`TEXT_ROW_KEYS`). Retained people and world facts read a fixed, evenly spaced
subset (``cap``) for the costly scores (truth ratio, generated answers)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import metrics as TM
from .encoding import encode_answers
from .train import TokenScores, generate, token_scores

#: rows of retained people / world facts read for truth ratios and generated answers
CAP = 100
#: forget answers kept (question, generated answer) for the before / after view
SHOWN = 5


@dataclass
class TextEvaluation:
    """Per-row mean NLL of the answers (``forget``, ``retain``, ``test``: the pipeline checks
    they are finite) plus every score (``values``) and the per-question forget truth ratios
    and membership AUCs that comparisons with retrain read."""

    forget: torch.Tensor
    retain: torch.Tensor
    test: torch.Tensor
    values: dict = field(default_factory=dict)
    tr_forget: np.ndarray | None = None

    def against(self, ref: TextEvaluation) -> dict:
        """Scores against the retrained model's evaluation: TOFU's forget quality (KS test of
        forget truth ratios) and MUSE's PrivLeak (on the Min-K% AUC)."""
        out = {"forget_quality": TM.NAN, "priv_leak": TM.NAN}
        if self.tr_forget is not None and ref.tr_forget is not None:
            out["forget_quality"] = TM.forget_quality(self.tr_forget, ref.tr_forget)
        a, b = self.values.get("mia_mink_auc"), ref.values.get("mia_mink_auc")
        if a is not None and b is not None:
            out["priv_leak"] = TM.priv_leak(a, b)
        return out


def _spread(n: int, cap: int) -> np.ndarray:
    return (
        np.unique(np.linspace(0, n - 1, min(n, cap)).round().astype(int)) if n else np.zeros(0, int)
    )


def _truth_ratio(model, data, qas, x_like: torch.Tensor) -> np.ndarray | None:
    """``R`` per question, or None when the records lack paraphrases or perturbations."""
    if not qas or any(not q.paraphrased or not q.perturbed for q in qas):
        return None
    k = min(len(q.perturbed) for q in qas)
    length = x_like.shape[1]
    tok = data.tokenizer
    xp, yp = encode_answers(tok, qas, [q.paraphrased for q in qas], length)
    para = token_scores(model, xp, yp).mean_lp.numpy()
    pert = np.zeros((len(qas), k))
    flat = [q.perturbed[j] for q in qas for j in range(k)]
    xq, yq = encode_answers(tok, [q for q in qas for _ in range(k)], flat, length)
    pert[:] = token_scores(model, xq, yq).mean_lp.numpy().reshape(len(qas), k)
    return TM.truth_ratio(para, pert)


def _rouge(model, data, x: torch.Tensor, qas) -> tuple[float, list[str]]:
    tok = data.tokenizer
    prompts = []
    for row in x.tolist():
        sep = row.index(tok.sep)
        prompts.append(row[: sep + 1])
    out = generate(model, prompts, eos=tok.eos, max_new=x.shape[1])
    texts = [tok.decode(o) for o in out]
    scores = [TM.rouge_l_recall(t, q.answer) for t, q in zip(texts, qas, strict=True)]
    return (float(np.mean(scores)) if scores else TM.NAN), texts


def _tokens(ts: TokenScores, attr: str) -> list[np.ndarray]:
    vals = getattr(ts, attr)
    return [vals[i][ts.mask[i]].numpy() for i in range(len(vals))]


def evaluate_model(model: nn.Module, data, split, *, cap: int = CAP) -> TextEvaluation:
    """Every score of ``model`` on ``split`` of ``data`` (a ``TextDataset``)."""
    model.eval()
    fi, ri = split.forget_idx, split.retain_idx
    xf, yf = data.x_train[fi], data.y_train[fi]
    xr, yr = data.x_train[ri], data.y_train[ri]
    qf = [data.qa_train[i] for i in fi.tolist()]
    qr = [data.qa_train[i] for i in ri.tolist()]
    f, r = token_scores(model, xf, yf), token_scores(model, xr, yr)
    t = token_scores(model, data.x_test, data.y_test)
    v = token_scores(model, data.x_val, data.y_val)
    sub_r, sub_t = _spread(len(qr), cap), _spread(data.n_test, cap)
    qr_s, qt_s = [qr[i] for i in sub_r], [data.qa_test[i] for i in sub_t]

    tr_f = _truth_ratio(model, data, qf, xf)
    tr_r = _truth_ratio(model, data, qr_s, xf)
    tr_t = _truth_ratio(model, data, qt_s, xf)
    rouge_f, said = _rouge(model, data, xf, qf)
    rouge_r, _ = _rouge(model, data, xr[sub_r], qr_s)
    rouge_t, _ = _rouge(model, data, data.x_test[sub_t], qt_s) if len(sub_t) else (TM.NAN, [])

    def pct(ts: TokenScores) -> float | None:
        return 100.0 * float(ts.exact.float().mean()) if len(ts.lp) else None

    def prob(ts: TokenScores, rows=None) -> float:
        m = ts.mean_lp.numpy() if rows is None else ts.mean_lp.numpy()[rows]
        return float(TM.answer_probability(m).mean()) if len(m) else TM.NAN

    values: dict = {
        "forget_acc": pct(f),
        "retain_acc": pct(r),
        "test_acc": pct(t),
        "prob_forget": prob(f),
        "prob_retain": prob(r),
        "prob_test": prob(t),
        "rouge_forget": rouge_f,
        "rouge_retain": rouge_r,
        "rouge_test": rouge_t,
        "truth_ratio_forget": TM.truth_ratio_forget(tr_f) if tr_f is not None else None,
        "truth_ratio_retain": TM.truth_ratio_retain(tr_r) if tr_r is not None else None,
        "truth_ratio_test": TM.truth_ratio_retain(tr_t) if tr_t is not None else None,
    }
    values["model_utility"] = TM.harmonic_mean(
        [
            values[k]
            for k in (
                "prob_retain",
                "rouge_retain",
                "truth_ratio_retain",
                "prob_test",
                "rouge_test",
                "truth_ratio_test",
            )
        ]
    )
    if len(v.lp) and len(f.lp):  # membership: forget rows (members) vs held-out people
        texts_f = [q.question + " " + q.answer for q in qf]
        texts_v = [q.question + " " + q.answer for q in data.qa_val]
        n_f, n_v = f.mask.sum(1).numpy(), v.mask.sum(1).numpy()
        sums_f, sums_v = f.lp.sum(1).numpy(), v.lp.sum(1).numpy()
        values["loss_auc"] = TM.auc(
            TM.loss_score(f.mean_lp.numpy()), TM.loss_score(v.mean_lp.numpy())
        )
        values["mia_zlib_auc"] = TM.auc(
            TM.zlib_score(sums_f, n_f, texts_f), TM.zlib_score(sums_v, n_v, texts_v)
        )
        values["mia_mink_auc"] = TM.auc(TM.min_k(_tokens(f, "lp")), TM.min_k(_tokens(v, "lp")))
        values["mia_minkpp_auc"] = TM.auc(
            TM.min_k_plus_plus(_tokens(f, "lp"), _tokens(f, "mu"), _tokens(f, "sigma")),
            TM.min_k_plus_plus(_tokens(v, "lp"), _tokens(v, "mu"), _tokens(v, "sigma")),
        )
    values["answers_forget"] = [
        {"question": q.question, "answer": q.answer, "generated": s}
        for q, s in zip(qf[:SHOWN], said[:SHOWN], strict=False)
    ]
    return TextEvaluation(
        forget=-f.mean_lp,
        retain=-r.mean_lp,
        test=-t.mean_lp,
        values=values,
        tr_forget=tr_f,
    )


def score(ev: TextEvaluation) -> dict:
    """The metrics dict of a result (``None`` for what could not be computed)."""
    out = dict(ev.values)
    out.setdefault("loss_auc", None)
    return out

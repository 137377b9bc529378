"""The many-model audit (``unlearn_core.audit.pipeline``) on a language model: what a tinylm
gives each of the audit's per-sample lenses in place of a classifier's logits, and how the
audit trains a text original.

**The per-sample score.** A forget sample is one question-answer row. A model's read of it is
the **sequence log-likelihood of the true answer**, ``ll = sum of log p(answer token | prefix)``
over the answer's tokens (the end-of-answer token included; :func:`.train.token_scores`), so
``p = exp(ll)`` is the model's probability of producing the whole true answer. From it:

- **logit-scaled confidence / margin**: ``m = log p - log(1 - p) = ll - log(1 - exp(ll))``
  (float64, ``log1mexp`` written as ``log(-expm1(ll))``), clipped to ``+-CONF_LIMIT`` (103.6,
  the NeurIPS-23 challenge's bound). This is the value the **epsilon** score
  (``forget_quality``) and **U-LiRA** read as LiRA's logit-scaled confidence, and the
  **KLoM** margin: for a classifier the margin ``z_y - logsumexp_{j != y} z_j`` is exactly
  ``log p_y - log(1 - p_y)``; here the "classes" are every possible answer to the question and
  ``1 - p`` is the mass of all other answers, so the same formula gives the analogue.
- **RMIA**'s signal, the true label's probability: ``sigmoid(m) = p`` (the pipeline's
  ``probability_from_margins``), the population being the held-out people's rows (the
  dataset's validation split, never trained on).
- a **loss**: ``-ll``, the answer's negative log-likelihood (summed, not length-normalised).

The pipeline carries these as two-column **pseudo-logits** ``[m, 0]`` with target column 0 for
every row (:func:`pseudo_logits`, :func:`targets`): ``z_0 - logsumexp(z_1) = m``, the softmax of
column 0 is ``p``, and its cross-entropy is ``-log p = -ll``, so the lenses' code runs unchanged,
and the Comparator's worst-case privacy score (``worst_case_privacy``: entropy and confidence
of these two-way outputs) reads the answer's probability too.

**This is our adaptation, not the papers' definition.** KLoM (Georgiev et al. 2024), U-LiRA
(Hayes et al. 2024), RMIA (Zarifzadeh et al. 2024) and the NeurIPS-23 challenge's epsilon are
defined for classifiers on a class's logit. Choices that are ours: the whole answer's
log-likelihood (not the mean per token, TOFU's length-normalised probability, which the
Compare table's ``prob_*`` reports; the sum is the probability of the answer as one outcome,
which is what ``1 - p`` needs); ``m`` clipped at 103.6, where an answer memorised to ``ll``
near 0 reads ``m ~ -log(-ll)``; the accuracies of the audit's rows are exact match of the
greedy answer (``forget_acc`` / ``retain_acc`` / ``test_acc`` as in the text Compare table);
the quantisation attack reads exact match too (:func:`.attacks.quantize_attack`).

**Training.** An original is :func:`.data.train_tinylm` (the people's facts with the world
facts, seeded before the weights are drawn, :data:`.data.TINYLM_KWARGS`), the same model the
text CLI and the app train; the retrain is the ``retrain`` method, which trains through
``TextDataset.fit`` on the retain rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..audit.confidence import CONF_LIMIT
from .data import TINYLM_KWARGS, TextDataset, train_tinylm
from .train import TokenScores, token_scores

#: the architecture the text audit trains
ARCH = "tinylm"
#: the column of the pseudo-logits that stands for the true answer
TRUE = 0


def is_text(data) -> bool:
    """Whether ``data`` is the text track's (a :class:`TextDataset`)."""
    return getattr(data, "kind", None) == "text"


def model_kwargs(data, arch: str) -> dict:
    """The keyword arguments the audit builds ``arch`` with on ``data`` (tinylm on text: the
    text track's default size; empty otherwise)."""
    return dict(TINYLM_KWARGS) if is_text(data) and arch == ARCH else {}


def sequence_loglik(ts: TokenScores) -> np.ndarray:
    """Per row, the sum of the true answer tokens' log-probabilities (float64)."""
    return (ts.lp.double() * ts.mask).sum(1).numpy()


def answer_margin(loglik: np.ndarray) -> np.ndarray:
    """``log p - log(1 - p)`` with ``p = exp(loglik)``, clipped to ``+-CONF_LIMIT``."""
    ll = np.minimum(np.asarray(loglik, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore"):
        m = ll - np.log(-np.expm1(ll))
    return np.clip(m, -CONF_LIMIT, CONF_LIMIT)


def pseudo_logits(margin: np.ndarray) -> np.ndarray:
    """``[n, 2]`` outputs ``[m, 0]`` whose target column :data:`TRUE` gives back ``m`` as
    margin and logit-scaled confidence, ``p`` as softmax and ``-log p`` as cross-entropy."""
    m = np.asarray(margin, dtype=np.float64)
    return np.stack([m, np.zeros_like(m)], axis=1)


def targets(n: int) -> np.ndarray:
    """The target column of ``n`` rows of :func:`pseudo_logits`."""
    return np.full(n, TRUE, dtype=np.int64)


@dataclass
class TextAuditScores:
    """One model's reads for the audit: ``metrics`` (exact match, %, under the pipeline's
    accuracy keys), ``margins`` per split ("forget", "retain", "val"; "test" too),
    ``loglik`` per split, and with quantisation the forget exact match at full precision,
    int8 and 4-bit."""

    metrics: dict
    margins: dict[str, np.ndarray]
    loglik: dict[str, np.ndarray]
    quant: dict[str, float] | None = None
    error: str | None = None
    logits: dict[str, np.ndarray] = field(default_factory=dict)


def _pct(ts: TokenScores) -> float | None:
    return 100.0 * float(ts.exact.float().mean()) if len(ts.lp) else None


def audit_scores(
    model: nn.Module, data: TextDataset, split, *, quantize: bool = False
) -> TextAuditScores:
    """``model``'s reads on the forget, retain, world-fact (test) and held-out (val) rows."""
    model.eval()
    parts = {
        "forget": (data.x_train[split.forget_idx], data.y_train[split.forget_idx]),
        "retain": (data.x_train[split.retain_idx], data.y_train[split.retain_idx]),
        "test": (data.x_test, data.y_test),
        "val": (data.x_val, data.y_val),
    }
    ts = {k: token_scores(model, x, y) for k, (x, y) in parts.items()}
    ll = {k: sequence_loglik(t) for k, t in ts.items()}
    out = TextAuditScores(
        metrics={
            "forget_acc": _pct(ts["forget"]),
            "retain_acc": _pct(ts["retain"]),
            "test_acc": _pct(ts["test"]),
            "test_forgotten_acc": None,
            "mia": None,
        },
        margins={k: answer_margin(v) for k, v in ll.items()},
        loglik=ll,
    )
    if not all(np.isfinite(v).all() for v in ll.values()):
        out.error = "the model's outputs are not finite numbers (the method diverged)"
        return out
    out.logits = {k: pseudo_logits(out.margins[k]) for k in ("forget", "retain", "test")}
    if quantize:
        from .attacks import quantize_attack

        q = quantize_attack(model, data, split, retain_cap=0)
        out.quant = {k: float(v) for k, v in q.forget_em.items() if v is not None}
    return out


def finish_run(run, model: nn.Module, data: TextDataset, split, *, keep: bool, send_state: bool,
               lenses: bool, quantize: bool):  # fmt: skip
    """The pipeline's ``_finish`` for text: fill ``run`` (an ``audit.pipeline.ModelRun``)
    from :func:`audit_scores`: accuracies, forget pseudo-logits (every split's when ``keep``),
    the weights (originals always, others when ``send_state``), margins with ``lenses``,
    quantised forget exact match with ``quantize``."""
    s = audit_scores(model, data, split, quantize=quantize)
    if s.error is not None:
        run.error = s.error
        return run
    run.metrics = dict(s.metrics)
    run.forget_logits = s.logits["forget"]
    if keep:
        run.logits = dict(s.logits)
    if send_state or run.role == "original":
        run.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if lenses:
        run.margins = {k: s.margins[k] for k in ("forget", "retain", "val") if len(s.margins[k])}
    if quantize:
        run.quant = s.quant
    return run


def train_original(data: TextDataset, arch: str, cfg, *, seed: int, device) -> nn.Module:
    """Original ``seed`` of the text audit (:func:`.data.train_tinylm`, module text)."""
    if arch != ARCH:
        raise ValueError(f"text data trains the {ARCH} model, not {arch}")
    return train_tinylm(data, cfg, seed=seed, device=device, model_kwargs=model_kwargs(data, arch))


#: one tinylm trained on the default corpus (2 000 facts + 200 world facts, 30 epochs) with one
#: torch thread, as each audit call runs: 42.6 s quiet (``benchmarks/results/text.md``), 196 s
#: (originals) to 236 s (retrains) under a load of 7-10 (``results/text_audit_cost.json``)
TRAIN_S_QUIET, TRAIN_S_LOADED = 42.6, 216.0
#: one NPO run (default preset) on that corpus under load, and one model's audit scoring
UNLEARN_S_LOADED, SCORE_S = 27.2, 0.82
#: the process pool's start (``audit.executors``: ~4.6 s measured for a 2-process pool)
POOL_S = 5.0


def estimate_seconds(
    data: TextDataset, epochs: int, k: int, n_methods: int, workers: int
) -> tuple[float, float]:
    """``(quiet, loaded)`` seconds of a text audit with ``k`` models per side and
    ``n_methods`` methods over ``workers`` parallel calls: ``2k`` trainings (scaled from the
    measured default-corpus figures by rows x epochs) and ``k x n_methods`` unlearning runs
    (the loaded NPO figure, scaled the same way; quiet: by the quiet / loaded training ratio),
    each scored; each round's calls shared out over the workers; plus the pool's start."""
    pre = len(data.pretrain[0]) if data.pretrain is not None else 0
    rows = (data.n_train + pre) / 2200
    scale = rows * max(int(epochs), 1) / 30
    w = max(1, int(workers))
    out = []
    for train_s, unlearn_s in (
        (TRAIN_S_QUIET, UNLEARN_S_LOADED * TRAIN_S_QUIET / TRAIN_S_LOADED),
        (TRAIN_S_LOADED, UNLEARN_S_LOADED),
    ):
        round1 = math.ceil(2 * k / w) * (train_s * scale + SCORE_S * rows)
        round2 = math.ceil(k * n_methods / w) * (unlearn_s + SCORE_S) * rows
        out.append(POOL_S * (w > 1) + round1 + round2)
    return out[0], out[1]


def forget_people(data: TextDataset, split) -> list[int]:
    """The person of each forget row (the audit's per-sample "label" on text)."""
    return [int(p) for p in data.people[split.forget_idx].tolist()]


__all__ = [
    "ARCH",
    "TRUE",
    "TextAuditScores",
    "answer_margin",
    "audit_scores",
    "estimate_seconds",
    "finish_run",
    "forget_people",
    "is_text",
    "model_kwargs",
    "pseudo_logits",
    "sequence_loglik",
    "targets",
    "train_original",
]

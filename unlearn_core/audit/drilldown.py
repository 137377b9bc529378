"""What the Audit page's lenses show, as plain numbers (no Streamlit, no figures): the lenses side
by side per model, which of them tell a method from retraining, the quantisation recovery, and
one forget sample's drill-down (its margins under the unlearned and the retrained models on
KLoM's own bins, its epsilon, KLoM, U-LiRA likelihood ratio and RMIA scores).

Everything is read from an :class:`~unlearn_core.audit.records.AuditResult` as stored (the
lenses' per-sample lists and each paired model's forget margins, ``Lenses.forget_margins``);
nothing is trained or run again. The drill-down's histograms are recomputed from the stored
margins (rounded to :data:`~unlearn_core.audit.records.MARGIN_DECIMALS` decimals) on the grid
:func:`~unlearn_core.audit.klom.klom_scores` uses, so the bars are the two histograms KLoM
compares; the KLoM shown is the one the audit computed from unrounded margins.

**Told apart** (:func:`told_apart`) is a rule of thumb per lens, each against what the same lens
reads for retraining itself (the retrain row: the retrains' first half against their second
half), never against a fixed ideal alone: small K biases every lens (``benchmarks/results/
audit_lenses.md``: at K = 32 retraining against itself reads KLoM 5.79, U-LiRA 39 %, RMIA 0.44).
The margins below are ours, stated in :data:`RULES`; the page says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .klom import BINS, CLIP, KLOM_MAX, klom_scores
from .records import AuditResult, Lenses, MethodAudit

#: the lenses an audit can be asked for: key -> (short name, ``run_audit`` argument)
LENS_CHOICES = {
    "klom": ("KLoM", "metrics"),
    "ulira": ("U-LiRA", "metrics"),
    "rmia": ("RMIA", "metrics"),
    "quantize": ("quantisation recovery", "attacks"),
}
#: the choices an audit starts with: the three ensemble lenses cost seconds at the driver (the
#: margins travel with each call); quantisation about 20 ms a model on the digits MLP
DEFAULT_LENSES = ("klom", "ulira", "rmia", "quantize")

#: every check a row can be read with: key -> (name, one sentence a student understands)
LENSES: dict[str, tuple[str, str]] = {
    "forget_acc": (
        "forget accuracy",
        "How often the model still predicts the forgotten samples' labels: good is what "
        "retrain gets, but a model can hide a class at its output and still know it.",
    ),
    "mia": (
        "population MIA",
        "The share of forget samples a membership attack calls unseen: good is retrain's "
        "value, but this attack only looks at confidences, which are easy to fake.",
    ),
    "eps": (
        "ε (forget quality)",
        "Per forget sample, how surely the best threshold tells the K unlearned models' outputs "
        "from the K retrained models'; 1 is best (no sample told apart), 0 worst.",
    ),
    "klom": (
        "KLoM",
        "Per forget sample, how far the histogram of its margins under the unlearned models is "
        "from the retrained models' (0 = same histogram); good is at or below the retrain row, "
        "which is retraining compared with itself.",
    ),
    "ulira": (
        "U-LiRA",
        "How often a per-sample likelihood-ratio test guesses right whether a model was "
        "unlearned or retrained; good is 50 % (a coin flip) or the retrain row's value.",
    ),
    "rmia": (
        "RMIA",
        "How well a membership attack that uses the retrained models as references separates "
        "the method's models from retrained ones on the forget set (AUC); good is 0.5 or the "
        "retrain row's value, while 1 or 0 means fully told apart.",
    ),
    "quantize": (
        "quantisation recovery",
        "Forget accuracy again after rounding every weight to 8 or 4 bits; good is the same as "
        "what rounding does to retrain: nothing comes back.",
    ),
}
#: the checks' short names (the table's "told apart" column)
SHORT = {
    "forget_acc": "forget acc", "mia": "MIA", "eps": "ε", "klom": "KLoM", "ulira": "U-LiRA",
    "rmia": "RMIA", "quantize": "quantisation",
}  # fmt: skip
#: forget accuracy, MIA and quantised forget accuracy: points from retrain that count as told apart
ACC_MARGIN = 10.0
#: forget quality below this is told apart (the score is 1 when no sample is)
EPS_FLOOR = 0.5
#: KLoM forget P95 (at the baseline's size where the audit has it) this many nats above the
#: retrains' half-vs-half value
KLOM_MARGIN = 1.0
#: U-LiRA: percentage points above the larger of 50 % and the retrain row
ULIRA_MARGIN = 10.0
#: RMIA: distance from 0.5 beyond the retrain row's own distance from 0.5
RMIA_MARGIN = 0.1
#: the rules in words (the page's caption)
RULES = (
    f"forget accuracy or MIA more than {ACC_MARGIN:g} points from retrain's; forget quality "
    f"below {EPS_FLOOR:g}; KLoM forget P95 more than {KLOM_MARGIN:g} nat above the retrain row "
    f"(the method's first K/2 models where the audit has them, the size the retrain row "
    f"compares); U-LiRA more than {ULIRA_MARGIN:g} points above both 50 % and the retrain row; "
    f"RMIA AUC more than {RMIA_MARGIN:g} further from 0.5 than the retrain row's; quantisation "
    f"bringing back more than {ACC_MARGIN:g} points of forget accuracy beyond what it brings "
    "back for retrain"
)


def klom_resolves(retrain_p95: float | None) -> bool:
    """Whether KLoM can tell a method from retraining at all: retraining against itself must
    read more than :data:`KLOM_MARGIN` below KLoM's ceiling (few models a side fill the 20 bins
    so sparsely that every comparison reads near the ceiling: at K = 8 the retrains' half vs
    half reads 10.47 of 11.51, at K = 32 5.79)."""
    return retrain_p95 is None or retrain_p95 < KLOM_MAX - KLOM_MARGIN


def lens_arguments(chosen: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``metrics`` and ``attacks`` of ``run_audit`` for the chosen lens keys
    (:data:`LENS_CHOICES`; "eps" is always computed, so always in ``metrics``)."""
    unknown = [c for c in chosen if c not in LENS_CHOICES]
    if unknown:
        raise ValueError(f"unknown lens(es) {', '.join(unknown)}; choose from {list(LENS_CHOICES)}")
    metrics = ["eps", *(c for c in LENS_CHOICES if c in chosen and LENS_CHOICES[c][1] == "metrics")]
    attacks = [c for c in LENS_CHOICES if c in chosen and LENS_CHOICES[c][1] == "attacks"]
    return metrics, attacks


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _mean_sd(values: Sequence[float] | None) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values or [] if _num(v) is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals)) if len(vals) > 1 else None)


def _lens_fields(lenses: Lenses | None) -> dict:
    """A :class:`Lenses`' numbers as flat row fields (None where not computed)."""
    out: dict = {}
    if lenses is None:
        return out
    if lenses.klom is not None:
        for split in ("forget", "retain", "val"):
            s = lenses.klom.splits.get(split)
            out[f"klom_{split}_p95"] = s.p95 if s else None
        f = lenses.klom.splits.get("forget")
        out["klom_forget_median"] = f.median if f else None
        matched = lenses.klom.matched.get("forget")
        out["klom_matched_p95"] = matched.p95 if matched else None
    if lenses.ulira is not None:
        out["ulira_acc"] = lenses.ulira.accuracy
    if lenses.rmia is not None:
        out["rmia_auc"] = lenses.rmia.auc
    if lenses.quant is not None:
        for key, name in (("full", "quant_full"), ("int8", "quant8_forget_acc"),
                          ("int4", "quant4_forget_acc")):  # fmt: skip
            mean, sd = _mean_sd(lenses.quant.get(key))
            out[name] = mean
            if sd is not None:
                out[f"{name}_std"] = sd
    return {k: _num(v) for k, v in out.items()}


def lens_rows(result: AuditResult) -> list[dict]:
    """One row per model kind: original, retrain (its lenses: half against half, the oracle
    baseline; its quantisation: every retrain) and each method, with ``method`` (registry
    name), ``label``, the accuracies, ``forget_quality`` and the lens fields of
    :func:`_lens_fields`; ``told_apart`` lists the lenses that tell the row from retraining
    (:func:`told_apart`; empty for retrain itself)."""
    ret_row = {
        "method": "retrain",
        "label": "retrain (half vs half)",
        **_accuracies(result.reference_row("retrain")),
        **_lens_fields(result.retrain_lenses),
    }
    ret_row.pop("klom_matched_p95", None)  # the halves are the baseline's size already
    if result.klom_baseline is not None:
        ret_row["klom_forget_p95"] = _num(result.klom_baseline.p95("forget"))
    rows = [
        {
            "method": "original",
            "label": "original",
            **_accuracies(result.reference_row("original")),
            **_lens_fields(result.original_lenses),
        },
        ret_row,
    ]
    for m in result.methods:
        rows.append(
            {
                "method": m.method,
                "label": m.label,
                **_accuracies(m.row()),
                "forget_quality": _num(m.quality.score) if m.quality else None,
                **_lens_fields(m.lenses),
            }
        )
    for r in rows:
        verdict = told_apart(r, ret_row) if r is not ret_row else {}
        r["told_apart"] = ", ".join(SHORT[k] for k, v in verdict.items() if v)
        r["looks_like_retrain"] = ", ".join(SHORT[k] for k, v in verdict.items() if v is False)
    return rows


def _accuracies(row: Mapping) -> dict:
    return {k: _num(row.get(k)) for k in ("forget_acc", "retain_acc", "test_acc", "mia")}


def _recovered(row: Mapping) -> float | None:
    """The most forget accuracy (points) int8 or 4-bit rounding brings back over full precision."""
    full = _num(row.get("quant_full"))
    full = _num(row.get("forget_acc")) if full is None else full
    quant = [_num(row.get(k)) for k in ("quant8_forget_acc", "quant4_forget_acc")]
    quant = [q for q in quant if q is not None]
    if full is None or not quant:
        return None
    return max(quant) - full


def told_apart(row: Mapping, retrain: Mapping) -> dict[str, bool | None]:
    """Per check of :data:`LENSES`, whether it tells ``row``'s models from retraining (True),
    reads like retraining (False) or was not computed (None), by the rules of :data:`RULES`.
    ``retrain``: the retrain row (its lenses: half against half). Both are flat rows with the
    keys of :func:`lens_rows` (a row read from a benchmark's table works too)."""
    out: dict[str, bool | None] = {}
    for key in ("forget_acc", "mia"):
        a, b = _num(row.get(key)), _num(retrain.get(key))
        out[key] = None if a is None or b is None else abs(a - b) > ACC_MARGIN
    q = _num(row.get("forget_quality"))
    out["eps"] = None if q is None else q < EPS_FLOOR
    k = _num(row.get("klom_matched_p95"))
    k = _num(row.get("klom_forget_p95")) if k is None else k
    base = _num(retrain.get("klom_forget_p95"))
    out["klom"] = None if k is None or base is None else k > base + KLOM_MARGIN
    u = _num(row.get("ulira_acc"))
    floor = max(50.0, _num(retrain.get("ulira_acc")) or 50.0)
    out["ulira"] = None if u is None else u > floor + ULIRA_MARGIN
    auc = _num(row.get("rmia_auc"))
    own = abs((_num(retrain.get("rmia_auc")) or 0.5) - 0.5)
    out["rmia"] = None if auc is None else abs(auc - 0.5) > own + RMIA_MARGIN
    mine, theirs = _recovered(row), _recovered(retrain)
    out["quantize"] = None if mine is None else mine - (theirs or 0.0) > ACC_MARGIN
    return out


def quant_rows(result: AuditResult) -> list[dict]:
    """Quantisation recovery per model kind: forget accuracy (mean, ``_std`` over the models)
    at full precision, int8 and 4-bit, and ``recovered``: the most either rounding brings back
    (points) beyond what the same rounding brings back for retrain. Empty when not run."""
    rows = [r for r in lens_rows(result) if r.get("quant8_forget_acc") is not None]
    ret = next((r for r in rows if r["method"] == "retrain"), None)
    base = _recovered(ret) if ret else None
    for r in rows:
        mine = _recovered(r)
        r["recovered"] = None if mine is None else mine - (base or 0.0)
        if r["method"] == "retrain":
            r["label"] = "retrain (every model)"
    return rows


# ------------------------------------------------------------------ one forget sample
@dataclass
class SampleDrill:
    """One forget sample under one method: what every lens read for it.

    ``unlearned`` / ``retrained`` / ``original``: the sample's margin under each paired model
    (the method's seeds; the same seeds' retrains and originals), as stored (rounded).
    ``edges`` / ``unlearned_counts`` / ``retrained_counts``: the two histograms KLoM compares
    (its grid: :data:`~unlearn_core.audit.klom.BINS` bins over the pooled clipped range);
    ``klom_recomputed``: KL of those rounded margins (the stored ``klom`` is from unrounded
    ones). ``klom_oracle``: what retraining scores against itself on this sample (half vs
    half). U-LiRA: the sample's accuracy over the 2K decisions and its mean log likelihood
    ratio ``log N_u - log N_r`` on unlearned and on retrained targets (> 0: looks unlearned).
    RMIA: the sample's AUC of unlearned- vs retrained-target scores and each side's mean score.
    """

    sample: int
    position: int
    label: int
    method: str
    seeds: list[int]
    unlearned: np.ndarray
    retrained: np.ndarray
    original: np.ndarray | None
    edges: np.ndarray
    unlearned_counts: np.ndarray
    retrained_counts: np.ndarray
    klom_recomputed: float
    klom: float | None = None
    klom_oracle: float | None = None
    epsilon: float | None = None
    max_finite_epsilon: float | None = None
    ulira_acc: float | None = None
    llr_unlearned: float | None = None
    llr_retrained: float | None = None
    rmia_auc: float | None = None
    rmia_unlearned: float | None = None
    rmia_retrained: float | None = None

    @property
    def epsilon_beyond(self) -> bool:
        """Whether the epsilon is past what K models resolve (told apart by every threshold)."""
        return (
            self.epsilon is not None
            and self.max_finite_epsilon is not None
            and self.epsilon > self.max_finite_epsilon
        )


def margin_histograms(
    unlearned: Sequence[float], retrained: Sequence[float], *, bins: int = BINS, clip: float = CLIP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KLoM's grid for one sample and the two histograms on it: ``(edges [bins + 1], unlearned
    counts [bins], retrained counts [bins])``. The margins are clipped to ``+-clip``; the grid
    spans the smallest to the largest of both sides (one unit when they are all equal); a value
    on the top edge counts in the last bin (as :func:`~unlearn_core.audit.klom.klom_scores`)."""
    u = np.clip(np.asarray(unlearned, dtype=np.float64), -clip, clip)
    r = np.clip(np.asarray(retrained, dtype=np.float64), -clip, clip)
    if u.size == 0 or r.size == 0:
        raise ValueError("a histogram needs at least one margin on each side")
    lo = float(min(u.min(), r.min()))
    hi = float(max(u.max(), r.max()))
    if lo >= hi:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    return edges, np.histogram(u, edges)[0], np.histogram(r, edges)[0]


def _pick(values: Sequence[float] | None, i: int) -> float | None:
    return _num(values[i]) if values is not None and 0 <= i < len(values) else None


def _column(margins: list[list[float]], rows: Sequence[int], i: int) -> np.ndarray:
    return np.asarray([margins[r][i] for r in rows], dtype=np.float64)


def drill(result: AuditResult, method: str, sample: int) -> SampleDrill:
    """Forget sample ``sample`` (a training-set index in ``result.forget_ids``) under ``method``
    (a method's registry name, or "original"). Needs the audit's lenses (its forget margins);
    a ValueError says what is missing."""
    if sample not in result.forget_ids:
        raise ValueError(f"sample {sample} is not one of this audit's forget samples")
    i = result.forget_ids.index(sample)
    m: MethodAudit | None = None
    if method == "original":
        lenses = result.original_lenses
    else:
        m = result.get(method)
        if m is None:
            raise ValueError(f"{method} is not one of this audit's methods")
        lenses = m.lenses
    ret = result.retrain_lenses
    if lenses is None or not lenses.forget_margins or ret is None or not ret.forget_margins:
        raise ValueError("this audit kept no forget margins (run it with KLoM, U-LiRA or RMIA)")
    where = {s: k for k, s in enumerate(ret.seeds)}
    paired = [s for s in lenses.seeds if s in where]
    if not paired:
        raise ValueError("no retrained model shares a seed with this method's models")
    mine = [lenses.seeds.index(s) for s in paired]
    unlearned = _column(lenses.forget_margins, mine, i)
    retrained = _column(ret.forget_margins, [where[s] for s in paired], i)
    orig = result.original_lenses
    original = None
    if orig is not None and orig.forget_margins and method != "original":
        rows = [orig.seeds.index(s) for s in paired if s in orig.seeds]
        original = _column(orig.forget_margins, rows, i) if rows else None
    edges, uc, rc = margin_histograms(unlearned, retrained)
    out = SampleDrill(
        sample=int(sample),
        position=i,
        label=int(result.forget_labels[i]),
        method=method,
        seeds=paired,
        unlearned=unlearned,
        retrained=retrained,
        original=original,
        edges=edges,
        unlearned_counts=uc,
        retrained_counts=rc,
        klom_recomputed=float(klom_scores(unlearned[:, None], retrained[:, None])[0]),
    )
    if lenses.klom is not None:
        out.klom = _pick(lenses.klom.forget_scores, i)
    if ret.klom is not None:
        out.klom_oracle = _pick(ret.klom.forget_scores, i)
    if m is not None and m.quality is not None:
        out.epsilon = _pick(m.quality.epsilons, i)
        out.max_finite_epsilon = _num(m.quality.max_finite_epsilon)
    if lenses.ulira is not None:
        out.ulira_acc = _pick(lenses.ulira.per_sample, i)
        out.llr_unlearned = _pick(lenses.ulira.llr_unlearned, i)
        out.llr_retrained = _pick(lenses.ulira.llr_retrained, i)
    if lenses.rmia is not None:
        out.rmia_auc = _pick(lenses.rmia.per_sample_auc, i)
        out.rmia_unlearned = _pick(lenses.rmia.score_unlearned, i)
        out.rmia_retrained = _pick(lenses.rmia.score_retrained, i)
    return out


def has_drilldown(result: AuditResult, method: str) -> bool:
    """Whether ``method``'s forget samples can be drilled into (the lenses kept margins)."""
    lenses = result.original_lenses if method == "original" else getattr(
        result.get(method), "lenses", None
    )  # fmt: skip
    ret = result.retrain_lenses
    return bool(lenses and lenses.forget_margins and ret and ret.forget_margins)


def sample_order(result: AuditResult, method: str) -> list[int]:
    """The forget samples (training-set indices) from the one the lenses read as least like
    retraining: by per-sample KLoM, then epsilon, highest first (ties in forget-set order)."""
    m = result.get(method)
    lenses = result.original_lenses if method == "original" else (m.lenses if m else None)
    n = len(result.forget_ids)
    klom = lenses.klom.forget_scores if lenses and lenses.klom else None
    eps = m.quality.epsilons if m is not None and m.quality else None

    def key(i: int) -> tuple[float, float, int]:
        return (-(_pick(klom, i) or 0.0), -(_pick(eps, i) or 0.0), i)

    return [int(result.forget_ids[i]) for i in sorted(range(n), key=key)]


__all__ = [
    "DEFAULT_LENSES",
    "LENSES",
    "LENS_CHOICES",
    "RULES",
    "SHORT",
    "SampleDrill",
    "drill",
    "klom_resolves",
    "has_drilldown",
    "lens_arguments",
    "lens_rows",
    "margin_histograms",
    "quant_rows",
    "sample_order",
    "told_apart",
]

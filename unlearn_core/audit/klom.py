"""KLoM, the KL divergence of margins (Georgiev et al. 2024, "Attribute-to-Delete: Machine
Unlearning via Datamodel Matching", appendix E.1; the EasyDUB / Data-Unlearn-Bench benchmark).

For one sample ``(x, y)`` every model gives a **margin** ``z_y - logsumexp_{j != y} z_j`` (equal
to the logit-scaled confidence ``log p_y - log(1 - p_y)``). With N unlearned and N oracle
(retrained) models, the sample's N unlearned margins and N oracle margins are each clipped to
``[-100, 100]``, binned on one shared grid of 20 equal bins spanning the smallest to the largest
of the 2N clipped values (one unit wide when they are all equal), and turned into histograms
``p`` (unlearned) and ``q`` (oracle). The sample's KLoM is

    KL(p || q) = sum over bins with p > 0 of  p log(p / max(q, 1e-5))

in nats: 0 when the two histograms agree, at most ``log(1e5) ~ 11.51`` when every unlearned
margin sits in a bin no oracle margin reaches. Over a set of samples (forget, retain, validation)
the benchmark reports the 95th percentile (P95) and we add the median.

**Direction.** KL(unlearned || oracle), as the reference code computes it
(``easydub/eval.py``: ``binned_kl_divergence(p_samples=unlearned, q_samples=oracle)``, and the
authors' earlier auditor ``unlearning/auditors/direct.py``, whose comment gives the reason:
"wherever we put mass in unlearned, we better have substantial mass in oracle"). An unlearned
model that lands where no retrained model would is penalised fully; an unlearned ensemble that is
merely narrower than the oracles' spread is penalised little. (data-unlearning-bench's
``run.py`` passes the oracle margins first to ``kl_from_margins(unlearned, oracle)`` and so
computes the reverse, KL(oracle || unlearned); EasyDUB's order is the one the comment argues.)

**Oracle baseline.** The oracles split in two halves (first ``N // 2`` vs the next ``N // 2``),
KLoM of one half against the other: what retraining itself scores at ``N // 2`` models a side.
EasyDUB's ``reproduce.py`` draws its "oracle" line as KLoM(oracles, oracles), which is 0 by
construction; the halves give a line that sampling noise alone reaches. Because histograms of
fewer models are noisier, the baseline is compared fairly with a method's KLoM at the same size
(``matched``: the method's first ``N // 2`` unlearned models against the same second oracle
half).

Reference code read: easydub/EasyDUB-code ``easydub/eval.py`` (``binned_kl_divergence``,
``klom_from_margins``), ``train_models.py`` (``compute_margins_multi``), ``reproduce.py``;
RoyRin/data-unlearning-bench ``unlearning_bench/eval.py`` (``compute_binned_KL_div``,
``get_margin``). Same as theirs: the margin, the clip, 20 bins on the pooled range, the unit
range for a constant pair, ``eps = 1e-5`` on ``q`` only where ``p > 0`` and no renormalisation
(EasyDUB; data-unlearning-bench's ``scipy.stats.entropy`` renormalises ``q``), natural log.
Different: ``np.digitize`` there leaves a value equal to the top edge (the pooled maximum) out of
both histograms; we count it in the last bin as ``np.histogram`` does (``drop_top=True``
reproduces theirs), because a side whose margins all sit at the maximum would otherwise score 0.
Vectorised over samples (same numbers as their per-sample loop; a test checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

#: the reference code's clip, bin count and floor on the oracle histogram
CLIP = 100.0
BINS = 20
EPS = 1e-5
#: the largest KLoM a sample can take (every unlearned margin where no oracle margin is)
KLOM_MAX = -math.log(EPS)
#: the splits KLoM is summarised over
SPLITS = ("forget", "retain", "val")


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``z_y - logsumexp_{j != y} z_j`` per sample, unclipped, float64. ``logits``:
    ``[n, C]`` or ``[models, n, C]``; ``labels``: ``[n]``. Returns ``[n]`` or ``[models, n]``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    squeeze = z.ndim == 2
    if squeeze:
        z = z[None]
    if z.ndim != 3 or z.shape[1] != len(y):
        raise ValueError(f"logits must be [n, C] or [models, n, C] with n = {len(y)} labels")
    if z.shape[2] < 2:
        raise ValueError("a margin needs at least 2 classes")
    rows = np.arange(len(y))
    zy = z[:, rows, y]
    others = z.copy()
    others[:, rows, y] = -np.inf
    m = others.max(axis=2, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(others - m).sum(axis=2))
    out = zy - lse
    return out[0] if squeeze else out


def _histograms(values: np.ndarray, edges: np.ndarray, drop_top: bool) -> np.ndarray:
    """Per sample (column of ``values`` [models, n]) the counts in its own ``edges`` [n, B+1]."""
    bins = edges.shape[1] - 1
    # the reference's np.digitize(v, edges) - 1: the last edge not above v
    idx = (values.T[:, :, None] >= edges[:, None, :]).sum(axis=2) - 1  # [n, models]
    if not drop_top:
        idx = np.minimum(idx, bins - 1)
    keep = (idx >= 0) & (idx < bins)
    rows = np.broadcast_to(np.arange(len(idx))[:, None], idx.shape)
    counts = np.zeros((len(idx), bins))
    np.add.at(counts, (rows[keep], idx[keep]), 1.0)
    return counts


def klom_scores(
    unlearned: np.ndarray,
    oracle: np.ndarray,
    *,
    bins: int = BINS,
    eps: float = EPS,
    clip: float = CLIP,
    drop_top: bool = False,
) -> np.ndarray:
    """Per-sample KL(unlearned || oracle) of binned margins (nats). ``unlearned``:
    ``[N_u, n]`` margins of the unlearned models, ``oracle``: ``[N_o, n]`` (the reference code
    requires ``N_u == N_o``; any sizes work here)."""
    u = np.clip(np.asarray(unlearned, dtype=np.float64), -clip, clip)
    o = np.clip(np.asarray(oracle, dtype=np.float64), -clip, clip)
    if u.ndim != 2 or o.ndim != 2 or u.shape[1] != o.shape[1]:
        raise ValueError(f"margins must be [models, n] on both sides, got {u.shape}, {o.shape}")
    if len(u) == 0 or len(o) == 0:
        raise ValueError("KLoM needs at least one model on each side")
    lo = np.minimum(u.min(0), o.min(0))
    hi = np.maximum(u.max(0), o.max(0))
    hi = np.where(lo >= hi, lo + 1.0, hi)
    edges = np.linspace(lo, hi, bins + 1, axis=-1)  # [n, bins + 1], as np.linspace per sample
    pc = _histograms(u, edges, drop_top)
    qc = _histograms(o, edges, drop_top)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(pc.sum(1, keepdims=True) > 0, pc / pc.sum(1, keepdims=True), 0.0)
        q = np.where(qc.sum(1, keepdims=True) > 0, qc / qc.sum(1, keepdims=True), 0.0)
        q_safe = np.where(p > 0, np.maximum(q, eps), q)
        terms = np.where(p > 0, p * np.log(p / q_safe), 0.0)
    return terms.sum(axis=1)


@dataclass
class KlomSplit:
    """KLoM over one split's samples: P95 and median (nats), and how many samples."""

    p95: float
    median: float
    mean: float
    n: int

    def to_dict(self) -> dict:
        """JSON-ready: a number that is not finite (an empty split) becomes None."""
        d = asdict(self)
        return {
            k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in d.items()
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> KlomSplit:
        nums = {k: math.nan if d[k] is None else float(d[k]) for k in ("p95", "median", "mean")}
        return cls(**nums, n=int(d["n"]))

    @classmethod
    def of(cls, scores: np.ndarray) -> KlomSplit:
        s = np.asarray(scores, dtype=np.float64)
        if s.size == 0:
            return cls(p95=math.nan, median=math.nan, mean=math.nan, n=0)
        return cls(
            p95=float(np.percentile(s, 95)),
            median=float(np.median(s)),
            mean=float(s.mean()),
            n=int(s.size),
        )


@dataclass
class KlomResult:
    """KLoM of N unlearned against N oracle models, per split, and (``matched``) of the first
    ``N // 2`` unlearned models against the oracles' second half, the size the baseline has.
    ``forget_scores``: the per-sample forget KLoM, in forget-set order (the drill-down)."""

    models: int
    splits: dict[str, KlomSplit]
    matched: dict[str, KlomSplit] = field(default_factory=dict)
    forget_scores: list[float] = field(default_factory=list)

    def p95(self, split: str = "forget") -> float:
        return self.splits[split].p95

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
            "matched": {k: v.to_dict() for k, v in self.matched.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> KlomResult:
        return cls(
            models=int(d["models"]),
            splits={k: KlomSplit.from_dict(v) for k, v in d["splits"].items()},
            matched={k: KlomSplit.from_dict(v) for k, v in d.get("matched", {}).items()},
            forget_scores=list(d.get("forget_scores", [])),
        )


@dataclass
class KlomBaseline:
    """Retraining against itself: oracles ``[: N // 2]`` against oracles ``[N // 2 : 2 (N // 2)]``
    per split (the line a method reaches when it is as good as retraining, at N // 2 a side)."""

    models_per_half: int
    splits: dict[str, KlomSplit]

    def p95(self, split: str = "forget") -> float:
        return self.splits[split].p95

    def to_dict(self) -> dict:
        return {
            "models_per_half": self.models_per_half,
            "splits": {k: v.to_dict() for k, v in self.splits.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> KlomBaseline:
        return cls(
            models_per_half=int(d["models_per_half"]),
            splits={k: KlomSplit.from_dict(v) for k, v in d["splits"].items()},
        )


def _halves(oracle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = len(oracle) // 2
    if h < 1:
        raise ValueError("the oracle baseline needs at least 2 oracle models")
    return oracle[:h], oracle[h : 2 * h]


def klom(
    unlearned: Mapping[str, np.ndarray],
    oracle: Mapping[str, np.ndarray],
    **kw,
) -> KlomResult:
    """KLoM per split. ``unlearned`` / ``oracle``: ``{split: margins [models, n]}`` for the
    splits both have (``forget``, ``retain``, ``val`` by convention); ``kw`` as
    :func:`klom_scores`."""
    names = [s for s in unlearned if s in oracle]
    if not names:
        raise ValueError("unlearned and oracle margins share no split")
    out = KlomResult(models=min(len(unlearned[names[0]]), len(oracle[names[0]])), splits={})
    for s in names:
        u, o = np.asarray(unlearned[s]), np.asarray(oracle[s])
        scores = klom_scores(u, o, **kw)
        out.splits[s] = KlomSplit.of(scores)
        if len(o) >= 2:
            _, second = _halves(o)
            out.matched[s] = KlomSplit.of(klom_scores(u[: len(second)], second, **kw))
        if s == "forget":
            out.forget_scores = [float(v) for v in scores]
    return out


def klom_baseline(oracle: Mapping[str, np.ndarray], **kw) -> KlomBaseline:
    """The oracle-vs-oracle baseline per split (the oracles split in two halves)."""
    splits, h = {}, 0
    for s, o in oracle.items():
        first, second = _halves(np.asarray(o))
        h = len(first)
        splits[s] = KlomSplit.of(klom_scores(first, second, **kw))
    return KlomBaseline(models_per_half=h, splits=splits)

"""Typed results of the audit; every record round-trips through JSON (``to_dict`` /
``from_dict``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .klom import KlomBaseline, KlomResult
from .recovery import FRACTION, RelearnCurve, RelearnSpread, relearn_spread, score_curves
from .rmia import RmiaResult

if TYPE_CHECKING:  # ulira imports forget_quality, which imports this module
    from .ulira import UliraResult

#: the kind a stored audit carries in the run store (a comparison body with an "audit" part)
AUDIT_KIND = "audit"
#: the accuracies kept per model (percent, as ``experiment.score_model`` defines them)
ACC_KEYS = ("forget_acc", "retain_acc", "test_acc", "test_forgotten_acc", "mia")
#: the ensemble lenses ``--metrics`` can ask for beside the epsilon score (issue 19)
LENS_METRICS = ("klom", "ulira", "rmia")
METRICS = ("eps", *LENS_METRICS)
#: the recovery attacks ``--attacks`` can ask for
ATTACKS = ("relearn", "quantize")
#: the lens fields a row carries (``Lenses.row``), in the order tables show them
LENS_KEYS = (
    "klom_forget_p95",
    "klom_retain_p95",
    "klom_val_p95",
    "ulira_acc",
    "rmia_auc",
    "quant8_forget_acc",
    "quant4_forget_acc",
)
#: decimals kept in the stored forget margins (the drill-down's histograms)
MARGIN_DECIMALS = 3


def _known(cls, d: Mapping) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def _clean(v: Any) -> Any:
    """Floats that JSON can hold (NaN and infinities -> None)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _mean(values: list[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


@dataclass
class ForgetQuality:
    """The NeurIPS-23 challenge's per-sample epsilons and forget-quality score."""

    epsilons: list[float]
    score: float
    models: int
    delta: float
    #: the largest epsilon ``models`` per side can show short of perfect separation
    max_finite_epsilon: float
    #: where the scored bins end (epsilons at or past it earn 0 points)
    score_top: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping) -> ForgetQuality:
        return cls(**_known(cls, d))


@dataclass
class PrivacyScore:
    """The Unlearning Comparator's worst-case privacy score and the attack that set it."""

    score: float
    attack_score: float
    feature: str | None = None  # "entropy" or "confidence"
    positive: str | None = None  # whose samples the attack calls positive
    threshold: float | None = None
    fpr: float | None = None
    fnr: float | None = None
    epsilon: float | None = None

    def to_dict(self) -> dict:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping) -> PrivacyScore:
        return cls(**_known(cls, d))


@dataclass
class ModelScore:
    """One model of the audit: what made it and its accuracies (percent)."""

    role: str  # "original", "retrain" or "unlearned"
    method: str  # "original", "retrain" or the method's name
    seed: int
    forget_acc: float | None = None
    retain_acc: float | None = None
    test_acc: float | None = None
    test_forgotten_acc: float | None = None
    mia: float | None = None
    seconds: float | None = None
    error: str | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelScore:
        return cls(**_known(cls, d))


def mean_scores(models: list[ModelScore]) -> dict[str, float | None]:
    """Mean of each accuracy (and seconds) over the models that ran."""
    ok = [m for m in models if m.ok]
    return {k: _mean([getattr(m, k) for m in ok]) for k in (*ACC_KEYS, "seconds")}


@dataclass
class ModelLogits:
    """One model's logits on the forget, retain and test samples (rows in the split's order)."""

    forget: list[list[float]]
    retain: list[list[float]]
    test: list[list[float]]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelLogits:
        return cls(**_known(cls, d))


@dataclass
class Lenses:
    """One kind of model (a method's unlearned models, the originals) against the retrains,
    paired by seed (``seeds``: the seeds where both finished), or, for the retrains themselves,
    their first half against their second half (``halves``: what retraining scores against
    itself at half the models a side). Each part is None when not asked for or not computable
    (too few pairs). ``quant``: per precision ("full", "int8", "int4") each paired model's
    forget accuracy (percent, in ``seeds`` order); ``forget_margins``: each paired model's
    margins on the forget samples (``[pairs][n_forget]``, rounded; the drill-down's data).
    For the retrains (``halves``) ``seeds``, ``quant`` and ``forget_margins`` cover every
    finished retrain, and KLoM, U-LiRA and RMIA compare ``seeds[: len(seeds) // 2]`` with the
    next ``len(seeds) // 2``."""

    seeds: list[int]
    klom: KlomResult | None = None
    ulira: UliraResult | None = None
    rmia: RmiaResult | None = None
    quant: dict[str, list[float]] | None = None
    forget_margins: list[list[float]] = field(default_factory=list)
    halves: bool = False

    @property
    def pairs(self) -> int:
        return len(self.seeds)

    def quant_mean(self, key: str) -> float | None:
        return _mean(list((self.quant or {}).get(key) or []))

    def row(self) -> dict:
        """The row fields (:data:`LENS_KEYS`) of the parts computed."""
        out: dict[str, float | None] = {}
        if self.klom is not None:
            for split in ("forget", "retain", "val"):
                s = self.klom.splits.get(split)
                out[f"klom_{split}_p95"] = s.p95 if s else None
        if self.ulira is not None:
            out["ulira_acc"] = self.ulira.accuracy
        if self.rmia is not None:
            out["rmia_auc"] = self.rmia.auc
        if self.quant is not None:
            out["quant8_forget_acc"] = self.quant_mean("int8")
            out["quant4_forget_acc"] = self.quant_mean("int4")
        return _clean(out)

    def to_dict(self) -> dict:
        return _clean(
            {
                "seeds": self.seeds,
                "klom": self.klom.to_dict() if self.klom else None,
                "ulira": self.ulira.to_dict() if self.ulira else None,
                "rmia": self.rmia.to_dict() if self.rmia else None,
                "quant": self.quant,
                "forget_margins": self.forget_margins,
                "halves": self.halves,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping | None) -> Lenses | None:
        if not d:
            return None
        from .ulira import UliraResult

        return cls(
            seeds=[int(s) for s in d.get("seeds") or []],
            klom=KlomResult.from_dict(d["klom"]) if d.get("klom") else None,
            ulira=UliraResult.from_dict(d["ulira"]) if d.get("ulira") else None,
            rmia=RmiaResult.from_dict(d["rmia"]) if d.get("rmia") else None,
            quant={k: list(v) for k, v in d["quant"].items()} if d.get("quant") else None,
            forget_margins=[list(m) for m in d.get("forget_margins") or []],
            halves=bool(d.get("halves", False)),
        )


@dataclass
class MethodAudit:
    """One method over the K originals: its models, forget quality, scores and relearning."""

    method: str
    label: str
    family: str
    params: dict = field(default_factory=dict)
    preset: str | None = None
    models: list[ModelScore] = field(default_factory=list)
    quality: ForgetQuality | None = None
    #: forget quality x (RA_u / RA_r) x (TA_u / TA_r)
    final_score: float | None = None
    #: first seed's unlearned model against the first retrained model
    privacy: PrivacyScore | None = None
    error: str | None = None
    #: the ensemble lenses against the retrains (None: none asked for)
    lenses: Lenses | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def means(self) -> dict[str, float | None]:
        return mean_scores(self.models)

    def row(self) -> dict:
        """The flat row a table (and the run store's headline) shows."""
        return _clean(
            {
                "method": self.method,
                "label": self.label,
                "family": self.family,
                **self.means,
                "forget_quality": self.quality.score if self.quality else None,
                "final_score": self.final_score,
                "privacy_score": self.privacy.score if self.privacy else None,
                **(self.lenses.row() if self.lenses else {}),
                "failed_models": sum(1 for m in self.models if not m.ok),
                "error": self.error,
            }
        )

    def to_dict(self) -> dict:
        return _clean(
            {
                "method": self.method,
                "label": self.label,
                "family": self.family,
                "params": self.params,
                "preset": self.preset,
                "models": [m.to_dict() for m in self.models],
                "quality": self.quality.to_dict() if self.quality else None,
                "final_score": self.final_score,
                "privacy": self.privacy.to_dict() if self.privacy else None,
                "error": self.error,
                **({"lenses": self.lenses.to_dict()} if self.lenses else {}),
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping) -> MethodAudit:
        return cls(
            method=d["method"],
            label=d.get("label", d["method"]),
            family=d.get("family", "?"),
            params=dict(d.get("params") or {}),
            preset=d.get("preset"),
            models=[ModelScore.from_dict(m) for m in d.get("models") or []],
            quality=ForgetQuality.from_dict(d["quality"]) if d.get("quality") else None,
            final_score=d.get("final_score"),
            privacy=PrivacyScore.from_dict(d["privacy"]) if d.get("privacy") else None,
            error=d.get("error"),
            lenses=Lenses.from_dict(d.get("lenses")),
        )


@dataclass
class AuditResult:
    """A whole audit: K originals, K retrained models, each method on each original."""

    dataset: str
    model: str
    forget: dict
    seeds: list[int]
    train_config: dict
    #: training-set indices of the forget samples (the order of every per-sample list)
    forget_ids: list[int]
    forget_labels: list[int]
    originals: list[ModelScore] = field(default_factory=list)
    retrains: list[ModelScore] = field(default_factory=list)
    methods: list[MethodAudit] = field(default_factory=list)
    #: "forget", "retain" or None (not run)
    relearn_mode: str | None = None
    #: every seed's relearning curve of the original, retrain and each method, scored against
    #: the seed's target (``recovery.score_curves``)
    relearn_curves: list[RelearnCurve] = field(default_factory=list)
    #: first seed's logits: "original", "retrain" and each method that ran
    logits: dict[str, ModelLogits] = field(default_factory=dict)
    executor: str = "local"
    workers: int = 1
    seconds: float | None = None
    device: str = "cpu"
    cancelled: bool = False
    #: the lenses asked for (``METRICS``: "eps" always) and the recovery attacks run
    metrics: list[str] = field(default_factory=lambda: ["eps"])
    attacks: list[str] = field(default_factory=list)
    #: the originals' and the retrains' lenses (the retrains: half against half)
    original_lenses: Lenses | None = None
    retrain_lenses: Lenses | None = None
    #: KLoM of the retrains' first half against their second half, per split
    klom_baseline: KlomBaseline | None = None
    #: RMIA's offline coefficient a (None: RMIA not run)
    rmia_a: float | None = None
    #: models taken from the ensemble store (``store.ensembles``) instead of trained, per
    #: role: "original", "retrain" and each method's name -> (reused, wanted); empty when
    #: reuse was off (or for audits stored before it existed)
    reused: dict[str, tuple[int, int]] = field(default_factory=dict)

    def reuse_line(self) -> str:
        """What was reused, in words: "reusing 32 of 32 originals, 32 of 32 retrained models,
        0 of 32 unlearned models (neggrad)"; "" when reuse was off."""
        return reuse_words(self.reused)

    def lens_keys(self) -> list[str]:
        """The :data:`LENS_KEYS` this audit's rows carry (None where not computable)."""
        chosen = set(self.metrics) | set(self.attacks)
        return [
            k
            for k in LENS_KEYS
            if k.split("_")[0] in chosen or (k.startswith("quant") and "quantize" in chosen)
        ]

    def _lens_row(self, lenses: Lenses | None) -> dict:
        return {**dict.fromkeys(self.lens_keys()), **(lenses.row() if lenses else {})}

    @property
    def lensed(self) -> bool:
        """Whether any lens or the quantisation attack ran (the summary then carries them)."""
        return any(m != "eps" for m in self.metrics) or "quantize" in self.attacks

    @property
    def models_per_side(self) -> int:
        return len(self.seeds)

    def get(self, method: str) -> MethodAudit | None:
        return next((m for m in self.methods if m.method == method), None)

    def relearn_spread(self) -> list[RelearnSpread]:
        """Per model (original, retrain, each method) its relearning over the seeds."""
        return relearn_spread(self.relearn_curves)

    def relearn_curves_of(self, seed: int | None = None) -> list[RelearnCurve]:
        """The finished curves of one seed (default: the first relearned one)."""
        ok = [c for c in self.relearn_curves if c.ok]
        if seed is None and ok:
            seed = ok[0].seed
        return [c for c in ok if c.seed == seed]

    def relearn_row(self, model: str) -> dict:
        """``model``'s ``relearn_*`` fields (``RelearnSpread.row``); empty when not run."""
        if not self.relearn_mode:
            return {}
        s = next((s for s in self.relearn_spread() if s.model == model), None)
        return s.row() if s else {}

    def method_row(self, m: MethodAudit) -> dict:
        """A method's table row with its relearning and lens fields."""
        return {**m.row(), **self._lens_row(m.lenses), **self.relearn_row(m.method)}

    def reference_row(self, role: str) -> dict:
        models = self.originals if role == "original" else self.retrains
        lenses = self.original_lenses if role == "original" else self.retrain_lenses
        row = {"method": role, **mean_scores(models), **self.relearn_row(role)}
        row.update(self._lens_row(lenses))
        row["failed_models"] = sum(1 for m in models if not m.ok)
        row["error"] = "; ".join(f"seed {m.seed}: {m.error}" for m in models if m.error) or None
        return _clean(row)

    def summary(self) -> dict:
        """The CLI's ``--json`` object: per method the scores, the relearn steps and the
        per-sample epsilons (in ``forget_ids`` order)."""
        first = self.methods[0].quality if self.methods and self.methods[0].quality else None
        return _clean(
            {
                **self.lens_summary(),
                **({"reused": {k: list(v) for k, v in self.reused.items()}} if self.reused else {}),
                "kind": AUDIT_KIND,
                "dataset": self.dataset,
                "model": self.model,
                "forget": self.forget,
                "models": self.models_per_side,
                "seeds": self.seeds,
                "executor": self.executor,
                "workers": self.workers,
                "device": self.device,
                "seconds": self.seconds,
                "cancelled": self.cancelled,
                "delta": first.delta if first else None,
                "max_finite_epsilon": first.max_finite_epsilon if first else None,
                "relearn": self.relearn_mode,
                "relearn_target": RELEARN_TARGET if self.relearn_mode else None,
                "relearn_spread": [s.to_dict() for s in self.relearn_spread()],
                "forget_ids": self.forget_ids,
                "original": self.reference_row("original"),
                "retrain": self.reference_row("retrain"),
                "results": [
                    {
                        **self.method_row(m),
                        "epsilons": m.quality.epsilons if m.quality else None,
                        "privacy": m.privacy.to_dict() if m.privacy else None,
                    }
                    for m in self.methods
                ],
            }
        )

    def lens_summary(self) -> dict:
        """The summary's lens fields (none when no lens or attack beyond relearning ran):
        the metrics and attacks, KLoM's oracle baseline and RMIA's a."""
        if not self.lensed:
            return {}
        base = self.klom_baseline
        return {
            "metrics": self.metrics,
            "attacks": self.attacks,
            "klom_baseline_forget_p95": base.p95("forget") if base else None,
            "klom_baseline_retain_p95": base.p95("retain")
            if base and "retain" in base.splits
            else None,
            "klom_baseline_val_p95": base.p95("val") if base and "val" in base.splits else None,
            "klom_baseline_models_per_half": base.models_per_half if base else None,
            "rmia_a": self.rmia_a,
        }

    def to_dict(self) -> dict:
        """Everything. ``original`` / ``results`` hold flat rows so the run store lists an
        audit like a comparison; ``audit`` holds the full record."""
        return _clean(
            {
                "kind": AUDIT_KIND,
                "dataset": self.dataset,
                "model": self.model,
                "forget": self.forget,
                "seeds": self.seeds,
                "device": self.device,
                "original": self.reference_row("original"),
                "results": [
                    self.reference_row("retrain"),
                    *(self.method_row(m) for m in self.methods),
                ],
                "audit": {
                    "train_config": self.train_config,
                    "forget_ids": self.forget_ids,
                    "forget_labels": self.forget_labels,
                    "originals": [m.to_dict() for m in self.originals],
                    "retrains": [m.to_dict() for m in self.retrains],
                    "methods": [m.to_dict() for m in self.methods],
                    "relearn_mode": self.relearn_mode,
                    "relearn_curves": [c.to_dict() for c in self.relearn_curves],
                    "logits": {k: v.to_dict() for k, v in self.logits.items()},
                    "executor": self.executor,
                    "workers": self.workers,
                    "seconds": self.seconds,
                    "cancelled": self.cancelled,
                    **(
                        {"reused": {k: list(v) for k, v in self.reused.items()}}
                        if self.reused
                        else {}
                    ),
                    **(self._lens_dict() if self.lensed else {}),
                },
            }
        )

    def _lens_dict(self) -> dict:
        return {
            "metrics": self.metrics,
            "attacks": self.attacks,
            "original_lenses": self.original_lenses.to_dict() if self.original_lenses else None,
            "retrain_lenses": self.retrain_lenses.to_dict() if self.retrain_lenses else None,
            "klom_baseline": self.klom_baseline.to_dict() if self.klom_baseline else None,
            "rmia_a": self.rmia_a,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> AuditResult:
        if d.get("kind") != AUDIT_KIND or not isinstance(d.get("audit"), Mapping):
            raise ValueError("not an audit record (expected kind 'audit' with an 'audit' part)")
        a = d["audit"]
        return cls(
            dataset=d["dataset"],
            model=d["model"],
            forget=dict(d.get("forget") or {}),
            seeds=[int(s) for s in d.get("seeds") or []],
            device=d.get("device", "cpu"),
            train_config=dict(a.get("train_config") or {}),
            forget_ids=list(a.get("forget_ids") or []),
            forget_labels=list(a.get("forget_labels") or []),
            originals=[ModelScore.from_dict(m) for m in a.get("originals") or []],
            retrains=[ModelScore.from_dict(m) for m in a.get("retrains") or []],
            methods=[MethodAudit.from_dict(m) for m in a.get("methods") or []],
            relearn_mode=a.get("relearn_mode"),
            relearn_curves=_curves(a, d.get("seeds") or []),
            logits={k: ModelLogits.from_dict(v) for k, v in (a.get("logits") or {}).items()},
            executor=a.get("executor", "local"),
            workers=int(a.get("workers", 1)),
            seconds=a.get("seconds"),
            cancelled=bool(a.get("cancelled", False)),
            metrics=list(a.get("metrics") or ["eps"]),
            attacks=list(a.get("attacks") or ([] if not a.get("relearn_mode") else ["relearn"])),
            original_lenses=Lenses.from_dict(a.get("original_lenses")),
            retrain_lenses=Lenses.from_dict(a.get("retrain_lenses")),
            klom_baseline=KlomBaseline.from_dict(a["klom_baseline"])
            if a.get("klom_baseline")
            else None,
            rmia_a=a.get("rmia_a"),
            reused={
                str(k): (int(v[0]), int(v[1]))
                for k, v in (a.get("reused") or {}).items()
                if isinstance(v, list | tuple) and len(v) == 2
            },
        )


def reuse_words(reused: Mapping[str, tuple[int, int]]) -> str:
    """``AuditResult.reused`` in words (originals, retrained models, then each method)."""
    parts = []
    for role, (n, k) in reused.items():
        if role == "original":
            parts.append(f"{n} of {k} originals")
        elif role == "retrain":
            parts.append(f"{n} of {k} retrained models")
        else:
            parts.append(f"{n} of {k} unlearned models ({role})")
    return "reusing " + ", ".join(parts) if parts else ""


#: the recovery target in words (CLI, app, report)
RELEARN_TARGET = (
    f"{100 * FRACTION:.0f}% of the way from retrain's start to the original's forget accuracy, "
    "on the forget samples not relearned on, each seed its own models; not measurable when "
    f"retrain starts within {100 * (1 - FRACTION):.0f}% of the original (Anamnesis Index, "
    "Chundawat et al. 2023)"
)


def _curves(a: Mapping, seeds: list) -> list[RelearnCurve]:
    """The stored curves; an audit stored before every seed was relearned kept the first seed's
    under ``relearn_reference`` and each method's ``relearn`` (scored on every forget sample):
    read those and score them against retrain's start."""
    if "relearn_curves" in a:
        return [RelearnCurve.from_dict(c) for c in a.get("relearn_curves") or []]
    raw = list((a.get("relearn_reference") or {}).values())
    raw += [m.get("relearn") for m in a.get("methods") or []]
    first = int(seeds[0]) if seeds else None
    curves = [RelearnCurve.from_dict(c) for c in raw if isinstance(c, Mapping) and c.get("model")]
    for c in curves:
        c.seed = first if c.seed is None else c.seed
        c.error = c.error or (None if c.steps else "did not finish")
    return score_curves(curves)

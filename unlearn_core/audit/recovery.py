"""Reading relearning curves (no torch): the recovery target relative to where retrain starts,
each curve's status, the Anamnesis Index and its spread over the audit's seeds.

The Anamnesis Index (AIN) of Chundawat, Tarun, Mandal & Kankanhalli, "Zero-shot machine
unlearning", IEEE TIFS 18 (2023), arXiv 2201.05629: ``AIN = r_t(M_u) / r_t(M_s)``, where
``r_t(M)`` is the number of relearning steps model ``M`` needs to come within ``alpha`` of the
original model's accuracy on the forget set, ``M_u`` the unlearned and ``M_s`` the retrained
("gold") model. The authors' code (ayushkumartarun/zero-shot-unlearning, ``metrics.py``:
``relearn_time``, ``ain``) puts the level at ``(1 - alpha)`` x the original's forget accuracy
(``alpha`` 0.05 there; 0.1 here, ``fraction`` 0.9), counts optimiser steps and scores held-out
samples of the forget class. AIN about 1: the model relearns like retrain; well below 1: the
knowledge is still in the model; above 1: it relearns slower than a model that never saw the data.

How this module applies it (each seed its own original, retrain and unlearned models):

- **Scored samples**: the forget samples *not* used for relearning (``RelearnCurve.scored``);
  the original's forget accuracy ``o`` and retrain's start ``r0`` are read on them.
- **Measurable** only when retrain starts below the literature's level, ``r0 < fraction x o``.
  Otherwise (a random request, whose samples retrain predicts by generalising) retrain already
  counts as "back" before any step, no step count tells a model that kept the data from one that
  never saw it, and the seed's result is "not measurable" (every curve and every AIN on it).
- **Target relative to retrain's start**: ``r0 + fraction x (o - r0)``, ``fraction`` of the gap
  that retraining opened. Retrain starts below it by construction; for a class-wise request
  (``r0`` about 0) it is the literature's level.
- **Budget**: a curve that does not reach the target within its steps is censored; its AIN is then
  a bound ("at most" when retrain did not reach it, "at least" when the method did not), and
  "undetermined" when neither did.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

#: default share of the gap between retrain's start and the original that counts as recovered
FRACTION = 0.9
#: the curves that anchor the target (names as ``experiment`` gives them)
ORIGINAL = "original"
REFERENCE = "retrain"
#: a curve's status against its seed's target
REACHED = "reached"
NOT_REACHED = "not reached"
NOT_MEASURABLE = "not measurable"
#: how an AIN value is known
EXACT = "exact"
AT_MOST = "at most"
AT_LEAST = "at least"
UNDETERMINED = "undetermined"
NO_REFERENCE = "no retrain curve"
#: an AIN below this (known or at most) reads "the knowledge is still in the model"
KEPT_BELOW = 0.5


@dataclass
class RelearnCurve:
    """Forget accuracy (%) after each relearning step of one model on one seed."""

    model: str  # "original", "retrain" or a method name
    mode: str  # "forget" (a few forget samples + retain) or "retain" (retain samples only)
    steps: list[int]  # 0, 1, 2, ...
    forget_acc: list[float]  # on the scored forget samples, after each step (step 0: before any)
    #: forget accuracy counted as recovered (see the module text); None: not measurable / unset
    target: float | None = None
    steps_to_recover: int | None = None  # first step reaching target; None: not reached / no target
    #: the settings the curve was made with (lr, optimiser, set sizes, seed)
    settings: dict | None = None
    seed: int | None = None
    #: forget samples scored (those not relearned on); None: stored before they were excluded
    scored: int | None = None
    #: REACHED, NOT_REACHED or NOT_MEASURABLE; None: not scored against a target
    status: str | None = None
    #: the original's forget accuracy (the target's top) and retrain's start (its bottom)
    original_acc: float | None = None
    retrain_start: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.forget_acc)

    @property
    def budget(self) -> int:
        return self.steps[-1] if self.steps else 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RelearnCurve:
        """Also reads curves stored before seeds, statuses and exclusion were recorded."""

        def opt(key, kind):
            v = d.get(key)
            return None if v is None else kind(v)

        return cls(
            model=str(d["model"]),
            mode=str(d.get("mode", "")),
            steps=[int(s) for s in d.get("steps") or []],
            forget_acc=[float(a) for a in d.get("forget_acc") or []],
            target=opt("target", float),
            steps_to_recover=opt("steps_to_recover", int),
            settings=d.get("settings"),
            seed=opt("seed", int),
            scored=opt("scored", int),
            status=d.get("status"),
            original_acc=opt("original_acc", float),
            retrain_start=opt("retrain_start", float),
            error=d.get("error"),
        )


def steps_to_reach(values: Sequence[float], target: float) -> int | None:
    """The index of the first value >= ``target`` (None if none is)."""
    return next((i for i, v in enumerate(values) if v >= target), None)


@dataclass(frozen=True)
class RecoveryTarget:
    """One seed's target: ``value`` None when the seed is not measurable."""

    original: float
    retrain_start: float
    fraction: float
    value: float | None

    @property
    def measurable(self) -> bool:
        return self.value is not None


def recovery_target(
    original: float, retrain_start: float, fraction: float = FRACTION
) -> RecoveryTarget:
    """The target relative to retrain's start (module text): ``r0 + fraction x (o - r0)``, or
    not measurable when retrain starts at or above ``fraction x o``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    o, r0 = float(original), float(retrain_start)
    value = r0 + fraction * (o - r0) if r0 < fraction * o else None
    return RecoveryTarget(original=o, retrain_start=r0, fraction=fraction, value=value)


def _with_target(c: RelearnCurve, target: float | None, o, r0) -> RelearnCurve:
    if target is None:
        steps, status = None, NOT_MEASURABLE
    else:
        steps = steps_to_reach(c.forget_acc, target)
        status = NOT_REACHED if steps is None else REACHED
    return replace(
        c, target=target, steps_to_recover=steps, status=status, original_acc=o, retrain_start=r0
    )


def score_curves(curves: Iterable[RelearnCurve], fraction: float = FRACTION) -> list[RelearnCurve]:
    """Each finished curve with its seed's target, steps and status (copies, same order).

    Curves group by (seed, mode). ``o`` is the group's original curve's start, else the
    ``original_acc`` its curves carry (``relearn``'s ``reference_forget_acc``); ``r0`` the
    retrain curve's start. Without a retrain curve the target is the literature's level,
    ``fraction x o``, and measurability cannot be judged."""
    curves = list(curves)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(curves):
        if c.ok:
            groups.setdefault((c.seed, c.mode), []).append(i)
    out = list(curves)
    for members in groups.values():
        named = {curves[i].model: curves[i] for i in members}
        orig, ref = named.get(ORIGINAL), named.get(REFERENCE)
        o = (
            orig.forget_acc[0]
            if orig
            else next(
                (curves[i].original_acc for i in members if curves[i].original_acc is not None),
                None,
            )
        )
        if o is None:
            continue
        if ref is None:
            target, r0 = fraction * o, None
        else:
            r0 = ref.forget_acc[0]
            target = recovery_target(o, r0, fraction).value
        for i in members:
            out[i] = _with_target(curves[i], target, o, r0)
    return out


@dataclass(frozen=True)
class Anamnesis:
    """One model's AIN on one seed, and how it is known (EXACT, AT_MOST, AT_LEAST,
    UNDETERMINED, NOT_MEASURABLE or NO_REFERENCE)."""

    value: float | None
    kind: str

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return self.kind
        sign = {AT_MOST: "<= ", AT_LEAST: ">= "}.get(self.kind, "")
        return f"{sign}{self.value:.{digits}f}"


def anamnesis(curve: RelearnCurve, reference: RelearnCurve | None) -> Anamnesis:
    """``curve``'s steps over retrain's (both scored by :func:`score_curves`); a side that did
    not reach the target counts as budget + 1 steps, which makes the value a bound."""
    if curve.status == NOT_MEASURABLE or (reference and reference.status == NOT_MEASURABLE):
        return Anamnesis(None, NOT_MEASURABLE)
    if reference is None or reference.status is None or curve.status is None:
        return Anamnesis(None, NO_REFERENCE)
    m, r = curve.steps_to_recover, reference.steps_to_recover
    if m is None and r is None:
        return Anamnesis(None, UNDETERMINED)
    if r is None:
        return Anamnesis(m / (reference.budget + 1), AT_MOST)
    r = max(r, 1)  # retrain starts below the target: at least one step
    if m is None:
        return Anamnesis((curve.budget + 1) / r, AT_LEAST)
    return Anamnesis(m / r, EXACT)


def _steps_text(c: RelearnCurve, fraction: float) -> str:
    if c.status == NOT_MEASURABLE:
        return (
            f"not measurable: retrain starts at {c.retrain_start:.1f}%, already within "
            f"{100 * (1 - fraction):.0f}% of the original's {c.original_acc:.1f}%"
        )
    if c.steps_to_recover is None:
        return f"did not reach {c.target:.1f}% within {c.budget} steps"
    if c.steps_to_recover == 0:
        return f"at {c.forget_acc[0]:.1f}% (>= the target {c.target:.1f}%) before relearning"
    return f"reached {c.target:.1f}% after {c.steps_to_recover} step(s)"


def _ain_words(a: Anamnesis) -> str:
    if a.value is None:
        return ""
    text = f"; AIN {a.text()}"
    if a.kind in (EXACT, AT_MOST) and a.value < KEPT_BELOW:
        text += " — relearns much faster than retrain: the knowledge is still in the model"
    elif a.kind in (EXACT, AT_LEAST) and a.value > 1 / KEPT_BELOW:
        text += " — relearns slower than retrain"
    return text


@dataclass
class RecoverySummary:
    """One row per curve (model and seed): its steps against the target and its AIN."""

    model: str
    mode: str
    seed: int | None
    start_acc: float
    end_acc: float
    target: float | None
    status: str | None
    steps_to_recover: int | None
    budget: int
    #: steps / retrain's steps on the same seed (None: see ``ain_kind``); retrain: 1
    ain: float | None
    ain_kind: str
    #: a plain-language reading
    reading: str

    def to_dict(self) -> dict:
        return asdict(self)


def recovery_summary(
    curves: Sequence[RelearnCurve], fraction: float = FRACTION
) -> list[RecoverySummary]:
    """A row per finished curve, scored (:func:`score_curves`) and compared with its seed's
    retrain curve. Retrain's row is the reference (AIN 1 by definition), never "recovered"."""
    scored = [c for c in score_curves(curves, fraction) if c.ok]
    refs = {(c.seed, c.mode): c for c in scored if c.model == REFERENCE}
    rows = []
    for c in scored:
        ref = refs.get((c.seed, c.mode))
        if c.model == REFERENCE:
            measured = c.status in (REACHED, NOT_REACHED)
            a = Anamnesis(1.0, EXACT) if measured else Anamnesis(None, c.status or NO_REFERENCE)
            reading = _steps_text(c, fraction) + (
                "" if c.status == NOT_MEASURABLE else " (the reference: AIN 1)"
            )
        else:
            a = anamnesis(c, ref)
            reading = (
                _steps_text(c, fraction) if c.status is not None else "no target (no original)"
            )
            if ref is not None and c.status != NOT_MEASURABLE:
                rs = ref.steps_to_recover
                reading += (
                    f"; retrain did not within {ref.budget}"
                    if rs is None
                    else f"; retrain took {rs}"
                )
            reading += _ain_words(a) if c.model != ORIGINAL else "; the original holds the data"
        rows.append(
            RecoverySummary(
                model=c.model,
                mode=c.mode,
                seed=c.seed,
                start_acc=c.forget_acc[0],
                end_acc=c.forget_acc[-1],
                target=c.target,
                status=c.status,
                steps_to_recover=c.steps_to_recover,
                budget=c.budget,
                ain=a.value,
                ain_kind=a.kind,
                reading=reading,
            )
        )
    return rows


@dataclass
class RelearnSpread:
    """One model's relearning over the audit's seeds: how many were measurable, and the median
    and range of its steps and AIN over those."""

    model: str
    mode: str
    seeds: int  # seeds whose curve finished
    not_measurable: int
    reached: int  # measurable seeds on which the target was reached within the budget
    budget: int
    #: over the measurable seeds; a seed that did not reach the target counts as budget + 1
    steps_median: float | None = None
    steps_min: int | None = None
    steps_max: int | None = None
    #: over the measurable seeds with an AIN value; ``ain_bounds`` of them are bounds, and
    #: ``ain_kind`` says how the median is known (EXACT, AT_MOST, AT_LEAST or "mixed bounds")
    ain_median: float | None = None
    ain_min: float | None = None
    ain_max: float | None = None
    ain_bounds: int = 0
    ain_kind: str | None = None
    #: measurable seeds on which neither this model nor retrain reached the target
    ain_undetermined: int = 0
    failed: int = 0
    reading: str = ""
    per_seed: list[RecoverySummary] = field(default_factory=list)

    @property
    def measurable(self) -> int:
        return self.seeds - self.not_measurable

    @property
    def status(self) -> str | None:
        """NOT_MEASURABLE on every seed, else REACHED / NOT_REACHED by the median seed."""
        if not self.seeds:
            return None
        if not self.measurable:
            return NOT_MEASURABLE
        return REACHED if self.steps_median <= self.budget else NOT_REACHED

    def steps_text(self) -> str:
        if self.steps_median is None:
            return NOT_MEASURABLE if self.seeds else "—"

        def s(v: float) -> str:
            return f">{self.budget}" if v > self.budget else f"{v:g}"

        same = self.steps_min == self.steps_max
        rng = (
            "" if self.measurable < 2 or same else f" ({s(self.steps_min)} to {s(self.steps_max)})"
        )
        return s(self.steps_median) + rng

    def ain_text(self) -> str:
        if self.model in (REFERENCE, ORIGINAL) and self.measurable:
            return "1 (reference)" if self.model == REFERENCE else "— (holds the data)"
        if self.ain_median is None:
            if self.seeds and not self.measurable:
                return NOT_MEASURABLE
            return UNDETERMINED if self.ain_undetermined else "—"
        sign = {AT_MOST: "<=", AT_LEAST: ">="}.get(self.ain_kind or "", "")
        rng = "" if self.ain_min == self.ain_max else f" ({self.ain_min:.2f} to {self.ain_max:.2f})"
        return f"{sign}{self.ain_median:.2f}{rng}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status
        return d

    def row(self) -> dict:
        """The flat fields a table row gets (``relearn_*``)."""
        reached = self.steps_median is not None and self.steps_median <= self.budget
        return {
            "relearn_status": self.status,
            "relearn_steps": self.steps_median if reached else None,
            "relearn_ain": self.ain_median,
            "relearn_seeds": self.seeds,
            "relearn_measurable": self.measurable,
        }


def _spread_reading(s: RelearnSpread, frac: float) -> str:
    if not s.seeds:
        return "no curve finished"
    of = f"{s.seeds} seed(s)"
    if not s.measurable:
        return (
            f"not measurable on any of {of}: retrain already starts within "
            f"{100 * (1 - frac):.0f}% of the original's forget accuracy"
        )
    text = f"measured on {s.measurable} of {of}"
    if s.not_measurable:
        text += f" ({s.not_measurable} not measurable)"
    if s.model == REFERENCE:
        return text + "; the reference (AIN 1)"
    if s.model == ORIGINAL:
        return text + "; the original, which holds the data: at the target from the start"
    if s.ain_median is None:
        return text + "; neither it nor retrain reached the target within the budget"
    text += f"; median AIN {s.ain_text().split(' (')[0]}"
    if s.ain_bounds:
        values = s.measurable - s.ain_undetermined
        text += f" ({s.ain_bounds} of {values} are bounds: a side did not reach the target in time)"
    if s.ain_undetermined:
        text += f"; on {s.ain_undetermined} seed(s) neither it nor retrain reached the target"
    if s.ain_median < KEPT_BELOW and s.ain_kind != AT_LEAST:
        text += " — relearns much faster than retrain: the knowledge is still in the model"
    elif s.ain_median > 1 / KEPT_BELOW and s.ain_kind != AT_MOST:
        text += " — relearns slower than retrain"
    return text


def relearn_spread(
    curves: Sequence[RelearnCurve], fraction: float = FRACTION
) -> list[RelearnSpread]:
    """One :class:`RelearnSpread` per model (first-appearance order) over its seeds."""
    rows = recovery_summary(curves, fraction)
    names = list(dict.fromkeys(c.model for c in curves))
    out = []
    for name in names:
        mine = [r for r in rows if r.model == name]
        failed = sum(1 for c in curves if c.model == name and not c.ok)
        measured = [r for r in mine if r.status in (REACHED, NOT_REACHED)]
        budget = max((r.budget for r in mine), default=0)
        s = RelearnSpread(
            model=name,
            mode=mine[0].mode if mine else "",
            seeds=len(mine),
            not_measurable=sum(1 for r in mine if r.status == NOT_MEASURABLE),
            reached=sum(1 for r in measured if r.status == REACHED),
            budget=budget,
            failed=failed,
            per_seed=mine,
        )
        steps = [
            r.budget + 1 if r.steps_to_recover is None else r.steps_to_recover for r in measured
        ]
        if steps:
            s.steps_median = float(statistics.median(steps))
            s.steps_min, s.steps_max = min(steps), max(steps)
        ains = [r for r in measured if r.ain is not None and math.isfinite(r.ain)]
        if ains and name not in (REFERENCE, ORIGINAL):  # 1 and 0 by construction
            vals = [r.ain for r in ains]
            s.ain_median = float(statistics.median(vals))
            s.ain_min, s.ain_max = min(vals), max(vals)
            s.ain_bounds = sum(1 for r in ains if r.ain_kind != EXACT)
            kinds = {r.ain_kind for r in ains} - {EXACT}
            s.ain_kind = EXACT if not kinds else kinds.pop() if len(kinds) == 1 else "mixed bounds"
        s.ain_undetermined = sum(1 for r in measured if r.ain_kind == UNDETERMINED)
        s.reading = _spread_reading(s, fraction)
        out.append(s)
    return out


__all__ = [
    "AT_LEAST",
    "AT_MOST",
    "EXACT",
    "FRACTION",
    "NOT_MEASURABLE",
    "NOT_REACHED",
    "NO_REFERENCE",
    "REACHED",
    "UNDETERMINED",
    "Anamnesis",
    "RecoverySummary",
    "RecoveryTarget",
    "RelearnCurve",
    "RelearnSpread",
    "anamnesis",
    "recovery_summary",
    "recovery_target",
    "relearn_spread",
    "score_curves",
    "steps_to_reach",
]

"""A plain-language verdict per method against the retrained model (the gold standard).

Pure functions over result rows (``forget_acc``, ``retain_acc``, ``test_acc`` in percent, as
:meth:`MethodResult.row` gives them); the app, the CLI and the HTML report show the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .tables import number

REFERENCE = "retrain"

LIKE_RETRAIN = "like_retrain"
CLOSE = "close"
TOO_LITTLE = "too_little"
TOO_MUCH = "too_much"
DAMAGED = "damaged"
FAILED = "failed"
NOT_JUDGED = "not_judged"


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds, in accuracy points, against retrain's numbers (checked in this order):

    1. retain accuracy more than ``damage_points`` below retrain's -> damaged the model;
    2. forget accuracy more than ``too_little_points`` above retrain's -> forgot too little;
    3. forget accuracy more than ``too_little_points`` below retrain's -> forgot too much;
    4. forget, retain and test accuracy each within ``like_points`` -> forgot like retraining;
    5. otherwise -> close to retraining.
    """

    like_points: float = 2.0
    too_little_points: float = 5.0
    damage_points: float = 10.0

    def statements(self) -> list[str]:
        """The rule in words, for a report or a help text."""
        return [
            f"Damaged the model: retain accuracy more than {self.damage_points:g} points "
            "below retrain's.",
            f"Forgot too little: forget accuracy more than {self.too_little_points:g} points "
            "above retrain's.",
            f"Forgot too much: forget accuracy more than {self.too_little_points:g} points "
            "below retrain's (a model that forgets more than retraining is itself a tell-tale "
            "to a membership attack).",
            f"Forgot like retraining: forget, retain and test accuracy each within "
            f"{self.like_points:g} points of retrain's.",
            "Close to retraining: none of the above.",
            "Rules are checked in this order, on the mean over seeds when there are several.",
        ]


@dataclass(frozen=True)
class Verdict:
    """``code`` for programs, ``label`` for people, ``reason`` with the numbers behind it."""

    method: str
    code: str
    label: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


_LABELS = {
    LIKE_RETRAIN: "forgot like retraining",
    CLOSE: "close to retraining",
    TOO_LITTLE: "forgot too little",
    TOO_MUCH: "forgot too much",
    DAMAGED: "damaged the model",
    FAILED: "failed",
    NOT_JUDGED: "not judged",
}


def verdict(row: Mapping, reference: Mapping | None, rule: VerdictRule = VerdictRule()) -> Verdict:
    """The verdict on one result ``row`` against retrain's ``reference`` row."""
    method = str(row.get("method", "?"))

    def out(code: str, reason: str) -> Verdict:
        return Verdict(method, code, _LABELS[code], reason)

    if row.get("error"):
        return out(FAILED, f"the method failed: {row['error']}")
    if _is_demonstration(method):
        return out(
            NOT_JUDGED,
            "a demonstration, not unlearning: it hides the forgotten data at the output, so "
            "accuracy checks are fooled by design (relearning and weight distance expose it)",
        )
    if reference is None or reference.get("error"):
        return out(NOT_JUDGED, "no retrained model to compare with")
    keys = ("forget_acc", "retain_acc", "test_acc")
    mine = {k: number(row.get(k)) for k in keys}
    ref = {k: number(reference.get(k)) for k in keys}
    missing = [k for k in keys if mine[k] is None or ref[k] is None]
    if missing:
        return out(NOT_JUDGED, f"missing {', '.join(missing)}")
    d = {k: mine[k] - ref[k] for k in keys}  # type: ignore[operator]
    nums = (
        f"forget {mine['forget_acc']:.1f}% vs retrain {ref['forget_acc']:.1f}%, "
        f"retain {mine['retain_acc']:.1f}% vs {ref['retain_acc']:.1f}%, "
        f"test {mine['test_acc']:.1f}% vs {ref['test_acc']:.1f}%"
    )
    if d["retain_acc"] < -rule.damage_points:
        return out(
            DAMAGED,
            f"retain accuracy {-d['retain_acc']:.1f} points below retrain's "
            f"(limit {rule.damage_points:g}); {nums}",
        )
    if d["forget_acc"] > rule.too_little_points:
        return out(
            TOO_LITTLE,
            f"forget accuracy {d['forget_acc']:.1f} points above retrain's "
            f"(limit {rule.too_little_points:g}); {nums}",
        )
    if d["forget_acc"] < -rule.too_little_points:
        return out(
            TOO_MUCH,
            f"forget accuracy {-d['forget_acc']:.1f} points below retrain's "
            f"(limit {rule.too_little_points:g}); {nums}",
        )
    if all(abs(v) <= rule.like_points for v in d.values()):
        return out(LIKE_RETRAIN, f"all within {rule.like_points:g} points; {nums}")
    worst = max(keys, key=lambda k: abs(d[k]))
    return out(
        CLOSE,
        f"{worst.replace('_acc', '')} accuracy {abs(d[worst]):.1f} points from retrain's "
        f"(like-retraining limit {rule.like_points:g}); {nums}",
    )


def _is_demonstration(method: str) -> bool:
    """Whether ``method`` is a registered demonstration (family ``"demonstration"``)."""
    from ..methods import REGISTRY
    from ..methods.base import DEMONSTRATION

    m = REGISTRY.get(method)
    return m is not None and m.spec.family == DEMONSTRATION


def verdicts(rows: Sequence[Mapping], rule: VerdictRule = VerdictRule()) -> list[Verdict]:
    """A verdict for every row except the original model and retrain itself."""
    ref = next((r for r in rows if r.get("method") == REFERENCE), None)
    return [verdict(r, ref, rule) for r in rows if r.get("method") not in ("original", REFERENCE)]

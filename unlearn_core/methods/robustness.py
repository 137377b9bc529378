"""Robustness cards: how each method's preset fares on data splits it was not chosen on.

``benchmarks/run_benchmark.py --robustness`` writes ``robustness.json`` beside this module from
the benchmark matrix's held-out splits (split seeds other than the calibration split): per
method, architecture and kind of request (a whole class, or a random 10%), on how many held-out
(cell, split) pairs the preset met the target, and the median and worst signed gaps to retrain
over every split and seed. The Unlearn page and ``unlearn list-methods --arch`` show the card
beside the preset: the answer to "your defaults don't reproduce", with figures.

File layout::

    {"version": 1, "note": "...", "source": "...",
     "cards": [{"method", "arch", "request": "class|random", "target", "met", "of", "cells",
                "split_seeds", "seeds", "figures": {"forget_gap": {"median", "worst"}, ...}}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROBUSTNESS_FILE = Path(__file__).with_name("robustness.json")
#: the signed gaps to retrain a card summarises (points), in the order they are described
GAPS = ("forget_gap", "retain_gap", "test_gap")
REQUESTS = {"class": "a whole class", "random": "a random 10%"}


@dataclass(frozen=True)
class Figure:
    """Median and worst (largest magnitude, sign kept) of one number over splits and seeds."""

    median: float
    worst: float


@dataclass(frozen=True)
class RobustnessCard:
    """One method's preset on one architecture and kind of request, on held-out splits."""

    method: str
    arch: str
    request: str  # "class" or "random"
    target: str
    met: int
    of: int
    cells: tuple[str, ...]
    split_seeds: tuple[int, ...]
    seeds: tuple[int, ...]
    figures: dict[str, Figure] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> RobustnessCard:
        return cls(
            method=d["method"],
            arch=d["arch"],
            request=d["request"],
            target=d["target"],
            met=int(d["met"]),
            of=int(d["of"]),
            cells=tuple(d.get("cells", ())),
            split_seeds=tuple(d.get("split_seeds", ())),
            seeds=tuple(d.get("seeds", ())),
            figures={k: Figure(**v) for k, v in d.get("figures", {}).items()},
        )

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "arch": self.arch,
            "request": self.request,
            "target": self.target,
            "met": self.met,
            "of": self.of,
            "cells": list(self.cells),
            "split_seeds": list(self.split_seeds),
            "seeds": list(self.seeds),
            "figures": {k: vars(v) for k, v in self.figures.items()},
        }

    @staticmethod
    def load_all(path: Path) -> tuple[RobustnessCard, ...]:
        """Every card in ``path`` (none when the file is absent)."""
        if not path.exists():
            return ()
        body = json.loads(path.read_text())
        return tuple(RobustnessCard.from_dict(d) for d in body.get("cards", []))

    def describe(self) -> str:
        """One line: "a whole class: met on 5 of 6 held-out splits; forget gap median +0.0
        (worst +3.1), retain ..., test ... points"."""
        gaps = ", ".join(
            f"{k.removesuffix('_gap')} {f.median:+.1f} (worst {f.worst:+.1f})"
            for k in GAPS
            if (f := self.figures.get(k)) is not None
        )
        where = f"{', '.join(self.cells)}; split seeds {', '.join(map(str, self.split_seeds))}"
        return (
            f"{REQUESTS.get(self.request, self.request)}: met on {self.met} of {self.of} "
            f"held-out splits ({where}; init seeds {', '.join(map(str, self.seeds))}); gap to "
            f"retrain, median: {gaps} points"
        )


@cache
def load_cards() -> tuple[RobustnessCard, ...]:
    """The package's cards (``robustness.json``), read once per process."""
    return RobustnessCard.load_all(ROBUSTNESS_FILE)


def robustness_cards(method: str, arch: str | None) -> list[RobustnessCard]:
    """The cards of ``method`` on ``arch`` (class request first; empty when not measured)."""
    order = list(REQUESTS)
    cards = [c for c in load_cards() if c.method == method and c.arch == arch]
    return sorted(cards, key=lambda c: order.index(c.request) if c.request in order else 9)

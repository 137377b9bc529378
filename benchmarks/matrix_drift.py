"""How far a rerun of the benchmark matrix moved from the committed one.

Reads the per-cell CSVs (``<cell>.csv``: one row per scenario and method, each metric's mean
over seeds and its standard deviation) of two result folders and, for every cell, scenario,
method and metric both hold, compares the means against their spread: a difference is
*within spread* when ``|new - old| <= 2 * sqrt(sd_old**2 / n_old + sd_new**2 / n_new)``
(two standard errors of the difference of two means) or under ``--floor`` (a floor for
metrics whose seeds agree to the last digit, in the metric's units). Seconds and time ratios
are machine timings and are not compared.

    python benchmarks/matrix_drift.py OLD_DIR NEW_DIR [--out results/matrix_rerun_check.md]

Exit status 1 when any difference is outside its spread.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

#: the metrics compared (percent, except loss_auc, a fraction)
METRICS = (
    "forget_acc",
    "retain_acc",
    "test_acc",
    "test_forgotten_acc",
    "mia",
    "avg_gap",
    "loss_auc",
)
#: the floor per metric: percent points, and 0.005 for loss_auc
FLOORS = {m: 0.5 for m in METRICS} | {"loss_auc": 0.005}


@dataclass(frozen=True)
class Drift:
    cell: str
    scenario: str
    method: str
    metric: str
    old: float
    new: float
    allowed: float

    @property
    def delta(self) -> float:
        return self.new - self.old

    @property
    def within(self) -> bool:
        return abs(self.delta) <= self.allowed + 1e-9


def _rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """A cell CSV's rows by (scenario, method); {} for other CSVs in the folder."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not {"scenario", "method", "n"} <= set(reader.fieldnames or ()):
            return {}
        return {(r["scenario"], r["method"]): r for r in reader}


def _num(row: dict[str, str], key: str) -> float | None:
    try:
        v = float(row.get(key, "") or "nan")
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def compare(old_dir: Path, new_dir: Path, scale: float = 1.0) -> tuple[list[Drift], list[str]]:
    """Every compared figure, and what one folder has that the other lacks."""
    drifts: list[Drift] = []
    missing: list[str] = []
    for new_csv in sorted(new_dir.glob("*.csv")):
        old_csv = old_dir / new_csv.name
        if not old_csv.exists() or new_csv.stem.endswith("_runs"):
            continue
        old, new = _rows(old_csv), _rows(new_csv)
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                missing.append(f"{new_csv.stem}: {key[0]} / {key[1]} only in the "
                               f"{'new' if key in new else 'old'} run")  # fmt: skip
                continue
            o, n = old[key], new[key]
            if o.get("error") or n.get("error"):
                continue
            no, nn = _num(o, "n") or 1.0, _num(n, "n") or 1.0
            for m in METRICS:
                a, b = _num(o, m), _num(n, m)
                if a is None or b is None:
                    continue
                so, sn = _num(o, f"{m}_std") or 0.0, _num(n, f"{m}_std") or 0.0
                se = math.sqrt(so**2 / no + sn**2 / nn)
                allowed = max(scale * 2 * se, FLOORS[m])
                drifts.append(Drift(new_csv.stem, key[0], key[1], m, a, b, allowed))
    return drifts, missing


def report(drifts: list[Drift], missing: list[str], old_dir: Path, new_dir: Path) -> str:
    out = [
        "# Benchmark matrix rerun against the committed matrix",
        "",
        f"Old: `{old_dir}`; new: `{new_dir}`. A mean is within spread when it moved by at most "
        "two standard errors of the difference of the two means (seeds as samples), or by "
        f"less than a floor ({FLOORS['forget_acc']} points; {FLOORS['loss_auc']} for "
        "loss AUC). Produced by `python benchmarks/matrix_drift.py`.",
        "",
    ]
    cells = sorted({d.cell for d in drifts})
    out += [
        "| cell | figures compared | identical | within spread | outside |",
        "|---|---|---|---|---|",
    ]
    for c in cells:
        ds = [d for d in drifts if d.cell == c]
        same = sum(1 for d in ds if d.delta == 0)
        inside = sum(1 for d in ds if d.within)
        out.append(f"| {c} | {len(ds)} | {same} | {inside} | {len(ds) - inside} |")
    total = len(drifts)
    same = sum(1 for d in drifts if d.delta == 0)
    inside = sum(1 for d in drifts if d.within)
    out.append(f"| **all** | {total} | {same} | {inside} | {total - inside} |")
    outside = [d for d in drifts if not d.within]
    out += ["", f"## Outside their spread ({len(outside)})", ""]
    if outside:
        out += ["| cell | scenario | method | metric | old | new | moved | allowed |",
                "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for d in sorted(outside, key=lambda d: -abs(d.delta) / max(d.allowed, 1e-9)):
            out.append(
                f"| {d.cell} | {d.scenario} | {d.method} | {d.metric} | {d.old:.2f} | "
                f"{d.new:.2f} | {d.delta:+.2f} | {d.allowed:.2f} |"
            )
    else:
        out.append("None.")
    if missing:
        out += ["", "## In one run only", "", *[f"- {m}" for m in missing]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--out", type=Path, help="write the markdown report here")
    args = ap.parse_args(argv)
    drifts, missing = compare(args.old, args.new)
    text = report(drifts, missing, args.old, args.new)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0 if all(d.within for d in drifts) else 1


if __name__ == "__main__":
    sys.exit(main())

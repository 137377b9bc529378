"""The benchmark's tables go through the one table spec, and the committed per-cell results
regenerate with the same numbers: each scenario's table rebuilt from the cell's CSV (the same
means and stds, to 4 decimals) by today's writer shows, method by method and column by column,
the numbers of the committed markdown (to the precision each prints)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
from benchmark_support import load_benchmark

from unlearn_core.evaluation.tables import MISSING, ROW_KEYS

rb = load_benchmark("run_benchmark")

RESULTS = Path(rb.OUT)
CELLS = sorted(
    p.stem for p in RESULTS.glob("*.csv") if (RESULTS / f"{p.stem}_targets.json").exists()
)
#: the headers of the files written before the one table spec (a rerun writes the titles)
OLD_HEADERS = {
    "forget acc": "forget_acc",
    "retain acc": "retain_acc",
    "test acc": "test_acc",
    "test acc, forgotten classes": "test_forgotten_acc",
    "MIA": "mia",
    "loss AUC": "loss_auc",
    "avg gap": "avg_gap",
    "seconds": "seconds",
    "time ratio": "time_ratio",
}
HEADERS = {**OLD_HEADERS, **{c.title: c.key for c in rb.CELL_COLUMNS if not c.text}}


def _split(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each ``## section``'s first table as rows of ``{header: cell}``."""
    out: dict[str, list[dict[str, str]]] = {}
    section = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and section and section not in out and i + 1 < len(lines):
            head = _split(line)
            body = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                body.append(dict(zip(head, _split(row), strict=True)))
            out[section] = body
    return out


def _tolerance(text: str) -> float:
    """Half a unit in the last place ``text`` prints (``1.36e+03`` included)."""
    mant, _, exp = text.partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10 ** (int(exp or 0) - decimals)


def numbers(cell: str) -> list[tuple[float, float]] | None:
    """A cell's numbers (mean, std) with the rounding each carries; None for a missing one."""
    if cell in (MISSING, ""):
        return None
    return [(float(p), _tolerance(p)) for p in cell.split(" ± ")]


def csv_tables(cell: str) -> dict[str, list[dict]]:
    """The cell's CSV as the writer's rows (:func:`run_benchmark.table_row`), by scenario."""
    out: dict[str, list[dict]] = {}
    with open(RESULTS / f"{cell}.csv", newline="") as f:
        for r in csv.DictReader(f):
            row = {"method": r["method"], "family": r["family"]}
            for k in ROW_KEYS:
                row[k] = float(r[k]) if r[k] != "" else None
                row[f"{k}_std"] = float(r[f"{k}_std"]) if r[f"{k}_std"] != "" else None
            damaged = [int(s) for s in r["damaged_seeds"].split()]
            out.setdefault(r["scenario"], []).append(rb.table_row(row, damaged, r["error"] or None))
    return out


def _same(committed: str, regenerated: str, where: str) -> None:
    a, b = numbers(committed), numbers(regenerated)
    assert (a is None) == (b is None), f"{where}: {committed!r} against {regenerated!r}"
    if a is None:
        return
    assert len(a) == len(b), f"{where}: {committed!r} against {regenerated!r}"
    for (x, tx), (y, ty) in zip(a, b, strict=True):
        assert math.isclose(x, y, abs_tol=tx + ty + 1e-4), (
            f"{where}: {committed!r} vs {regenerated!r}"
        )


@pytest.mark.parametrize("cell", CELLS)
def test_committed_cell_tables_regenerate_with_the_same_numbers(cell):
    committed = tables((RESULTS / f"{cell}.md").read_text())
    for scenario, rows in csv_tables(cell).items():
        regenerated = tables(f"## {scenario}\n\n{rb.results_table(rows)}\n")[scenario]
        old = committed[scenario]
        assert [r["method"] for r in old] == [r["method"] for r in regenerated]
        for o, n in zip(old, regenerated, strict=True):
            assert o["family"] == n["family"] and o.get("notes", "") == n.get("notes", "")
            for head, text in o.items():
                key = HEADERS.get(head)
                if key is None:
                    continue
                title = next(c.title for c in rb.CELL_COLUMNS if c.key == key)
                # an optional column no row has a value for is left out (all "—" before)
                _same(text, n.get(title, MISSING), f"{cell} / {scenario} / {o['method']} / {key}")


def test_cell_table_uses_the_spec_titles_and_right_aligns_numbers():
    rows = [
        rb.table_row(
            {"method": "scrub", "family": "approximate", "forget_acc": 1.0, "forget_acc_std": 0.5,
             "seconds": 1362.0, "seconds_std": 0.1, "time_ratio": 1.0, "time_ratio_std": 0.0},
            [1], None,
        ),
        rb.table_row({"method": "lrp", "family": "approximate"}, [], "MethodNotApplicable: x|y"),
    ]  # fmt: skip
    head, rule, scrub, lrp = rb.results_table(rows).splitlines()
    assert _split(head)[:3] == ["method", "family", "forget acc (%)"]
    assert "time / retrain (×)" in head and "notes" in head
    assert rule.startswith("|---|---|---:|")
    assert "1.00 ± 0.50" in scrub and "1.36e+03 ± 0.1" in scrub
    assert "**damaged** (seeds 1)" in scrub
    assert lrp.endswith("| n/a: MethodNotApplicable: x\\|y |")  # a pipe cannot split a cell
    assert _split(lrp)[2] == MISSING

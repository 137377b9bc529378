"""Pages only gather inputs and draw: no page imports the metrics or the analysis package (the
library computes, ``app_ui`` caches, the page draws), and no page file is over 300 lines (a
longer view belongs in an ``app_ui`` module named for what it holds). Read from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "pages").glob("*.py"))
#: what a page may not import (a module or anything under it)
FORBIDDEN = ("unlearn_core.evaluation.metrics", "unlearn_core.analysis")
MAX_LINES = 300


def imported(source: str) -> set[str]:
    """Every module a file imports (module- or function-level), ``from a import b`` as both
    ``a`` and ``a.b``."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def forbidden(source: str) -> list[str]:
    return sorted(
        m for m in imported(source) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_imports_neither_metrics_nor_analysis(page):
    assert forbidden(page.read_text()) == [], f"{page.name} computes: move it to the library"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_file_is_over_300_lines(page):
    n = len(page.read_text().splitlines())
    assert n <= MAX_LINES, f"{page.name} has {n} lines: move a view into an app_ui module"


def test_the_check_sees_every_way_of_importing():
    src = (
        "from unlearn_core.evaluation import metrics\n"
        "def f():\n    import unlearn_core.analysis.embeddings as E\n"
        "from unlearn_core import analysis\n"
        "from unlearn_core.evaluation.tables import RESULT_COLUMNS\n"
    )
    assert forbidden(src) == [
        "unlearn_core.analysis",
        "unlearn_core.analysis.embeddings",
        "unlearn_core.evaluation.metrics",
    ]

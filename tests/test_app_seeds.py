"""Several seeds on the result pages (``app_ui.seeds``): the line that says over how many seeds
a table's numbers are, no spread where one seed gave a number, and what a cancelled several-seed
run says it had finished (never "none" as a list)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app_ui.seeds import (  # noqa: E402
    cancelled_message,
    cancelled_text,
    mean_view,
    seed_rows,
    seeds_caption,
)
from app_ui.state import UNLEARN_N_SEEDS, UNLEARN_SEED  # noqa: E402
from unlearn_core.evaluation.tables import RESULT_COLUMNS, columns_for, text_table  # noqa: E402
from unlearn_core.experiment import Comparison, MethodResult, MultiComparison  # noqa: E402

PLAN = [("retrain", "Retrain from scratch"), ("scrub", "SCRUB"), ("ssd", "SSD")]


def _result(method: str, forget: float) -> MethodResult:
    return MethodResult(method=method, label=method.upper(), family="approximate",
                        metrics={"forget_acc": forget, "retain_acc": 95.0, "test_acc": 90.0,
                                 "mia": 50.0}, seconds=1.0, avg_gap=1.0, time_ratio=0.5)  # fmt: skip


def _multi(*seeds: int) -> MultiComparison:
    return MultiComparison(
        comparisons=[
            Comparison(
                dataset="digits",
                model="mlp",
                forget={"description": "class 3"},
                seed=s,
                original=_result("original", 99.0),
                results=[_result("retrain", 0.0), _result("scrub", 1.0 + s)],
            )  # fmt: skip
            for s in seeds
        ]
    )


def test_the_seed_count_says_1_seed_and_no_spread_for_one():
    assert seeds_caption([0]) == (
        "1 seed (0): each number is that seed's, so there is no spread to show."
    )
    assert seeds_caption([4, 5, 6]) == "Mean ± standard deviation over 3 seeds (4, 5, 6)."
    assert "1 seeds" not in seeds_caption([0])


def test_one_finished_seed_shows_no_plus_minus_and_several_do():
    one = seed_rows(_multi(0), {"scrub": "SCRUB (label)"})
    assert [r["method"] for r in one] == ["ORIGINAL", "RETRAIN", "SCRUB (label)"]  # labels
    shown = text_table(one, columns_for(one, RESULT_COLUMNS))
    assert "±" not in shown
    three = seed_rows(_multi(0, 1, 2))
    assert RESULT_COLUMNS[1].cell(three[2]) == "2.00 ± 1.00"  # scrub's forget acc
    # the Compare page's mean view: the same rule
    view = mean_view(_multi(0), _multi(0).comparisons[0])
    assert view.get("scrub").metrics["forget_acc_std"] is None


@pytest.mark.parametrize(
    ("seeds", "finished", "stored", "want"),
    [
        # stopped in the second of three seeds: the first is whole, and shown
        ([0, 1, 2], ["retrain", "scrub", "ssd", "retrain"], True,
         "The run was cancelled during seed 1, the second of 3. Finished: seed 0, every method "
         "(stored and shown below). Not finished, so not shown: seeds 1 and 2 (on seed 1, "
         "Retrain from scratch had finished; SCRUB and SSD had not)."),
        # stopped between seeds: nothing of seed 1 had finished
        ([0, 1, 2], ["retrain", "scrub", "ssd"], True,
         "The run was cancelled during seed 1, the second of 3. Finished: seed 0, every method "
         "(stored and shown below). Not finished, so not shown: seeds 1 and 2."),
        # stopped in the first seed: its finished methods are what there is
        ([3, 4], ["retrain"], True,
         "The run was cancelled during seed 3, the first of 2. Finished on seed 3: Retrain from "
         "scratch (stored and shown below). Not finished, so not run: SCRUB and SSD on seed 3; "
         "seed 4."),
        ([0], ["retrain", "scrub"], True,
         "The run was cancelled. Finished: Retrain from scratch and SCRUB (stored and shown "
         "below). Not finished, so not run: SSD."),
        ([0, 1], [], False,
         "The run was cancelled before any method finished, so there is nothing to show."),
        ([0, 1], ["retrain", "scrub", "ssd"] * 2, True,
         "The run was cancelled after its last method: seeds 0 and 1 finished (stored and "
         "shown below)."),
    ],
)  # fmt: skip
def test_a_cancelled_run_says_what_finished_and_what_did_not(seeds, finished, stored, want):
    text = cancelled_text(PLAN, seeds, finished, stored)
    assert text == want
    assert "none" not in text


def test_a_cancelled_jobs_context_names_its_seeds():
    context = {"plan": [list(p) for p in PLAN], "choices": {UNLEARN_SEED: 5, UNLEARN_N_SEEDS: 3}}
    done = [_result(m, 0.0) for m in ("retrain", "scrub", "ssd", "retrain", "scrub")]
    text = cancelled_message(context, done, stored=True)
    assert text.startswith("The run was cancelled during seed 6, the second of 3.")
    assert (
        "Not finished, so not shown: seeds 6 and 7 (on seed 6, Retrain from scratch and "
        "SCRUB had finished; SSD had not)." in text
    )

"""The app's one table style (``app_ui.tables``): numbers right-aligned, ``mean ± std`` breaking
(where a column is narrow) only between the mean and its spread, never with the "±" alone on a
line; headers and text free to wrap; the first column kept in view when a table scrolls
sideways."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app_ui.tables import frame, styled  # noqa: E402
from unlearn_core.evaluation.tables import (  # noqa: E402
    REPAIR_GROUPS,
    RESULT_COLUMNS,
    columns_for,
    split_repair,
)


def test_a_spread_breaks_only_before_its_plus_minus_and_the_first_column_stays():
    rows = [{"method": "Selective Synaptic Dampening (SSD)", "forget_acc": 1.0,
             "forget_acc_std": 0.5, "retain_acc": 96.5}]  # fmt: skip
    columns = RESULT_COLUMNS[:3]
    df = frame(rows, columns)
    assert list(df.iloc[0]) == ["Selective Synaptic Dampening (SSD)", "1.00 ±\u00a00.50", "96.50"]
    assert list(df.iloc[0])[1].split(" ") == ["1.00", "±\u00a00.50"]  # one place to break
    css = styled(df, columns).to_html()
    sticky = next(b for b in css.split("}") if "td:first-child" in b)
    assert "position: sticky" in sticky and "background-color: #" in sticky
    assert "text-align: right !important" in css


def test_a_repair_run_splits_its_scores_into_tables_of_their_own():
    rows = [{"method": "original", "forget_acc": 1.0, "asr": 90.0, "restoration": 0.0}]
    main, groups = split_repair(columns_for(rows, RESULT_COLUMNS))
    keys = [c.key for c in main]
    assert keys[0] == "method" and "forget_acc" in keys and "avg_gap" in keys
    assert not {"asr", "restoration"} & set(keys)
    assert [c.key for c in groups["attack"]] == ["method", "asr"]
    assert [c.key for c in groups["restoration"]] == ["method", "restoration"]
    # every repair column of the spec is in one group, and a run without any has no group
    grouped = [k for ks in REPAIR_GROUPS.values() for k in ks]
    assert len(grouped) == len(set(grouped)) <= len(RESULT_COLUMNS)
    assert set(grouped) <= {c.key for c in RESULT_COLUMNS}
    plain = [{"method": "original", "forget_acc": 1.0}]
    main, groups = split_repair(columns_for(plain, RESULT_COLUMNS))
    assert groups == {} and main == columns_for(plain, RESULT_COLUMNS)

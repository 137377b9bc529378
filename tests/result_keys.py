"""The fields of a result row (``MethodResult.row()``, ``SeedSummary.row()``, the CLI's
``--json``), spelled out as the README documents them rather than read from the library, so
that a change to the library's field list shows up in the tests."""

from __future__ import annotations

#: the numbers of a row, in the README's order
ROW_NUMBERS = (
    "forget_acc",
    "retain_acc",
    "test_acc",
    "test_forgotten_acc",
    "mia",
    "loss_auc",
    "avg_gap",
    "seconds",
    "time_ratio",
)


def row_keys(*, with_std: bool = False) -> set[str]:
    """The keys of one row; ``with_std``: a several-seed row (``<number>_std`` beside each)."""
    keys = {"method", "error", "damaged", "preset", *ROW_NUMBERS}
    return keys | {f"{k}_std" for k in ROW_NUMBERS} if with_std else keys

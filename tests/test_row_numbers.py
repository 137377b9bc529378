"""A result row's numbers keep small figures: a p-value of 1e-5 is not stored as 0."""

import math

from unlearn_core.experiment import _num


def test_small_figures_keep_three_significant_digits_and_large_ones_four_decimals():
    assert _num(1.23456e-5) == 1.23e-5
    assert _num(0.0123456) == 0.0123
    assert _num(97.123456) == 97.1235
    assert _num(0.0) == 0.0 and _num(-3.2e-7) == -3.2e-7
    assert _num(None) is None and _num(float("nan")) is None
    assert math.isinf(_num(float("inf")))

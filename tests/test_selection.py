"""Pure helpers behind the setup pages: selection events -> sample ids, picks, paging, figures."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.plots import setup as plots
from unlearn_core.selection import (
    apply_selection,
    default_methods,
    examples_per_class,
    filter_by_class,
    float_format,
    ids_from_selection,
    merge_picks,
    page_count,
    page_of,
    param_step,
    selection_signature,
    valid_ids,
)


def event(*custom, lasso=None):
    return {
        "selection": {
            "points": [
                {"curve_number": 0, "point_index": k, "customdata": c} for k, c in enumerate(custom)
            ],
            "point_indices": list(range(len(custom))),
            "box": [],
            "lasso": lasso or [],
        }
    }


def test_ids_come_from_customdata_not_point_indices():
    # two traces (classes) both report point_index 0; the ids differ
    ev = {
        "selection": {
            "points": [
                {"curve_number": 0, "point_index": 0, "customdata": [17]},
                {"curve_number": 1, "point_index": 0, "customdata": [4]},
                {"curve_number": 2, "point_index": 3, "customdata": 17},  # scalar, duplicate
                {"curve_number": 2, "point_index": 4},  # no id: ignored
                {"curve_number": 2, "point_index": 5, "customdata": [2.0]},
                {"curve_number": 2, "point_index": 6, "customdata": ["x"]},  # not a number
            ]
        }
    }
    assert ids_from_selection(ev) == [2, 4, 17]


def test_ids_from_the_browser_form_of_customdata():
    # what Chromium sent for a row of the chart's (n x 1) customdata array (seen in the
    # browser test): an object keyed by column index
    ev = {
        "selection": {
            "points": [
                {"curve_number": 0, "point_index": 38, "customdata": {"0": 333}},
                {"curve_number": 1, "point_index": 18, "customdata": {"0": 12}},
                {"curve_number": 1, "point_index": 19, "customdata": {}},  # no id: ignored
            ]
        }
    }
    assert ids_from_selection(ev) == [12, 333]


@pytest.mark.parametrize("empty", [None, {}, {"selection": {}}, {"selection": {"points": []}}])
def test_empty_events(empty):
    assert ids_from_selection(empty) == []
    assert selection_signature(empty) == ""


def test_signature_tells_selections_apart():
    a = event([1], [2], lasso=[{"x": [0, 1], "y": [0, 1]}])
    assert selection_signature(a) == selection_signature(
        event([2], [1], lasso=a["selection"]["lasso"])
    )
    assert selection_signature(a) != selection_signature(event([1], [3]))


def test_apply_and_merge_picks():
    assert apply_selection([5, 1], [3, 1], "add") == [1, 3, 5]
    assert apply_selection([5, 1, 3], [3, 9], "remove") == [1, 5]
    with pytest.raises(ValueError):
        apply_selection([], [1], "toggle")
    # page shows 10..13; 11 and 12 ticked; 2 (not shown) kept; 10 (shown, unticked) dropped
    assert merge_picks([2, 10], shown=[10, 11, 12, 13], ticked=[11, 12]) == [2, 11, 12]
    assert merge_picks([2], shown=[], ticked=[], lasso=[7, 2]) == [2, 7]
    assert valid_ids([-1, 3, 3, 10, 9], 10) == [3, 9]


def test_examples_filters_and_pages():
    y = np.array([1, 0, 1, 2, 0, 1, 2])
    assert examples_per_class(y, 2) == [1, 4, 0, 2, 3, 6]
    assert filter_by_class(y, 1).tolist() == [0, 2, 5]
    assert filter_by_class(y, None).tolist() == list(range(7))
    ids = np.arange(25)
    assert page_count(25, 10) == 3 and page_count(0, 10) == 1
    assert page_of(ids, 3, 10) == [20, 21, 22, 23, 24]
    assert page_of(ids, 99, 10) == [20, 21, 22, 23, 24]  # clamped
    assert page_of(ids, 0, 10) == list(range(10))


def test_param_steps_and_formats():
    assert param_step(0.01) == pytest.approx(0.001)
    assert param_step(0.5) == pytest.approx(0.01)
    assert param_step(10.0) == pytest.approx(1.0)
    assert param_step(0.0, 0.0, 1.0) == pytest.approx(0.01)
    assert float_format(1e-6, True) == "%g"
    assert float_format(0.95, False) == "%.2f"
    assert float_format(0.5, False) % 0.5 == "0.50"


def test_default_methods():
    have = ["finetune", "salun", "ssd", "l1_sparse", "neggrad"]
    assert default_methods(have, class_wise=True) == ["salun", "ssd"]
    assert default_methods(have, class_wise=False) == ["finetune", "salun", "l1_sparse"]


def test_scatter_carries_sample_ids_per_class_trace():
    coords = np.arange(12.0).reshape(6, 2)
    labels = np.array([0, 1, 0, 1, 2, 0])
    fig = plots.embedding_scatter(coords, labels, ["a", "b", "c"], marked=[1, 4, 99])
    per_class = {t.name: np.asarray(t.customdata).ravel().tolist() for t in fig.data[:3]}
    assert per_class == {"a": [0, 2, 5], "b": [1, 3], "c": [4]}
    marked = fig.data[3]
    assert np.asarray(marked.customdata).ravel().tolist() == [1, 4]
    assert list(marked.x) == [2.0, 8.0]
    assert fig.layout.dragmode == "lasso"


def test_setup_figures():
    img = np.arange(4, dtype=np.uint8).reshape(2, 2)
    big = plots.thumbnail(img, 8)
    assert big.shape == (8, 8) and big[3, 3] == 0 and big[7, 7] == 3
    assert plots.thumbnail(np.zeros((4, 4, 3), np.uint8), 8).shape == (8, 8, 3)
    bal = plots.class_balance([3, 4], [1, 2], ["x", "y"])
    assert [list(t.y) for t in bal.data] == [[3, 4], [1, 2]]
    curve = plots.training_curve({"loss": [2.0, 1.0, 0.5], "accuracy": [50, 80, 90]})
    assert [list(t.y) for t in curve.data] == [[2.0, 1.0, 0.5], [50, 80, 90]]
    acc = plots.per_class_accuracy([100.0, float("nan")], ["x", "y"], overall=90.0)
    assert list(acc.data[0].text) == ["100", ""]

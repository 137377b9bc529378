"""The benchmark matrix's summary: the LRP target met by either variant, the held-out splits and
the robustness cards written from them."""

from __future__ import annotations

from benchmark_support import load_benchmark

rb = load_benchmark("run_benchmark")


def test_lrp_target_is_met_by_either_variant():
    def t(method: str, cell: str, met: bool) -> rb.Target:
        return rb.Target(rb.CLASS_KIND.format(method), cell, "class 3", met, "")

    targets = [
        t("lrp", "a", False),
        t("lrp_class", "a", True),
        t("lrp", "b", False),
        t("lrp_class", "b", False),
        t("salun", "b", True),  # not an LRP variant: ignored
    ]
    either = {x.cell: x for x in rb.lrp_either(targets)}
    assert set(either) == {"a", "b"}
    assert either["a"].met and either["a"].figures == "met by lrp_class"
    assert not either["b"].met and either["b"].figures == "neither variant"
    assert all(x.kind == rb.LRP_EITHER_KIND for x in either.values())


def _record(name: str, rows: list[dict]) -> rb.CellRecord:
    return rb.CellRecord(name, name, 1.0, 1.0, None, sorted({r["seed"] for r in rows}), [], rows)


def _row(method, seed, forget, dr, dt, gap=None, scenario="class 3", error=None):
    return {"scenario": scenario, "method": method, "family": "approximate", "seed": seed,
            "error": error, "forget_acc": forget, "forget_gap": forget, "retain_gap": dr,
            "test_gap": dt, "avg_gap": gap}  # fmt: skip


def test_cell_names_carry_storage_order_and_split_seed():
    cell = rb.resolve_cell("digits_cnn_sorted_split2")
    assert (cell.base, cell.sorted_by_class, cell.split_seed) == ("digits_cnn", True, 2)
    assert rb.resolve_cell("digits_mlp").split_seed == 0
    assert rb.with_split("digits_mlp", 0) == "digits_mlp"
    assert rb.with_split("digits_mlp_sorted", 3) == "digits_mlp_sorted_split3"
    assert rb.stem_of("digits_mlp_sorted_split3") == "digits_mlp_sorted"


def test_held_out_splits_count_met_splits_and_leave_the_calibration_split_out():
    records = [
        # the calibration split: never counted, however it went
        _record("digits_mlp", [_row("ssd", 0, 90.0, 0.0, 0.0)]),
        # split 1: means over seeds meet the target (forget 1.5%, gaps within 2)
        _record("digits_mlp_split1", [_row("ssd", 0, 0.0, -1.0, 0.5), _row("ssd", 1, 3.0, -2.0, 1.5)]),
        # split 2: a seed keeps the class
        _record("digits_mlp_split2", [_row("ssd", 0, 0.0, 0.0, 0.0), _row("ssd", 1, 60.0, 0.0, -4.0)]),
        # split 3: a failed seed is a miss
        _record("digits_mlp_split3", [_row("ssd", 0, 0.0, 0.0, 0.0), _row("ssd", 1, None, None, None, error="boom")]),
        # a request the method refuses is not a held-out row at all
        _record("digits_mlp_split1", [_row("lrp", 0, None, None, None, error="MethodNotApplicable: x")]),
    ]  # fmt: skip
    (h,) = rb.held_out(records)
    assert (h.cell, h.arch, h.method, h.splits, h.met) == (
        "digits_mlp",
        "mlp",
        "ssd",
        [1, 2, 3],
        [1],
    )
    assert h.figures["forget_gap"] == {"median": 0.0, "worst": 60.0}
    assert h.figures["test_gap"]["worst"] == -4.0  # the largest magnitude, sign kept
    (card,) = rb.robustness_cards([h])
    assert (card["met"], card["of"], card["request"], card["split_seeds"]) == (
        1,
        3,
        "class",
        [1, 2, 3],
    )
    lines = "\n".join(rb.held_out_lines([h]))
    assert "| digits_mlp | class 3 | ssd | 1 of 3 (splits 1,2,3; seeds 0,1) |" in lines


def test_random_requests_are_judged_by_the_average_gap():
    ok = [_row("salun", s, 90.0, 0.0, 0.0, gap=2.5, scenario="random 10%") for s in (0, 1)]
    far = [_row("salun", s, 90.0, 0.0, 0.0, gap=3.5, scenario="random 10%") for s in (0, 1)]
    assert rb.split_met(ok, "random 10%") and not rb.split_met(far, "random 10%")
    exact = [_row("salun", s, 90.0, 0.0, 0.0, gap=0.0, scenario="random 10%") for s in (0, 1)]
    assert rb.split_met(exact, "random 10%")  # a gap of 0 is met, not read as missing


def test_robustness_cards_read_back_and_describe_themselves(tmp_path):
    from unlearn_core.methods.robustness import RobustnessCard

    h = rb.HeldOut("digits_mlp", "mlp", "class 3", "ssd", "approximate", [1, 2], [1, 2], [0, 1],
                   rb.spread([_row("ssd", 0, 0.0, -1.0, 0.5), _row("ssd", 1, 1.0, -3.0, 1.5)]))  # fmt: skip
    path = tmp_path / "robustness.json"
    rb.write_robustness([h], path)
    (card,) = RobustnessCard.load_all(path)
    assert (card.method, card.arch, card.met, card.of) == ("ssd", "mlp", 2, 2)
    assert card.figures["retain_gap"].worst == -3.0
    text = card.describe()
    assert text.startswith(
        "a whole class: met on 2 of 2 held-out splits (digits_mlp; split seeds 1, 2"
    )
    assert "retain -2.0 (worst -3.0)" in text

"""The benchmark matrix's summary: the LRP target counts a cell as met when either variant meets it."""

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

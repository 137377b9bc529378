"""Results table, verdicts and the offline HTML report."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from runstore_support import small_run

from unlearn_core.audit.records import LENS_KEYS
from unlearn_core.evaluation.report import figures, render_html
from unlearn_core.evaluation.tables import (
    AUDIT_COLUMNS,
    ERROR_COLUMN,
    MISSING,
    NOTES_COLUMN,
    RESULT_COLUMNS,
    RUN_COLUMNS,
    RUN_OVERVIEW_COLUMNS,
    Column,
    audit_columns,
    columns_for,
    display_rows,
    html_table,
    markdown_table,
    run_rows,
    seed_row,
    side_by_side_columns,
    side_by_side_rows,
    text_table,
)
from unlearn_core.evaluation.verdict import (
    CLOSE,
    DAMAGED,
    FAILED,
    LIKE_RETRAIN,
    NOT_JUDGED,
    TOO_LITTLE,
    TOO_MUCH,
    VerdictRule,
    verdict,
    verdicts,
)
from unlearn_core.store import RunStore

REF = {"method": "retrain", "forget_acc": 0.0, "retain_acc": 95.0, "test_acc": 90.0}


def row(method="m", forget=0.0, retain=95.0, test=90.0, **kw):
    return {"method": method, "forget_acc": forget, "retain_acc": retain, "test_acc": test, **kw}


# ----------------------------------------------------------------------------- table


def test_column_formats():
    acc = Column("forget_acc", "forget acc", "%")
    assert acc.title == "forget acc (%)"
    assert acc.format(12.345) == "12.35"
    assert acc.format(12.345, 0.456) == "12.35 ± 0.46"
    for missing in (None, math.nan, math.inf, "n/a", True):
        assert acc.format(missing) == MISSING
    assert acc.format(3.0, None) == "3.00" and acc.format(3.0, math.nan) == "3.00"
    assert Column("seconds", "time", "s", fmt=".3g").format(0.012345) == "0.0123"
    assert Column("method", "method", text=True).format(None) == MISSING


def test_cells_read_std_and_errors():
    rows = [
        row("retrain", seconds=2.0, time_ratio=1.0),
        row("scrub", 1.0, 94.0, 89.0, forget_acc_std=0.5, seconds=0.1, time_ratio=0.05),
        {"method": "ssd", "error": "MethodNotApplicable: class-wise only"},
    ]
    table = text_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("method") and "forget acc (%)" in lines[0]
    assert "1.00 ± 0.50" in lines[3]
    assert lines[4].split()[:2] == ["ssd", "error:"] and "class-wise only" in lines[4]
    assert lines[2].split()[-1] == "1" and MISSING in lines[2]  # missing MIA
    # optional columns appear only when some row has them
    keys = [c.key for c in columns_for(rows)]
    assert "test_forgotten_acc" not in keys and "loss_auc" not in keys
    keys = [c.key for c in columns_for([{**rows[0], "test_forgotten_acc": 0.0}])]
    assert "test_forgotten_acc" in keys
    shown = display_rows(rows)
    assert shown[1]["forget acc (%)"] == "1.00 ± 0.50"


def test_side_by_side_rows_keep_each_methods_runs_together():
    first = [row("original"), row("retrain"), row("scrub", 1.0)]
    second = [row("original"), row("ssd", 5.0), row("scrub", 2.0)]
    side = side_by_side_rows({"ca": first, "cb": second})
    assert [(r["method"], r["run"]) for r in side] == [
        ("original", "ca"), ("original", "cb"), ("retrain", "ca"),
        ("scrub", "ca"), ("scrub", "cb"), ("ssd", "cb"),
    ]  # fmt: skip
    assert [r["forget_acc"] for r in side if r["method"] == "scrub"] == [1.0, 2.0]
    assert "run" not in first[0]  # the callers' rows are not changed
    assert side[3]["method_run"] == "scrub · ca"
    keys = [c.key for c in side_by_side_columns(side)]
    assert keys[:2] == ["method_run", "forget_acc"]
    assert "time_ratio" in keys and "seconds" not in keys  # runs compare by the ratio


def test_html_table_escapes():
    out = html_table([{"method": "<b>x</b>", "forget_acc": 1.0, "error": None}], RESULT_COLUMNS[:2])
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x" not in out
    out = html_table([{"method": "a", "error": "<oops>"}], RESULT_COLUMNS[:3])
    assert 'colspan="2"' in out and "&lt;oops&gt;" in out


def test_a_significant_digits_column_prints_the_spread_to_the_means_last_place():
    time = Column("seconds", "time", "s", fmt=".3g")
    assert time.format(0.153, 0.0769) == "0.153 ± 0.077"
    assert time.format(1.0, 0.0) == "1 ± 0" and time.format(1.92, 1.4) == "1.92 ± 1.40"


def test_text_columns_cut_long_text_and_say_nothing_for_no_note():
    note = Column("note", "note", text=True, width=8, empty="")
    assert note.format("a long note\nover two lines") == "a long …" and note.format("") == ""
    assert NOTES_COLUMN.format(None) == "" and ERROR_COLUMN.format(None) == ""


def test_a_table_with_an_error_column_keeps_a_failed_rows_numbers():
    cols = [RESULT_COLUMNS[0], RESULT_COLUMNS[1], ERROR_COLUMN]
    out = text_table([{"method": "ssd", "forget_acc": 3.0, "error": "seed 1: boom"}], cols)
    assert out.splitlines()[2].split() == ["ssd", "3.00", "seed", "1:", "boom"]
    # without it the error takes the numbers' place, after the leading text columns only
    cols = [RESULT_COLUMNS[0], RESULT_COLUMNS[1], NOTES_COLUMN]
    assert text_table([{"method": "a", "error": "x", "notes": "n"}], cols).endswith(
        "a       error: x"
    )


def test_markdown_table_right_aligns_numbers_and_escapes_pipes():
    rows = [row("scrub", 1.0, forget_acc_std=0.5), {"method": "a|b", "error": "x|y"}]
    head, rule, first, failed = markdown_table(rows, RESULT_COLUMNS[:3]).splitlines()
    assert head == "| method | forget acc (%) | retain acc (%) |"
    assert rule == "|---|---:|---:|" and first == "| scrub | 1.00 ± 0.50 | 95.00 |"
    assert failed == "| a\\|b | error: x\\|y |  |"


def test_seed_row_shows_no_spread_where_one_seed_gave_the_number():
    class Spread:
        def __init__(self, n):
            self.n = n

    class Summary:  # the shape of experiment.SeedSummary
        stats = {"forget_acc": Spread(3), "retain_acc": Spread(1)}

        def row(self):
            return {"method": "m", "forget_acc": 1.0, "forget_acc_std": 0.2,
                    "retain_acc": 90.0, "retain_acc_std": 0.0}  # fmt: skip

    r = seed_row(Summary())
    assert r["forget_acc_std"] == 0.2 and r["retain_acc_std"] is None
    assert text_table([r], RESULT_COLUMNS[:3]).splitlines()[2].split() == [
        "m", "1.00", "±", "0.20", "90.00"
    ]  # fmt: skip


def test_audit_columns_show_relearning_and_failed_models_only_when_there():
    rows = [{"method": "original", "forget_quality": None, "failed_models": 0}]
    keys = [c.key for c in audit_columns(rows)]
    assert "relearning" not in keys and "failed_models" not in keys
    rows += [{"method": "scrub", "relearning": "5 steps", "failed_models": 1}]
    lens = set(LENS_KEYS)
    assert [c.key for c in audit_columns(rows)] == [
        c.key for c in AUDIT_COLUMNS if c.key not in lens
    ]
    # the ensemble lenses show when a row carries them (issue 19)
    rows += [{"method": "finetune", **dict.fromkeys(LENS_KEYS, 1.0)}]
    assert [c.key for c in audit_columns(rows)] == [c.key for c in AUDIT_COLUMNS]


def test_run_listing_fits_a_terminal_line_and_a_narrow_page():
    class Rec:  # the fields of a store.ComparisonRecord the listing reads
        id, created, kind, dataset, model, forget = (
            "c1",
            "2026-01-02T03:04:05",
            "multi_comparison",
            "digits",
            "mlp",
            "class 3",
        )
        methods, seeds, note = ["retrain", "scrub", "ssd"], [0, 1], "n" * 80

        def closest(self):
            return {"method": "scrub", "avg_gap": 0.456}

    (r,) = run_rows([Rec()])
    assert (r["kind"], r["saved"], r["methods"]) == ("comparison", "2026-01-02 03:04", "scrub, ssd")
    assert r["what"] == "digits · mlp · class 3"
    assert r["closest"] == "scrub (gap 0.46 pts)"
    cli = text_table([r], RUN_COLUMNS).splitlines()
    assert cli[0].split()[:3] == ["run", "saved", "kind"] and cli[2].endswith("n" * 29 + "…")
    page = display_rows([r], RUN_OVERVIEW_COLUMNS)[0]
    assert list(page) == [
        "run", "saved", "kind", "what", "methods", "seeds", "closest to retrain", "note"
    ]  # fmt: skip
    assert len(page["note"]) == 60 and page["note"].endswith("…")


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("mine", "code"),
    [
        (row(forget=1.5, retain=94.0, test=91.9), LIKE_RETRAIN),
        (row(forget=2.0, retain=97.0, test=88.0), LIKE_RETRAIN),  # the limits are inclusive
        (row(forget=3.0, retain=95.0, test=90.0), CLOSE),
        (row(forget=0.0, retain=89.0, test=85.0), CLOSE),  # 6 points below: cost, no damage
        (row(forget=5.1, retain=95.0, test=90.0), TOO_LITTLE),
        (row(forget=30.0, retain=80.0, test=80.0), DAMAGED),  # damage is named first
        (row(forget=0.0, retain=84.9, test=90.0), DAMAGED),
        (row(forget=0.0, retain=85.0, test=90.0), CLOSE),
        ({"method": "m", "error": "boom"}, FAILED),
        (row(forget=None), NOT_JUDGED),
    ],
)
def test_verdict_rule(mine, code):
    assert verdict(mine, REF).code == code


def test_forgot_too_much_on_random_forgetting():
    ref = {"method": "retrain", "forget_acc": 97.0, "retain_acc": 99.0, "test_acc": 96.0}
    v = verdict(row(forget=10.0, retain=98.0, test=95.0), ref)
    assert v.code == TOO_MUCH and v.label == "forgot too much" and "87.0 points below" in v.reason


def test_verdicts_skip_original_and_retrain_and_need_a_reference():
    rows = [row("original", 99.0), REF, row("scrub", 0.5)]
    vs = verdicts(rows)
    assert [v.method for v in vs] == ["scrub"] and vs[0].label == "forgot like retraining"
    assert verdicts([row("original"), row("scrub")])[0].code == NOT_JUDGED
    strict = VerdictRule(like_points=0.1)
    assert verdicts(rows, strict)[0].code == CLOSE
    assert any("0.1 points" in s for s in strict.statements())


# ----------------------------------------------------------------------------- report


class _Refs(HTMLParser):
    """Every tag's src/href (and a link's target) — what a browser would fetch or follow."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_script = tag == "script"
        for k, v in attrs:
            if k in ("src", "href", "srcset", "poster", "data", "action", "background"):
                self.refs.append((tag, k, v or ""))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    data, _, comp = small_run()
    store = RunStore(tmp_path_factory.mktemp("report") / "runs")
    rec = store.save_comparison(comp, dataset=data, note="for the <board>")
    path = store.export_html(rec.id, store.home.parent / "report.html")
    return rec, path, path.read_text()


def test_report_is_self_contained(report):
    from plotly.offline import get_plotlyjs

    _, _, html = report
    p = _Refs()
    p.feed(html)
    assert p.refs == [], p.refs  # nothing to fetch: no src=, no href= at all
    assert "link" not in p.tags and "img" not in p.tags and "iframe" not in p.tags
    outside = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "@import" not in outside and "url(" not in outside  # no CSS fetches
    js = get_plotlyjs()
    assert js[:2000] in html and js[-2000:] in html  # plotly's JS inlined in full
    assert html.count("Plotly.newPlot") == 3


def test_report_content(report):
    rec, _, html = report
    for text in (
        "Verdict against retraining",
        "more than 10 points below retrain",  # the thresholds are stated
        "within 2 points of retrain",
        "more than 5 points above retrain",
        rec.id,
        "digits",
        "class 3",
        "131 samples forgotten",  # class 3 of digits once the validation split is carved
        "fingerprint",
        "torch 2.",
        "forget acc (%)",
        "for the &lt;board&gt;",
        "Run time against retraining",
        "epochs=2",  # the methods' parameters
    ):
        assert text in html, text
    assert "<board>" not in html


def test_report_shows_spread_and_error_bars():
    rows = [
        {"method": "original", "forget_acc": 99.0, "retain_acc": 99.0, "test_acc": 95.0},
        {"method": "retrain", "forget_acc": 0.0, "forget_acc_std": 0.0, "retain_acc": 98.0,
         "test_acc": 94.0, "seconds": 10.0, "time_ratio": 1.0, "avg_gap": 0.0},
        {"method": "scrub", "forget_acc": 1.0, "forget_acc_std": 0.8, "retain_acc": 97.5,
         "retain_acc_std": 0.3, "test_acc": 93.0, "seconds": 0.2, "time_ratio": 0.02,
         "time_ratio_std": 0.004, "avg_gap": 0.9, "avg_gap_std": 0.2},
    ]  # fmt: skip
    doc = {
        "schema_version": 1,
        "record": {"id": "cabcdefghij", "dataset": "digits", "model": "mlp", "forget": "class 3",
                   "seeds": [0, 1, 2], "rows": rows},
        "setup": {},
        "comparison": {},
    }  # fmt: skip
    html = render_html(doc)
    assert "1.00 ± 0.80" in html and "mean ± standard deviation over 3 seeds" in html
    acc, gap, time_fig = figures(rows)
    forget_bars = next(t for t in acc.data if t.name == "forget acc")
    assert list(forget_bars.error_y.array) == [0.0, 0.0, 0.8]
    assert list(gap.data[0].x) == ["scrub"]  # the original's huge gap is in the title only
    assert time_fig.layout.yaxis.type == "log"
    assert "2%" in time_fig.data[0].text[0] and "50× faster" in time_fig.data[0].text[0]
    assert "%" in time_fig.layout.yaxis.ticktext[0]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on this machine")
def test_report_draws_its_charts_offline_in_chromium(report):
    """Chromium with every network request sent to a dead proxy still draws all charts."""
    _, path, _ = report
    out = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--proxy-server=127.0.0.1:9",
            "--virtual-time-budget=8000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.count('class="main-svg"') >= 3, out.stderr[-2000:]


def test_report_names_methods_with_their_stored_label():
    """The label a run stored says what a method is (a variant, "our extension")."""
    rows = [row("retrain", forget=0.0), row("lrp_until", forget=1.0)]
    label = "LRP-NPP, cut until forgotten (our extension)"
    doc = {
        "record": {"id": "c1", "rows": rows, "seeds": [0]},
        "comparison": {"results": [{"method": "lrp_until", "label": label, "params": {}}]},
    }
    html = render_html(doc)
    assert html.count(f"lrp_until — {label}") == 2  # the verdict and the parameters

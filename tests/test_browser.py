"""End-to-end: a real headless Chromium walks the digits demo through every page of the app.

One server, one browser page, one session: the tests run in file order and each step builds
on the previous one (train -> lasso + class forget set -> unlearn -> compare -> attack ->
learn). The walk runs in a 1024x768 window (a projector); at each step the page is also
drawn at 1600x1000. At both sizes every chart is checked through plotly's layout in the page
(no title box meets a legend or label box) and every method's colour is recorded: it must be
the same on every chart of every page. Screenshots (window and whole page, both sizes) and the
measured timings land in ``test-output/browser/``. Skipped where no Chromium is installed
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest
from figure_checks import BOXES_JS, method_colours, overlaps

from browser_support import (
    CHROMIUM_ARGS,
    SHOTS,
    AppServer,
    chromium_path,
    require_chromium_under_ci,
)
from unlearn_core.methods import list_methods
from unlearn_core.plots.style import method_colour

require_chromium_under_ci()  # under CI, collecting this file fails without Chromium
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium installed"),
]

TIMINGS: dict[str, float] = {}
#: the walk's window, and the second size every step is also drawn at
SMALL = {"width": 1024, "height": 768}
LARGE = {"width": 1600, "height": 1000}
#: method -> the colours it was drawn in, over every chart of every page
COLOURS: dict[str, set[str]] = {}
#: charts checked, per step and size (a check that saw nothing would prove nothing)
CHECKED: dict[str, int] = {}
METHODS = ["original", "retrain", *(s.name for s in list_methods())]

CHARTS_JS = """
(boxesSrc) => {
  const boxes = eval(boxesSrc);
  return Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(gd => gd.getBoundingClientRect().width > 0)
    .map(gd => ({
      title: (gd.layout && gd.layout.title && gd.layout.title.text) || '',
      boxes: boxes(gd),
      data: gd.data.map(t => ({
        name: t.name, type: t.type, orientation: t.orientation,
        x: Array.isArray(t.x) ? t.x : null, y: Array.isArray(t.y) ? t.y : null,
        marker: t.marker ? {color: t.marker.color} : null,
        line: t.line ? {color: t.line.color} : null,
      })),
    }));
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = AppServer(tmp_path_factory.mktemp("cache"), SHOTS / "server.log")
    yield srv
    srv.stop()
    lines = [f"{k}: {v:.2f} s\n" for k, v in TIMINGS.items() if not k.startswith("_")]
    (SHOTS / "timings.txt").write_text("".join(lines))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """The browser starts before the server, so its start-up is not counted as the app's."""
    ctx = browser.new_context(viewport=SMALL)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request, page):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        page.screenshot(path=str(SHOTS / f"FAILED-{request.node.name}.png"), full_page=True)


def check_charts(page, where: str) -> None:
    """Every visible chart: no title box meets a legend or label box; each method keeps one
    colour, the style's, on every chart seen so far."""
    charts = page.evaluate(CHARTS_JS, BOXES_JS)
    CHECKED[where] = len(charts)
    problems = []
    for chart in charts:
        problems += [f"{where} · {chart['title']!r}: {p}" for p in overlaps(chart["boxes"])]
        for name, colours in method_colours(chart["data"], METHODS).items():
            COLOURS.setdefault(name, set()).update(colours)
    assert not problems, "\n".join(problems)
    for name, colours in COLOURS.items():
        assert colours == {method_colour(name).lower()}, f"{where}: {name} drawn in {colours}"


def _main_height(page) -> int:
    return int(
        page.evaluate(
            "() => Math.max(...Array.from(document.querySelectorAll("
            '\'[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]\'))'
            ".map(e => e.scrollHeight), document.body.scrollHeight)"
        )
    )


def shot(page, name: str) -> None:
    """Screenshots of the step at 1024x768 and 1600x1000 (the window, then the whole page),
    with the chart checks at both sizes; the walk goes on at 1024x768. (Its time is kept out
    of the demo's timings.)"""
    start = time.perf_counter()
    for size in (SMALL, LARGE):
        tag = f"{size['width']}x{size['height']}"
        page.set_viewport_size(size)
        page.wait_for_timeout(900)  # plotly re-lays out the charts for the new width
        page.screenshot(path=str(SHOTS / f"{name}-{tag}.png"))
        page.set_viewport_size({"width": size["width"], "height": max(_main_height(page), 400)})
        page.wait_for_timeout(900)
        page.screenshot(path=str(SHOTS / f"{name}-{tag}-full.png"))
        check_charts(page, f"{name} @ {tag}")
    page.set_viewport_size(SMALL)
    page.wait_for_timeout(400)
    TIMINGS["_shots"] = TIMINGS.get("_shots", 0.0) + time.perf_counter() - start


FITS_JS = """
el => {
  const t = el.querySelector('table');
  const cells = Array.from(t.querySelectorAll('th, td'));
  let scrolls = false;  // a box around the table that scrolls sideways (the table as a whole)
  for (let n = t.parentElement; n && n !== el.parentElement; n = n.parentElement) {
    const o = getComputedStyle(n).overflowX;
    if ((o === 'auto' || o === 'scroll') && n.scrollWidth > n.clientWidth) scrolls = true;
  }
  const last = t.querySelector('tbody tr td:last-child');
  return {
    table: t.getBoundingClientRect().right, box: el.getBoundingClientRect().right, scrolls,
    lastAlign: last ? getComputedStyle(last).textAlign : null,
    spilling: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText),
  };
}
"""


def assert_numbers_right_aligned(table, where: str) -> None:
    """The last column holds numbers: right-aligned, so their digits line up."""
    assert table.evaluate(FITS_JS)["lastAlign"] == "right", where


def assert_table_fits(table, where: str, *, or_scrolls: bool = False) -> None:
    """Every column inside the table's box (or, with ``or_scrolls``, a table too wide that
    scrolls sideways as a whole), and no cell whose text spills out of it."""
    got = table.evaluate(FITS_JS)
    fits = got["table"] <= got["box"] + 1
    assert fits or (or_scrolls and got["scrolls"]), f"{where}: the table overflows {got}"
    assert not got["spilling"], f"{where}: cells spill over: {got['spilling'][:5]}"


def go(page, title: str) -> None:
    """Open a page through the sidebar navigation (a URL would start a new session)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.get_by_role("heading", level=1).first.wait_for()


def main(page):
    return page.locator('[data-testid="stMain"]')


def test_first_page_is_interactive_quickly(server, page):
    """The issue's target is 3 s from the server being up; with the headless browser on the
    same 2 cores this measured 6.5-9.6 s (torch's import is ~2 s of the first script run), so
    the assertion only guards against a gross regression; timings.txt has the figure."""
    page.goto(server.url)
    page.get_by_role("button", name="Train", exact=True).wait_for()
    TIMINGS["first page interactive after server up"] = time.perf_counter() - server.up_at
    # the first paint draws the picker and Train before torch is imported; the full page (the
    # class balance, an SVG: no plotly before the Train button) comes with the rerun after it
    balance = main(page).locator('[data-testid="stImage"] img[src^="data:image/svg+xml"]')
    balance.first.wait_for(timeout=60_000)
    main(page).get_by_text("digits").first.wait_for(timeout=30_000)
    shot(page, "01-data-and-model")
    box = balance.first.bounding_box()
    assert box is not None and box["width"] > 300  # drawn, and readable at 1024 px
    assert CHECKED["01-data-and-model @ 1024x768"] == 0  # no plotly chart on the first page
    assert TIMINGS["first page interactive after server up"] < 20


def test_train_the_model(page):
    TIMINGS["_demo_start"] = time.perf_counter()
    TIMINGS["_shots"] = 0.0
    page.get_by_role("button", name="Train", exact=True).click()
    metric = main(page).locator('[data-testid="stMetric"]', has_text="Test accuracy")
    metric.wait_for()
    TIMINGS["train MLP (click to report)"] = time.perf_counter() - TIMINGS["_demo_start"]
    acc = metric.locator('[data-testid="stMetricValue"]').inner_text()
    assert float(acc.rstrip("%")) > 90.0
    main(page).locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
    shot(page, "02-trained")
    assert CHECKED["02-trained @ 1600x1000"] >= 2  # per-class accuracy, training curve


def test_lasso_marks_samples_then_forget_a_class(page):
    go(page, "Forget set")
    main(page).get_by_text("Pick samples", exact=True).click()
    chart = main(page).locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    drag = chart.locator(".nsewdrag").first
    drag.wait_for()
    box = drag.bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = box["width"] * 0.3, box["height"] * 0.3
    page.mouse.move(cx - rx, cy - ry)
    page.mouse.down()
    for x, y in ((cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry), (cx - rx, cy - ry)):
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    marked = main(page).get_by_text(re.compile(r"^\d+ samples? marked"))
    marked.wait_for()
    n = int(marked.inner_text().split()[0])
    assert n > 0
    assert main(page).get_by_text("Preview, not in use yet").first.is_visible()
    shot(page, "03-lasso-selection")

    main(page).get_by_text("Whole classes", exact=True).click()
    picker = main(page).locator('[data-testid="stMultiSelect"]').first
    picker.click()
    page.get_by_role("option", name="3", exact=True).click()
    page.keyboard.press("Escape")
    main(page).get_by_text(re.compile(r"^\d+ samples marked")).wait_for()
    main(page).get_by_role("button", name="Use this forget set").click()
    main(page).get_by_text("Forget set stored").wait_for()
    shot(page, "04-forget-class-3")


def test_unlearn_runs_retrain_and_three_methods(page):
    go(page, "Unlearn")
    clicked = time.perf_counter()
    main(page).get_by_role("button", name="Run", exact=True).click()
    main(page).get_by_role("heading", name="Results").wait_for(timeout=120_000)
    TIMINGS["unlearn retrain + 3 methods (click to results)"] = time.perf_counter() - clicked
    text = main(page).inner_text()
    for label in ("Retrain", "SCRUB", "SalUn", "Selective Synaptic Dampening"):
        assert label in text, label
    assert "failed" not in text.lower()
    results = main(page).locator('[data-testid="stTable"]').first
    assert "None" not in results.inner_text()
    assert_table_fits(results, "Unlearn results table at 1024 px", or_scrolls=True)
    assert_numbers_right_aligned(results, "Unlearn results table")
    shot(page, "05-unlearn-results")


def test_compare_shows_metric_table_and_embeddings(page):
    go(page, "Compare")
    table = main(page).locator('[data-testid="stTable"]').first
    table.wait_for()
    main(page).locator('[data-testid="stPlotlyChart"]').nth(4).wait_for()  # all five charts
    # at 1280 px every column of the metric table is visible (nothing hidden to the right)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(600)
    assert_table_fits(table, "Compare metric table at 1280 px")
    assert_numbers_right_aligned(table, "Compare metric table")
    headers = table.locator("th").all_inner_texts()
    for h in ("gap to retrain (pts)", "time (s)", "time / retrain (×)"):
        assert h in headers, headers
    shot(page, "06-compare-overview")
    assert CHECKED["06-compare-overview @ 1024x768"] >= 5

    main(page).get_by_role("tab", name="Per class").click()
    main(page).get_by_text(re.compile(r"^Per-class test accuracy \(%\)")).first.wait_for()
    shot(page, "07-compare-per-class")

    clicked = time.perf_counter()
    main(page).get_by_role("tab", name="Embeddings").click()
    main(page).get_by_text(re.compile("^Penultimate features: ")).first.wait_for()  # (PCA or UMAP)
    TIMINGS["embeddings tab (click to first frame)"] = time.perf_counter() - clicked
    title = main(page).get_by_text("Penultimate features: aligned UMAP")
    title.wait_for(timeout=120_000)
    TIMINGS["digits demo total (train click to UMAP embeddings)"] = (
        time.perf_counter() - TIMINGS["_demo_start"] - TIMINGS["_shots"]
    )
    main(page).locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()  # + displacement
    shot(page, "08-compare-embeddings")
    main(page).get_by_role("tab", name="Attributions").click()
    main(page).get_by_text(re.compile("^Sample #")).first.wait_for()
    shot(page, "09-compare-attributions")
    main(page).get_by_role("tab", name="Layers").click()
    main(page).get_by_text("Layer-wise similarity of the unlearned model").wait_for()
    shot(page, "10-compare-layers")
    assert TIMINGS["digits demo total (train click to UMAP embeddings)"] < 120


def test_reload_on_compare_shows_the_same_comparison(page):
    """The URL names the stored run: a reload (a new session) reopens the same comparison."""
    go(page, "Compare")
    main(page).get_by_role("tab", name="Overview").click()  # the walk left it on Layers
    main(page).locator('[data-testid="stTable"]').first.wait_for()
    page.wait_for_function("() => new URL(location.href).searchParams.get('run')")
    run = page.evaluate("() => new URL(location.href).searchParams.get('run')")
    before = main(page).locator('[data-testid="stTable"]').first.inner_text()
    page.reload()
    main(page).get_by_role("tab", name="Overview").click()
    table = main(page).locator('[data-testid="stTable"]').first
    table.wait_for(timeout=60_000)
    assert page.evaluate("() => new URL(location.href).searchParams.get('run')") == run
    assert table.inner_text() == before
    assert not page.locator('[data-testid="stException"]').count()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "not trained yet" not in sidebar and "none yet" not in sidebar, sidebar
    shot(page, "06b-compare-after-reload")


def test_attack_and_learn_pages(page):
    go(page, "Attack")
    main(page).get_by_text("True-positive rate").first.wait_for()
    main(page).locator('[data-testid="stSlider"]').first.wait_for()  # the threshold
    main(page).locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
    model = main(page).locator('[data-testid="stSelectbox"]').first.inner_text()
    assert "Retrain" not in model  # it opens on an unlearned method, not the reference
    shot(page, "11-attack")
    go(page, "6 · Learn")  # "Learn" alone would match "Unlearn" first
    main(page).get_by_role("heading", name=re.compile("^Learn")).first.wait_for()
    table = main(page).locator('[data-testid="stTable"]').first
    assert "paper" in table.locator("th").all_inner_texts()
    assert_table_fits(table, "Learn methods table at 1024 px")
    shot(page, "12-learn")


PROGRESS_JS = """
() => {
  const bar = document.querySelector('[data-testid="stMain"] [data-testid="stProgress"]');
  if (!bar) return null;
  const pb = bar.querySelector('[role="progressbar"]');
  return {value: pb ? Number(pb.getAttribute('aria-valuenow')) : null, text: bar.innerText};
}
"""


def url_param(page, name: str) -> str | None:
    return page.evaluate(f"() => new URL(location.href).searchParams.get({name!r})")


def run_count(page) -> int:
    """Rows of the Runs page's overview (opened afresh, so it reads the store again: a page
    already on Runs is reloaded, since a click on the page it shows may not run it again)."""
    if urlparse(page.url).path.rstrip("/").endswith("/runs"):
        page.reload()
    else:
        go(page, "Runs")
    main(page).get_by_role("heading", name="Runs", exact=True).wait_for()
    table = main(page).locator('[data-testid="stTable"]', has_text="closest to retrain").first
    table.wait_for()
    return table.locator("tbody tr").count()


#: run ids the later steps use: the walk's run and the two-seed run
RUNS: dict[str, str] = {}


def test_a_reload_during_a_run_shows_its_progress_then_its_results(server, page):
    """Two seeds (the second trains its own original): a run of about 15-40 s here. A reload
    mid-run shows the same job's progress, still moving; every page's sidebar shows it live
    with a Cancel button; the run then finishes, shows its results and is stored. The server
    holds the finished job until the sidebar has been looked at (``AppServer.hold_jobs``), so a
    fast machine cannot end the run before the check."""
    RUNS["walk"] = url_param(page, "run")
    before = run_count(page)
    server.hold_jobs(True)
    try:
        go(page, "Unlearn")
        seeds = main(page).get_by_role("spinbutton", name="Seeds (runs)")
        seeds.fill("2")
        seeds.press("Enter")
        page.wait_for_timeout(800)
        main(page).get_by_role("button", name="Run", exact=True).click()
        clicked = time.perf_counter()
        main(page).locator('[data-testid="stProgress"]').wait_for()
        page.wait_for_function("() => new URL(location.href).searchParams.get('job')")
        job = url_param(page, "job")
        page.wait_for_timeout(1500)
        first = page.evaluate(PROGRESS_JS)
        page.reload()
        reloaded = time.perf_counter()
        main(page).locator('[data-testid="stProgress"]').wait_for(timeout=30_000)
        TIMINGS["reload during a run (reload to progress shown)"] = time.perf_counter() - reloaded
        assert url_param(page, "job") == job
        again = page.evaluate(PROGRESS_JS)
        assert again is not None and again["value"] >= first["value"], (first, again)
        page.wait_for_function(  # the same run, still moving
            f"() => {{ const p = ({PROGRESS_JS})(); return p && p.value > {again['value']}; }}",
            timeout=30_000,
        )
        shot(page, "13-unlearn-progress-after-reload")
        # another page: the sidebar shows the run live, with Cancel
        go(page, "Compare")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.locator('[data-testid="stProgress"]').wait_for()
        TIMINGS["two-seed run: Compare's sidebar shows it (after the click)"] = (
            time.perf_counter() - clicked
        )
        assert sidebar.get_by_role("button", name="Cancel the run").is_visible()
        shot(page, "14-sidebar-progress-on-compare")
    finally:
        server.hold_jobs(False)
    # it finishes: the sidebar's line goes, the run is adopted and stored
    sidebar.locator('[data-testid="stProgress"]').wait_for(state="detached", timeout=180_000)
    TIMINGS["two-seed run (click to done, with a reload)"] = time.perf_counter() - clicked
    page.wait_for_function("() => new URL(location.href).searchParams.get('run')")
    run = RUNS["two seeds"] = url_param(page, "run")
    assert run != RUNS["walk"] and url_param(page, "job") is None
    assert run_count(page) == before + 1
    assert run in main(page).locator('[data-testid="stTable"]').first.inner_text()
    go(page, "Unlearn")
    main(page).get_by_role("heading", name="Results").wait_for()
    assert "2 seeds" in main(page).inner_text()
    assert not page.locator('[data-testid="stException"]').count()


def stored_runs() -> list[tuple[str, str]]:
    """(run id, owner id) of every run the test server stored (its ``UNLEARN_HOME``)."""
    from unlearn_core.store import RunStore

    return [(r.id, r.owner) for r in RunStore().list_comparisons()]


def test_a_closed_tabs_run_still_finishes_and_is_stored(browser, server, page):
    """A second tab of the same browser opens the same model and forget set, starts a run and
    is closed at once: the server finishes the run and stores it as this browser's (the
    first tab's Runs page lists it: the owner cookie is shared by the browser's tabs)."""
    before = run_count(page)
    stored = stored_runs()
    page.wait_for_function(
        "() => ['model', 'forget'].every(k => new URL(location.href).searchParams.get(k))"
    )
    model, forget = url_param(page, "model"), url_param(page, "forget")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("unlearn_owner"), f"no owner cookie in the first tab: {cookies}"
    tab = page.context.new_page()
    tab.set_default_timeout(60_000)
    try:
        tab.goto(f"{server.url}/unlearn?model={model}&forget={forget}")
        main(tab).get_by_role("button", name="Run", exact=True).click()
        tab.wait_for_function("() => new URL(location.href).searchParams.get('job')")
        main(tab).locator('[data-testid="stProgress"]').wait_for()
    except Exception:
        tab.screenshot(path=str(SHOTS / "FAILED-closed-tab.png"), full_page=True)
        raise
    tab.close()
    end = time.perf_counter() + 180
    while len(stored_runs()) == len(stored):
        assert time.perf_counter() < end, "the closed tab's run was not stored"
        page.wait_for_timeout(2000)
    (new,) = set(stored_runs()) - set(stored)
    assert new[1] == cookies["unlearn_owner"], (new, cookies)  # stored as this browser's
    assert run_count(page) == before + 1
    go(page, "Runs")
    overview = main(page).locator('[data-testid="stTable"]').first.inner_text()
    assert "scrub" in overview and "ssd" in overview


def test_runs_side_by_side_and_the_html_report_opens_offline(browser, page, tmp_path):
    """Two runs side by side (table and charts); the HTML report of the two-seed run,
    downloaded from the Runs page, opens with every http(s) request blocked and recorded: none
    is made, and it shows the setup, the metric table with spread, the verdicts and its
    charts."""
    go(page, "Runs")
    two = RUNS["two seeds"]
    picker = main(page).locator('[data-testid="stMultiSelect"]').last
    for rid in (RUNS["walk"], two):  # type the id: the one option it matches is chosen
        picker.click()
        picker.locator("input").fill(rid)
        page.get_by_role("option", name=re.compile(rid)).first.wait_for()
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    main(page).locator('[data-testid="stPlotlyChart"]').nth(2).wait_for()
    bars = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
          .flatMap(gd => gd.data.filter(t => t.type === 'bar')
            .map(t => ({name: t.name, err: !!(t.error_x && t.error_x.array)})))"""
    )
    assert {b["name"] for b in bars} == {RUNS["walk"], two}
    assert {b["name"] for b in bars if b["err"]} == {two}  # error bars: the two-seed run's
    side = main(page).locator('[data-testid="stTable"]').last  # one row per method and run
    assert side.locator("th").all_inner_texts()[0] == "method · run"
    assert_table_fits(side, "Runs side-by-side table at 1024 px")
    shot(page, "15-runs-side-by-side")
    assert CHECKED["15-runs-side-by-side @ 1024x768"] >= 3

    box = main(page).locator('[data-testid="stSelectbox"]').first
    box.click()
    box.locator("input").fill(two)
    page.get_by_role("option", name=re.compile(two)).first.wait_for()
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)  # the page reruns for the chosen run (the report names it)
    main(page).get_by_role("button", name="Prepare: HTML report (opens offline)").click()
    button = main(page).get_by_role("button", name="HTML report (opens offline)", exact=True)
    button.wait_for()
    with page.expect_download() as got:
        button.click()
    report = tmp_path / "report.html"
    got.value.save_as(report)

    ctx = browser.new_context(viewport=LARGE)
    asked: list[str] = []

    def block(route) -> None:
        if route.request.url.startswith(("http:", "https:")):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    ctx.route("**/*", block)
    tab = ctx.new_page()
    tab.on("request", lambda r: asked.append(r.url) if r.url.startswith("http") else None)
    tab.goto(report.as_uri())
    tab.locator("#charts .js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
    tab.wait_for_timeout(1000)
    text = tab.inner_text("body")
    assert not asked, f"the report asked the network for {asked}"
    assert tab.locator("#charts .js-plotly-plot").count() >= 2
    assert two in tab.inner_text("#setup")
    assert "mean ± standard deviation over 2 seeds" in text
    assert "±" in tab.inner_text("#metrics table")
    assert tab.locator("#verdict td.verdict").count() >= 3
    tab.screenshot(path=str(SHOTS / "16-html-report-offline.png"), full_page=True)
    ctx.close()


def test_a_reload_during_an_audit_shows_its_progress_and_cancel_keeps_it(page):
    """The Audit page (default K = 8, one worker: still running after the reload): the URL
    names the running audit (``ajob``); a reload shows the same job's progress and its Cancel;
    the cancelled audit is stored, shown and named in the URL (``audit``)."""
    go(page, "Audit")
    workers = main(page).get_by_role("spinbutton", name="Workers").first  # in-process: no pool
    workers.fill("1")
    workers.press("Enter")
    page.wait_for_timeout(800)
    main(page).get_by_role("button", name="Run the audit").click()
    main(page).locator('[data-testid="stProgress"]').wait_for()
    page.wait_for_function("() => new URL(location.href).searchParams.get('ajob')")
    job = url_param(page, "ajob")
    page.reload()
    reloaded = time.perf_counter()
    # (the time is recorded, not asserted: in a full suite on 2 cores the audit's K = 8 models
    # and the reloaded page share them; one fresh-clone run took over 30 s here, others far less)
    main(page).locator('[data-testid="stProgress"]').wait_for(timeout=90_000)
    TIMINGS["audit: reload to progress shown"] = time.perf_counter() - reloaded
    assert url_param(page, "ajob") == job
    main(page).get_by_role("button", name="Cancel", exact=True).click()
    cancelled = time.perf_counter()
    main(page).get_by_text("Cancelled: what had finished").first.wait_for(timeout=120_000)
    TIMINGS["audit: cancel to cancelled shown"] = time.perf_counter() - cancelled
    page.wait_for_function("() => new URL(location.href).searchParams.get('audit')")
    assert url_param(page, "ajob") is None
    main(page).get_by_role("heading", name="Results").wait_for()
    page.screenshot(path=str(SHOTS / "17-audit-cancelled-after-reload.png"))
    assert not page.locator('[data-testid="stException"]').count()


def test_every_method_kept_one_colour_across_pages():
    """The colours seen over the whole walk: every model of the demo, each in one colour."""
    assert {"original", "retrain", "scrub", "salun", "ssd"} <= set(COLOURS), COLOURS
    for name, colours in COLOURS.items():
        assert colours == {method_colour(name).lower()}, (name, colours)


def test_a_deep_link_on_a_cold_server_shows_the_navigation(browser, tmp_path):
    """On a freshly started server: a click on a sidebar link while the first page is still
    the torch-free first paint opens that page (the server's wake-up rerun once the imports
    are in used to draw the first page again over it); then a first visit to /compare shows
    the app's own navigation (not a bare page list) and no exception."""
    srv = AppServer(tmp_path / "cache", SHOTS / "server-cold.log")
    try:
        early = browser.new_context(viewport=SMALL)
        pg = early.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(srv.url)
        pg.get_by_role("heading", name="Data & model", level=1).wait_for()
        pg.locator('[data-testid="stSidebarNav"] a', has_text="2 · Forget set").click()
        pg.get_by_role("heading", name="Forget set", level=1).wait_for()
        pg.wait_for_timeout(3000)  # past the imports and any wake-up
        heading = main(pg).get_by_role("heading", level=1).first.inner_text()
        assert heading.strip() == "Forget set", heading
        early.close()

        ctx = browser.new_context(viewport=SMALL)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(f"{srv.url}/compare")
        pg.get_by_role("heading", level=1).first.wait_for()
        nav = pg.locator('[data-testid="stSidebarNav"]')
        nav.wait_for()
        links = nav.inner_text()
        assert "1 · Data & model" in links and "Runs" in links, links
        assert not pg.locator('[data-testid="stException"]').count()
        ctx.close()
    finally:
        srv.stop()

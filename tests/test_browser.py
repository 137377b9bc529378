"""End-to-end: a real headless Chromium walks the digits demo through every page of the app.

Screenshots land in ``test-output/browser/``. Skipped where no Chromium is installed
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import time

import pytest

from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium installed"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = AppServer(tmp_path_factory.mktemp("cache"), SHOTS / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_first_page_is_interactive_quickly(server, page):
    page.goto(server.url)
    page.get_by_text("Data & model").first.wait_for()
    ready = time.perf_counter() - server.up_at
    shot(page, "01-first-page")
    (SHOTS / "timings.txt").write_text(f"first page interactive after {ready:.2f} s\n")
    assert ready < 10, f"first page took {ready:.1f} s"

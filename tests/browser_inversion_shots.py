"""Look at the Inversion page in the real browser (not a pytest test).

Starts the app on a private model cache and run store, trains the digits MLP on the Data &
model page, opens the Inversion page, runs the attack with its defaults (samples 5, 17, 42,
99; NegGrad without its early stop; one request per sample), screenshots the running job
(progress, estimate, Cancel) and the finished gallery at 1024x768 (window and full page) and
1600x1000 with the browser test's chart checks. Then the stored attack: the page's URL names it
(``inversion=<run id>``); a reload of that URL, and the same URL opened on a restarted server
in a new browser context (no cookie, no model) show the gallery again; the Runs page lists it
(kind "inversion"); its HTML report (``RunStore.export_html``) opened from the file.

    python tests/browser_inversion_shots.py      # -> test-output/browser/inversion-*.png
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def window_and_full(page, name: str, height) -> None:
    """The window at 1024x768, then the whole main area (Streamlit scrolls inside it)."""
    from browser_support import SHOTS

    page.screenshot(path=str(SHOTS / f"{name}-1024x768.png"))
    page.set_viewport_size({"width": 1024, "height": max(height(page), 400)})
    page.wait_for_timeout(900)
    page.screenshot(path=str(SHOTS / f"{name}-1024x768-full.png"))
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_timeout(400)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="inversion-shots-"))
    os.environ["UNLEARN_HOME"] = str(home)
    from playwright.sync_api import sync_playwright
    from test_browser import _main_height, go, shot
    from test_browser import main as main_area

    from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = AppServer(home / "cache", SHOTS / "inversion-server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.set_default_timeout(180_000)
            page.goto(server.url, timeout=120_000)
            page.get_by_role("button", name="Train", exact=True).click()
            main_area(page).locator('[data-testid="stMetric"]', has_text="Test accuracy").wait_for()
            go(page, "Inversion")
            page.get_by_role("button", name="Run the inversion attack").click()
            main_area(page).get_by_text("matching gradients").first.wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "inversion-1-running-1024x768.png"))
            main_area(page).get_by_text("What neggrad leaked").wait_for(timeout=300_000)
            page.wait_for_timeout(1500)
            shot(page, "inversion-2-gallery")
            # the stored attack: its id in the URL; a reload shows it again
            page.wait_for_function("() => location.search.includes('inversion=')")
            url = page.url
            rid = parse_qs(urlparse(url).query)["inversion"][0]
            print(f"stored inversion {rid}: {url}")
            page.reload()
            main_area(page).get_by_text("What neggrad leaked").wait_for(timeout=120_000)
            main_area(page).get_by_text(f"Stored as run {rid}").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "inversion-3-reloaded-1024x768.png"))
            # the Runs page lists it
            go(page, "Runs")
            main_area(page).get_by_text("An inversion attack on samples").wait_for()
            page.wait_for_timeout(1000)
            window_and_full(page, "inversion-4-runs", _main_height)
            browser.close()
        # a server restart: the attack's link alone (no model named) in a new browser (no
        # cookie: another owner) shows it without a model
        server.stop()
        server = AppServer(home / "cache", SHOTS / "inversion-server-2.log")
        query = f"inversion={rid}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.set_default_timeout(180_000)
            page.goto(f"{server.url}{urlparse(url).path}?{query}", timeout=120_000)
            main_area(page).get_by_text("What neggrad leaked").wait_for(timeout=120_000)
            main_area(page).get_by_text("To run a new attack").wait_for()
            page.wait_for_timeout(1500)
            window_and_full(page, "inversion-5-after-restart", _main_height)
            # its HTML report, opened from the file
            from unlearn_core.store import RunStore

            report = RunStore(home).export_html(rid, SHOTS / "inversion-report.html")
            page.goto(report.as_uri())
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "inversion-6-report-1024x768.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {SHOTS}")


if __name__ == "__main__":
    main()

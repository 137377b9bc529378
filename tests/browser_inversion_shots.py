"""Look at the Inversion page in the real browser (not a pytest test).

Starts the app on a private model cache and run store, trains the digits MLP on the Data &
model page, opens the Inversion page, runs the attack with its defaults (samples 5, 17, 42,
99; NegGrad without its early stop; one request per sample), screenshots the running job
(progress, estimate, Cancel) and the finished gallery at 1024x768 (window and full page) and
1600x1000 with the browser test's chart checks.

    python tests/browser_inversion_shots.py      # -> test-output/browser/inversion-*.png
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="inversion-shots-"))
    os.environ["UNLEARN_HOME"] = str(home)
    from playwright.sync_api import sync_playwright
    from test_browser import go, shot
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
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {SHOTS}")


if __name__ == "__main__":
    main()

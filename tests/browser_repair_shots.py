"""Look at the repair flow in the real browser (not a pytest test).

Starts the app on a private model cache and run store, trains the digits MLP, opens the Forget
set page's Repair expander, switches it to a backdoor (target 0, 5 %), screenshots the preview
(corrupted training images, triggered test images), puts it in use, runs the Unlearn page's
default methods on it and screenshots the results and the Compare page, at 1024x768 (window and
full page) and 1600x1000 with the browser test's chart checks.

    python tests/browser_repair_shots.py      # -> test-output/browser/repair-*.png
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
    home = Path(tempfile.mkdtemp(prefix="repair-shots-"))
    os.environ["UNLEARN_HOME"] = str(home)
    from playwright.sync_api import sync_playwright
    from test_browser import go, shot
    from test_browser import main as main_area

    from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = AppServer(home / "cache", SHOTS / "repair-server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.set_default_timeout(60_000)
            page.goto(server.url, timeout=120_000)
            page.get_by_role("button", name="Train", exact=True).click()
            main_area(page).locator('[data-testid="stMetric"]', has_text="Test accuracy").wait_for()
            go(page, "Forget set")
            main_area(page).get_by_text("Repair: corrupt the training data").click()
            main_area(page).get_by_text("training samples corrupted").wait_for()
            box = main_area(page).locator('[data-testid="stSelectbox"]', has_text="Scenario")
            box.first.locator("input").click()  # searchable: type the choice, Enter
            page.keyboard.type("Backdoor")
            page.keyboard.press("Enter")
            main_area(page).get_by_text("Triggered test images").wait_for()
            page.wait_for_timeout(1500)
            shot(page, "repair-1-preview")
            page.get_by_role("button", name="Use this repair scenario").click()
            main_area(page).get_by_text("Repair scenario in use").wait_for()
            go(page, "Unlearn")
            page.get_by_role("button", name="Run", exact=True).click()
            main_area(page).get_by_text("attack success").first.wait_for(timeout=600_000)
            page.wait_for_timeout(1500)
            shot(page, "repair-2-unlearn")
            go(page, "Compare")
            main_area(page).get_by_text("attack success").first.wait_for(timeout=120_000)
            page.wait_for_timeout(2500)
            shot(page, "repair-3-compare")
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {SHOTS}")


if __name__ == "__main__":
    main()

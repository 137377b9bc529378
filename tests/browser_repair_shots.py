"""Look at the repair flow in the real browser (not a pytest test).

Starts the app on a private model cache and run store, trains the digits MLP, opens the Forget
set page's Repair expander, switches it to a backdoor (target 0, 5 %), screenshots the preview
(corrupted training images, triggered test images), puts it in use, runs the Unlearn page's
default methods and Warnecke's second-order update on it and screenshots the results and the
Compare page, at 1024x768 (window and full page) and 1600x1000 with the browser test's chart
checks; then, in the 1024x768 window, the Compare page's repair charts (attack success,
restoration), the Attributions tab's triggered image before and after (Warnecke second-order)
and its patch-share chart, and the Learn page's forgetting-vs-restoring section.

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


def window(page, element, name: str) -> None:
    """The 1024x768 window with ``element`` at its top (a chart, a heading)."""
    element.scroll_into_view_if_needed()
    element.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1200)
    from browser_support import SHOTS

    page.screenshot(path=str(SHOTS / f"{name}-1024x768.png"))


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
            methods = main_area(page).locator('[data-testid="stMultiSelect"]', has_text="Methods")
            methods.first.locator("input").click()  # add Warnecke's second-order update
            page.keyboard.type("Warnecke second")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            main_area(page).get_by_text("Warnecke second-order").first.wait_for()
            page.get_by_role("button", name="Run", exact=True).click()
            results = main_area(page).locator("table", has_text="attack success")
            results.first.wait_for(timeout=600_000)  # the results table (the note says it too)
            page.wait_for_timeout(1500)
            shot(page, "repair-2-unlearn")
            go(page, "Compare")
            main_area(page).locator("table", has_text="attack success").first.wait_for()
            page.wait_for_timeout(2500)
            shot(page, "repair-3-compare")
            # the repair charts: attack success, restoration (each in the 1024x768 window)
            for name, title in (
                ("repair-4-attack", "Backdoor: triggered images"),
                ("repair-5-restoration", "Restoration: share of the damage"),
            ):
                chart = main_area(page).locator(".stPlotlyChart", has_text=title).first
                window(page, chart, name)
            # the Attributions tab: a triggered image before and after, for Warnecke's update
            main_area(page).get_by_role("tab", name="Attributions").click()
            pick = main_area(page).locator('[data-testid="stSelectbox"]', has_text="Unlearned")
            pick.first.locator("input").click()
            page.keyboard.type("Warnecke second")
            page.keyboard.press("Enter")
            main_area(page).get_by_text("A triggered test image, before and after").wait_for()
            grid = main_area(page).locator(".stPlotlyChart", has_text="Triggered test image #0")
            grid.first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)
            window(
                page, main_area(page).get_by_text("A triggered test image").first, "repair-6-trig"
            )
            window(page, grid.first, "repair-7-attr")
            share = main_area(page).locator(".stPlotlyChart", has_text="Saliency on the patch")
            window(page, share.first, "repair-8-patch-share")
            shot(page, "repair-9-attributions")
            go(page, "6 · Learn")  # "Learn" alone matches "3 · Unlearn" first
            head = main_area(page).get_by_text("Forgetting is not repairing").first
            window(page, head, "repair-10-learn")
            why = main_area(page).get_by_text("Why a method can forget").first
            window(page, why, "repair-11-learn-why")
            table = main_area(page).get_by_text("In numbers").first
            window(page, table, "repair-12-learn-numbers")
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {SHOTS}")


if __name__ == "__main__":
    main()

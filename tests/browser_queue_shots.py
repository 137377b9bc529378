"""Look at the job queue and the owner view in the real browser at 1024x768 (not a pytest
test; issue 24).

Starts the app with ``UNLEARN_MAX_JOBS=1`` on a private run store holding four runs (one of
this browser's owner id, two of another browser's, one with no owner), then:

1. browser A trains; its finished training is held in its slot (the job gate of
   ``tests/gated_server.py``), so browser B's Train waits in the queue: B's page is shot with
   its waiting line ("Waiting for a free slot ... about ...") and its "Leave the queue"
   button -> ``queue-waiting.png``;
2. B opens the Runs page: its own run and the unowned one, the status line (memory, jobs)
   -> ``runs-owner-view.png``; then *Everyone's runs* and another browser's run picked: no
   Delete, the refusal said -> ``runs-everyone.png``.

    python tests/browser_queue_shots.py      # -> test-output/browser/queue-*.png, runs-*.png
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path  # noqa: E402

SMALL = {"width": 1024, "height": 768}
ME, OTHER = "shotowner0001", "otherbrowser1"


def store_runs(home: Path) -> None:
    from runstore_support import small_run

    from unlearn_core.store import RunStore
    from unlearn_core.store.owners import owned_by

    data, _, comp = small_run()
    store = RunStore(home)
    for who, note in ((ME, "mine"), (OTHER, "theirs, 1"), (OTHER, "theirs, 2"), ("", "old")):
        with owned_by(who):
            rec = store.save_comparison(comp, dataset=data, save_models=False)
        store.note(rec.id, note)


def main() -> int:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="unlearn-queue-shots-"))
    os.environ["UNLEARN_HOME"] = str(tmp / "runs")
    os.environ["UNLEARN_MAX_JOBS"] = "1"
    store_runs(tmp / "runs")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (tmp / "cache").mkdir()
    server = AppServer(tmp / "cache", tmp / "server.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            a = browser.new_context(viewport=SMALL).new_page()
            ctx_b = browser.new_context(viewport=SMALL)
            # browser B is the runs' owner: its owner cookie names ME (a browser that keeps
            # cookies is known by its cookie only)
            ctx_b.add_cookies([{"name": "unlearn_owner", "value": ME, "url": server.url}])
            b = ctx_b.new_page()
            for page, url in ((a, server.url), (b, server.url)):
                page.set_default_timeout(240_000)
                page.goto(url)
                page.get_by_role("button", name="Train", exact=True).wait_for()
            server.hold_jobs(True)  # A's training keeps the one slot once it has trained
            a.get_by_role("button", name="Train", exact=True).click()
            # A's job holds the slot: its Cancel button shows only while it runs (a bare
            # "Training" matched the recipe's heading before the job had started)
            a.get_by_role("button", name="Cancel training").wait_for()
            b.get_by_role("button", name="Train", exact=True).click()
            waiting = b.get_by_text("Waiting for a free slot").first
            waiting.wait_for()
            b.get_by_role("button", name="Leave the queue").wait_for()
            b.mouse.move(5, 760)  # no hover over the button
            waiting.scroll_into_view_if_needed()
            b.wait_for_timeout(1500)
            print("waiting line:", waiting.inner_text())
            b.screenshot(path=str(SHOTS / "queue-waiting.png"))
            server.hold_jobs(False)
            b.locator('[data-testid="stMetric"]', has_text="Test accuracy").wait_for()

            b.locator('[data-testid="stSidebarNav"] a', has_text="Runs").first.click()
            main = b.locator('[data-testid="stMain"]')
            main.get_by_role("heading", name="Runs", exact=True).wait_for()
            main.get_by_text("Yours:").wait_for()
            b.wait_for_timeout(1500)
            print("runs page:", main.inner_text()[:600])
            b.screenshot(path=str(SHOTS / "runs-owner-view.png"))
            main.locator('[data-testid="stCheckbox"]').get_by_text("Everyone's runs").click()
            # the caption loses its "(Everyone's runs lists them)" once the toggle has run
            main.get_by_text(re.compile(r"of other browsers\.$")).wait_for()
            b.wait_for_timeout(1000)
            pick = main.locator('[data-testid="stSelectbox"]').first
            other = b.get_by_role("option").filter(has_text="another browser's").first
            for _ in range(10):  # the list closes when a rerun draws the picker again: again
                pick.click()
                try:
                    other.click(timeout=5_000)
                    break
                except Exception:  # noqa: BLE001 - closed under a rerun
                    print("options:", [o.inner_text() for o in b.get_by_role("option").all()])
                    b.keyboard.press("Escape")
            main.get_by_text("not yours to delete").wait_for()
            b.wait_for_timeout(1000)
            main.get_by_text("not yours to delete").scroll_into_view_if_needed()
            b.screenshot(path=str(SHOTS / "runs-everyone.png"))
            browser.close()
    finally:
        server.stop()
        log = (tmp / "server.log").read_text(errors="replace")
        print("tracebacks in the server log:", log.count("Traceback"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

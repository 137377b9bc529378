"""Look at the text track's workflow in the real browser at 1024x768 (not a pytest test;
issue 22, part 6).

Starts the app on a private model cache and run store, then walks the workflow pages with
the facts dataset (20 people x 5 facts, tinylm trained 40 epochs of batch 32) and shoots each
page, the window and the whole page (``-full``):

1. ``text-1-data``: the facts dataset, its people and facts, the world facts, the model;
2. ``text-2-model``: the trained model's report (exact match, per kind of fact, curve);
3. ``text-3-forget``: two people picked, the preview of their facts, in use;
4. ``text-4-unlearn``: the language methods (defaults), the run's results;
5. ``text-5-compare``: the metric table; ``text-6-answers``, ``text-7-attributions``,
   ``text-8-hidden-states``: the Compare page's other tabs (the hidden states in the shared
   embedding view: PCA first, ``text-8-states-umap`` once the aligned UMAP is done);
6. ``text-9-runs``: the run on the Runs page; ``text-10-attack``: the membership attacks'
   ROC curves and AUCs; ``text-11-audit``: why the audit is not for text yet and the
   per-question lens; ``text-12-report``: the run's HTML report (whole page).

    python tests/browser_text_shots.py      # -> test-output/browser/text-*.png
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

SMALL = {"width": 1024, "height": 768}


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="text-shots-"))
    os.environ["UNLEARN_HOME"] = str(home)
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = AppServer(home / "cache", SHOTS / "text-server.log")

    def main_area(page):
        return page.locator('[data-testid="stMain"]')

    def shot(page, name: str) -> None:
        page.mouse.move(5, 760)  # no hover
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": 1024, "height": max(int(height), 768)})
        page.wait_for_timeout(1200)
        page.screenshot(path=str(SHOTS / f"{name}-full.png"))
        page.set_viewport_size(SMALL)
        page.wait_for_timeout(500)
        print("shot", name)

    def go(page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        page.get_by_role("heading", level=1).first.wait_for()
        page.wait_for_timeout(1500)

    def choose(page, label: str, option: str) -> None:
        """Pick ``option`` in the searchable select box labelled ``label``."""
        # by its label exactly ("People" is also in the dataset box's "…people's facts…")
        name = page.locator("label", has_text=re.compile(f"^{re.escape(label)}$"))
        box = main_area(page).locator('[data-testid="stSelectbox"]').filter(has=name).first
        box.locator("input").click()
        page.keyboard.type(option)
        page.keyboard.press("Enter")
        page.wait_for_timeout(1500)

    def number(page, label: str, value: int) -> None:
        box = main_area(page).get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        page.wait_for_timeout(1500)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=SMALL)
            page.set_default_timeout(120_000)
            page.goto(server.url, timeout=120_000)
            page.get_by_role("button", name="Train", exact=True).wait_for()
            choose(page, "Dataset", "Facts")
            main_area(page).get_by_text("People and their facts").wait_for()
            choose(page, "People", "20")
            main_area(page).get_by_text("20 people").first.wait_for()
            number(page, "Epochs", 40)
            number(page, "Batch size", 32)
            shot(page, "text-1-data")
            page.get_by_role("button", name="Train", exact=True).click()
            main_area(page).locator('[data-testid="stMetric"]', has_text="Train answers").wait_for(
                timeout=600_000
            )
            page.wait_for_timeout(2000)
            shot(page, "text-2-model")

            go(page, "Forget set")
            people = main_area(page).locator('[data-testid="stMultiSelect"]').first
            for name in ("Pennu Mikost", "Senmik Ebbsen"):  # people 0 and 3 of the seed-0 corpus
                people.locator("input").click()
                page.keyboard.type(name)
                page.keyboard.press("Enter")
                page.keyboard.press("Escape")
                page.wait_for_timeout(1500)
            main_area(page).get_by_text("Preview, not in use yet").wait_for()
            page.get_by_role("button", name="Use this forget set").click()
            main_area(page).get_by_text("Unlearning will use it").wait_for()
            shot(page, "text-3-forget")

            go(page, "Unlearn")
            page.get_by_role("button", name="Run", exact=True).click()
            main_area(page).get_by_role("heading", name="Results").wait_for(timeout=900_000)
            shot(page, "text-4-unlearn")

            go(page, "Compare")
            main_area(page).get_by_text("Membership attacks").wait_for(timeout=120_000)
            shot(page, "text-5-compare")
            for k, (tab, wait) in enumerate(
                (
                    ("Answers", "Greedy answers of each model"),
                    ("Attributions", "Integrated gradients"),
                    ("Hidden states", "The hidden state at the end of"),
                ),
                start=6,
            ):
                main_area(page).get_by_role("tab", name=tab).click()
                main_area(page).get_by_text(wait).first.wait_for(timeout=120_000)
                shot(page, f"text-{k}-{tab.lower().replace(' ', '-')}")
            # the hidden states in the shared embedding view: aligned UMAP once its job is done
            page.wait_for_function(
                "() => [...document.querySelectorAll('.gtitle')].some("
                "t => /alignedUMAP$/.test(t.textContent.replace(/\\s/g, '')))",
                timeout=300_000,
            )
            page.wait_for_timeout(1500)
            shot(page, "text-8-states-umap")

            go(page, "Runs")
            main_area(page).get_by_text("One run").first.wait_for()
            shot(page, "text-9-runs")
            go(page, "Attack")
            main_area(page).get_by_text("Every model, every attack").first.wait_for()
            shot(page, "text-10-attack")
            go(page, "Audit")
            main_area(page).get_by_text("Many-model audit").first.wait_for()
            main_area(page).get_by_text("Closer to retrain").first.wait_for()
            shot(page, "text-11-audit")
            # the run's HTML report, as the Runs page exports it
            from unlearn_core.store import RunStore

            store = RunStore(home)
            run = store.list_comparisons()[0]
            report = store.export_html(run.id, home / "report.html")
            page.goto(report.as_uri())
            page.get_by_text("Unlearning report").first.wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "text-12-report.png"), full_page=True)
            print("shot text-12-report")
            browser.close()
    except Exception:
        page.screenshot(path=str(SHOTS / "text-error.png"))  # where the walk stopped
        raise
    finally:
        server.stop()
        log = (SHOTS / "text-server.log").read_text(errors="replace")
        print("tracebacks in the server log:", log.count("Traceback"))
    print(f"screenshots in {SHOTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

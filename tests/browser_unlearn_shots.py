"""Look at the Unlearn page after a cancelled several-seed run and at the Runs page, at
1024x768, in the real browser (not a pytest test).

Stores a three-seed comparison and a one-seed one with a long note in a private run store
through the CLI, starts the app on it and screenshots the Runs page (the overview table, the
note, the export buttons, then the two runs side by side); then trains digits + MLP, forgets class 3, starts a three-seed run on
the Unlearn page, cancels it during the second seed and screenshots the message and the
results, then runs the three seeds to the end and screenshots those. Each table is measured
too (its box against the page's, whether it scrolls, cells drawn on more than one line).

    python tests/browser_unlearn_shots.py      # -> test-output/browser/unlearn-*.png
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SMALL = {"width": 1024, "height": 768}

#: per stTable: its right edge against the main block's, and the cells drawn on several lines
TABLE_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stTable"]')).map(el => {
  const t = el.querySelector('table');
  const lines = c => {  // the text lines a cell's text is drawn on
    const tops = new Set();
    const walk = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const r = document.createRange(); r.selectNodeContents(n);
      for (const x of r.getClientRects()) if (x.width > 0) tops.add(Math.round(x.top));
    }
    return tops.size;
  };
  const cells = Array.from(t.querySelectorAll('td')).filter(c => c.offsetParent);
  const wrap = cells.filter(c => lines(c) > 1).map(c => c.innerText);
  const num = cells.filter(c => getComputedStyle(c).textAlign === 'right');
  return {
    table: Math.round(t.getBoundingClientRect().right),
    box: Math.round(el.getBoundingClientRect().right),
    scrolls: Array.from(el.querySelectorAll('*')).some(n => n.scrollWidth > n.clientWidth + 1 && getComputedStyle(n).overflowX !== 'visible'),
    number_lines: Math.max(0, ...num.map(lines)),  // 1: every number on one line
    numbers_wrapped: num.filter(c => lines(c) > 1).map(c => c.innerText).slice(0, 4),
    text_wrapped: wrap.filter(x => !num.some(c => c.innerText === x)).slice(0, 8),
  };
})"""
#: buttons whose label is cut (wider than the button) or that stick out of the page
BUTTONS_JS = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const right = main.getBoundingClientRect().right;
  return Array.from(main.querySelectorAll('button')).filter(b => b.offsetParent).map(b => ({
    text: b.innerText,
    cut: [b, ...b.querySelectorAll('*')].some(n => n.scrollWidth > n.clientWidth + 1),
    out: b.getBoundingClientRect().right > right + 1,
  })).filter(b => b.cut || b.out);
}"""


def store_runs(home: Path) -> list[str]:
    cli = [sys.executable, "-m", "unlearn_core.cli"]
    common = ["--dataset", "digits", "--model", "mlp", "--forget-class", "3", "--epochs", "5"]
    env = {**os.environ, "UNLEARN_HOME": str(home), "OMP_NUM_THREADS": "1"}
    for extra in (["--seeds", "0,1,2", "--methods", "finetune,neggrad,scrub"],
                  ["--methods", "finetune,neggrad,scrub,salun,ssd"]):  # fmt: skip
        cmd = [*cli, "compare", *common, *extra, "--no-progress", "--home", str(home)]
        subprocess.run(cmd, check=True, cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL)
    listed = subprocess.run([*cli, "runs", "list", "--json", "--home", str(home)], check=True,
                            env=env, capture_output=True, text=True).stdout  # fmt: skip
    ids = [r["id"] for r in json.loads(listed)]
    newest = ids[0]
    from unlearn_core.store import RunStore

    RunStore(home).note(
        newest,
        "SSD's dampening looked too strong on this one: try alpha 5 next, and compare with "
        "the three-seed run before writing it up",
    )
    return ids


def measure(page, name: str, shots: Path) -> None:
    page.set_viewport_size(SMALL)
    page.wait_for_timeout(900)
    page.screenshot(path=str(shots / f"{name}-1024x768.png"))
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1024, "height": max(int(height), 400)})
    page.wait_for_timeout(900)
    page.screenshot(path=str(shots / f"{name}-1024x768-full.png"))
    print(f"{name}: tables {page.evaluate(TABLE_JS)}")
    print(f"{name}: cut buttons {page.evaluate(BUTTONS_JS)}")
    page.set_viewport_size(SMALL)
    page.wait_for_timeout(400)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="unlearn-shots-"))
    os.environ["UNLEARN_HOME"] = str(home)
    ids = store_runs(home)
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = AppServer(home / "cache", SHOTS / "unlearn-server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=SMALL)
            page.set_default_timeout(120_000)
            body = page.locator('[data-testid="stMain"]')
            page.goto(f"{server.url}/runs")
            body.get_by_role("heading", name="Runs", exact=True).wait_for()
            body.locator('[data-testid="stTable"]').first.wait_for()
            page.wait_for_timeout(1500)
            measure(page, "unlearn-runs-page", SHOTS)
            side = body.locator('[data-testid="stMultiSelect"]').last
            for rid in ids:  # both stored runs side by side (typed: the one option matches)
                side.click()
                side.locator("input").fill(rid)
                page.get_by_role("option", name=re.compile(rid)).first.wait_for()
                page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            body.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for()
            page.wait_for_timeout(2000)
            measure(page, "unlearn-runs-side-by-side", SHOTS)
            if "--runs-only" in sys.argv:
                return

            page.goto(server.url)
            page.get_by_role("button", name="Train", exact=True).click()
            body.locator('[data-testid="stMetric"]', has_text="Test accuracy").wait_for()
            nav = page.locator('[data-testid="stSidebarNav"] a')
            nav.filter(has_text="Forget set").first.click()
            body.get_by_text("Whole classes", exact=True).click()
            body.locator('[data-testid="stMultiSelect"]').first.click()
            page.get_by_role("option", name="3", exact=True).click()
            page.keyboard.press("Escape")
            body.get_by_text(re.compile(r"^\d+ samples marked")).wait_for()
            body.get_by_role("button", name="Use this forget set").click()
            body.get_by_text("Forget set stored").wait_for()
            nav.filter(has_text="Unlearn").first.click()
            seeds = body.get_by_role("spinbutton", name="Seeds (runs)")
            seeds.fill("3")
            seeds.press("Enter")
            page.wait_for_timeout(1000)
            body.get_by_role("button", name="Run", exact=True).click()
            body.get_by_text(re.compile(r"seed \d+ \(2/3\)")).first.wait_for(timeout=300_000)
            body.get_by_role("button", name="Cancel", exact=True).click()
            body.get_by_text("The run was cancelled").first.wait_for()
            body.get_by_role("heading", name="Results").wait_for()
            page.wait_for_timeout(1500)
            print("message:", body.locator('[data-testid="stAlert"]').first.inner_text())
            measure(page, "unlearn-cancelled-3-seeds", SHOTS)
            if "--cancelled-only" in sys.argv:
                return
            # the same three seeds, run to the end: mean ± std in every cell
            body.get_by_role("button", name="Run", exact=True).click()
            body.get_by_text(re.compile(r"over 3 seeds")).wait_for(timeout=600_000)
            page.wait_for_timeout(1500)
            measure(page, "unlearn-3-seeds", SHOTS)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

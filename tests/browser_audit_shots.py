"""Look at the Audit page and the Learn page's story in the real browser (not a pytest test).

Stores a small audit (digits + MLP, class 3, the demonstration and SalUn, K = 4, relearning,
every lens: ``--metrics eps,klom,ulira,rmia --attacks quantize``) in a private run store
through the CLI, starts the app on it, opens ``/audit?audit=ID``, clicks a forget sample on
the epsilon embedding (the instance view opens), and screenshots the page, the lenses side by
side, one forget sample's drill-down and the Learn page (with its "which lens catches it" part)
at 1024x768 and 1600x1000 (window and full page) with the browser test's chart checks (no
overlapping titles, legends or labels; one colour a method); the lens sections also as the
1024x768 window scrolled to them (``audit-4-lenses-1024.png``, ``audit-5-drilldown-1024.png``).

    python tests/browser_audit_shots.py      # -> test-output/browser/audit-*.png
    python tests/browser_audit_shots.py --home DIR   # a copy of DIR's run store (its newest
                                                     # audit), e.g. the K = 32 benchmark's
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

#: plotly's pixel position of the first forget sample on the epsilon embedding
POINT_JS = """() => {
  const gds = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const gd = gds.find(g => (g.data || []).some(t => (t.name || '').startsWith('forget')));
  const t = gd.data.findIndex(t => (t.name || '').startsWith('forget'));
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const x = gd._fullData[t].x[0], y = gd._fullData[t].y[0];
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
  return {x: box.left + xa.l2p(x), y: box.top + ya.l2p(y)};
}"""


def section(page, heading: str, name: str) -> None:
    """The 1024x768 window scrolled so that ``heading`` is at its top."""
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_timeout(900)
    page.get_by_text(heading, exact=True).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1200)
    from browser_support import SHOTS

    page.screenshot(path=str(SHOTS / f"{name}-1024.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="a run store whose newest audit is shown (copied)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="audit-shots-"))
    if args.home:
        shutil.copytree(args.home, home, dirs_exist_ok=True)
    os.environ["UNLEARN_HOME"] = str(home)
    cmd = [sys.executable, "-m", "unlearn_core.cli", "audit", "--dataset", "digits",
           "--model", "mlp", "--forget-class", "3", "--methods", "logit_suppression,salun",
           "--models", "4", "--workers", "1", "--relearn", "--metrics", "eps,klom,ulira,rmia",
           "--attacks", "quantize", "--no-progress"]  # fmt: skip
    if not args.home:
        subprocess.run(cmd, check=True, cwd=HERE.parent, stdout=subprocess.DEVNULL)
    from unlearn_core.store import RunStore

    aid = RunStore(home).list_comparisons()[0].id
    from playwright.sync_api import sync_playwright
    from test_browser import shot

    from browser_support import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = AppServer(home / "cache", SHOTS / "audit-server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(f"{server.url}/audit?audit={aid}", timeout=120_000)
            page.get_by_text("Scores against retrain").wait_for(timeout=180_000)
            page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=120_000)
            page.wait_for_timeout(2000)
            shot(page, "audit-1-results")
            page.set_viewport_size({"width": 1600, "height": 1000})
            page.wait_for_timeout(1000)
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.wait_for_timeout(800)
            pt = page.evaluate(POINT_JS)
            page.mouse.click(pt["x"], pt["y"])
            try:
                page.get_by_text(re.compile(r"^Sample \d+ · class")).wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(SHOTS / "audit-FAILED-click.png"), full_page=True)
                raise
            page.wait_for_timeout(1500)
            print("clicked a forget sample: the instance view opened")
            shot(page, "audit-2-instance-view")
            page.get_by_text("Lenses side by side", exact=True).first.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)
            section(page, "Lenses side by side", "audit-4-lenses")
            section(page, "One forget sample, lens by lens", "audit-5-drilldown")
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Models of")
            box.first.click()
            page.get_by_role("option", name=re.compile("Logit suppression")).first.click()
            page.wait_for_timeout(2500)
            section(page, "One forget sample, lens by lens", "audit-5-drilldown-demonstration")
            shot(page, "audit-5-drilldown")
            print("the lenses and the drill-down are drawn")
            page.goto(f"{server.url}/learn", timeout=120_000)
            page.get_by_text("Verification is fragile").first.wait_for(timeout=120_000)
            page.wait_for_timeout(2500)
            page.get_by_text("Verification is fragile").first.scroll_into_view_if_needed()
            shot(page, "audit-3-learn-story")
            section(page, "Which lens catches it?", "audit-6-learn-lenses")
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {SHOTS} (audit {aid}, store {home})")


if __name__ == "__main__":
    main()

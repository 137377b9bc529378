"""Look at the result figures a new user met at 1024x768 in the real browser (not a pytest test).

Stores, through the CLI, in a private run store (``--store``, kept between calls so a second
look is quick): a digits comparison (SCRUB, SalUn, SSD and both LRP rules; its models kept), a
two-seed one (the overview's error bars), a shapes comparison (colour images, the LRP method)
for the attributions, an LRP "until forgotten" run whose cap is reached while its forget
accuracy is 0, a small audit with relearning and a sweep. Then it starts the app on that store
and screenshots, at 1024x768 (window and whole page): Compare's Overview, Per class,
Embeddings, Attributions (digits and shapes), Predictions and Neurons tabs (and the capped
run's), the Attack page, the Audit page (after a click on the forget point with the most
retained samples under it), the sweep form and the Learn page.

    python tests/browser_figure_shots.py [--store DIR] [--only compare,attack,audit,learn]
    # -> test-output/figures/*.png
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

OUT = HERE.parent / "test-output" / "figures"
SIZE = {"width": 1024, "height": 768}
CLI = [sys.executable, "-m", "unlearn_core.cli"]
RUNS = {
    "digits": ["compare", "--dataset", "digits", "--model", "mlp", "--forget-class", "3",
               "--methods", "scrub,salun,ssd,lrp,lrp_until"],
    "seeds": ["compare", "--dataset", "digits", "--model", "mlp", "--forget-class", "3",
              "--methods", "scrub,salun,ssd", "--seeds", "0,1"],
    "shapes": ["compare", "--dataset", "shapes", "--model", "mlp", "--forget-class", "2",
               "--methods", "lrp,scrub"],
    "capped": ["run", "--dataset", "digits", "--model", "mlp", "--forget-class", "3",
               "--method", "lrp_until", "--param", "n_max_share=0.23", "--with-retrain"],
    "audit": ["audit", "--dataset", "digits", "--model", "mlp", "--forget-class", "3",
              "--methods", "logit_suppression,scrub,salun", "--models", "2", "--workers", "1",
              "--relearn"],
    "sweep": ["tune", "--dataset", "digits", "--model", "mlp", "--forget-class", "3",
              "--method", "finetune", "--trials", "4", "--workers", "1"],
}  # fmt: skip

#: the page position of the forget point of the epsilon embedding with the most retained
#: samples within 6 px of it, and that sample's id
HIDDEN_JS = """() => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(g => (g.data || []).some(t => (t.name || '').startsWith('forget')));
  const f = gd._fullData.find(t => (t.name || '').startsWith('forget'));
  const c = gd._fullData.find(t => (t.name || '').startsWith('retained'));
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
  let best = null;
  for (let i = 0; i < f.x.length; i++) {
    const px = xa.l2p(f.x[i]), py = ya.l2p(f.y[i]);
    let n = 0;
    for (let j = 0; j < c.x.length; j++) {
      if (Math.hypot(xa.l2p(c.x[j]) - px, ya.l2p(c.y[j]) - py) < 6) n++;
    }
    if (best === null || n > best.n) best = {n, i, x: box.left + px, y: box.top + py,
      id: f.customdata[i][0]};
  }
  return best;
}"""


def ensure_store(store: Path) -> dict[str, str]:
    """The ids of the four stored runs (made once per store)."""
    ids_file = store / "figure-shots.json"
    if ids_file.exists():
        return json.loads(ids_file.read_text())
    ids = {}
    from unlearn_core.store import RunStore

    for name, args in RUNS.items():
        before = {r.id for r in RunStore(store).list_comparisons()}
        subprocess.run([*CLI, *args, "--no-progress", "--home", str(store)], check=True,
                       cwd=HERE.parent, stdout=subprocess.DEVNULL)  # fmt: skip
        ids[name] = next(r.id for r in RunStore(store).list_comparisons() if r.id not in before)
    # the app rebuilds a run's dataset from the spec kept under its fingerprint: the CLI built
    # the built-ins with their defaults (the app's shapes default is smaller)
    for rec in RunStore(store).list_comparisons():
        doc = RunStore(store).read_comparison(rec.id)["record"]
        spec = store / "app" / "datasets" / f"{doc['fingerprint']}.json"
        if doc.get("fingerprint") and not spec.exists():
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(json.dumps({"name": doc["dataset"], "params": {}}))
    ids_file.write_text(json.dumps(ids))
    return ids


def full(page, name: str) -> None:
    """The window, then the whole page (the window grown to the page's height)."""
    page.wait_for_timeout(3000)  # a tab's charts finish drawing before the page is measured
    page.screenshot(path=str(OUT / f"{name}.png"))
    h = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll("
        '\'[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]\'))'
        ".map(e => e.scrollHeight), document.body.scrollHeight)"
    )
    page.set_viewport_size({"width": SIZE["width"], "height": max(int(h), 400)})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(OUT / f"{name}-full.png"))
    page.set_viewport_size(SIZE)
    page.wait_for_timeout(500)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(2500)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="/tmp/figure-shots-store")
    ap.add_argument("--only", default="compare,attack,audit,learn")
    args = ap.parse_args()
    only = set(args.only.split(","))
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    os.environ["UNLEARN_HOME"] = str(store)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ids = ensure_store(store)
    from playwright.sync_api import sync_playwright

    from browser_support import CHROMIUM_ARGS, AppServer, chromium_path

    OUT.mkdir(parents=True, exist_ok=True)
    server = AppServer(store / "cache", OUT / "server.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=SIZE)
            page.set_default_timeout(120_000)
            if "compare" in only:
                page.goto(f"{server.url}/compare?run={ids['seeds']}")
                page.get_by_role("tab", name="Predictions").wait_for()
                page.wait_for_timeout(3000)
                full(page, "compare-overview-seeds")
                page.goto(f"{server.url}/compare?run={ids['digits']}")
                page.get_by_role("tab", name="Predictions").wait_for()
                page.wait_for_timeout(3000)
                for name in ("Per class", "Predictions", "Neurons", "Attributions", "Embeddings"):
                    tab(page, name)
                    if name == "Attributions":
                        page.locator(".js-plotly-plot").first.wait_for()
                        page.wait_for_timeout(1500)
                    if name == "Embeddings":
                        page.wait_for_timeout(6000)
                    full(page, "compare-" + name.lower().replace(" ", "-"))
                page.goto(f"{server.url}/compare?run={ids['capped']}")
                page.get_by_role("tab", name="Neurons").wait_for()
                tab(page, "Neurons")
                full(page, "compare-neurons-capped")
                page.goto(f"{server.url}/compare?run={ids['shapes']}")
                page.get_by_role("tab", name="Attributions").wait_for()
                tab(page, "Attributions")
                page.get_by_text("Unlearned model").first.wait_for()
                page.locator(".js-plotly-plot").first.wait_for()
                page.wait_for_timeout(2000)
                full(page, "compare-attributions-shapes")
            if "attack" in only:
                page.goto(f"{server.url}/attack?run={ids['digits']}")
                page.get_by_text("Forget", exact=False).first.wait_for()
                page.locator(".js-plotly-plot").first.wait_for()
                page.wait_for_timeout(2500)
                full(page, "attack")
            if "audit" in only:
                page.goto(f"{server.url}/audit?run={ids['digits']}&audit={ids['audit']}")
                page.get_by_text("Scores against retrain").wait_for(timeout=180_000)
                page.locator(".js-plotly-plot .nsewdrag").first.wait_for()
                page.wait_for_timeout(2500)
                page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
                page.wait_for_timeout(800)
                hit = page.evaluate(HIDDEN_JS)
                print(f"clicking forget sample {hit['id']} ({hit['n']} retained within 6 px)")
                page.mouse.click(hit["x"], hit["y"])
                page.get_by_text("Sample ", exact=False).first.wait_for(timeout=60_000)
                page.wait_for_timeout(2500)
                opened = page.locator("h5").all_inner_texts()
                print("opened:", [t for t in opened if t.startswith("Sample")])
                page.screenshot(path=str(OUT / "audit-clicked.png"))
                full(page, "audit-after-click")
                page.goto(f"{server.url}/audit?run={ids['digits']}&sweep={ids['sweep']}")
                page.get_by_text("Sweep: search").first.wait_for(timeout=180_000)
                page.wait_for_timeout(2500)
                page.get_by_text("Sweep: search").first.scroll_into_view_if_needed()
                page.wait_for_timeout(800)
                page.screenshot(path=str(OUT / "sweep.png"))
                full(page, "audit-sweep")
            if "learn" in only:
                page.goto(f"{server.url}/learn")
                page.get_by_text("Verification is fragile").first.wait_for()
                page.wait_for_timeout(2500)
                full(page, "learn")
            browser.close()
    finally:
        server.stop()
    print(f"screenshots in {OUT} (store {store}: {ids})")


if __name__ == "__main__":
    main()

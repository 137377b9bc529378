"""Cold start under a crowd (issue 24): N browser sessions open a freshly started server at
once and each walks every page; the round is repeated on a new server.

Each session (its own Chromium context: own cookies, own owner id) opens the first page and
then every page of the sidebar in order, waiting for the page's heading. Reported per round:
the slowest heading of each page over the sessions, the slowest overall against the limit
(``--limit``, 30 s), page exceptions shown (``stException``) and tracebacks in the server log.
A round passes when every heading came within the limit, no page showed an exception and the
log holds no traceback. Each round starts a new server with a new model cache and run store
(nothing imported, nothing cached): the moment the issue's two failures came from.

    python benchmarks/cold_start.py --sessions 8 --rounds 3 --out benchmarks/results/cold_start.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser_support import CHROMIUM_ARGS, AppServer, chromium_path  # noqa: E402

#: the sidebar's pages in the order a session opens them (the first is the landing page)
PAGES = (
    "1 · Data & model",
    "2 · Forget set",
    "3 · Unlearn",
    "4 · Compare",
    "5 · Attack",
    "5b · Audit",
    "6 · Learn",
    "Runs",
)
SHOTS = ROOT / "test-output" / "cold_start"
#: the main area's first visible h1 text when it differs from ``prev`` (else null)
HEADING_JS = """(prev) => {
  const h = document.querySelector('[data-testid="stMain"] h1');
  const t = h && h.offsetParent !== null ? h.innerText.trim() : '';
  return t && t !== prev ? t : null;
}"""


async def walk(browser, url: str, k: int, limit: float, out: dict) -> None:
    """One session: the first page, then every page; seconds to each heading."""
    ctx = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await ctx.new_page()
    page.set_default_timeout(limit * 1000 * 3)  # a slow page is measured, not cut off
    times: dict[str, float] = {}
    out.update(k=k, times=times, error=None, exceptions=[])
    try:
        before = ""
        for i, title in enumerate(PAGES):
            t = time.perf_counter()
            if i == 0:
                await page.goto(url)
            else:
                link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
                await link.click()
            # this page's heading: the main area's first h1, once it differs from the last one
            await page.wait_for_function(HEADING_JS, arg=before)
            before = await page.evaluate(HEADING_JS, "") or before
            times[title] = time.perf_counter() - t
            await page.wait_for_timeout(300)  # a late exception of the page's run
            shown = page.locator('[data-testid="stException"]')
            if await shown.count():
                out["exceptions"].append(f"{title}: {(await shown.first.inner_text())[:300]}")
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / f"exception-{k}-{i}.png"), full_page=True)
    except Exception as exc:  # noqa: BLE001 - reported with the session
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"failed-{k}.png"), full_page=True)
    finally:
        await ctx.close()


async def crowd(url: str, n: int, limit: float) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        outs: list[dict] = [{} for _ in range(n)]
        await asyncio.gather(*(walk(browser, url, k, limit, outs[k]) for k in range(n)))
        await browser.close()
    return outs


def one_round(n: int, limit: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="unlearn-cold-"))
    os.environ["UNLEARN_HOME"] = str(tmp / "runs")
    log = tmp / "server.log"
    load = os.getloadavg()[0]
    t = time.perf_counter()
    server = AppServer(tmp / "cache", log)
    up = time.perf_counter() - t
    try:
        outs = asyncio.run(crowd(server.url, n, limit))
    finally:
        server.stop()
    text = log.read_text(errors="replace")
    return {
        "outs": outs,
        "server_up_s": up,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "tracebacks": text.count("Traceback (most recent call last)"),
        "first_traceback": text[text.index("Traceback") :][:1500] if "Traceback" in text else "",
    }


def report(rounds: list[dict], n: int, limit: float) -> tuple[str, bool]:
    lines = [
        f"## {n} sessions at once on a freshly started server, {len(rounds)} rounds · "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {os.cpu_count()} CPU cores. Each session opens the first page, then every "
        f"page in the sidebar's order; a page counts when its heading shows. Limit: {limit:.0f} s "
        "per heading.",
        "",
        "| round | load before → after | slowest heading (s) | page | headings over the limit "
        "| page exceptions | server tracebacks | failed sessions | passed |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    ok_all = True
    for i, r in enumerate(rounds, 1):
        all_t = [(t, title) for o in r["outs"] for title, t in o.get("times", {}).items()]
        slow, where = max(all_t) if all_t else (float("nan"), "-")
        over = sum(1 for t, _ in all_t if t > limit)
        exc = sum(len(o.get("exceptions", [])) for o in r["outs"])
        failed = sum(1 for o in r["outs"] if o.get("error"))
        missing = n * len(PAGES) - len(all_t)
        ok = not over and not exc and not r["tracebacks"] and not failed and not missing
        ok_all &= ok
        lines.append(
            f"| {i} | {r['load_before']:.1f} → {r['load_after']:.1f} | {slow:.1f} | {where} | "
            f"{over} | {exc} | {r['tracebacks']} | {failed} | {'yes' if ok else 'NO'} |"
        )
    lines += ["", "Slowest heading per page (over the sessions), per round (s):", ""]
    lines += ["| page | " + " | ".join(f"round {i}" for i in range(1, len(rounds) + 1)) + " |"]
    lines += ["|---|" + "---:|" * len(rounds)]
    for title in PAGES:
        cells = []
        for r in rounds:
            ts = [o["times"][title] for o in r["outs"] if title in o.get("times", {})]
            cells.append(f"{max(ts):.1f}" if ts else "-")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    for i, r in enumerate(rounds, 1):
        for o in r["outs"]:
            if o.get("error"):
                lines.append(f"\n- round {i}, session {o['k']}: {o['error']}")
            for e in o.get("exceptions", []):
                lines.append(f"\n- round {i}, session {o['k']}: exception shown: {e}")
        if r["first_traceback"]:
            lines += ["", f"Round {i}'s first traceback:", "", "```", r["first_traceback"], "```"]
    return "\n".join(lines) + "\n", ok_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=float, default=30.0, help="seconds a heading may take")
    ap.add_argument("--out", type=Path, default=None, help="append the figures to this file")
    args = ap.parse_args(argv)
    if chromium_path() is None:
        print("no Chromium found", file=sys.stderr)
        return 2
    rounds = [one_round(args.sessions, args.limit) for _ in range(args.rounds)]
    md, ok = report(rounds, args.sessions, args.limit)
    print(md)
    if args.out:
        head = "# Cold start under a crowd (`benchmarks/cold_start.py`)\n\n"
        old = args.out.read_text().rstrip() + "\n\n" if args.out.exists() else head
        args.out.write_text(old + md)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

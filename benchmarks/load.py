"""Load benchmark (issue 24 part 6): N browser sessions at once on a freshly started server.

Each session (one Chromium, one context per session, so each has its own cookies and owner
id) does the whole flow at the same time as the others: open the app, train the default model
(digits, MLP), forget a class of its own (session k forgets class k mod 10), run the Unlearn
page's default methods with retrain (SCRUB, SalUn, SSD), open Compare. A newcomer opens the
first page while the others work. Reported: completed / failed sessions, p50 and p95 of each
step, the newcomer's first page, the peak memory (resident set, sampled every 0.25 s) of the
server process and of the server with its worker processes, tracebacks in the server log, the
machine's load average, and a leak check: each session's sidebar names only its own forget
class, its URL's run is a run of its own class stored under its own owner id, and no two
sessions share a run.

    python benchmarks/load.py --sessions 2
    python benchmarks/load.py --sessions 8 --out benchmarks/results/load.md --append

The server runs with the app's defaults (``UNLEARN_MAX_JOBS`` unset: one job per core) unless
``--max-jobs`` says otherwise; the run store and model cache are private temp folders.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser_support import CHROMIUM_ARGS, AppServer, chromium_path, cpu_seconds  # noqa: E402

STEPS = ("first page", "train", "forget set", "unlearn (retrain + 3 methods)", "compare")
#: seconds one step may take before the session counts as failed
STEP_TIMEOUT_S = 420
#: clicks on "Use this forget set" a session makes, and how long it waits after each
CONFIRM_TRIES, CONFIRM_WAIT_S = 3, 60
#: where a failed session's page is shot
FAILED_SHOTS = ROOT / "test-output" / "load"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, theirs, and so on (Linux ``/proc``)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(k) for k in (task / "children").read_text().split()]
                out += kids
                todo += kids
    return out


class Sampler(threading.Thread):
    """Resident memory of the server process and of the server with its worker processes
    (job workers, the UMAP worker), and the machine's load average, sampled."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_mb = 0.0  # the server process
        self.peak_total_mb = 0.0  # the server and its workers, summed at each sample
        self.loads: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                own = _rss_mb(self.pid)
                total = own
                for child in descendants(self.pid):
                    with contextlib.suppress(OSError):
                        total += _rss_mb(child)
                self.peak_mb = max(self.peak_mb, own)
                self.peak_total_mb = max(self.peak_total_mb, total)
                self.loads.append(os.getloadavg()[0])
            except OSError:
                pass
            self.stop.wait(self.every)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main_area(page):
    return page.locator('[data-testid="stMain"]')


async def go(page, title: str) -> None:
    await page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    await page.get_by_role("heading", level=1).first.wait_for()


async def pick_class(page, cls: int, tries: int = 6) -> None:
    """Whole classes, then class ``cls`` in the picker; again when a rerun closed the list
    before the click landed (seen under load)."""
    m = main_area(page)
    marked = m.get_by_text(re.compile(r"^\d+ samples marked"))
    for _ in range(tries):
        await m.get_by_text("Whole classes", exact=True).click()
        picker = m.locator('[data-testid="stMultiSelect"]').first
        await picker.wait_for()
        if str(cls) in (await picker.inner_text()).split():
            break
        try:
            await picker.click()
            await page.get_by_role("option", name=str(cls), exact=True).click(timeout=20_000)
            await page.keyboard.press("Escape")
            await marked.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - the list closed under a rerun: again
            await page.keyboard.press("Escape")
            await page.wait_for_timeout(1000)
    await marked.wait_for()


async def _page_state(page, button) -> dict:
    """The script state (Streamlit's ``data-test-script-state``), whether ``button`` is enabled
    and when (``perf_counter``): what a lost click met."""
    state = await page.evaluate(
        "() => { const e = document.querySelector('[data-test-script-state]');"
        " return e ? e.getAttribute('data-test-script-state') : null; }"
    )
    enabled = None
    with contextlib.suppress(Exception):
        enabled = await button.is_enabled(timeout=1000)
    return {"script": state, "enabled": enabled, "t": round(time.perf_counter(), 2)}


async def session(browser, url: str, k: int, out: dict) -> None:
    """One person's whole flow; ``out`` gets its step times, or the step it failed at."""
    ctx = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await ctx.new_page()
    page.set_default_timeout(STEP_TIMEOUT_S * 1000)
    cls = k % 10
    times: dict[str, float] = {}
    out.update(k=k, cls=cls, times=times, error=None)
    step = STEPS[0]
    try:
        t = time.perf_counter()
        await page.goto(url)
        await page.get_by_role("button", name="Train", exact=True).wait_for()
        times[step] = time.perf_counter() - t

        step = STEPS[1]
        t = time.perf_counter()
        await page.get_by_role("button", name="Train", exact=True).click()
        metric = main_area(page).locator('[data-testid="stMetric"]', has_text="Test accuracy")
        await metric.wait_for()
        times[step] = time.perf_counter() - t

        step = STEPS[2]
        t = time.perf_counter()
        await go(page, "Forget set")
        await pick_class(page, cls)
        # a person whose click seems lost clicks again: each extra click is counted and
        # reported (a click that never takes effect is a lost click, not a slow page)
        confirm = main_area(page).get_by_role("button", name="Use this forget set")
        stored = main_area(page).get_by_text("Forget set stored")
        for attempt in range(CONFIRM_TRIES):
            seen = await _page_state(page, confirm)  # what the click met
            await confirm.click()
            try:
                await stored.wait_for(timeout=CONFIRM_WAIT_S * 1000)
                break
            except Exception:  # noqa: BLE001 - not taken within the wait
                if attempt == CONFIRM_TRIES - 1:
                    raise
                out["extra_clicks"] = out.get("extra_clicks", 0) + 1
                # for finding the lost click's cause: the state at the click and now, and a shot
                out.setdefault("lost_clicks", []).append(
                    {"at_click": seen, "after": await _page_state(page, confirm)}
                )
                FAILED_SHOTS.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(Exception):
                    await page.screenshot(
                        path=str(FAILED_SHOTS / f"session-{k}-lost-click-{attempt + 1}.png"),
                        full_page=True,
                    )
        times[step] = time.perf_counter() - t

        step = STEPS[3]
        t = time.perf_counter()
        await go(page, "Unlearn")
        await main_area(page).get_by_role("button", name="Run", exact=True).click()
        await main_area(page).get_by_role("heading", name="Results").wait_for()
        times[step] = time.perf_counter() - t
        text = await main_area(page).inner_text()
        if "failed" in text.lower():
            raise RuntimeError("a method failed on the Unlearn page")

        step = STEPS[4]
        t = time.perf_counter()
        await go(page, "Compare")
        await main_area(page).locator('[data-testid="stTable"]').first.wait_for()
        times[step] = time.perf_counter() - t

        # what this session shows: its sidebar's forget classes and its URL's ids (written
        # after the page's script run, so waited for)
        got = await page.wait_for_function(
            "() => new URL(location.href).searchParams.get('run')", timeout=120_000
        )
        out["run"] = await got.json_value()
        side = await page.locator('[data-testid="stSidebar"]').inner_text()
        out["sidebar_classes"] = sorted(set(re.findall(r"\bclass (\d+)\b", side)))
        out["url"] = await page.evaluate("() => window.location.href")
        # its owner id: the browser's owner cookie (a browser that keeps cookies has no
        # owner in its URL)
        cookies = {c["name"]: c["value"] for c in await ctx.cookies()}
        out["owner"] = cookies.get("unlearn_owner")
    except Exception as exc:  # noqa: BLE001 - counted and reported, the others go on
        out["error"] = f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        FAILED_SHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(FAILED_SHOTS / f"session-{k}.png"), full_page=True)
    finally:
        await ctx.close()


#: the newcomer's page load, from the browser's Performance API (ms since navigation start):
#: the document, the last of Streamlit's static files received, how many resources (static
#: files and media) and their bytes
TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  return {html: nav ? nav.responseEnd : null,
          assets: Math.max(0, ...res.filter(r => r.name.includes('/static/'))
                                  .map(r => r.responseEnd)),
          n: res.length, kb: res.reduce((a, r) => a + (r.encodedBodySize || 0), 0) / 1024};
}"""


async def newcomer(browser, url: str, delay: float, out: dict, server_pid: int) -> None:
    """A person who opens the app while the others work: seconds to the first page drawn (its
    Train button, or the default model's report once a session has trained it), with where
    they went (the document, the static assets, the server's CPU in the meantime)."""
    await asyncio.sleep(delay)
    ctx = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await ctx.new_page()
    t = time.perf_counter()
    c0 = cpu_seconds(server_pid)
    try:
        await page.goto(url)
        # the Train button, or, where another session has already trained the default model
        # (the server shares it), that model's report: the first page drawn either way
        train = page.get_by_role("button", name="Train", exact=True)
        report = main_area(page).locator('[data-testid="stMetric"]', has_text="Test accuracy")
        await train.or_(report).first.wait_for(timeout=120_000)
        out["first page"] = time.perf_counter() - t
        out["saw"] = "Train button" if await train.count() else "the shared model's report"
        out["server cpu"] = cpu_seconds(server_pid) - c0
        out.update(await page.evaluate(TIMING_JS))
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        FAILED_SHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(FAILED_SHOTS / "newcomer.png"), full_page=True)
    finally:
        await ctx.close()


def niced_chromium(niceness: int, folder: Path) -> str:
    """A launcher that starts Chromium (and so its renderers) ``niceness`` lower."""
    path = folder / "chromium-niced"
    path.write_text(f'#!/bin/sh\nexec nice -n {niceness} "{chromium_path()}" "$@"\n')
    path.chmod(0o755)
    return str(path)


async def drive(
    url: str,
    n: int,
    newcomer_after: float,
    server_pid: int,
    browsers_nice: int,
    tmp: Path,
    shared: bool = False,
) -> tuple[list[dict], dict, float]:
    """The sessions in one Chromium, the newcomer in another (another person's browser), or
    in the sessions' one where ``shared`` (as sessions 20-22 measured it); ``browsers_nice``
    lowers the sessions' browser's priority (0: as the server's)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        exe = niced_chromium(browsers_nice, tmp) if browsers_nice else chromium_path()
        browser = await p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        own = (
            browser
            if shared
            else await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        )
        outs: list[dict] = [{} for _ in range(n)]
        late: dict = {}
        t0 = time.perf_counter()
        await asyncio.gather(
            *(session(browser, url, k, outs[k]) for k in range(n)),
            newcomer(own, url, newcomer_after, late, server_pid),
        )
        wall = time.perf_counter() - t0
        await browser.close()
        if own is not browser:
            await own.close()
    return outs, late, wall


def leak_check(outs: list[dict], home: Path) -> list[str]:
    """Problems: a session whose sidebar names another class, whose run is not its own class
    or owner, or two sessions on one run."""
    from unlearn_core.store import RunStore

    store = RunStore(home)
    problems = []
    runs = [o.get("run") for o in outs if not o.get("error")]
    if len(runs) != len(set(runs)):
        problems.append(f"sessions share a run: {runs} ({[o.get('url') for o in outs]})")
    for o in outs:
        if o.get("error"):
            continue
        if o.get("sidebar_classes") != [str(o["cls"])]:
            problems.append(f"session {o['k']} (class {o['cls']}) shows {o['sidebar_classes']}")
        if not o.get("run"):
            problems.append(f"session {o['k']}: no run in its URL")
            continue
        rec = store.get_comparison(o["run"])
        if rec.forget != f"class {o['cls']}":
            problems.append(f"session {o['k']}: its run {rec.id} forgot {rec.forget!r}")
        if not rec.owner or rec.owner != o.get("owner"):
            problems.append(f"session {o['k']}: run {rec.id} owner {rec.owner!r} != {o['owner']}")
        for method, mid in rec.models.items():  # the original may be another session's: the
            if method != "original" and store.get_model(mid).owner != rec.owner:  # same model
                problems.append(f"session {o['k']}: {method} model {mid} of another owner")
    owners = [o.get("owner") for o in outs if not o.get("error")]
    if len(owners) != len(set(owners)):
        problems.append(f"sessions share an owner id: {owners}")
    return problems


def report(
    n,
    outs,
    late,
    wall,
    sampler,
    tracebacks,
    problems,
    max_jobs,
    started,
    browsers_nice=0,
    shared=False,
) -> str:
    done = [o for o in outs if not o.get("error")]
    lines = [
        f"## {n} sessions · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}",
        "",
        f"- machine: {os.cpu_count()} CPU cores; load average (1 min) before the run "
        f"{sampler.loads[0] if sampler.loads else float('nan'):.2f}, during it "
        f"mean {statistics.mean(sampler.loads) if sampler.loads else float('nan'):.2f}, "
        f"max {max(sampler.loads, default=float('nan')):.2f}",
        f"- job queue limit: {max_jobs or 'default (one per core)'}",
        f"- completed sessions: {len(done)} of {n}; failed: {n - len(done)}",
        "- sessions that clicked *Use this forget set* again after "
        f"{CONFIRM_WAIT_S} s without effect: "
        + (", ".join(f"{o['k']} ({o['extra_clicks']}x)" for o in outs if o.get("extra_clicks"))
           or "none"),
        f"- all sessions finished (wall): {wall:.1f} s",
        "- newcomer's first page during the load: "
        + (f"{late['first page']:.1f} s to {late['saw']} (document received at "
           f"{late['html'] / 1000:.1f} s, "
           f"Streamlit's static files by {late['assets'] / 1000:.1f} s ({late['n']} resources, "
           f"{late['kb']:.0f} kB); the server's CPU in the meantime {late['server cpu']:.1f} s)"
           if "first page" in late else f"failed ({late})"),
        f"- the sessions' browser: nice {browsers_nice}; the newcomer's: "
        + ("a tab of it" if shared else "a browser of its own, nice 0"),
        f"- peak server memory (resident): {sampler.peak_mb:.0f} MB; with its worker "
        f"processes: {sampler.peak_total_mb:.0f} MB",
        f"- tracebacks in the server log: {tracebacks}",
        "- cross-session leak check: "
        + ("none (each sidebar names its own class only; each URL's run is its own class, "
           "stored under its own owner id; no shared runs)" if not problems
           else "; ".join(problems)),
        "",
        "| step | n | p50 (s) | p95 (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
    ]  # fmt: skip
    for step in STEPS:
        v = [o["times"][step] for o in outs if step in o.get("times", {})]
        if v:
            lines.append(
                f"| {step} | {len(v)} | {pct(v, 0.5):.1f} | {pct(v, 0.95):.1f} | {max(v):.1f} |"
            )
    for o in outs:
        if o.get("error"):
            lines.append(f"\nSession {o['k']} failed at {o['error']}")
        for lost in o.get("lost_clicks", []):
            lines.append(
                f"\nSession {o['k']}: a *Use this forget set* click without effect; at the "
                f"click {lost['at_click']}, {CONFIRM_WAIT_S} s later {lost['after']} (screenshot "
                f"in {FAILED_SHOTS.relative_to(ROOT)})"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--newcomer-after", type=float, default=20.0, help="seconds into the load")
    ap.add_argument("--max-jobs", type=int, default=None, help="UNLEARN_MAX_JOBS for the server")
    ap.add_argument(
        "--browsers-nice", type=int, default=0,
        help="run the sessions' Chromium this much lower in priority than the server and the "
        "newcomer's browser (in a class, the browsers are not on the server's cores)",
    )  # fmt: skip
    ap.add_argument(
        "--newcomer-shares-browser", action="store_true",
        help="open the newcomer as one more tab of the sessions' Chromium (sessions 20-22)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=None, help="write (or --append) the figures")
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args(argv)
    if chromium_path() is None:
        print("no Chromium found", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="unlearn-load-"))
    home = tmp / "runs"
    os.environ["UNLEARN_HOME"] = str(home)
    if args.max_jobs:
        os.environ["UNLEARN_MAX_JOBS"] = str(args.max_jobs)
    log = tmp / "server.log"
    started = time.time()
    load_before = os.getloadavg()[0]
    server = AppServer(tmp / "cache", log)
    sampler = Sampler(server.proc.pid)
    sampler.loads.append(load_before)
    sampler.start()
    try:
        outs, late, wall = asyncio.run(
            drive(
                server.url,
                args.sessions,
                args.newcomer_after,
                server.proc.pid,
                args.browsers_nice,
                tmp,
                args.newcomer_shares_browser,
            )  # fmt: skip
        )
    finally:
        sampler.stop.set()
        sampler.join(2)
        server.stop()
    text = log.read_text(errors="replace")
    tracebacks = text.count("Traceback (most recent call last)")
    problems = leak_check(outs, home)
    md = report(
        args.sessions, outs, late, wall, sampler, tracebacks, problems, args.max_jobs, started,
        args.browsers_nice, args.newcomer_shares_browser,
    )  # fmt: skip
    print(md)
    if tracebacks:
        print(text[text.index("Traceback") :][:3000], file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.append and args.out.exists():
            args.out.write_text(args.out.read_text().rstrip() + "\n\n" + md)
        else:
            args.out.write_text("# Load benchmark (`benchmarks/load.py`)\n\n" + md)
    return 0 if not problems and all(not o.get("error") for o in outs) else 1


if __name__ == "__main__":
    sys.exit(main())

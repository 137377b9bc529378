"""Browser timings of the app (issue 11), measured in headless Chromium against the real
``streamlit run app.py``.

Per repetition (a fresh server each time; the browser is started before the server, so its
own start-up is not counted):

* **first visit**: from the server answering ``/_stcore/health`` to the Data & model page
  being interactive: heading, dataset picker and Train button drawn and no script running
  (Streamlit's ``data-test-script-state`` is not ``running``). Target 3 s.
* **second visit**: a new tab of the same browser (its HTTP cache holds Streamlit's
  scripts) opening the app again, a new Streamlit session on the warm server, from ``goto``
  to the same state. Target 1.5 s.
* **other pages**: after training the digits MLP in that session (not timed), each page
  opened from the sidebar, from the click to its heading drawn and no script running.
  Target 1.5 s.
* **bare page** (the yardstick, same repetition): a server running a bare Streamlit script
  with the first page's heading, caption, dataset picker and Train button
  (:data:`BARE_PAGE`), started and visited the same way; its second visit is timed as the
  app's. Target: the app's second visit within 1.2x the bare page's (``second visit /
  bare``, per repetition).

Once (``--embeddings``): a stored comparison (digits + MLP, class 3, SSD and LRP: 1 438
training samples drawn, made with the CLI into the server's run store) opened by its URL;
a first interaction starts the app's UMAP worker, which is given :data:`WARM_UP_S` to warm
up; then Compare -> Embeddings: from the tab's click to the aligned UMAP frame drawn (target
8 s), then from picking the other method to its UMAP frame (target 3 s). The in-process timing of the same frames is
``benchmarks/app_speed.py --library``.

Once (``--scale``): shapes with 50 000 training images picked on the Data & model page, the
CNN trained for one epoch there, then the Forget set page's lasso scatter: from choosing
*Pick samples* to the chart drawn and no script running.

Writes ``benchmarks/results/app_speed.md``. The machine's other load shows in the figures
(load average reported); run it under ``nice`` on a shared machine.

    python benchmarks/app_speed.py [--reps 3] [--embeddings] [--scale] [--library]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))  # the library, also from a checkout without an install
from browser_support import CHROMIUM_ARGS, AppServer, chromium_path, cpu_seconds  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "app_speed.md"
PAGES = [  # sidebar label, heading
    ("2 · Forget set", "Forget set"),
    ("3 · Unlearn", "Unlearn"),
    ("4 · Compare", "Compare: what changed"),
    ("5 · Attack", "Attack: does the model"),
    ("6 · Learn", "Learn: unlearning"),
    ("Runs", "Runs"),
    ("1 · Data & model", "Data & model"),
]
#: seconds given to the UMAP worker's warm-up before the embeddings are timed
WARM_UP_S = 30
TARGETS = {"first visit": 3.0, "second visit": 1.5, "other pages": 1.5}
#: the app's second visit over the bare page's, at most
BARE_RATIO = 1.2
#: the yardstick: the first page's heading, caption, picker and button, nothing else
BARE_PAGE = """import streamlit as st

st.title("Data & model")
st.caption("Step 1: pick the data, look at it, and train the model you will later unlearn from.")
st.subheader("Dataset")
st.selectbox("Dataset", ["digits", "moons", "blobs", "shapes", "your file"])
st.button("Train", type="primary")
"""
STATE_JS = (
    "() => { const e = document.querySelector('[data-test-script-state]');"
    " return e ? e.getAttribute('data-test-script-state') : null; }"
)


@dataclass
class Timings:
    """Seconds per measured step, every repetition kept."""

    runs: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.runs.setdefault(name, []).append(round(seconds, 2))
        print(f"{name}: {seconds:.2f} s", file=sys.stderr, flush=True)


def wait_idle(page, timeout: float = 120.0, settle: float = 0.15) -> None:
    """Until no script runs (checked twice, ``settle`` apart: a rerun may follow a run)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if page.evaluate(STATE_JS) not in ("running", "rerunRequested", None):
            time.sleep(settle)
            if page.evaluate(STATE_JS) not in ("running", "rerunRequested", None):
                return
        time.sleep(0.02)
    raise TimeoutError("the app kept running a script")


def main_area(page):
    return page.locator('[data-testid="stMain"]')


def interactive_first_page(page) -> None:
    main_area(page).get_by_role("heading", name="Data & model").wait_for()
    main_area(page).get_by_text("Dataset", exact=True).first.wait_for()
    page.get_by_role("button", name="Train", exact=True).wait_for()
    wait_idle(page)


def open_page(page, label: str, heading: str) -> float:
    t0 = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
    main_area(page).get_by_role("heading", level=1, name=heading).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - t0


def train_in_app(page, timeout: float = 300.0) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Next: choose what to forget").wait_for(timeout=timeout * 1000)
    wait_idle(page)


def one_repetition(browser, t: Timings, cache: Path, *, visits_only: bool = False) -> None:
    os.environ["UNLEARN_HOME"] = str(cache / "runs")  # a private run store
    server = AppServer(cache, cache / "server.log")
    pid = server.proc.pid
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        c0 = cpu_seconds(pid)
        page.goto(server.url)
        interactive_first_page(page)
        t.add("first visit", time.perf_counter() - server.up_at)
        t.add("first visit: server CPU seconds (information)", cpu_seconds(pid) - c0)
        main_area(page).get_by_text("Architecture").first.wait_for()  # the full page
        wait_idle(page)
        t.add("first visit: full page drawn (information)", time.perf_counter() - server.up_at)
        page.close()
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        c0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        page.goto(server.url)
        interactive_first_page(page)
        t.add("second visit", time.perf_counter() - t0)
        t.add("second visit: server CPU seconds (information)", cpu_seconds(pid) - c0)
        if visits_only:
            ctx.close()
            return
        t0 = time.perf_counter()
        train_in_app(page)
        t.add("train digits MLP in the app (information)", time.perf_counter() - t0)
        for label, heading in PAGES:
            t.add(f"page: {label}", open_page(page, label, heading))
        ctx.close()
    finally:
        server.stop()


class BareServer:
    """``streamlit run`` of :data:`BARE_PAGE`, with the app server's flags."""

    def __init__(self, cache: Path) -> None:
        from browser_support import free_port

        script = cache / "bare_page.py"
        script.write_text(BARE_PAGE)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(cache / "server-bare.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless=true",
             f"--server.port={self.port}", "--server.address=127.0.0.1",
             "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
            cwd=cache, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        end = time.time() + 90
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("the bare streamlit server exited early")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("the bare streamlit server did not become healthy")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def bare_page(browser, t: Timings, cache: Path) -> None:
    """The yardstick: the bare page's first and second visit, measured as the app's."""
    server = BareServer(cache)
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url)
        interactive_first_page(page)
        page.close()
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        t0 = time.perf_counter()
        page.goto(server.url)
        interactive_first_page(page)
        t.add("bare page: second visit", time.perf_counter() - t0)
        ctx.close()
    finally:
        server.stop()


def make_comparison(home: Path) -> str:
    """A stored comparison with models (digits + MLP, class 3, SSD and LRP) via the CLI;
    returns its run id."""
    env = {**os.environ, "UNLEARN_HOME": str(home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "unlearn_core.cli", "compare", "--dataset", "digits",
           "--model", "mlp", "--forget-class", "3", "--methods", "ssd,lrp", "--json",
           "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    listed = subprocess.run(
        [sys.executable, "-m", "unlearn_core.cli", "runs", "list", "--json"],
        check=True, env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    runs = json.loads(listed.stdout)
    runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
    return next(r["id"] for r in runs if r.get("kind", "comparison") == "comparison")


def umap_title_drawn(page, timeout: float = 180.0, want: str = "aligned UMAP") -> None:
    """Until the embedding chart's title reads ``Penultimate features: <want>``."""
    end = time.perf_counter() + timeout
    js = (
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(g => g.layout &&"
        f" g.layout.title && /features: {want}/.test(g.layout.title.text || ''))"
    )
    while time.perf_counter() < end:
        if page.evaluate(js):
            return
        time.sleep(0.05)
    raise TimeoutError("no aligned UMAP frame")


def embeddings(browser, t: Timings, cache: Path) -> None:
    home = cache / "runs"
    rid = make_comparison(home)
    os.environ["UNLEARN_HOME"] = str(home)
    server = AppServer(cache, cache / "server-embed.log")
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(f"{server.url}/compare?run={rid}")
        main_area(page).get_by_role("heading", level=1, name="Compare: what changed").wait_for()
        wait_idle(page)
        # the app starts its UMAP worker (and its warm-up) at a session's first interaction
        page.get_by_role("tab", name="Per class").click()
        wait_idle(page)
        time.sleep(WARM_UP_S)
        t0 = time.perf_counter()
        page.get_by_role("tab", name="Embeddings").click()
        umap_title_drawn(page)
        t.add("embeddings: first aligned UMAP frame (1 438 x 3)", time.perf_counter() - t0)
        wait_idle(page)
        box = main_area(page).locator('[data-testid="stSelectbox"]').first
        box.click()
        t0 = time.perf_counter()
        page.get_by_role("option").nth(1).click()
        umap_title_drawn(page, want="PCA")  # the new method's PCA frame comes first
        umap_title_drawn(page)
        t.add("embeddings: another method's UMAP frame", time.perf_counter() - t0)
        ctx.close()
    finally:
        server.stop()
        os.environ.pop("UNLEARN_HOME", None)


def scale(browser, t: Timings, cache: Path) -> None:
    """shapes-50k on the Data page, one epoch of the CNN, the forget-set scatter."""
    os.environ["UNLEARN_HOME"] = str(cache / "runs")
    server = AppServer(cache, cache / "server-scale.log")
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(300_000)
        page.goto(server.url)
        interactive_first_page(page)
        m = main_area(page)
        m.locator('[data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Shapes (procedural colour images, 10 classes)").click()
        wait_idle(page)
        box = m.locator('[data-testid="stSelectbox"]', has_text="Training images")
        box.click()
        t0 = time.perf_counter()
        page.get_by_role("option", name="50,000").click()
        page.get_by_text("50000 train").first.wait_for()
        wait_idle(page)
        t.add("shapes-50k: choose it on the Data page (load included)", time.perf_counter() - t0)
        arch_box = m.locator('[data-testid="stSelectbox"]', has_text="Architecture")
        if "Small CNN" not in arch_box.inner_text():  # images default to the CNN
            arch_box.click()
            page.get_by_role("option", name="Small CNN").click()
            wait_idle(page)
        page.screenshot(path=str(cache / "scale-arch.png"), full_page=True)
        epochs = m.get_by_label("Epochs")
        epochs.fill("1")
        epochs.press("Tab")
        wait_idle(page)
        page.screenshot(path=str(cache / "scale-before-train.png"), full_page=True)
        if epochs.input_value() != "1":
            raise RuntimeError("could not set the epochs to 1")
        t0 = time.perf_counter()
        train_in_app(page, timeout=600)
        t.add("shapes-50k: CNN, 1 epoch, in the app (information)", time.perf_counter() - t0)
        open_page(page, "2 · Forget set", "Forget set")
        t0 = time.perf_counter()
        m.get_by_text("Pick samples", exact=True).click()
        m.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.wait_for()
        wait_idle(page)
        t.add("shapes-50k: forget-set scatter drawn", time.perf_counter() - t0)
        t0 = time.perf_counter()
        m.get_by_text("Whole classes", exact=True).click()
        wait_idle(page)
        m.get_by_text("Pick samples", exact=True).click()
        m.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.wait_for()
        wait_idle(page)
        t.add("shapes-50k: forget-set scatter again (cached)", time.perf_counter() - t0)
        ctx.close()
    finally:
        server.stop()


def library_embeddings(t: Timings) -> None:
    """In-process: the UMAP worker's first frame and another method's, on shapes-2000 CNN
    features of 1 500 samples (a trained original, a copy trained with another seed as
    'retrain', and two perturbed copies as methods)."""
    import numpy as np

    from unlearn_core.analysis.embeddings import UmapProcess, model_features
    from unlearn_core.data import load_dataset
    from unlearn_core.training import default_recipe, train_new_model

    data = load_dataset("shapes", n_train=2000)
    recipe = default_recipe("cnn")
    orig, _ = train_new_model(data, "cnn", recipe, seed=0, device="cpu")
    other, _ = train_new_model(data, "cnn", recipe, seed=1, device="cpu")
    ids = np.sort(np.random.default_rng(0).choice(data.n_train, 1500, replace=False))
    f_orig, f_other = model_features([orig, other], data.x_train[ids])
    rng = np.random.default_rng(0)
    m1 = f_orig + 0.05 * f_orig.std() * rng.normal(size=f_orig.shape).astype(np.float32)
    m2 = f_orig + 0.2 * f_orig.std() * rng.normal(size=f_orig.shape).astype(np.float32)
    proc = UmapProcess()
    t0 = time.perf_counter()
    proc.warm_up.result()
    t.add("library: UMAP worker warm-up (information)", time.perf_counter() - t0)
    steps: list[float] = []
    t0 = time.perf_counter()
    proc.frames("bench", {"original": f_orig, "m1": m1, "retrain": f_other},
                progress=lambda f, m: steps.append(f))  # fmt: skip
    t.add("library: first aligned frame (1 500 x 3)", time.perf_counter() - t0)
    t.notes.append(f"The first frame's progress moved {len(steps)} times (0 to {max(steps):.0%}).")
    t0 = time.perf_counter()
    proc.frames("bench", {"original": f_orig, "m2": m2, "retrain": f_other})
    t.add("library: another method's frame", time.perf_counter() - t0)
    proc.shutdown()


def bare_ratios(t: Timings) -> list[float]:
    """The app's second visit over the bare page's, per repetition (both in the same one)."""
    app, bare = t.runs.get("second visit", []), t.runs.get("bare page: second visit", [])
    return [round(a / b, 2) for a, b in zip(app, bare, strict=False) if b > 0]


def summary_rows(t: Timings) -> list[tuple[str, str, str, str]]:
    rows = []
    ratios = bare_ratios(t)
    if ratios:
        t.runs["second visit / bare page (ratio)"] = ratios
    for name, values in t.runs.items():
        goal = next((f"<= {v:g} s" for k, v in TARGETS.items() if name == k), "")
        if name.startswith("page: "):
            goal = f"<= {TARGETS['other pages']:g} s"
        if name.startswith("embeddings: first") or name.startswith("library: first"):
            goal = "<= 8 s"
        if name.startswith("embeddings: another") or name.startswith("library: another"):
            goal = "<= 3 s"
        unit = " s"
        if name == "second visit / bare page (ratio)":
            goal, unit = f"<= {BARE_RATIO:g} x", " x"
        med = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else ""
        met = ""
        if goal:
            met = "yes" if med <= float(goal.split()[1]) else "NO"
        rows.append((name, goal or "(information)", f"{med:.2f}{unit}", spread, met))
    return rows


def write(t: Timings, out: Path, args, load: tuple) -> None:
    lines = [
        "# App speed in the browser (issue 11)",
        "",
        f"Written by `python benchmarks/app_speed.py` ({len(t.runs.get('first visit', []))} "
        "repetitions; a fresh server each). Headless Chromium on the same machine as the server: "
        f"{os.cpu_count()} CPU cores, shared with other sessions' work. Load average (1/5/15 "
        f"min) {[round(v, 2) for v in load[0]]} at the start, {[round(v, 2) for v in load[1]]} "
        f"at the end{' of rebuilding this table from the run log' if args.from_log else ''}.",
        "",
        "| step | goal | median | range | met |",
        "|---|---|---|---|---|",
    ]
    for name, goal, med, spread, met in summary_rows(t):
        lines.append(f"| {name} | {goal} | {med} | {spread} | {met} |")
    lines += ["", "Every measurement (seconds):", ""]
    lines += [f"- {k}: {', '.join(map(str, v))}" for k, v in t.runs.items()]
    if t.notes or args.note:
        lines += ["", *t.notes, *([args.note] if args.note else [])]
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--embeddings", action="store_true", help="the Compare page's UMAP frames")
    ap.add_argument("--scale", action="store_true", help="shapes-50k on the forget-set page")
    ap.add_argument("--library", action="store_true", help="in-process UMAP frame timings")
    ap.add_argument(
        "--visits-only", action="store_true",
        help="first and second visits and the bare page only (no training, no other pages)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--note", default="")
    ap.add_argument("--from-log", type=Path, help="rebuild the table from a run's stderr log")
    args = ap.parse_args(argv)
    if chromium_path() is None:
        print("no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    t = Timings()
    if args.from_log:
        for line in args.from_log.read_text().splitlines():
            name, sep, rest = line.rpartition(": ")
            if sep and rest.endswith(" s") and not line.startswith(" "):
                t.runs.setdefault(name, []).append(float(rest[:-2]))
    load0 = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(
            prefix="app-speed-", dir=os.environ.get("APP_SPEED_TMP")
        ) as tmp,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for k in range(args.reps):
            cache = Path(tmp) / f"rep{k}"
            cache.mkdir()
            if k % 2:  # the yardstick first in every other repetition (the load drifts)
                bare_page(browser, t, cache)
            one_repetition(browser, t, cache, visits_only=args.visits_only)
            if not k % 2:
                bare_page(browser, t, cache)
        for wanted, name, fn in (
            (args.embeddings, "embed", embeddings),
            (args.scale, "scale", scale),
        ):
            if wanted:
                (Path(tmp) / name).mkdir()
                try:
                    fn(browser, t, Path(tmp) / name)
                except Exception as exc:  # noqa: BLE001 - keep what was measured, say what failed
                    t.notes.append(f"The {fn.__name__} section failed: {str(exc).splitlines()[0]}")
        browser.close()
    if args.library:
        library_embeddings(t)
    write(t, args.out, args, (load0, os.getloadavg()))
    for row in summary_rows(t):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

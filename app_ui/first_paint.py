"""The first page's first paint on a freshly started server, before torch is imported.

A new server has imported Streamlit but not torch, plotly and the library (~3-5 s on a
2-core machine). Until they are in, the Data & model page (its page file, so that its widgets
are the full page's widgets) is drawn from this module alone:
its heading, the dataset picker and the Train button, with the same widget keys the full
page uses, while a background thread imports the heavy modules; a fragment polls for them
and then reruns the app, which draws the full page. A choice made in the meantime is kept
(the picker writes the dataset into the session; a click on Train starts training as soon
as the full page runs). Importing this module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading

import streamlit as st

#: built-in datasets offered first, with their builder keyword defaults
BUILTIN = {
    "digits": {},
    "moons": {"n_train": 600, "noise": 0.2},
    "blobs": {"n_train": 600, "centers": 4},
    "shapes": {"n_train": 2000, "size": 32},
    "facts": {"n_people": 200, "facts_per_person": 10, "n_world": 200, "n_heldout": 20},
}
SOURCES = ["digits", "moons", "blobs", "shapes", "facts", "your file"]
SOURCE_LABELS = {
    "digits": "Digits (8×8 handwritten, 10 classes)",
    "moons": "Moons (2-D toy points, 2 classes)",
    "blobs": "Blobs (2-D toy points, 4 classes)",
    "shapes": "Shapes (procedural colour images, 10 classes)",
    "facts": "Facts (fictitious people's facts as questions and answers: text)",
    "your file": "Your own file…",
}
SOURCE_HELP = "Digits is the demo."
TITLE = "Data & model"
CAPTION = "Step 1: pick the data, look at it, and train the model you will later unlearn from."
#: set in the session by a click on the first paint's Train button
TRAIN_ASAP = "_p1_train_asap"
#: session key: whether this script run draws the first paint (decided once, by the entry)
LIGHT = "_light_paint"
#: modules that libraries read straight from ``sys.modules`` without importing them (plotly
#: and narwhals take pandas and pyarrow from there when they are present): one that another
#: thread is still importing is seen half-initialized ("partially initialized module 'pandas'
#: has no attribute 'Series'", issue 24). :func:`settle_imports` imports them whole on the
#: script thread before any full page runs (waiting for a warm-up still importing them); the
#: warm-up takes them right after torch, so that wait is short
PEEKED = ("numpy", "pyarrow", "pandas")
#: what the full app imports (the pages' shared modules and the library)
HEAVY = (
    "torch",
    *PEEKED,
    "plotly.graph_objects",
    "app_ui.common",
    "app_ui.persist",
    "unlearn_core.store.checkpoints",
    "unlearn_core.experiment",
    "unlearn_core.evaluation.metrics",
    "unlearn_core.plots.setup",
    "unlearn_core.selection",
    "unlearn_core.training",
)
#: what the other pages import first (the Styler, the tables, the result plots), imported at
#: the first interaction after a full page (:func:`note_run`: a click, a choice, a page
#: change: its user is about to need the other pages) or :data:`LATER_FALLBACK_S` after
#: :data:`HEAVY`, whichever comes first. Imported on a timer 5 s after the heavy ones (and
#: scikit-learn when the first page imported the jobs), they ran just as a second tab opened
#: and held the interpreter lock through its visit: the server's CPU seconds in that visit
#: were 0.42-0.57, now 0.04-0.06 (``benchmarks/results/app_speed_issue23.md``)
LATER = (
    "sklearn.svm",  # the membership attack: its first import takes seconds
    "pandas.io.formats.style",
    "app_ui.tables",
    "unlearn_core.methods",
    "unlearn_core.plots.results",
    "unlearn_core.plots.audit",
)
LATER_FALLBACK_S = 30.0
#: seconds between the fallback polls for the imports (normally the import thread wakes the
#: waiting sessions itself; a poll is a script run, which must stay rare)
POLL_S = 2.0
#: seconds the heavy imports wait after the first paint's script: importing torch holds the
#: interpreter lock for long stretches, which would slow the server sending that paint
IMPORT_DELAY_S = 1.0

_ready = threading.Event()
_started = threading.Event()
_interacted = threading.Event()  # a session interacted after its full page
_lock = threading.Lock()
_waiting: set[str] = set()  # ids of sessions showing the first paint
_thumbs: dict[bytes, str] = {}  # thumbnails_svg's last results, by content


def _loaded(name: str) -> bool:
    mod = sys.modules.get(name)
    return mod is not None and not getattr(getattr(mod, "__spec__", None), "_initializing", False)


def heavy_ready() -> bool:
    """Whether the full app can run without a long wait: torch (most of the import time) is
    imported, or the import thread has ended (failing or not). The rest of :data:`HEAVY`
    then imports in a second or two, or is waited for (an ``import`` waits for another
    thread's import of the same module; :func:`settle_imports` for :data:`PEEKED`)."""
    if not _ready.is_set() and _loaded("torch"):
        _ready.set()
    return _ready.is_set()


def settle_imports() -> None:
    """Import :data:`PEEKED` on the script thread before a full page runs: where the warm-up
    thread is importing one, this waits for it (Python's per-module import lock), so no page
    code finds it half-initialized in ``sys.modules``; once loaded this costs a dict lookup."""
    for name in PEEKED:
        if not _loaded(name):
            importlib.import_module(name)


def _import_all() -> None:
    try:
        for name in HEAVY:
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the full page's own import then shows the error
        pass
    finally:
        _ready.set()
        _wake_waiting()
    _interacted.wait(LATER_FALLBACK_S)
    for name in LATER:
        with contextlib.suppress(Exception):  # the page that needs it shows the error
            importlib.import_module(name)


def note_run() -> None:
    """After every script run of the app (``app.py``): a session's second full-app run (an
    interaction after its full page) starts the import of :data:`LATER`."""
    from app_ui.state import SCRIPT_RUNS

    if not _interacted.is_set() and SCRIPT_RUNS.get() >= 2:
        _interacted.set()


def _wake_waiting() -> None:
    """Ask every session showing the first paint to rerun (on the server's event loop). Uses
    Streamlit's runtime internals; where they differ, the fragment's poll does it."""
    try:
        from streamlit.runtime import Runtime

        runtime = Runtime.instance()
        loop = runtime._get_async_objs().eventloop
        for sid in list(_waiting):
            info = runtime._session_mgr.get_active_session_info(sid)
            if info is not None:
                loop.call_soon_threadsafe(_wake, info.session)
    except Exception:  # noqa: BLE001 - the poll is the fallback
        pass


def _wake(session) -> None:
    """Rerun ``session`` (on the event loop) if it is idle on the first paint. A session whose
    script is running is left alone: that run is the first paint (its fragment's poll reruns
    it) or a page its user opened meanwhile — a rerun without a client state would stop that
    run and draw the first page again, losing the click."""
    from streamlit.runtime.app_session import AppSessionState

    if session.id in _waiting and session._state == AppSessionState.APP_NOT_RUNNING:
        session.request_rerun(None)


def left_first_paint() -> None:
    """This session draws a full page now (called at the start of every full run): the
    server no longer wakes it when the imports are in."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None:
        _waiting.discard(ctx.session_id)


def start_imports() -> None:
    """Import the heavy modules in a background thread (once per server), after
    :data:`IMPORT_DELAY_S`."""
    with _lock:
        if _started.is_set():
            return
        _started.set()
    timer = threading.Timer(IMPORT_DELAY_S, _import_all)
    timer.name, timer.daemon = "warm-imports", True
    timer.start()


#: thumbnails per row in :func:`thumbnails_svg` (two per class of a 10-class set: two rows)
THUMBS_PER_ROW = 10
#: the caption under a thumbnail: Streamlit's caption font, size and colour
CAPTION_STYLE = "font: 14px 'Source Sans Pro', sans-serif; fill: rgba(49, 51, 63, 0.6)"
#: a caption line's height and a character's width at that font (``plots.setup.caption_width``)
LINE_PX = 18
PX_PER_CHAR = 8.0


def _wrap(caption: str, width: int) -> list[str]:
    """``caption`` in lines of whole words that fit ``width`` pixels (as ``st.image`` wraps a
    caption; ``plots.setup.caption_width`` makes room for the longest word)."""
    out: list[str] = []
    for word in caption.split() or [""]:
        if out and (len(out[-1]) + 1 + len(word)) * PX_PER_CHAR <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


def thumbnails_svg(tiles, captions, per_row: int = THUMBS_PER_ROW) -> str:
    """The first page's sample thumbnails as one SVG (each tile a PNG inside it, its caption
    under it), where ``st.image(tiles, caption=captions)`` would draw each tile as an image of
    its own: one element instead of forty, and no image requests, so a visit draws the page
    sooner. ``tiles``: RGB uint8 arrays of one size (``plots.setup.tiles``). The last few
    results are kept (by content): every visit draws the same few datasets."""
    import base64
    import hashlib
    import io
    from html import escape

    from PIL import Image

    key = hashlib.blake2b(repr(list(captions)).encode(), digest_size=16)
    for tile in tiles:
        key.update(tile.tobytes())
    key.update(f"{per_row}".encode())
    with _lock:
        if key.digest() in _thumbs:
            return _thumbs[key.digest()]
    if not len(tiles):
        return "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'></svg>"
    h, w = tiles[0].shape[:2]
    lines = [_wrap(str(c), w) for c in captions]
    cap_h = 8 + LINE_PX * max(len(ls) for ls in lines)
    cols = max(1, min(per_row, len(tiles)))
    rows = -(-len(tiles) // cols)
    width, height = cols * w, rows * (h + cap_h)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='Sample images'>"
    ]
    for i, (tile, caption) in enumerate(zip(tiles, lines, strict=True)):
        buf = io.BytesIO()
        Image.fromarray(tile).save(buf, format="PNG")
        x, y = (i % cols) * w, (i // cols) * (h + cap_h)
        data = base64.b64encode(buf.getvalue()).decode()
        spans = "".join(
            f"<tspan x='{x + w / 2:g}' y='{y + h + 17 + LINE_PX * k}'>{escape(line)}</tspan>"
            for k, line in enumerate(caption)
        )
        parts.append(
            f"<image x='{x}' y='{y}' width='{w}' height='{h}' href='data:image/png;base64,{data}'"
            " style='image-rendering: pixelated'/>"
            f'<text text-anchor="middle" style="{CAPTION_STYLE}">{spans}</text>'
        )
    parts.append("</svg>")
    svg = "".join(parts)
    with _lock:
        _thumbs[key.digest()] = svg
        while len(_thumbs) > 8:  # the last few datasets
            _thumbs.pop(next(iter(_thumbs)))
    return svg


@st.fragment(run_every=POLL_S)
def _wait_for_libraries() -> None:
    if heavy_ready():
        st.session_state[LIGHT] = False  # the rerun draws the full page
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        _waiting.discard(ctx.session_id if ctx is not None else "")
        st.rerun(scope="app")


def _train_asap() -> None:
    """The Train button's callback: training starts at the first full page."""
    st.session_state[TRAIN_ASAP] = True


def first_page() -> None:
    """Heading, dataset picker and Train button of the Data & model page, without torch."""
    s = st.session_state
    st.title(TITLE)
    st.caption(CAPTION)
    st.subheader("Dataset")
    spec = s.get("dataset") or {"name": "digits", "params": {}}
    if "p1_source" not in s:
        s["p1_source"] = spec["name"] if spec["name"] in BUILTIN else "your file"
    source = st.selectbox(
        "Dataset", SOURCES, key="p1_source", format_func=SOURCE_LABELS.get, help=SOURCE_HELP
    )
    if source in BUILTIN and spec.get("name") != source:
        s["dataset"] = {"name": source, "params": dict(BUILTIN[source])}
    s.setdefault("_p1_written", {})["p1_source"] = source  # the full page keeps this choice
    st.caption("Loading the libraries (the first visit since the server started)…")
    st.subheader("Model")
    # the click is kept by a callback, as on the full page (a full page's run may be the one
    # that reads this click: it runs the callback this run registered); once clicked, the
    # button gives way to a line saying training follows
    asap = s.get(TRAIN_ASAP)
    if asap or st.button("Train", key="p1_train", type="primary", on_click=_train_asap):
        st.info("Training starts as soon as the libraries are loaded.")
    with st.sidebar:
        st.markdown("### Session")
        st.caption("Loading…")
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None:
        _waiting.add(ctx.session_id)
    start_imports()  # after the widgets: the import holds the interpreter lock for seconds
    _wait_for_libraries()

"""The app's one entry: page config, state, URL restore, the navigation and the sidebar.

``app.py`` calls :func:`run_app`. On a freshly started server Streamlit runs a deep link's page
file (``/compare``) directly, before anything has called ``st.navigation``, and shows a bare list
of ``pages/``; every page therefore starts with :func:`through_app`, which routes such a run
through :func:`run_app` (the app's own navigation, which then runs the page).
"""

from __future__ import annotations

import streamlit as st

from app_ui.icons import PAGE_ICONS
from app_ui.state import IN_APP_RUN, LIGHT, SCRIPT_RUNS


def _page(path: str, title: str, **kw) -> st.Page:
    return st.Page(path, title=title, icon=PAGE_ICONS[path], **kw)


def run_app() -> None:
    from app_ui import first_paint

    st.set_page_config(page_title="unlearning-lab", page_icon="assets/logo.png", layout="wide")
    first = _page("pages/data_model.py", "1 · Data & model", default=True)
    nav = st.navigation(
        {
            "Workflow": [
                first,
                _page("pages/forget_set.py", "2 · Forget set"),
                _page("pages/unlearn.py", "3 · Unlearn"),
                _page("pages/compare.py", "4 · Compare"),
                _page("pages/attack.py", "5 · Attack"),
                _page("pages/audit.py", "5b · Audit"),
                _page("pages/inversion.py", "5c · Inversion"),
            ],
            "Read": [_page("pages/learn.py", "6 · Learn")],
            "History": [_page("pages/runs.py", "Runs")],
        }
    )
    light = False
    if not first_paint.heavy_ready():
        light = nav.title == first.title and not st.query_params
    LIGHT.set(light)
    if light:  # the page draws itself torch-free (before its through_app); the app reruns
        nav.run()  # once the imports are done
        return

    first_paint.left_first_paint()  # (before the wait: a click away is not undone by a wake)
    first_paint.settle_imports()  # nothing half-imported by the warm-up reaches the page
    from app_ui import jobs
    from app_ui.common import init_state, sidebar, warm_up_in_background
    from app_ui.url_state import restore_from_url, show_url_messages, write_url
    from unlearn_core.runtime.device import share_cpu_threads

    share_cpu_threads()  # leave a core to the UMAP worker and the browser
    init_state()
    if SCRIPT_RUNS.setdefault() > 0:  # a session's first interaction, not its first page:
        jobs.job_workers().warm()  # measured, a spawn then slows a second visitor's page 1.4x
    if SCRIPT_RUNS.setdefault() > 0 and nav.title != first.title:
        warm_up_in_background()  # past the first page (no UMAP there): its visits are not slowed
    SCRIPT_RUNS.set(SCRIPT_RUNS.get() + 1)
    restore_from_url()  # a reload, new tab or shared link reopens what the URL names
    show_url_messages()
    jobs.adopt_all()  # a job finished since the last run: its result is shown, on any page
    IN_APP_RUN.set(True)
    try:
        nav.run()
    finally:  # after the page (also when it stops early), so it shows what the page just did
        IN_APP_RUN.set(False)
        write_url()
        sidebar()


def through_app() -> None:
    """Call first in every page file: a page run directly (a cold server's deep link) runs
    the whole app instead, whose navigation runs this page."""
    if not IN_APP_RUN.get():
        run_app()
        st.stop()

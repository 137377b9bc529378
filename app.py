"""unlearning-lab: the Streamlit entry point. Declares the pages; each is a thin view."""

import streamlit as st

from app_ui.common import init_state, sidebar, warm_up_in_background
from app_ui.icons import PAGE_ICONS
from app_ui.persist import adopt_finished_job, restore_from_url, show_url_messages, write_url
from unlearn_core.device import share_cpu_threads

st.set_page_config(page_title="unlearning-lab", page_icon="assets/logo.png", layout="wide")
share_cpu_threads()  # leave a core to the UMAP worker and the browser
init_state()
if st.session_state.setdefault("_script_runs", 0) > 0:
    warm_up_in_background()  # from the first interaction on: the first paint is not slowed
st.session_state["_script_runs"] += 1
restore_from_url()  # a reload, new tab or shared link reopens what the URL names


def _page(path: str, title: str, **kw) -> st.Page:
    return st.Page(path, title=title, icon=PAGE_ICONS[path], **kw)


nav = st.navigation(
    {
        "Workflow": [
            _page("pages/data_model.py", "1 · Data & model", default=True),
            _page("pages/forget_set.py", "2 · Forget set"),
            _page("pages/unlearn.py", "3 · Unlearn"),
            _page("pages/compare.py", "4 · Compare"),
            _page("pages/attack.py", "5 · Attack"),
        ],
        "History": [_page("pages/runs.py", "Runs")],
        "Read": [_page("pages/learn.py", "6 · Learn")],
    }
)
show_url_messages()
adopt_finished_job()
try:
    nav.run()
finally:  # after the page (also when it stops early), so it shows what the page just did
    write_url()
    sidebar()

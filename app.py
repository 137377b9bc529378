"""unlearning-lab: the Streamlit entry point. Declares the pages; each is a thin view."""

import streamlit as st

from pages.common import init_state, sidebar, warm_up_in_background
from unlearn_core.device import share_cpu_threads

st.set_page_config(page_title="unlearning-lab", page_icon="assets/logo.png", layout="wide")
share_cpu_threads()  # leave a core to the UMAP worker and the browser
init_state()
if st.session_state.setdefault("_script_runs", 0) > 0:
    warm_up_in_background()  # from the first interaction on: the first paint is not slowed
st.session_state["_script_runs"] += 1

nav = st.navigation(
    {
        "Workflow": [
            st.Page(
                "pages/data_model.py",
                title="1 · Data & model",
                icon=":material/dataset:",
                default=True,
            ),
            st.Page("pages/forget_set.py", title="2 · Forget set", icon=":material/target:"),
            st.Page("pages/unlearn.py", title="3 · Unlearn", icon=":material/cleaning_services:"),
            st.Page("pages/compare.py", title="4 · Compare", icon=":material/bar_chart:"),
            st.Page("pages/attack.py", title="5 · Attack", icon=":material/policy:"),
        ],
        "Read": [st.Page("pages/learn.py", title="6 · Learn", icon=":material/school:")],
    }
)
sidebar()
nav.run()

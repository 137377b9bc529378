"""unlearning-lab: the Streamlit entry point. Declares the pages; each is a thin view."""

import streamlit as st

from pages.common import init_state, sidebar, warm_up_in_background

st.set_page_config(page_title="unlearning-lab", page_icon="assets/logo.png", layout="wide")
init_state()
warm_up_in_background()

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

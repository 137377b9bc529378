"""unlearning-lab: the Streamlit entry point (a thin view over ``unlearn_core``)."""

import streamlit as st

from unlearn_core.data import list_datasets

st.set_page_config(page_title="unlearning-lab", layout="wide")
st.title("unlearning-lab")
st.write("Datasets available:", ", ".join(list_datasets()))

"""Inversion: what unlearning itself leaks — reconstruct forgotten samples from the weight
change (a thin page over ``app_ui.inversion_view``)."""

import streamlit as st

from app_ui import jobs
from app_ui.common import current_model, require_data_and_model
from app_ui.entry import through_app
from app_ui.inversion_store import INVERSION, current_inversion
from app_ui.inversion_view import EXPLANATION, inversion_form, inversion_progress, show_inversion
from app_ui.registries import current_dataset_quiet

through_app()  # a cold server's deep link runs the app's navigation first

st.title("Inversion: what unlearning itself leaks")
st.caption(
    "An attacker who holds the model before and after unlearning can rebuild the forgotten "
    "images from the difference between the two, and guess their labels."
)
if current_inversion() is None and jobs.of(INVERSION) is None:
    require_data_and_model()  # nothing to show yet: the form needs a model
data, entry = current_dataset_quiet(), current_model()
if data is not None and entry is not None:
    inversion_form(data, entry)
else:  # a stored attack reopened from a link: shown without a model
    st.info("To run a new attack, train or load a model on the Data & model page.")
inversion_progress()
show_inversion()
with st.expander("How does this work?", expanded=False):
    st.markdown(EXPLANATION)

"""Inversion: what unlearning itself leaks — reconstruct forgotten samples from the weight
change (a thin page over ``app_ui.inversion_view``)."""

import streamlit as st

from app_ui.common import require_data_and_model
from app_ui.entry import through_app
from app_ui.inversion_view import EXPLANATION, inversion_form, inversion_progress, show_inversion

through_app()  # a cold server's deep link runs the app's navigation first

st.title("Inversion: what unlearning itself leaks")
st.caption(
    "An attacker who holds the model before and after unlearning can rebuild the forgotten "
    "images from the difference between the two, and guess their labels."
)
data, entry = require_data_and_model()
inversion_form(data, entry)
inversion_progress()
show_inversion(data)
with st.expander("How does this work?", expanded=False):
    st.markdown(EXPLANATION)

import streamlit as st

st.title("data_model")
st.info("This page is being built.")

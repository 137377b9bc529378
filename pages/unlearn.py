import streamlit as st

st.title("unlearn")
st.info("This page is being built.")

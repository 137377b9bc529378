import streamlit as st

st.title("forget_set")
st.info("This page is being built.")

import streamlit as st

st.title("attack")
st.info("This page is being built.")

"""Plotly figures for the app and notebooks (no Streamlit): ``setup`` for data, model and
forget-set views, ``results`` for comparison and attack views."""

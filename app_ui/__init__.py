"""Streamlit code the pages share (state, tables, messages, icons). It lives outside
``pages/`` because Streamlit lists every ``.py`` file there as a page."""

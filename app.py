"""unlearning-lab: the Streamlit entry point. Declares the pages (app_ui/entry.py); each is a
thin view."""

from app_ui.entry import run_app

run_app()

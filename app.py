"""unlearning-lab: the Streamlit entry point. Declares the pages (app_ui/entry.py); each is a
thin view."""

from app_ui.entry import run_app
from app_ui.first_paint import note_run
from unlearn_core.runtime.estimates import keep_timings

# Streamlit runs this file as ``__main__``; a worker process spawned by the app (the UMAP
# worker) re-imports it as ``__mp_main__`` and must not run the app.
if __name__ != "__mp_main__":
    keep_timings()  # measured durations outlive the server: the next one's estimates start there
    try:
        run_app()
    finally:  # also after st.stop / st.rerun: an interaction starts the other pages' imports
        note_run()

"""Streamlit code the pages share. It lives outside ``pages/`` because Streamlit lists every
``.py`` file there as a page. Pages gather inputs and draw; what they draw is computed by the
library (``unlearn_core``) and cached here.

Roughly from the bottom up (no import circle anywhere: ``tests/test_import_graph.py``):

- ``state``: every session-state key and URL parameter, declared once, with typed accessors;
- ``text``, ``icons``, ``first_paint``: wording, page icons, the torch-free first paint;
- ``registries``: the server's caches (jobs, models, comparisons, audits, sweeps, UMAP frames,
  attribution grids, datasets);
- ``jobs``: every background job (its kind; start, find, reload from the URL, adopt, progress);
- ``persist``, ``runjobs``, ``audit_jobs``, ``url_state``: the run store, the jobs' work, the
  URL;
- ``common``, ``tables``, ``seeds``: what every page draws with;
- ``*_data``: a page's analyses, cached per comparison; ``*_view``: a page's sections.
"""

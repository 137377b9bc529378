"""Streamlit Material icons for page links and status markers (emoji render as empty boxes in
Debian's Chromium; Material icons render everywhere)."""

#: page file -> its icon, used by the navigation and every link to the page
PAGE_ICONS = {
    "pages/data_model.py": ":material/dataset:",
    "pages/forget_set.py": ":material/target:",
    "pages/unlearn.py": ":material/cleaning_services:",
    "pages/compare.py": ":material/bar_chart:",
    "pages/attack.py": ":material/policy:",
    "pages/audit.py": ":material/fact_check:",
    "pages/inversion.py": ":material/image_search:",
    "pages/learn.py": ":material/school:",
    "pages/runs.py": ":material/history:",
}
DONE = ":material/check_circle:"
FAILED = ":material/error:"
RUNNING = ":material/progress_activity:"
WAITING = ":material/schedule:"
CANCELLED = ":material/cancel:"
DAMAGED = ":material/warning:"

"""Scoring a comparison: metrics, the verdict on each method, the shared results-table spec and
the HTML report."""

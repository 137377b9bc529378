"""unlearn_core: data, models, training, forget sets, unlearning methods and their evaluation.

A plain library (no Streamlit): the app, the CLI and the benchmark are views over it.
"""

__version__ = "0.1.0"

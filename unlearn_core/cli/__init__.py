"""The ``unlearn`` command line: ``main`` builds the parser and runs one subcommand.

``main`` holds compare / train / list commands, ``runs``, ``audit`` and ``tune`` their own
subcommands, ``common`` the shared argument parsing and loading.
"""

from .main import main

__all__ = ["main"]

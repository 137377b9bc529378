"""The progress protocol: every long call reports ``progress(fraction, message)``."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str = "") -> None:  # noqa: ARG001
    """A progress callback that ignores what it is told."""


def sub_progress(progress: Progress, start: float, stop: float, prefix: str = "") -> Progress:
    """Map a child's 0..1 progress onto ``start..stop`` of ``progress``."""

    def report(fraction: float, message: str = "") -> None:
        f = min(max(fraction, 0.0), 1.0)
        progress(start + (stop - start) * f, f"{prefix}{message}" if prefix else message)

    return report

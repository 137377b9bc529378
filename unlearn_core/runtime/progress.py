"""The progress protocol: every long call reports ``progress(fraction, message)``.

A caller stops a run by raising from its callback (the app's job does so after a cancel). So
that a stop takes effect within a fraction of a second even where work reports rarely (once an
epoch, once a membership-attack fit), the loops call :func:`checkpoint` often (every training
batch, between attack fits): it re-sends the innermost active report (see :func:`reporting`) to
its callback when :data:`CHECK_S` seconds have passed since that callback last heard anything,
which gives the callback its chance to raise. It reads no random state and changes nothing, so
results do not depend on it; outside :func:`reporting` it does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

Progress = Callable[[float, str], None]

#: the longest a callback inside :func:`reporting` goes without a call while loops run
CHECK_S = 0.1


def no_progress(fraction: float, message: str = "") -> None:  # noqa: ARG001
    """A progress callback that ignores what it is told."""


def sub_progress(progress: Progress, start: float, stop: float, prefix: str = "") -> Progress:
    """Map a child's 0..1 progress onto ``start..stop`` of ``progress``."""

    def report(fraction: float, message: str = "") -> None:
        f = min(max(fraction, 0.0), 1.0)
        progress(start + (stop - start) * f, f"{prefix}{message}" if prefix else message)

    return report


def stage(message: str) -> str:
    """What a report is about: the text before its last ``": "`` (``"seed 0: scrub: epoch 3"``
    -> ``"seed 0: scrub"``), else its first word (``"epoch 3/10"`` -> ``"epoch"``)."""
    head, sep, _ = message.rpartition(": ")
    return head if sep else message.split(" ", 1)[0]


class StageLines:
    """A progress callback for a log or a pipe (no carriage returns): one plain line
    (``desc  NN%  message``) per stage. A report prints unless its :func:`stage` is the one last
    printed, or the current stage or inside it (``"seed 0: scrub: epoch 3"`` is inside
    ``"seed 0: scrub"``); an enclosing stage (``"seed 0: done"``) prints once and leaves the
    current stage as it was."""

    def __init__(self, desc: str, stream: TextIO) -> None:
        self.desc, self.stream = desc, stream
        self.current: str | None = None
        self.printed: str | None = None

    def __call__(self, fraction: float, message: str = "") -> None:
        now, cur = stage(message), self.current
        if not message or now == self.printed:
            return
        if cur is not None and (now == cur or now.startswith(cur + ": ")):
            return
        self.printed = now
        if cur is None or not cur.startswith(now + ": "):
            self.current = now
        pct = round(100 * min(max(fraction, 0.0), 1.0))
        print(f"{self.desc} {pct:3d}% {message}", file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to clear (the same call as a bar's)."""


class Reporter:
    """A progress callback that remembers its last report, when it was sent, and the exception
    its callback raised to stop the run (``stopped``)."""

    def __init__(self, progress: Progress, fraction: float = 0.0, message: str = "") -> None:
        self.progress = progress
        self.fraction = fraction
        self.message = message
        self.sent = time.perf_counter()
        self.stopped: BaseException | None = None

    def __call__(self, fraction: float, message: str = "") -> None:
        self.fraction, self.message, self.sent = fraction, message, time.perf_counter()
        try:
            self.progress(fraction, message)
        except BaseException as exc:  # the caller asks to stop: remember it, then stop
            self.stopped = exc
            raise

    def check(self) -> None:
        """Re-send the last report if :data:`CHECK_S` has passed since anything was sent."""
        if time.perf_counter() - self.sent >= CHECK_S:
            self(self.fraction, self.message)


_ACTIVE: ContextVar[Reporter | None] = ContextVar("unlearn_core_progress", default=None)


@contextmanager
def reporting(progress: Progress, fraction: float = 0.0, message: str = "") -> Iterator[Reporter]:
    """Within the block, :func:`checkpoint` re-sends the reports made through the yielded
    :class:`Reporter` (which starts at ``fraction``, ``message``). Blocks nest; each thread
    (and each ``contextvars`` context) has its own."""
    rep = Reporter(progress, fraction, message)
    token = _ACTIVE.set(rep)
    try:
        yield rep
    finally:
        _ACTIVE.reset(token)


def checkpoint() -> None:
    """Give the running work's progress callback its chance to stop it (see the module text).
    Costs a clock read when no report is due; call it as often as every batch."""
    rep = _ACTIVE.get()
    if rep is not None:
        rep.check()

"""Where a shared server may read files: the data roots.

The app's path boxes (a dataset, a checkpoint) read files on the server, so they accept only
paths under the roots the server was started with: ``$UNLEARN_DATA_ROOTS`` (paths separated by
the OS path separator, ``:`` on Linux), else the run store's home and a ``data/`` folder beside
it. Paths are resolved (``..`` and symlinks) before the check, so neither leads out of a root.
The CLI does not use this: its user owns the machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .dataset import DataError

ENV = "UNLEARN_DATA_ROOTS"


class PathNotAllowed(DataError):
    """A path outside the server's data roots; the message names the setting that allows it."""


@dataclass(frozen=True)
class DataRoots:
    """The folders a shared server may read data and checkpoints from (resolved)."""

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, paths: Sequence[str | os.PathLike]) -> DataRoots:
        return cls(tuple(Path(p).expanduser().resolve() for p in paths if str(p).strip()))

    @classmethod
    def from_env(cls, home: str | os.PathLike) -> DataRoots:
        """``$UNLEARN_DATA_ROOTS``, else ``home`` (the run store's home) and ``data/`` beside it."""
        env = os.environ.get(ENV, "").strip()
        if env:
            return cls.of(env.split(os.pathsep))
        home = Path(home).expanduser()
        return cls.of([home, home.parent / "data"])

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none"

    def check(self, path: str | os.PathLike) -> Path:
        """``path`` resolved, if it lies under a root; else :class:`PathNotAllowed`."""
        text = str(path).strip()
        if not text:
            raise DataError("give a path")
        resolved = Path(text).expanduser().resolve()
        if any(resolved == r or resolved.is_relative_to(r) for r in self.roots):
            return resolved
        raise PathNotAllowed(
            f"{text} is outside the folders this server reads data from ({self.describe()}). "
            f"Upload the file instead, or start the server with {ENV} naming its folder."
        )

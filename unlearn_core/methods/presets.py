"""Per-architecture method presets, stored as data in ``presets.json`` beside this module.

A preset is a partial set of a method's parameters that suits one architecture better than
the spec's defaults (the NegGrad learning rate that is right for the digits MLP wrecks a CNN).
``benchmarks/calibrate.py`` writes the file from its search and links each pick to the figures
behind it; hand-made starting points say ``"status": "provisional"``, an authors' published
setting taken as is ``"status": "paper"``. The file is read once per process
(``load_presets``); ``MethodSpec.resolve(overrides, arch)`` applies spec defaults, then the
preset, then the caller's overrides.

File layout::

    {"version": 1, "note": "...",
     "presets": {"<arch>": {"<method>": {"values": {...}, "status": "calibrated|provisional|paper",
                                          "source": "where the figures are", "note": "..."}}}}

``UNLEARN_PRESETS=/path/to/file.json`` points the library at another file (for instance a
calibration run's output before it is adopted); ``UNLEARN_PRESETS=none`` turns presets off
(the spec's defaults everywhere, as ``benchmarks/calibrate.py`` searches from).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PRESETS_FILE = Path(__file__).with_name("presets.json")
#: "calibrated" (searched here, figures in the source), "provisional" (a hand-set starting
#: point) or "paper" (the authors' published setting, taken as is: not calibrated here)
STATUSES = ("calibrated", "provisional", "paper")
#: the value of ``UNLEARN_PRESETS`` that turns presets off
NO_PRESETS = "none"


class PresetError(ValueError):
    """The presets file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Preset:
    """One method's parameter values for one architecture, with where they come from."""

    method: str
    arch: str
    values: dict[str, Any]
    status: str  # one of STATUSES
    source: str  # the figures behind the choice (a results file and section, or why not yet)
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "arch": self.arch,
            "values": dict(self.values),
            "status": self.status,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class PresetTable:
    """Every preset of one file, by (method, arch)."""

    path: str
    presets: dict[tuple[str, str], Preset] = field(default_factory=dict)
    note: str = ""

    def get(self, method: str, arch: str | None) -> Preset | None:
        return None if arch is None else self.presets.get((method, arch))

    def for_method(self, method: str) -> dict[str, Preset]:
        """arch -> preset for ``method``."""
        return {a: p for (m, a), p in self.presets.items() if m == method}

    def archs(self) -> list[str]:
        return sorted({a for _, a in self.presets})


def presets_path() -> Path | str:
    """The file in use: ``$UNLEARN_PRESETS`` if set (``"none"``: no presets), else the
    package's ``presets.json``."""
    env = os.environ.get("UNLEARN_PRESETS")
    if env == NO_PRESETS:
        return NO_PRESETS
    return Path(env) if env else PRESETS_FILE


def parse_presets(doc: dict, path: str = "<memory>") -> PresetTable:
    """Check the structure of a presets document and build its table (values are checked
    against each method's parameters when they are resolved, and by the tests)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("presets", {}), dict):
        raise PresetError(f"{path}: expected an object with a 'presets' object")
    table: dict[tuple[str, str], Preset] = {}
    for arch, methods in doc.get("presets", {}).items():
        if not isinstance(methods, dict):
            raise PresetError(f"{path}: presets.{arch} must map method names to entries")
        for method, entry in methods.items():
            where = f"{path}: presets.{arch}.{method}"
            if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
                raise PresetError(f"{where} needs a 'values' object")
            status = entry.get("status", "provisional")
            if status not in STATUSES:
                raise PresetError(f"{where}: status {status!r} is not one of {list(STATUSES)}")
            source = entry.get("source")
            if not isinstance(source, str) or not source.strip():
                raise PresetError(f"{where} needs a 'source' naming the figures behind it")
            table[(method, arch)] = Preset(
                method=method,
                arch=arch,
                values=dict(entry["values"]),
                status=status,
                source=source,
                note=str(entry.get("note", "")),
            )
    return PresetTable(path=path, presets=table, note=str(doc.get("note", "")))


@cache
def _load(path: str) -> PresetTable:
    if path == NO_PRESETS:
        return PresetTable(path=path)
    p = Path(path)
    if not p.exists():
        return PresetTable(path=path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path}: not valid JSON ({exc})") from exc
    return parse_presets(doc, path)


def load_presets(path: str | Path | None = None) -> PresetTable:
    """The presets table, read once per file and process (a missing file is an empty table)."""
    return _load(str(path if path is not None else presets_path()))


def clear_cache() -> None:
    """Forget the files read so far (after a calibration run rewrote one, or in tests)."""
    _load.cache_clear()

"""Stored ensemble members: the audit's originals, retrains and unlearned models, trained once.

An audit trains K originals, K retrained models and K models per method. Each is stored here,
one safetensors file per model, and found again by what determines it:

- the dataset's content fingerprint (:func:`~unlearn_core.store.fingerprint.dataset_fingerprint`),
- the architecture and the training recipe (``TrainConfig.to_dict()``),
- the forget set's identity (a hash of its forget and retain indices and the request's kind),
  for retrains and unlearned models only: an original does not depend on the forget set,
- the role: ``original``, ``retrain`` or ``unlearned`` with the method's name and its resolved
  parameters (the spec's defaults, the architecture's preset and the overrides),
- the seed.

Everything but the seed is hashed into the group's key (:meth:`EnsembleKey.digest`); a group is a
folder ``<home>/ensembles/<key>/`` holding ``group.json`` (what the key stands for, for listing)
and ``seed-<s>.safetensors`` per member. A member file carries in its safetensors header the
group's key, its seed, a SHA-256 of its tensors and a few facts (the training seconds, the
method's parameters and preset): a member whose header or checksum does not match reads as
missing, so a damaged file is trained again, never loaded. Nothing is unpickled.

Concurrent writers (two audits at once, two processes): each member is written to a temporary
file and hard-linked into place, which fails when the name exists; the loser of the race drops
its file and reuses the winner's (a damaged file in the way is replaced). Readers never see a
half-written file. Where the file system refuses hard links, the file is renamed into place
(the last writer wins; both files are whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

#: format tag in every member's header and group file
FORMAT = "unlearning-lab-ensemble/1"
#: the folder under the run store's home
FOLDER = "ensembles"
GROUP_FILE = "group.json"
ROLES = ("original", "retrain", "unlearned")


def _hash(obj: object, n: int = 24) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def forget_identity(split) -> str:
    """A 24-hex-digit id of a forget split: its request's kind, its forget and retain indices
    and the classes it forgets whole (two requests that select the same samples share it)."""
    h = hashlib.sha256(b"unlearning-lab forget set v1\0")
    h.update(str(split.request.kind).encode() + b"\0")
    for t in (split.forget_idx, split.retain_idx):
        a = t.detach().cpu().to(torch.int64).contiguous()
        h.update(f"{tuple(a.shape)}\0".encode())
        h.update(a.numpy().tobytes())
    h.update(json.dumps(sorted(int(c) for c in split.forgotten_classes)).encode())
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class EnsembleKey:
    """What determines a group of ensemble members (all but the seed). ``label`` holds names
    for listing (dataset name, forget description); it is not part of the key."""

    fingerprint: str
    arch: str
    recipe: Mapping
    role: str
    method: str
    params: Mapping = field(default_factory=dict)
    #: None for originals (they do not depend on the forget set)
    forget: str | None = None
    label: Mapping = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if (self.role == "original") != (self.forget is None):
            raise ValueError("originals have no forget set; retrains and unlearned models do")

    def identity(self) -> dict:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "arch": self.arch,
            "recipe": dict(self.recipe),
            "forget": self.forget,
            "role": self.role,
            "method": self.method,
            "params": dict(self.params),
        }

    def digest(self) -> str:
        """The group's key: 20 hex digits of the SHA-256 of :meth:`identity`."""
        return _hash(self.identity(), 20)

    def describe(self) -> dict:
        return {**self.identity(), "key": self.digest(), "label": dict(self.label)}


@dataclass
class Member:
    """One stored model: its CPU state dict and what was recorded with it (``info``: seconds,
    params, preset, device, created)."""

    seed: int
    state: dict[str, torch.Tensor]
    info: dict = field(default_factory=dict)


@dataclass
class EnsembleGroup:
    """A stored group as listed: its key, what it stands for, its seeds and bytes on disk."""

    key: str
    description: dict
    seeds: list[int]
    bytes: int
    path: Path

    def row(self) -> dict:
        d = self.description
        label = d.get("label") or {}
        role = d.get("role", "?")
        if role == "unlearned":
            params = d.get("params") or {}
            shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
            role = f"{d.get('method')} ({shown})" if shown else str(d.get("method"))
        return {
            "key": self.key,
            "dataset": label.get("dataset") or "?",
            "fingerprint": (d.get("fingerprint") or "")[:12],
            "model": d.get("arch"),
            "recipe": recipe_words(d.get("recipe") or {}),
            "forget": "—" if d.get("forget") is None else label.get("forget") or d["forget"][:12],
            "role": role,
            "seeds": len(self.seeds),
            "seed_range": _ranges(self.seeds),
            "bytes": self.bytes,
        }


def recipe_words(r: Mapping) -> str:
    """A recipe in a few words, e.g. ``30 ep, adam lr 0.001, batch 64`` and a short hash."""
    if not r:
        return "?"
    lr = r.get("lr")
    lr = f"{lr:g}" if isinstance(lr, int | float) else str(lr)
    words = f"{r.get('epochs')} ep, {r.get('optimizer')} lr {lr}, batch {r.get('batch_size')}"
    return f"{words} [{_hash(dict(r), 6)}]"


def _ranges(seeds: list[int]) -> str:
    out, i = [], 0
    s = sorted(seeds)
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        out.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(out)


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A SHA-256 over the tensors' names, dtypes, shapes and bytes (in name order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _header(data: bytes) -> dict:
    """A safetensors file's JSON header (raises ValueError when it is not one)."""
    if len(data) < 8:
        raise ValueError("too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("header runs past the end of the file")
    head = json.loads(data[8 : 8 + n])
    if not isinstance(head, dict):
        raise ValueError("header is not a JSON object")
    return head


class EnsembleStore:
    """The stored ensemble members under ``<home>/ensembles`` (``home``: the run store's home,
    ``$UNLEARN_HOME`` or ``./runs``). Nothing is created until the first :meth:`put`."""

    def __init__(self, home: str | Path | None = None) -> None:
        from .run_store import default_home

        self.home = Path(home).expanduser() if home is not None else default_home()
        self.root = self.home / FOLDER

    def __repr__(self) -> str:
        return f"EnsembleStore({str(self.home)!r})"

    # ------------------------------------------------------------------------- members

    def member_path(self, key: EnsembleKey | str, seed: int) -> Path:
        digest = key if isinstance(key, str) else key.digest()
        return self.root / digest / f"seed-{int(seed)}.safetensors"

    def get(self, key: EnsembleKey, seed: int) -> Member | None:
        """The stored member of ``key`` and ``seed``; None when absent, unreadable, damaged
        (checksum) or written under another key."""
        path = self.member_path(key, seed)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return self._decode(data, key.digest(), seed)

    def find(self, key: EnsembleKey, seeds: Iterable[int]) -> dict[int, Member]:
        """The stored members of ``key`` among ``seeds`` (seed -> member)."""
        out = {}
        for s in seeds:
            m = self.get(key, s)
            if m is not None:
                out[int(s)] = m
        return out

    @staticmethod
    def _decode(data: bytes, digest: str, seed: int) -> Member | None:
        from safetensors.torch import load

        try:
            meta = _header(data).get("__metadata__") or {}
            if meta.get("format") != FORMAT or meta.get("key") != digest:
                return None
            if int(meta.get("seed", -1)) != int(seed):
                return None
            state = load(data)
            if tensors_sha256(state) != meta.get("sha256"):
                return None
            info = json.loads(meta.get("info") or "{}")
        except Exception:  # any damage reads as "not stored": the member is trained again
            return None
        return Member(seed=int(seed), state=state, info=info if isinstance(info, dict) else {})

    def _encode(self, key: EnsembleKey, seed: int, state: Mapping, info: Mapping) -> bytes:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        meta = {
            "format": FORMAT,
            "key": key.digest(),
            "seed": str(int(seed)),
            "sha256": tensors_sha256(tensors),
            "identity": json.dumps(key.identity(), sort_keys=True, default=str),
            "info": json.dumps(dict(info), sort_keys=True, default=str),
        }
        return save(tensors, metadata=meta)

    def put(
        self, key: EnsembleKey, seed: int, state: Mapping[str, torch.Tensor], info: Mapping = ()
    ) -> Path:
        """Store one member (atomically). When a whole member of the same key and seed is
        already there (another writer won the race), it is kept and this one dropped."""
        from .run_store import write_bytes

        group = self.root / key.digest()
        group.mkdir(parents=True, exist_ok=True)
        gfile = group / GROUP_FILE
        if not gfile.exists():
            write_bytes(gfile, json.dumps(key.describe(), indent=1, default=str).encode())
        info = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **dict(info)}
        data = self._encode(key, seed, state, info)
        path = self.member_path(key, seed)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails when the name exists: no clobbering
            except FileExistsError:
                try:
                    whole = self._decode(path.read_bytes(), key.digest(), seed) is not None
                except OSError:
                    whole = False
                if not whole:  # a damaged member in the way: replace it
                    os.replace(tmp, path)
            except OSError:  # no hard links here: rename (the last writer wins)
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # ------------------------------------------------------------------------- groups

    def groups(self) -> list[EnsembleGroup]:
        """Every stored group with at least one member, by dataset, model, role and key."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
            seeds, size = [], 0
            for f in d.iterdir():
                try:
                    st = f.stat()
                except OSError:
                    continue
                size += st.st_size
                if f.name.startswith("seed-") and f.name.endswith(".safetensors"):
                    with contextlib.suppress(ValueError):
                        seeds.append(int(f.name[5 : -len(".safetensors")]))
            if not seeds:
                continue
            try:
                desc = json.loads((d / GROUP_FILE).read_text())
            except (OSError, ValueError):
                desc = {"key": d.name, "label": {}}
            out.append(EnsembleGroup(d.name, desc, sorted(seeds), size, d))
        role_order = {r: i for i, r in enumerate(ROLES)}
        out.sort(
            key=lambda g: (
                (g.description.get("label") or {}).get("dataset") or "",
                g.description.get("arch") or "",
                g.description.get("forget") or "",
                role_order.get(g.description.get("role"), 9),
                g.description.get("method") or "",
                g.key,
            )
        )
        return out

    def match(self, prefix: str) -> EnsembleGroup:
        """The one group whose key starts with ``prefix`` (KeyError otherwise)."""
        prefix = prefix.strip().lower()
        found = [g for g in self.groups() if prefix and g.key.startswith(prefix)]
        if len(found) != 1:
            why = "no" if not found else f"{len(found)}"
            raise KeyError(
                f"{why} stored ensemble{'s' if found else ''} with a key starting {prefix!r} "
                "(`unlearn runs ensembles` lists the keys)"
            )
        return found[0]

    def delete(self, prefix: str) -> EnsembleGroup:
        """Delete the group whose key starts with ``prefix``; return what was deleted."""
        g = self.match(prefix)
        shutil.rmtree(g.path, ignore_errors=True)
        return g

    def delete_all(self) -> list[EnsembleGroup]:
        gone = self.groups()
        for g in gone:
            shutil.rmtree(g.path, ignore_errors=True)
        return gone


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover

"""The one place that picks the compute device and seeds the random generators."""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager

import numpy as np
import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: ``prefer`` if given, else cuda, then mps, then cpu.

    The environment variable ``UNLEARN_DEVICE`` overrides the automatic choice.
    """
    choice = prefer or os.environ.get("UNLEARN_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels so a wall-clock reading is honest."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


@contextmanager
def timer(device: torch.device | str):
    """Context manager yielding a dict whose ``seconds`` is set on exit (device-synchronised)."""
    out: dict[str, float] = {}
    synchronize(device)
    start = time.perf_counter()
    try:
        yield out
    finally:
        synchronize(device)
        out["seconds"] = time.perf_counter() - start


def share_cpu_threads(reserve: int = 1) -> int:
    """Use all CPU cores but ``reserve`` for torch's intra-op threads (at least one).

    For a process that shares the machine with other busy work (the app's server beside its
    UMAP worker process and the user's browser): with as many torch threads as cores, every
    parallel region waits for a thread the OS has descheduled, and a small model trains
    several times slower (measured: digits MLP 17 s instead of 4.7 s on 2 cores beside one
    busy process). Returns the thread count set.
    """
    n = max(1, (os.cpu_count() or 1) - reserve)
    torch.set_num_threads(n)
    return n

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

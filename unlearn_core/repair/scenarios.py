"""Corruption scenarios: label noise, a BadNets backdoor, a spurious feature.

:func:`make_scenario` corrupts the *training* split of any :class:`~unlearn_core.data.Dataset`
(validation and test stay clean: the test set scores, the validation split is the trusted data a
decision may read) and returns a :class:`Scenario`: the corrupted dataset (what the original
trains on), the clean one (the ``clean`` reference), the corrupted indices, their fixed versions
Z~ (true labels, un-patched inputs), and the part of them a user has found (``detection_rate``:
a seeded fraction of the corrupted indices) which becomes the forget set.

Everything is seeded and deterministic: the same arguments give the same scenario.

- ``label-noise``: ``fraction`` of class ``from_class``'s training samples (every class's when
  None) get label ``to_class``, or, when ``to_class`` is None, a uniformly drawn *other* class.
- ``backdoor`` (BadNets, Gu et al. 2017): a square patch at the input's maximum value in the
  bottom-right corner (3x3 on 28x28, scaled to the image's height, at least 2 pixels; for tabular
  data the last ``max(1, round(0.05 d))`` columns set to their training maximum) is stamped on
  ``fraction`` of the training samples of the classes other than ``target_class``, which are
  relabelled ``target_class``. The triggered test samples of the other classes measure attack
  success (:func:`repair.scores.asr`).
- ``feature``: the same patch (or columns) is stamped on ``fraction`` of ``from_class``'s
  training samples *without* relabelling: a spurious signal that only that class carries. The
  fix removes it (the un-patched input). Reliance is measured on stamped test samples of the
  other classes (share predicted ``from_class``) and the accuracy on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..data import Dataset
from ..forget import ForgetRequest, ForgetSplit, make_split
from ..methods.base import RepairInfo

KINDS = ("label-noise", "backdoor", "feature")


class ScenarioError(ValueError):
    """A scenario that cannot be built on this dataset; the message says why."""


@dataclass(frozen=True)
class Corruption:
    """What was changed: the settings and the affected training indices."""

    kind: str
    fraction: float
    seed: int = 0
    from_class: int | None = None
    to_class: int | None = None
    target_class: int | None = None
    detection_rate: float = 1.0

    def describe(self, classes: list[str] | None = None) -> str:
        def name(c: int | None) -> str:
            return classes[c] if classes and c is not None else str(c)

        pct = f"{self.fraction:.0%}"
        if self.kind == "label-noise":
            src = f"class {name(self.from_class)}" if self.from_class is not None else "all classes"
            dst = f"{name(self.to_class)}" if self.to_class is not None else "random other classes"
            what = f"label noise: {pct} of {src} relabelled {dst}"
        elif self.kind == "backdoor":
            what = (
                f"backdoor: {pct} of other classes patched and relabelled {name(self.target_class)}"
            )
        else:
            what = f"spurious feature: patch on {pct} of class {name(self.from_class)}"
        found = "" if self.detection_rate >= 1 else f", {self.detection_rate:.0%} found"
        return f"{what} (seed {self.seed}{found})"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "fraction": self.fraction,
            "seed": self.seed,
            "from_class": self.from_class,
            "to_class": self.to_class,
            "target_class": self.target_class,
            "detection_rate": self.detection_rate,
        }


@dataclass
class Scenario:
    """A corrupted training set, its clean twin and the repair information.

    ``corrupted_idx`` (sorted) index ``corrupted.x_train``; ``x_fixed`` / ``y_fixed`` are their
    fixed versions in the same order (``y_fixed`` the true labels; ``x_fixed`` the clean inputs,
    except for a backdoor repaired by label, where it keeps the patch). ``found_idx`` (sorted, a
    subset) is the forget set: the corrupted samples a user has detected.
    """

    corruption: Corruption
    corrupted: Dataset
    clean: Dataset
    corrupted_idx: torch.Tensor
    x_fixed: torch.Tensor
    y_fixed: torch.Tensor
    found_idx: torch.Tensor
    #: the input coordinates of the patch (a boolean mask of one sample's shape); None for labels
    patch: torch.Tensor | None = None
    #: the value the patch sets (per coordinate, the sample's shape); None for labels
    patch_value: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.corruption.kind

    @property
    def n_corrupted(self) -> int:
        return len(self.corrupted_idx)

    def split(self) -> ForgetSplit:
        """The forget split: the found corrupted samples (retrain = training without them)."""
        return make_split(self.corrupted, ForgetRequest(indices=tuple(self.found_idx.tolist())))

    def repair_info(self, split: ForgetSplit | None = None) -> RepairInfo:
        """The fixed versions of ``split``'s forget samples (default: :meth:`split`), aligned
        with its ``forget_idx``; a forget sample that is not corrupted is its own fix."""
        split = split or self.split()
        pos = {int(i): k for k, i in enumerate(self.corrupted_idx.tolist())}
        xs, ys = [], []
        for i in split.forget_idx.tolist():
            k = pos.get(int(i))
            xs.append(self.x_fixed[k] if k is not None else self.corrupted.x_train[i])
            ys.append(self.y_fixed[k] if k is not None else self.corrupted.y_train[i])
        return RepairInfo(x=torch.stack(xs), y=torch.stack(ys), kind=self.kind)

    def stamp(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (a batch) with the patch stamped on (a copy)."""
        if self.patch is None or self.patch_value is None:
            raise ScenarioError(f"a {self.kind} scenario has no patch")
        return torch.where(self.patch, self.patch_value, x)

    def probe_class(self) -> int | None:
        """The class triggered inputs are pushed towards (backdoor: the target; feature: the
        class that carries the feature); None for label noise."""
        c = self.corruption
        if self.kind == "backdoor":
            return c.target_class
        return c.from_class if self.kind == "feature" else None

    def triggered_test(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        """Stamped samples of ``split`` (``test`` or ``val``) whose true class is not
        :meth:`probe_class`, with their true labels."""
        x, y = getattr(self.clean, f"x_{split}"), getattr(self.clean, f"y_{split}")
        keep = y != self.probe_class()
        return self.stamp(x[keep]), y[keep]

    def summary(self) -> dict:
        d = self.corruption.to_dict()
        d.update(
            **self.meta,
            description=self.corruption.describe(self.clean.classes),
            n_corrupted=self.n_corrupted,
            n_found=len(self.found_idx),
        )
        return d


def patch_mask(data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The trigger: (mask, value) of one sample's shape. Images: a ``k x k`` square in the
    bottom-right corner, ``k = max(2, round(3 H / 28))``, at the training set's maximum value
    (BadNets' white square). Tabular / 2-D points: the last ``max(1, round(0.05 d))`` columns at
    their training maximum plus one standard deviation (a value no clean sample reaches)."""
    shape = data.input_shape
    mask = torch.zeros(shape, dtype=torch.bool)
    if data.kind == "image" and len(shape) == 3:
        h, w = shape[1], shape[2]
        k = max(2, int(round(3 * h / 28)))
        k = min(k, h, w)
        mask[:, h - k :, w - k :] = True
        value = torch.full(shape, float(data.x_train.max()))
    else:
        d = shape[-1]
        k = max(1, int(round(0.05 * d)))
        mask[..., d - k :] = True
        value = data.x_train.max(0).values + data.x_train.std(0)
    return mask, value


def make_scenario(
    data: Dataset,
    kind: str,
    fraction: float,
    *,
    seed: int = 0,
    from_class: int | None = None,
    to_class: int | None = None,
    target_class: int | None = None,
    detection_rate: float = 1.0,
    backdoor_fix: str = "label",
) -> Scenario:
    """Corrupt ``data``'s training split (see the module docstring); seeded, deterministic.

    ``backdoor_fix``: what a backdoored sample's fixed version is: ``"label"`` (default) the
    patched input with its true label (Warnecke et al.'s label repair: the trigger stays and
    stops meaning the target), ``"input"`` the un-patched input with its true label (the sample
    as it was before poisoning; at a well-fitted original both of its gradients are small, so a
    gradient-based update barely moves)."""
    if kind not in KINDS:
        raise ScenarioError(f"unknown scenario {kind!r}; choose one of {', '.join(KINDS)}")
    if not 0.0 < fraction <= 1.0:
        raise ScenarioError(f"the corrupted fraction must be in (0, 1], got {fraction}")
    if backdoor_fix not in ("label", "input"):
        raise ScenarioError(f"backdoor_fix must be 'label' or 'input', got {backdoor_fix!r}")
    if not 0.0 < detection_rate <= 1.0:
        raise ScenarioError(f"the detection rate must be in (0, 1], got {detection_rate}")
    k = data.num_classes
    for name, c in (("from", from_class), ("to", to_class), ("target", target_class)):
        if c is not None and not 0 <= c < k:
            raise ScenarioError(f"{name} class {c} is unknown: {data.name} has classes 0..{k - 1}")
    rng = np.random.default_rng(seed)
    y = data.y_train.numpy()
    x_new, y_new = data.x_train.clone(), data.y_train.clone()
    patch = value = None
    if kind == "label-noise":
        if from_class is not None and from_class == to_class:
            raise ScenarioError("label noise needs two different classes (from and to)")
        pool = np.flatnonzero(y == from_class) if from_class is not None else np.arange(len(y))
        idx = _draw(rng, pool, fraction, "label noise")
        if to_class is not None:
            y_new[idx] = to_class
        else:  # a uniformly drawn other class
            shift = rng.integers(1, k, size=len(idx))
            y_new[idx] = torch.as_tensor((y[idx] + shift) % k)
        if to_class is not None and from_class is None:
            idx = idx[y[idx] != to_class]  # a sample already of class B is not corrupted
            if len(idx) == 0:
                raise ScenarioError("label noise changed no label")
    elif kind == "backdoor":
        if target_class is None:
            raise ScenarioError("a backdoor needs a target class")
        patch, value = patch_mask(data)
        pool = np.flatnonzero(y != target_class)
        idx = _draw(rng, pool, fraction, "the backdoor")
        x_new[idx] = torch.where(patch, value, x_new[idx])
        y_new[idx] = target_class
    else:  # feature
        if from_class is None:
            raise ScenarioError("a spurious feature needs the class that carries it (from class)")
        patch, value = patch_mask(data)
        pool = np.flatnonzero(y == from_class)
        idx = _draw(rng, pool, fraction, "the feature")
        x_new[idx] = torch.where(patch, value, x_new[idx])
    idx = np.sort(idx)
    found = np.sort(rng.permutation(idx)[: max(1, int(round(detection_rate * len(idx))))])
    corruption = Corruption(
        kind=kind,
        fraction=float(fraction),
        seed=int(seed),
        from_class=from_class,
        to_class=to_class,
        target_class=target_class,
        detection_rate=float(detection_rate),
    )
    corrupted = replace(
        data,
        x_train=x_new,
        y_train=y_new,
        meta={**data.meta, "corruption": corruption.to_dict()},
    )
    t_idx = torch.as_tensor(idx, dtype=torch.long)
    x_fixed = data.x_train[t_idx].clone()
    if kind == "backdoor" and backdoor_fix == "label":
        x_fixed = x_new[t_idx].clone()
    return Scenario(
        corruption=corruption,
        corrupted=corrupted,
        clean=data,
        corrupted_idx=t_idx,
        x_fixed=x_fixed,
        y_fixed=data.y_train[t_idx].clone(),
        found_idx=torch.as_tensor(found, dtype=torch.long),
        patch=patch,
        patch_value=value,
        meta={"backdoor_fix": backdoor_fix} if kind == "backdoor" else {},
    )


def _draw(rng: np.random.Generator, pool: np.ndarray, fraction: float, what: str) -> np.ndarray:
    n = int(round(fraction * len(pool)))
    if n == 0:
        raise ScenarioError(f"{what}: a fraction of {fraction} of {len(pool)} samples is none")
    return rng.choice(pool, size=n, replace=False)

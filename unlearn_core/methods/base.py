"""The method contract: ``Param``, ``MethodSpec``, ``Method``, the registry and its runner."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..data import Dataset
from ..forget import ForgetSplit
from ..models import clone_model, weights_hash
from ..runtime.device import seed_everything, timer
from ..runtime.progress import Progress, no_progress
from ..training import TrainConfig, model_device
from .presets import Preset, load_presets


class MethodNotApplicable(ValueError):
    """The method cannot run on this model / forget request; the message says why."""


class ParamError(ValueError):
    """A hyper-parameter value is of the wrong type or outside its range."""


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: enough for the app to draw its control and the CLI to parse it."""

    name: str
    type: type
    default: Any
    range: tuple[float, float] | None = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    log_scale: bool = False
    #: candidate values ``benchmarks/calibrate.py`` tries for this knob (None: not searched)
    grid: tuple[Any, ...] | None = None

    def coerce(self, value: Any) -> Any:
        try:
            if self.type is bool and isinstance(value, str):
                v: Any = value.strip().lower() in {"1", "true", "yes", "on"}
            else:
                v = self.type(value)
        except (TypeError, ValueError) as exc:
            raise ParamError(f"{self.name}: cannot read {value!r} as {self.type.__name__}") from exc
        if self.choices is not None and v not in self.choices:
            raise ParamError(f"{self.name}: {v!r} is not one of {list(self.choices)}")
        if self.range is not None and self.type in (int, float):
            lo, hi = self.range
            if not lo <= v <= hi:
                raise ParamError(f"{self.name}: {v} is outside its range [{lo}, {hi}]")
        return v

    def to_dict(self) -> dict:
        d = asdict(self)
        d["type"] = self.type.__name__
        return d


#: where a method comes from -> how the views say it: as its authors publish it, an authors'
#: switch (labelled a variant), or ours (not in any paper; its label says "our extension")
ORIGINS = {
    "paper": "as published",
    "variant": "authors' variant",
    "extension": "our extension",
}


@dataclass(frozen=True)
class MethodSpec:
    """What the app, the CLI and the docs need to know about a method."""

    name: str
    label: str
    #: "exact", "approximate", "demonstration" (not unlearning; see list_methods) or
    #: "language" (the text track's methods: text data only, listed apart)
    family: str
    paper: str
    summary: str
    params: tuple[Param, ...] = ()
    #: "forget", "retain" (data the method reads) or "forget_class" (whole classes only)
    needs: tuple[str, ...] = ("forget", "retain")
    #: a key of :data:`ORIGINS`: "paper", "variant" or "extension"
    origin: str = "paper"

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"{self.name}: origin {self.origin!r} is not one of {list(ORIGINS)}")

    @property
    def origin_text(self) -> str:
        """The origin as the views say it ("as published", "our extension", ...)."""
        return ORIGINS[self.origin]

    def resolve(self, overrides: dict | None = None, arch: str | None = None) -> dict:
        """The spec's defaults, then ``arch``'s preset (if any), then ``overrides``; every
        value coerced and range-checked; unknown names are errors."""
        overrides = dict(overrides or {})
        known = {p.name: p for p in self.params}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ParamError(
                f"{self.name} has no parameter {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(known) or 'none'}"
            )
        values = {n: p.default for n, p in known.items()}
        preset = self.preset(arch)
        if preset is not None:
            where = f"preset {arch}/{self.name} ({load_presets().path})"
            bad = set(preset.values) - set(known)
            if bad:
                raise ParamError(f"{where} names unknown parameter {', '.join(sorted(bad))}")
            for n, v in preset.values.items():
                try:
                    values[n] = known[n].coerce(v)
                except ParamError as exc:
                    raise ParamError(f"{where}: {exc}") from None
        values.update(overrides)
        return {n: known[n].coerce(v) for n, v in values.items()}

    def preset(self, arch: str | None) -> Preset | None:
        """The stored preset of this method for ``arch`` (None: the spec's defaults apply)."""
        return load_presets().get(self.name, arch)

    def grid(self) -> dict[str, tuple]:
        """The calibration search space: knob name -> candidate values (``Param.grid``)."""
        return {p.name: p.grid for p in self.params if p.grid}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["params"] = [p.to_dict() for p in self.params]
        d["origin_text"] = self.origin_text
        return d


@dataclass(frozen=True)
class RepairInfo:
    """The fixed versions Z~ of the forget samples, for repair (``unlearn_core.repair``):
    ``x`` / ``y`` align with ``split.forget_idx`` (row ``i`` fixes training sample
    ``forget_idx[i]``: its true label, its un-patched image). ``kind`` names the scenario."""

    x: torch.Tensor
    y: torch.Tensor
    kind: str = "label-noise"


@dataclass
class UnlearnTask:
    """Everything a method may read besides the model: data, the split and the original recipe.

    A method is handed :meth:`for_method`'s view: its ``data`` holds no test samples (the test
    set only scores), and the view records in ``reads`` which sample sets the method took
    (``forget``, ``retain``, ``train`` for both, ``validation``).
    """

    data: Dataset
    split: ForgetSplit
    train_config: TrainConfig
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: the forget samples' fixed versions (a repair request); None: a plain deletion request
    repair: RepairInfo | None = None
    #: the sample sets read through this task, in order of first use
    reads: list[str] = field(default_factory=list, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def for_method(self) -> UnlearnTask:
        """A view for one method run: the data without its test samples, fresh ``reads``,
        the on-device tensors shared with this task."""
        return UnlearnTask(
            data=self.data.without_test(),
            split=self.split,
            train_config=self.train_config,
            device=self.device,
            repair=self.repair,
            _cache=self._cache,
        )

    def _get(self, name: str, make) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.reads:
            self.reads.append(name)
        if name not in self._cache:
            x, y = make()
            self._cache[name] = (x.to(self.device), y.to(self.device))
        return self._cache[name]

    def _train(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.x_train[idx], self.data.y_train[idx]

    @property
    def forget(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the forget set, on the device."""
        return self._get("forget", lambda: self._train(self.split.forget_idx))

    @property
    def retain(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the retain set, on the device."""
        return self._get("retain", lambda: self._train(self.split.retain_idx))

    @property
    def train_all(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the whole training set (retain + forget), on the device."""
        return self._get("train", lambda: (self.data.x_train, self.data.y_train))

    @property
    def fixed(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(x, y) of the forget samples' fixed versions on the device, aligned with
        :attr:`forget`; None on a plain deletion request (no :attr:`repair`)."""
        if self.repair is None:
            return None
        return self._get("fixed", lambda: (self.repair.x, self.repair.y))

    @property
    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the validation split, on the device: the only data a method's own
        decisions (stopping, selection, analysed images) may read besides its training data.
        Raises :class:`MethodNotApplicable` when the dataset has none."""
        if not self.data.n_val:
            raise MethodNotApplicable(
                f"{self.data.name} has no validation split, which this method's decisions "
                "read (load data with load_dataset / load_file, or Dataset.with_validation)"
            )
        return self._get("validation", lambda: (self.data.x_val, self.data.y_val))


@dataclass
class UnlearnOutput:
    """A method's result: the new model and a JSON-friendly log for the views."""

    model: nn.Module
    log: dict = field(default_factory=dict)
    #: time spent inside ``unlearn`` on work that belongs to the original training (SISA's
    #: sharded training, for instance): reported apart and not counted as unlearning time
    setup_seconds: float = 0.0


class Method:
    """Base class. Subclasses set ``spec`` and implement :meth:`unlearn`.

    ``unlearn`` receives a private deep copy of the trained model and may change it freely.
    """

    spec: ClassVar[MethodSpec]
    #: whether a method of another family than "language" also serves text data (retrain)
    handles_text: ClassVar[bool] = False

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        """Raise :class:`MethodNotApplicable` if the method cannot run here."""
        if (
            getattr(task.data, "kind", None) == "text"
            and self.spec.family != LANGUAGE
            and not self.handles_text
        ):
            raise MethodNotApplicable(
                f"{self.spec.label} works on images and tables, not on text "
                f"({task.data.name}); the text track's methods are the family '{LANGUAGE}'"
            )
        if "forget_class" in self.spec.needs and not task.split.is_class_wise:
            raise MethodNotApplicable(
                f"{self.spec.label} forgets whole classes only; this forget set is "
                f"{task.split.request.describe(task.data.classes)}"
            )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        raise NotImplementedError


REGISTRY: dict[str, Method] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a method to the one registry."""
    name = cls.spec.name
    if name in REGISTRY:
        raise ValueError(f"method {name!r} registered twice")
    REGISTRY[name] = cls()
    return cls


def get_method(name: str) -> Method:
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


#: the family of methods that only show how checks can be fooled: not unlearning methods
DEMONSTRATION = "demonstration"
#: the family of the text track's methods (language models; ``methods/language.py``)
LANGUAGE = "language"


def list_methods(family: str | None = None, *, demonstrations: bool = False) -> list[MethodSpec]:
    """The registered methods (of ``family``); demonstrations (family ``"demonstration"``,
    not unlearning) only when ``demonstrations`` is true or that family is asked for; the
    text track's methods (family ``"language"``) only when that family is asked for."""
    return [
        m.spec
        for m in REGISTRY.values()
        if family in (None, m.spec.family)
        and (demonstrations or family == DEMONSTRATION or m.spec.family != DEMONSTRATION)
        and (family == LANGUAGE or m.spec.family != LANGUAGE)
    ]


@dataclass(frozen=True)
class PresetInfo:
    """Which defaults a method runs with on an architecture, and where they come from."""

    method: str
    arch: str | None
    #: the preset's name: the architecture, or "defaults" when no preset applies
    name: str
    #: "calibrated", "provisional", "paper" (the authors' setting) or "defaults"
    status: str
    source: str
    #: the values the preset sets (empty for "defaults")
    values: dict
    #: every parameter as resolved with no user overrides
    params: dict

    def to_dict(self) -> dict:
        return asdict(self)


def preset_info(method: str, arch: str | None) -> PresetInfo:
    """The preset ``method`` uses on ``arch`` (for the app and ``unlearn list-methods``)."""
    spec = get_method(method).spec
    preset = spec.preset(arch)
    params = spec.resolve(arch=arch)
    if preset is None:
        return PresetInfo(
            method=method,
            arch=arch,
            name="defaults",
            status="defaults",
            source=f"the spec's defaults ({type(get_method(method)).__module__})",
            values={},
            params=params,
        )
    return PresetInfo(
        method=method,
        arch=arch,
        name=arch or "defaults",
        status=preset.status,
        source=preset.source,
        values=dict(preset.values),
        params=params,
    )


def model_arch(model: nn.Module) -> str | None:
    """The architecture name a model records in ``model.spec["arch"]`` (None if absent)."""
    spec = getattr(model, "spec", None)
    return spec.get("arch") if isinstance(spec, dict) else None


@dataclass
class RunOutput:
    """What :func:`run_method` returns: the output plus the method's own wall time."""

    model: nn.Module
    log: dict
    #: the method's own unlearning time (``setup_seconds`` excluded)
    seconds: float
    params: dict
    setup_seconds: float = 0.0
    #: the preset the parameters started from (``preset_info`` for the model's architecture)
    preset: PresetInfo | None = None
    #: the sample sets the method read (``UnlearnTask.reads``); never the test set
    reads: list[str] = field(default_factory=list)


def run_method(
    name: str,
    model: nn.Module,
    task: UnlearnTask,
    overrides: dict | None = None,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
) -> RunOutput:
    """Check, copy, seed and time one method. The given ``model`` is never changed.

    Parameters resolve against the model's architecture (``model.spec["arch"]``): the spec's
    defaults, that architecture's preset, then ``overrides``.
    """
    method = get_method(name)
    arch = model_arch(model)
    cfg = method.spec.resolve(overrides, arch=arch)
    task = task.for_method()
    method.check(model, task)
    before = weights_hash(model)
    work = clone_model(model).to(task.device)
    seed_everything(seed)
    with timer(task.device) as t:
        out = method.unlearn(work, task, cfg, seed=seed, progress=progress)
    out.model.eval()
    if weights_hash(model) != before:  # pragma: no cover - a broken method, caught by tests
        raise RuntimeError(f"method {name} changed the original model")
    progress(1.0, "done")
    return RunOutput(
        model=out.model,
        log=out.log,
        seconds=t["seconds"] - out.setup_seconds,
        params=cfg,
        setup_seconds=out.setup_seconds,
        preset=preset_info(name, arch),
        reads=list(task.reads),
    )


def device_of(model: nn.Module) -> torch.device:
    return model_device(model)

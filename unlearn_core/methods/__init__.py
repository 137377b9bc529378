"""Unlearning methods: one registry (``REGISTRY``), one signature (``Method.unlearn``).

Importing this package imports every module beside ``base`` in it, and each module's
``@register`` adds its methods: a new method is one new file. Per-architecture defaults live
as data in ``presets.json`` (``presets.py``); ``MethodSpec.resolve(overrides, arch)`` and
``preset_info(method, arch)`` read them.
"""

import pkgutil
from importlib import import_module

from .base import (
    ORIGINS,
    REGISTRY,
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    ParamError,
    PresetInfo,
    RunOutput,
    UnlearnOutput,
    UnlearnTask,
    get_method,
    list_methods,
    model_arch,
    preset_info,
    register,
    run_method,
)
from .presets import Preset, PresetError, load_presets

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name != "base":
        import_module(f"{__name__}.{_info.name}")

__all__ = [
    "ORIGINS",
    "REGISTRY",
    "Method",
    "MethodNotApplicable",
    "MethodSpec",
    "Param",
    "ParamError",
    "Preset",
    "PresetError",
    "PresetInfo",
    "RunOutput",
    "UnlearnOutput",
    "UnlearnTask",
    "get_method",
    "list_methods",
    "load_presets",
    "model_arch",
    "preset_info",
    "register",
    "run_method",
]

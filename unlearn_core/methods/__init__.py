"""Unlearning methods: one registry (``REGISTRY``), one signature (``Method.unlearn``).

Importing this package registers every method module listed in ``_MODULES``.
"""

from importlib import import_module

from .base import (
    REGISTRY,
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    ParamError,
    RunOutput,
    UnlearnOutput,
    UnlearnTask,
    get_method,
    list_methods,
    register,
    run_method,
)

_MODULES = ("exact", "finetune")
for _m in _MODULES:
    import_module(f"{__name__}.{_m}")

__all__ = [
    "REGISTRY",
    "Method",
    "MethodNotApplicable",
    "MethodSpec",
    "Param",
    "ParamError",
    "RunOutput",
    "UnlearnOutput",
    "UnlearnTask",
    "get_method",
    "list_methods",
    "register",
    "run_method",
]

"""Unlearning methods: one registry (``REGISTRY``), one signature (``Method.unlearn``).

Importing this package imports every module beside ``base`` in it, and each module's
``@register`` adds its methods: a new method is one new file.
"""

import pkgutil
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

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name != "base":
        import_module(f"{__name__}.{_info.name}")

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

"""What users plug in by name: ``"package.module:name"`` strings resolved to Python objects.

A model factory (``model.module``) or an optimizer factory (``train.optimizer``) may be given
as the object itself or, in a TOML file, as ``"package.module:name"`` (``"optax:lion"``,
``"optax.contrib:muon"``, ``"mypkg.nets:SmallCNN"``). Resolution imports the module and
looks the name up; a mistake is a :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxlab.errors import ConfigError


def load(field: str, ref: Any) -> Any:
    """The callable named by ``ref`` (``"module:name"``), or ``ref`` itself if callable."""
    if callable(ref):
        return ref
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ConfigError(field, ref, 'expected "package.module:name" or a callable')
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(field, ref, f"cannot import {module_name}: {e}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(field, ref, f"{module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(field, ref, "is not callable")
    return obj


def name_of(ref: Any) -> str:
    """A stable, readable name for ``ref``: the string itself, or ``module:qualname``."""
    if isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    return f"{module}:{getattr(ref, '__qualname__', repr(ref))}"

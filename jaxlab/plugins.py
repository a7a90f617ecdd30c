"""What users plug in by name: ``"package.module:name"`` strings resolved to Python objects.

A model factory (``model.module``) or an optimizer factory (``train.optimizer``) may be given
as the object itself or, in a TOML file, as ``"package.module:name"`` (``"optax:lion"``,
``"optax.contrib:muon"``, ``"mypkg.nets:SmallCNN"``). Resolution imports the module and
looks the name up; a mistake is a :class:`ConfigError` naming the field.
"""

from __future__ import annotations

import functools
import importlib
import inspect
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


@functools.cache
def parameters(factory: Any) -> dict[str, inspect.Parameter] | None:
    """``factory``'s parameters (a class: its ``__init__``'s, without ``self``, since an
    nnx.Module's metaclass hides them), read once per factory; ``None``: not inspectable.

    Planning asks for them for every variant: the cache keeps that to one ``inspect`` call.
    """
    try:
        target = factory.__init__ if inspect.isclass(factory) else factory
        params = dict(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return None
    if inspect.isclass(factory):
        params.pop(next(iter(params)), None)  # self
    return params


def check_options(field: str, factory: Any, options, reserved: tuple[str, ...] = ()) -> None:
    """Refuse an option ``factory`` does not take (unless it takes ``**kwargs``)."""
    params = parameters(factory)
    if params is None:
        return  # not inspectable: the call will tell
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    known = [k for k, p in params.items() if k not in reserved
             and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for k, v in dict(options).items():
        if k not in known:
            raise ConfigError(f"{field}.{k}", v, f"not an argument of {name_of(factory)}; "
                              f"expected one of {sorted(known)}")

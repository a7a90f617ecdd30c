"""Human-readable names for swept axes, their values and variants.

Shared by the plots (legends, panel titles), TensorBoard (run directories, HParams names)
and the CLI (short axis names such as ``batch_size`` for ``train.batch_size``).

Example:
  >>> run_name(3, {"train.learning_rate": 0.01, "train.batch_size": 16}, n_variants=12)
  'v003_lr=0.01_bs=16'
  >>> describe({"train.learning_rate": 0.01, "train.batch_size": 16})
  'learning_rate=0.01, batch_size=16'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jaxlab.errors import ConfigError

# Run directory names stay short enough to read in TensorBoard's run list.
ABBREVIATIONS = {
    "learning_rate": "lr",
    "batch_size": "bs",
    "momentum": "mom",
    "weight_decay": "wd",
    "hidden": "h",
    "activation": "act",
    "dropout": "drop",
    "optimizer": "opt",
    "epochs": "ep",
    "kernel_init": "init",
    "batch_norm": "bn",
    "width": "w",
    "depth": "d",
    "patience": "pat",
    "schedule": "sched",
}


def short(axis: str) -> str:
    """``"train.learning_rate"`` -> ``"learning_rate"`` (the field name)."""
    return axis.rpartition(".")[2]


def short_names(axes: Sequence[str]) -> dict[str, str]:
    """Field names for ``axes``, dotted only where two sections share a field name."""
    counts: dict[str, int] = {}
    for a in axes:
        counts[short(a)] = counts.get(short(a), 0) + 1
    return {a: short(a) if counts[short(a)] == 1 else a for a in axes}


def value(v: Any) -> str:
    """A compact string for an axis value: ``0.01``, ``1e-05``, ``16``, ``50x50``, ``relu``."""
    if hasattr(v, "item") and not isinstance(v, (list, tuple, str)):
        v = v.item()
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e6:
            return str(int(v))
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "x".join(value(x) for x in v)
    return str(v)


def describe(values: Mapping[str, Any], *, sep: str = ", ") -> str:
    """``name=value`` pairs of a variant's swept values (short names)."""
    names = short_names(list(values))
    return sep.join(f"{names[a]}={value(v)}" for a, v in values.items())


def run_name(index: int, values: Mapping[str, Any], *, n_variants: int = 1000) -> str:
    """A directory name for variant ``index``: ``v003_lr=0.01_bs=16``.

    Args:
      index: the variant's sweep index.
      values: its swept values, dotted axis -> value.
      n_variants: the sweep's size (sets the zero padding, at least 3 digits).
    """
    names = short_names(list(values))
    parts = [f"v{index:0{max(3, len(str(n_variants - 1)))}d}"]
    for a, v in values.items():
        name = ABBREVIATIONS.get(names[a], names[a])
        parts.append(f"{name}={value(v)}")
    # Path separators or spaces in string values would make nested or awkward directories.
    return re.sub(r"[^\w.=+-]", "-", "_".join(parts))


def resolve_axis(name: str, axes: Iterable[str], *, field: str = "axis") -> str:
    """Resolve a possibly short axis name (``batch_size``) against the dotted ``axes``.

    Raises:
      ConfigError: when ``name`` matches no axis or more than one.
    """
    axes = list(axes)
    if name in axes:
        return name
    hits = [a for a in axes if a.endswith("." + name)]
    if len(hits) == 1:
        return hits[0]
    if not axes:
        raise ConfigError(field, name, "the result has no swept axes")
    reason = "ambiguous" if hits else "not a swept axis"
    raise ConfigError(field, name, f"{reason}; expected one of {axes}")


def metric_names(plan) -> list[str]:
    """Loss and metric names of every group of ``plan``: training, then validation (a union)."""
    train, val = [], []
    for g in plan.groups:
        names = ["loss", *g.program.objective.metrics]
        train += names
        if g.program.n_val:
            val += [f"val_{n}" for n in names]
    return list(dict.fromkeys(train + val))

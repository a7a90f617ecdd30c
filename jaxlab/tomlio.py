"""TOML in and out: ``--set`` values and a small writer for what specs need."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from typing import Any

import numpy as np


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (``0.1``, ``[1, 2]``, ``true``), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'


def dump_toml(d: Mapping, prefix: str = "") -> str:
    """Write a nested dict of scalars, lists and tables as TOML (what specs need)."""
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and not (prefix.startswith("sweep.random") and prefix):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = f"{prefix}{_toml_key(k)}"
        body = dump_toml(v, prefix=name + ".")
        out += f"\n\n[{name}]\n" + body if not body.startswith("\n") else f"\n\n[{name}]" + body
    return out.strip("\n") + "\n" if not prefix else out

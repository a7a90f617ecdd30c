"""One home per hyperparameter: each config field says its default, range, role and meaning.

A field of :class:`jaxlab.config.TrainConfig` or :class:`jaxlab.config.ModelConfig` is
declared once with :func:`hparam`; from that one row derive

* validation with ranges (:func:`check_fields`), naming the field and value;
* TOML and ``--set`` parsing (the dataclass fields themselves);
* where the value lives while training (its *role*, below);
* the documentation's list of axes (:func:`table`, the README's "Every axis").

Roles:

* ``optimizer``: an argument of a built-in optimizer factory of the same name
  (:data:`jaxlab.optim.BUILTINS`); ``schedule`` and ``clip``: the learning-rate schedule's
  parameters and the clipping thresholds. All three are injected into the optimizer state
  (``optax.inject_hyperparams``), once per variant.
* ``variant``: a per-variant number the engine reads (``TrainState.hp``).
* ``shape``: the built-in MLP's widths and depth, padded to the group's largest and masked.
* ``init``: read once, when the variant's parameters are made.
* ``seed``: a per-variant random key.
* ``structure``: changes the compiled program; variants that differ in it form groups.

Adding a swept hyperparameter is one :func:`hparam` row plus its use.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from jaxlab.errors import ConfigError

ROLES = ("optimizer", "schedule", "clip", "variant", "shape", "init", "seed", "structure")
#: The roles whose values are injected into the optimizer state.
INJECTED = ("optimizer", "schedule", "clip")


@dataclasses.dataclass(frozen=True)
class Domain:
    """The values a field accepts.

    Attributes:
      kind: ``real``, ``integer``, ``bool``, ``choice`` or ``any`` (checked elsewhere).
      low, high: bounds (``None``: unbounded); ``open_low``/``open_high``: strict bounds.
      optional: ``None`` is accepted (TOML writes ``"none"``).
      choices: the accepted values of a ``choice``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    optional: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = " | ".join(map(str, self.choices))
        elif self.kind == "any":
            text = "see its description"
        else:
            text = "an integer " if self.kind == "integer" else ""
            if self.low is not None and self.high is not None:
                text += (f"in {'(' if self.open_low else '['}{self.low:g}, "
                         f"{self.high:g}{')' if self.open_high else ']'}")
            elif self.low is not None:
                text += f"{'>' if self.open_low else '>='} {self.low:g}"
            else:
                text += "a finite number"
        return text + (" (or unset)" if self.optional else "")

    def accepts(self, v: Any) -> bool:
        if self.kind == "any":
            return True
        if v is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(v, (bool, np.bool_))
        if self.kind == "choice":
            return isinstance(v, str) and v in self.choices
        if isinstance(v, (bool, np.bool_)):
            return False
        if self.kind == "integer":
            if not isinstance(v, (int, np.integer)) or not -2**31 <= v < 2**31:
                return False
        elif not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.open_low else v < self.low):
            return False
        return self.high is None or (v < self.high if self.open_high else v <= self.high)


def real(low=None, high=None, *, open_low=False, open_high=False, optional=False) -> Domain:
    return Domain("real", low, high, open_low, open_high, optional)


def positive(optional=False) -> Domain:
    return real(0, open_low=True, optional=optional)


def fraction() -> Domain:
    """``[0, 1)``: momenta, decay rates of moments, dropout."""
    return real(0, 1, open_high=True)


def integer(low=0, *, optional=False) -> Domain:
    return Domain("integer", low, None, optional=optional)


def choice(*values) -> Domain:
    return Domain("choice", choices=values)


BOOL = Domain("bool")
ANY = Domain("any")


def hparam(default: Any, domain: Domain, doc: str, role: str = "structure", **kw):
    """A config field with its range, role and one-line meaning (see the module doc)."""
    assert role in ROLES, role
    meta = {"domain": domain, "doc": doc, "role": role}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta,
                                 **kw)
    return dataclasses.field(default=default, metadata=meta, **kw)


def fields(cls, role: str | tuple[str, ...] | None = None) -> list[dataclasses.Field]:
    """The declared fields of a config class, optionally only those of ``role``."""
    roles = (role,) if isinstance(role, str) else role
    return [f for f in dataclasses.fields(cls) if "domain" in f.metadata
            and (roles is None or f.metadata["role"] in roles)]


def check_fields(config, section: str, where: str = "") -> None:
    """Refuse any field of ``config`` outside its domain, naming the field and value."""
    for f in fields(type(config)):
        value = getattr(config, f.name)
        domain: Domain = f.metadata["domain"]
        if not domain.accepts(value):
            if domain.kind == "choice":
                reason = f"unknown name; expected one of {list(domain.choices)}"
            else:
                reason = f"must be {domain.describe()}"
            raise ConfigError(f"{section}.{f.name}", value, reason + where)


def table(*sections: tuple[str, type]) -> list[dict]:
    """Rows ``{name, default, accepts, role, doc}`` of every declared field: the axis list."""
    rows = []
    for section, cls in sections:
        for f in fields(cls):
            default = (f.default if f.default is not dataclasses.MISSING
                       else f.default_factory())
            rows.append({"name": f"{section}.{f.name}", "default": default,
                         "accepts": f.metadata["domain"].describe(),
                         "role": f.metadata["role"], "doc": f.metadata["doc"]})
    return rows


def markdown(rows: list[dict]) -> str:
    """The axis list as a Markdown table (the README's "Every axis")."""
    lines = ["| field | default | accepts | role | meaning |", "|---|---|---|---|---|"]
    for r in rows:
        default = "unset" if r["default"] is None else f"`{r['default']!r}`"
        lines.append(f"| `{r['name']}` | {default} | {r['accepts']} | {r['role']} | "
                     f"{r['doc']} |")
    return "\n".join(lines)

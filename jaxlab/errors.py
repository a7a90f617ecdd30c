"""Errors raised for user mistakes.

Every invalid input is refused *before* anything is compiled, with a message that names the
offending field and value. The CLI turns :class:`JaxlabError` into a one-line message and a
non-zero exit status (no traceback).
"""

from __future__ import annotations

from typing import Any


class JaxlabError(Exception):
    """Base class for every user-facing jaxlab error."""


class ConfigError(JaxlabError, ValueError):
    """An invalid field in a sweep spec, a config or the data.

    Args:
      field: dotted name of the offending field, e.g. ``"train.learning_rate"``.
      value: the offending value.
      reason: what is wrong and, where useful, what is accepted.
    """

    def __init__(self, field: str, value: Any, reason: str):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}={value!r}: {reason}")


def check(cond: bool, field: str, value: Any, reason: str) -> None:
    """Raise :class:`ConfigError` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(field, value, reason)


def unknown(field: str, value: Any, known) -> ConfigError:
    """The error for a name that is not one of ``known``."""
    return ConfigError(field, value, f"unknown name; expected one of {sorted(known)}")

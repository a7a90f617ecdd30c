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


# Errors of the file system that mean "no room": a full disk, an exhausted quota.
_NO_ROOM = ("No space left on device", "Disk quota exceeded")


class DiskFull(JaxlabError, OSError):
    """The disk (or the quota) filled up while jaxlab wrote ``path``; ``kept`` says what
    earlier output stays intact (the previous result, the last good checkpoint)."""

    def __init__(self, path: str, kept: str):
        import errno

        self.path, self.kept = path, kept
        super().__init__(errno.ENOSPC, f"disk full while writing {path}: {kept}")

    def __str__(self) -> str:
        return f"disk full while writing {self.path}: {self.kept}"


def is_disk_full(e: BaseException | None) -> bool:
    """Whether ``e``, or an exception it was raised from, says the disk or quota is full
    (an ``OSError`` with ``ENOSPC``/``EDQUOT``, or a library's error quoting that message)."""
    import errno

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return True
        if any(text in str(e) for text in _NO_ROOM):
            return True
        e = e.__cause__ or e.__context__
    return False

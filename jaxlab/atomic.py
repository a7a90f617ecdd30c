"""Atomic file writes: a reader never sees a half-written file.

A file is written to a temporary name beside its destination, flushed, fsynced and renamed
into place. The temporary file is created as a plain ``open()`` creates files (mode ``0o666``
less the process umask, applied by the operating system), so the umask is never read or
changed here.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator

_ATTEMPTS = 100  # temporary names are random: a clash is already unlikely once


def _create_beside(path: str) -> tuple[int, str]:
    """A new file next to ``path`` with a fresh hidden name: (descriptor, name)."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``."""
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)

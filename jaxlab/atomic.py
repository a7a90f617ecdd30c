"""Atomic file writes: a reader never sees a half-written file.

A file is written to a temporary name beside its destination, flushed, fsynced and renamed
into place. The temporary file is created as a plain ``open()`` creates files (mode ``0o666``
less the process umask, applied by the operating system), so the umask is never read or
changed here.

A full disk (``ENOSPC``) or quota (``EDQUOT``) while writing raises
:class:`~jaxlab.errors.DiskFull`: the temporary file is removed and ``path`` keeps its
previous content.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator

from jaxlab.errors import DiskFull, is_disk_full

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
def atomic_open(path: str, mode: str = "w", *,
                kept: str = "the previous file is kept") -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    Raises :class:`~jaxlab.errors.DiskFull` (with ``kept`` saying what stays intact) when the
    disk or quota fills up; the temporary file is removed either way.
    """
    try:
        fd, tmp = _create_beside(path)
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull(path, kept) from e
        raise
    try:
        f = os.fdopen(fd, mode)
        try:
            yield f
            f.flush()
            os.fsync(f.fileno())
        finally:
            with contextlib.suppress(OSError):  # a full disk may refuse the last flush too
                f.close()
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, Exception) and not isinstance(e, DiskFull) and is_disk_full(e):
            raise DiskFull(path, kept) from e
        raise


def atomic_write_text(path: str, text: str, *,
                      kept: str = "the previous file is kept") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", kept=kept) as f:
        f.write(text)

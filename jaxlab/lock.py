"""One jaxlab run per directory: an exclusive lock on ``DIR/.jaxlab.lock``.

``jaxlab sweep --out OUT`` holds the lock of ``OUT`` from before planning until it exits, and
``jl.run(spec, checkpoint_dir=D)`` the lock of ``D`` while it trains. A second run into the
same directory is refused at once (:class:`InUse`), before anything is compiled, instead of
both writing the same checkpoints and results. The lock is ``flock`` on an open
file: the operating system releases it when the process ends, however it ends, so a killed
run leaves no stale lock behind (a killed run may leave the file; it is not a lock). The
file holds the owner's pid, for the message only, and is removed by its holder on release.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from jaxlab.errors import ConfigError, JaxlabError

NAME = ".jaxlab.lock"


class InUse(JaxlabError):
    """Another process holds the lock of ``out`` (the directory given as ``field``)."""

    def __init__(self, out: str, pid: int | None, field: str = "--out"):
        self.out, self.pid, self.field = out, pid, field
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"{out} is in use by another jaxlab run ({who}); wait for it to end "
                         f"or choose another {field}")


@contextlib.contextmanager
def hold(out: str, field: str = "--out") -> Iterator[str]:
    """Hold the lock of the directory ``out`` (created if missing) in the block.

    ``field`` names the directory's argument in the refusal (``--out``, ``checkpoint_dir``).

    Raises:
      InUse: another process holds it.
      ConfigError: ``out`` cannot be created (named as ``field``).

    Example:
      >>> with hold("runs/demo"):                                  # doctest: +SKIP
      ...     result = jl.run(spec, checkpoint_dir="runs/demo/checkpoints")
    """
    import fcntl

    created = not os.path.isdir(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:  # a file on the way, no permission: one line, before compiling
        raise ConfigError(field, out, f"cannot be created ({e.strerror or type(e).__name__})"
                          ) from None
    path = os.path.join(out, NAME)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = _owner(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise InUse(out, owner, field) from None
        # Its last holder may have removed the file between our open and our lock: then
        # lock the file now at ``path`` instead.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        # Removed while still locked (a newcomer that opened it checks, above), so that a
        # run refused before writing anything leaves no results directory behind.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # releases the lock
        if created:
            with contextlib.suppress(OSError):  # only if still empty
                os.rmdir(out)


def _owner(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None  # the owner has not written its pid yet

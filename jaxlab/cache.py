"""JAX's persistent compilation cache, switched on only when asked (the CLI asks)."""

from __future__ import annotations

import os
import warnings

import jax


def _unusable(path: str) -> str | None:
    """Why ``path`` cannot hold the cache (it cannot be created, or a probe file cannot be
    written and removed in it), or ``None``."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".jaxlab-probe-{os.getpid()}")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as e:
        return f"is not a writable directory ({e.strerror or type(e).__name__})"
    return None


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache (default: ``~/.cache/jaxlab/xla``).

    Disabled when ``JAXLAB_COMPILATION_CACHE=0``; a cache directory the user already set is
    kept. A directory that cannot be created or written (read-only, a file in its place) is
    warned about once and leaves the cache off. Returns the directory in use, or ``None``.
    """
    if os.environ.get("JAXLAB_COMPILATION_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = path or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "jaxlab", "xla")
    problem = _unusable(path)
    if problem:  # Python's warning filters show it once per place and message
        warnings.warn(f"compilation cache off: {path} {problem}", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path

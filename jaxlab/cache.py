"""JAX's persistent compilation cache, switched on only when asked (the CLI asks)."""

from __future__ import annotations

import os

import jax


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache (default: ``~/.cache/jaxlab/xla``).

    Disabled when ``JAXLAB_COMPILATION_CACHE=0``; a cache directory the user already set is
    kept. Returns the directory in use, or ``None``.
    """
    if os.environ.get("JAXLAB_COMPILATION_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = path or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "jaxlab", "xla")
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path

"""Per-variant raw PRNG keys, computed on the host (no compiled program for a few hashes).

``fold_in(seeds, streams)`` equals ``jax.random.fold_in(jax.random.PRNGKey(seed), stream)``
bit for bit (JAX's default threefry2x32 implementation, ``jax_enable_custom_prng`` off), in
numpy: one XLA compile fewer for every sweep, and the same keys.
"""

from __future__ import annotations

import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(v: np.ndarray, r: int) -> np.ndarray:
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def threefry2x32(k0: np.ndarray, k1: np.ndarray, x0: np.ndarray, x1: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The Threefry-2x32 hash (20 rounds) of counts ``(x0, x1)`` under key ``(k0, k1)``,
    elementwise over broadcast uint32 arrays."""
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x = [x0 + ks[0], x1 + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = x[0] ^ _rotl(x[1], r)
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x[0], x[1]


def fold_in(seeds, streams) -> np.ndarray:
    """``fold_in(PRNGKey(seeds[..., v]), streams[...])`` as raw keys ``seeds.shape + (2,)``.

    Args:
      seeds: integers in ``[0, 2**32)``, any shape.
      streams: integers in ``[0, 2**32)``, broadcastable against ``seeds``.
    """
    seeds = np.asarray(seeds, np.uint32)
    streams = np.broadcast_to(np.asarray(streams, np.uint32), seeds.shape)
    zero = np.zeros_like(seeds)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as the hash wants
        a, b = threefry2x32(zero, seeds, zero, streams)
    return np.stack([a, b], axis=-1)

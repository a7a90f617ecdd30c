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


def _rounds(n: int) -> int:
    """Sorting rounds of ``jax.random.permutation`` for ``n`` items (its tjablin@ rule)."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def permutations(keys, epoch: int, n: int) -> np.ndarray:
    """``(V, n)`` int32: ``jax.random.permutation(jax.random.fold_in(key, epoch), n)`` for
    every raw key of ``keys`` ``(V, 2)``, bit for bit (threefry with
    ``jax_threefry_partitionable``, JAX's default: each round splits the key, draws 32-bit
    sort keys and sorts stably).
    """
    keys = np.asarray(keys, np.uint32)
    zero = np.zeros((), np.uint32)
    with np.errstate(over="ignore"):
        k0, k1 = threefry2x32(keys[:, 0], keys[:, 1], zero, np.uint32(epoch))  # fold_in
        order = np.broadcast_to(np.arange(n, dtype=np.int32), (len(keys), n))
        for _ in range(_rounds(n)):
            s0, s1 = threefry2x32(k0[:, None], k1[:, None], zero, np.arange(2, dtype=np.uint32))
            (k0, sub0), (k1, sub1) = s0.T, s1.T  # split: the key goes on, the subkey draws
            b0, b1 = threefry2x32(sub0[:, None], sub1[:, None], zero,
                                  np.arange(n, dtype=np.uint32))
            order = np.take_along_axis(order, np.argsort(b0 ^ b1, axis=1, kind="stable"), 1)
    return order

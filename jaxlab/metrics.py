"""Metrics as small mergeable pytrees (the CLU pattern): accumulate inside ``scan`` and under
``vmap``, merge associatively, compute once.

Example:
  >>> a = Average.empty()
  >>> a = a.merge(Average.of(jnp.array([1.0, 3.0]), jnp.array([True, True])))
  >>> float(a.compute())
  2.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


class Average(struct.PyTreeNode):
    """A running mean: ``total / count`` (0 while ``count`` is 0)."""

    total: jax.Array  # ()
    count: jax.Array  # ()

    @classmethod
    def empty(cls, dtype=jnp.float32) -> Average:
        return cls(jnp.zeros((), dtype), jnp.zeros((), dtype))

    @classmethod
    def of(cls, values: jax.Array, mask: jax.Array | None = None) -> Average:
        """The mean of ``values`` where ``mask`` (default: all)."""
        if mask is None:
            return cls(jnp.sum(values), jnp.asarray(values.size, values.dtype))
        return cls(jnp.sum(jnp.where(mask, values, 0.0)), jnp.sum(mask).astype(values.dtype))

    def merge(self, other: Average) -> Average:
        return Average(self.total + other.total, self.count + other.count)

    def where(self, cond, other: Average) -> Average:
        """``self`` where ``cond`` else ``other`` (a microstep that did not run adds nothing)."""
        return jax.tree.map(lambda a, b: jnp.where(cond, a, b), self, other)

    def compute(self) -> jax.Array:
        return self.total / jnp.maximum(self.count, 1)


def compute_all(metrics: dict[str, Average]) -> dict[str, jax.Array]:
    return {k: m.compute() for k, m in metrics.items()}

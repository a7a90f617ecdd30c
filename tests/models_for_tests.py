"""User code for tests/test_open_core.py: what a jaxlab user writes for the open core.

Importable by string, e.g. ``"tests.models_for_tests:SmallCNN"`` or
``"tests.models_for_tests:clipped_momentum"`` (pytest puts the repository root on the path).
Always import it as ``tests.models_for_tests`` so that the string and the object name the
same class.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx


class SmallCNN(nnx.Module):
    """Conv 3x3 (SAME) -> relu -> 2x2 average pool -> flatten -> Linear, on square 1-channel
    images.

    ``x`` comes flattened, ``(b, n_in)`` with ``n_in = side**2``; the module reshapes it.
    """

    def __init__(self, n_in: int, n_out: int, *, features: int = 4, rngs: nnx.Rngs):
        side = math.isqrt(n_in)
        if side * side != n_in or side % 2:
            raise ValueError(f"n_in={n_in} is not an even square image")
        self.side = side
        self.conv = nnx.Conv(1, features, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        self.head = nnx.Linear(features * (side // 2) ** 2, n_out, rngs=rngs)

    def embed(self, x):
        """The flattened pooled feature maps, ``(b, features * (side/2)**2)``."""
        h = jax.nn.relu(self.conv(x.reshape(-1, self.side, self.side, 1)))
        h = nnx.avg_pool(h, window_shape=(2, 2), strides=(2, 2))
        return h.reshape(h.shape[0], -1)

    def __call__(self, x, *, train: bool):
        del train  # no dropout or batch norm here
        return self.head(self.embed(x))


class TinyMLP(nnx.Module):
    """Linear -> tanh -> Linear: a second, cheaper user module."""

    def __init__(self, n_in: int, n_out: int, *, hidden: int = 8, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(n_in, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, n_out, rngs=rngs)

    def __call__(self, x, *, train: bool):
        del train
        return self.out(jnp.tanh(self.hidden(x)))


def clip_each_tensor(max_norm) -> optax.GradientTransformation:
    """Keras 3 ``clipnorm``: every gradient tensor ``g`` becomes ``g * c / max(|g|_2, c)``."""

    def clip(updates, params=None):
        del params
        return jax.tree.map(
            lambda g: g * max_norm / jnp.maximum(jnp.linalg.norm(g.ravel()), max_norm), updates)

    return optax.stateless(clip)


def clipped_momentum(learning_rate, max_norm=1.0, momentum=0.9) -> optax.GradientTransformation:
    """SGD with momentum after per-tensor gradient clipping; both floats are sweepable."""
    return optax.chain(clip_each_tensor(max_norm), optax.sgd(learning_rate, momentum=momentum))


class NormDropNet(nnx.Module):
    """Linear -> BatchNorm -> relu -> Dropout -> Linear: a user module with state and noise."""

    def __init__(self, n_in: int, n_out: int, *, hidden: int = 16, rate: float = 0.3,
                 rngs: nnx.Rngs):
        self.hidden = nnx.Linear(n_in, hidden, rngs=rngs)
        self.norm = nnx.BatchNorm(hidden, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(rate, rngs=rngs)
        self.out = nnx.Linear(hidden, n_out, rngs=rngs)

    def __call__(self, x, *, train: bool):
        h = jax.nn.relu(self.norm(self.hidden(x), use_running_average=not train))
        return self.out(self.drop(h, deterministic=not train))

"""An independent reference for the open core: any NNX module, any Optax optimizer.

A plain Flax NNX + Optax loop, one model at a time, that shares no training code with
jaxlab. What it takes from jaxlab's documentation, written out again here:

* initial parameters: ``FACTORY(n_in=, n_out=, rngs=nnx.Rngs(fold_in(PRNGKey(seed), 0)),
  **options)``, its ``nnx.Param`` state as a pure dict, cast to the training dtype;
* data order: with shuffling, epoch ``e`` visits ``permutation(fold_in(fold_in(
  PRNGKey(seed), 2), e), N)`` (:func:`tests.reference.shuffle_order`), in consecutive
  batches of exactly ``batch_size`` samples, the last one smaller;
* the loss of a batch: the mean over its samples of softmax cross-entropy on the logits;
* per-tensor clipping (Keras 3 ``clipnorm``): ``g * c / max(|g|_2, c)`` for every tensor.

One variant at a time, one batch per Python step. The optimizer is plain optax, built
from its hyperparameters inside the compiled step (see :func:`train`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from tests.reference import shuffle_order

Params = dict


def clip_by_tensor_norm(max_norm: float) -> optax.GradientTransformation:
    """Keras 3 ``clip_by_norm`` on every tensor: ``g * c / max(sqrt(sum(g**2)), c)``.

    Written here on purpose (not jaxlab's transform, not the user's in models_for_tests).
    A zero tensor stays zero.
    """

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params

        def one(g):
            norm = jnp.sqrt(jnp.sum(g * g))
            return g * max_norm / jnp.maximum(norm, max_norm)

        return jax.tree.map(one, updates), state

    return optax.GradientTransformation(init, update)


def tensor_norms(tree) -> dict[str, float]:
    """``{path: l2 norm}`` of every leaf."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): float(np.sqrt(np.sum(np.asarray(g) ** 2)))
            for path, g in flat}


def init_key(seed):
    """The documented initialisation key of a variant: ``fold_in(PRNGKey(seed), 0)``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 0)


def build(factory: Callable, *, n_in: int, n_out: int, seed: int,
          options: Mapping[str, Any] | None = None) -> nnx.Module:
    """The user's module, built eagerly the documented way with the variant's init seed."""
    return factory(n_in=n_in, n_out=n_out, rngs=nnx.Rngs(init_key(seed)), **(options or {}))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _init(factory, n_in, n_out, options: tuple, seed):
    module = factory(n_in=n_in, n_out=n_out, rngs=nnx.Rngs(init_key(seed)), **dict(options))
    return nnx.to_pure_dict(nnx.state(module, nnx.Param))


def init_params(factory: Callable, *, n_in: int, n_out: int, seed: int,
                options: Mapping[str, Any] | None = None, dtype=np.float64) -> Params:
    """The module's own initial parameters as a pure dict, cast to ``dtype``.

    Compiled once per structure (the seed is data); the values are bitwise those of the
    eager :func:`build` (test_open_core checks it), eager only costs more compiles.
    """
    pure = _init(factory, n_in, n_out, tuple(sorted((options or {}).items())),
                 np.uint32(seed))
    return jax.tree.map(lambda a: np.asarray(a).astype(dtype), pure)


def batches(n: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool) -> list[np.ndarray]:
    """Sample indices of every batch of one epoch, in order; the last batch may be smaller."""
    order = shuffle_order(seed, epoch, n) if shuffle else np.arange(n)
    return [order[start: start + batch_size] for start in range(0, n, batch_size)]


def _batch_loss(graphdef, params, x, y):
    logits = nnx.merge(graphdef, params)(x, train=True)
    return jnp.mean(optax.softmax_cross_entropy(logits, y))


# Static: the module structure (a hashable graphdef) and the optimizer's factory; the batch,
# the parameters and the optimizer's hyperparameters are arguments. So a sweep of references
# compiles one program per structure and batch shape, not one per variant.
_loss = jax.jit(_batch_loss, static_argnums=0)
_loss_and_grad = jax.jit(jax.value_and_grad(_batch_loss, argnums=1), static_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def _opt_init(make_tx, hparams, params):
    return make_tx(**hparams).init(params)


@functools.partial(jax.jit, static_argnums=0)
def _opt_step(make_tx, hparams, grads, opt_state, params):
    updates, opt_state = make_tx(**hparams).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def split(factory: Callable, params: Params, *, n_in: int, n_out: int,
          options: Mapping[str, Any] | None = None):
    """``(graphdef, Param state holding params)`` of the user's module.

    The structure comes from ``nnx.eval_shape`` (no initialisation runs); the reference
    handles modules whose only state is ``nnx.Param`` (no batch norm, no stored rngs).
    """
    abstract = nnx.eval_shape(
        lambda: factory(n_in=n_in, n_out=n_out, rngs=nnx.Rngs(0), **(options or {})))
    graphdef, p, rest = nnx.split(abstract, nnx.Param, ...)
    assert not jax.tree.leaves(rest), f"state besides nnx.Param: {rest}"
    nnx.replace_by_pure_dict(p, jax.tree.map(jnp.asarray, params))
    return graphdef, p


def loss_and_grad(factory: Callable, params: Params, x, y, *,
                  options: Mapping[str, Any] | None = None) -> tuple[float, Params]:
    """Mean batch loss and its gradient (pure dict) at ``params``, e.g. for closed-form checks."""
    graphdef, p = split(factory, params, n_in=x.shape[1], n_out=y.shape[1], options=options)
    loss, g = _loss_and_grad(graphdef, p, x, y)
    return float(loss), jax.tree.map(np.asarray, nnx.to_pure_dict(g))


def train(factory: Callable, params: Params, x: np.ndarray, y: np.ndarray, *,
          make_tx: Callable[..., optax.GradientTransformation], hparams: Mapping[str, float],
          batch_size: int, epochs: int, seed: int, shuffle: bool,
          options: Mapping[str, Any] | None = None,
          record_grad_norms: bool = False) -> tuple[Params, dict]:
    """Train one model; returns (final pure-dict params, log).

    Args:
      factory: the user's module factory (its structure; ``params`` are the values).
      params: initial parameters, pure dict (as :func:`init_params` returns).
      x: ``(N, n_in)`` inputs; y: ``(N, k)`` one-hot targets, same dtype as ``x``.
      make_tx: a plain optax factory, called as ``make_tx(**hparams)``; a module-level
        function, so that its compiled step is reused across variants.
      hparams: its float hyperparameters, e.g. ``{"learning_rate": 0.1, "momentum": 0.9}``.
      seed: the shuffle seed.
      record_grad_norms: also log every update's per-tensor gradient norms.

    The log holds ``loss``: the full-training-set loss before training and after each epoch
    (``epochs + 1`` values), ``batch_sizes``: the size of every update's batch, and
    ``grad_norms``: one ``{path: norm}`` per update when asked for.
    """
    x, y = np.asarray(x), np.asarray(y)
    n, n_in = x.shape
    graphdef, p = split(factory, params, n_in=n_in, n_out=y.shape[1], options=options)
    hparams = dict(hparams)
    opt_state = _opt_init(make_tx, hparams, p)
    log = {"loss": [float(_loss(graphdef, p, x, y))], "batch_sizes": [], "grad_norms": []}
    for epoch in range(epochs):
        for idx in batches(n, batch_size, seed=seed, epoch=epoch, shuffle=shuffle):
            _, g = _loss_and_grad(graphdef, p, x[idx], y[idx])
            if record_grad_norms:
                log["grad_norms"].append(tensor_norms(nnx.to_pure_dict(g)))
            p, opt_state = _opt_step(make_tx, hparams, g, opt_state, p)
            log["batch_sizes"].append(len(idx))
        log["loss"].append(float(_loss(graphdef, p, x, y)))
    return jax.tree.map(np.asarray, nnx.to_pure_dict(p)), log

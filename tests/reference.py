"""An independent reference: a plain Flax NNX + Optax training loop, one model at a time.

It shares no training code with jaxlab: its own model class, its own loss (optax), its own
optimizer chains, full batches sliced in Python (the last one smaller), and the randomness
rules that jaxlab documents (shuffle order and per-sample dropout masks) written out again.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

ACT = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


class RefMLP(nnx.Module):
    def __init__(self, sizes, activation, batch_norm=None, rngs=None):
        rngs = rngs or nnx.Rngs(0)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs)
                               for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
        self.bns = nnx.List([nnx.BatchNorm(b, momentum=0.99, epsilon=1e-3, rngs=rngs)
                             for b in sizes[1:-1]] if batch_norm else [])
        self.activation, self.batch_norm = activation, batch_norm

    def __call__(self, x, *, train=False, keep=None):
        act = ACT[self.activation]
        for l, layer in enumerate(self.layers[:-1]):
            z = layer(x)
            if self.batch_norm == "before":
                z = self.bns[l](z, use_running_average=not train)
            x = act(z)
            if self.batch_norm == "after":
                x = self.bns[l](x, use_running_average=not train)
            if keep is not None:
                x = x * keep[l]
        return self.layers[-1](x)


def to_ref(params: dict) -> dict:
    """jaxlab's sliced pure-dict parameters -> the reference model's."""
    n = len(params["hidden"])
    layers = {l: dict(params["hidden"][l]) for l in range(n)}
    layers[n] = dict(params["out"])
    out = {"layers": layers}
    if "norms" in params:
        out["bns"] = {l: dict(params["norms"][l]) for l in range(n)}
    return out


def from_ref(ref: dict) -> dict:
    n = len(ref["layers"]) - 1
    out = {"hidden": {l: ref["layers"][l] for l in range(n)}, "out": ref["layers"][n]}
    if "bns" in ref:
        out["norms"] = {l: {k: ref["bns"][l][k] for k in ("scale", "bias")} for l in range(n)}
    return out


def shuffle_order(seed: int, epoch: int, n: int) -> np.ndarray:
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 2)
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))


def dropout_keep(seed: int, epoch: int, idx: np.ndarray, rate: float, widths) -> list:
    """Per-sample masks by jaxlab's documented rule, at the reference's own widths."""
    root = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    masks = []
    for l, w in enumerate(widths):
        rows = []
        for i in idx:
            k = jax.random.fold_in(jax.random.fold_in(root, epoch), int(i))
            rows.append(jax.random.bernoulli(jax.random.fold_in(k, l), 1 - rate, (w,)))
        masks.append(jnp.stack(rows).astype(jnp.float64 if jax.config.jax_enable_x64
                                            else jnp.float32) / (1 - rate))
    return masks


def train(params, x, y, *, tx, widths, activation="relu", batch_size, epochs, seed=0,
          shuffle=False, dropout=0.0, l2=0.0, batch_norm=None, stats=None,
          loss="categorical_crossentropy", val=None):
    """Train one model; returns (final jaxlab-layout params, batch stats, per-epoch val losses)."""
    sizes = [x.shape[1], *widths, params["out"]["kernel"].shape[1]]
    model = RefMLP(sizes, activation, batch_norm)
    graphdef, p, rest = nnx.split(model, nnx.Param, ...)
    nnx.replace_by_pure_dict(p, to_ref(params))
    if batch_norm and stats:
        nnx.replace_by_pure_dict(rest, {"bns": stats["norms"]})
    opt_state = tx.init(p)

    def batch_loss(p, rest, xb, yb, keep):
        rest = jax.tree.map(lambda a: a, rest)  # fresh variables at this trace level
        m = nnx.merge(graphdef, p, rest)
        z = m(xb, train=True, keep=keep)
        if loss == "categorical_crossentropy":
            per = optax.softmax_cross_entropy(z, yb)
        else:
            per = jnp.mean((z - yb) ** 2, axis=-1)
        penalty = sum(jnp.sum(layer["kernel"][...] ** 2) for layer in p["layers"].values())
        return jnp.mean(per) + l2 * penalty, nnx.state(m, nnx.BatchStat)

    @jax.jit
    def step(p, rest, opt_state, xb, yb, keep):
        (_, new_rest), g = jax.value_and_grad(batch_loss, has_aux=True)(p, rest, xb, yb, keep)
        updates, opt_state = tx.update(g, opt_state, p)
        return optax.apply_updates(p, updates), new_rest, opt_state

    @jax.jit
    def val_loss(p, rest, xv, yv):
        z = nnx.merge(graphdef, p, rest)(xv, train=False)
        return jnp.mean(optax.softmax_cross_entropy(z, yv))

    n = len(x)
    vals = []
    for epoch in range(epochs):
        order = shuffle_order(seed, epoch, n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start: start + batch_size]
            keep = dropout_keep(seed, epoch, idx, dropout, widths) if dropout else None
            p, rest, opt_state = step(p, rest, opt_state, x[idx], y[idx], keep)
        if val is not None:
            vals.append(float(val_loss(p, rest, *val)))
    pure = nnx.to_pure_dict(p)
    stats_out = nnx.to_pure_dict(rest)
    out = from_ref(pure)
    if batch_norm:
        stats_out = {"norms": {l: stats_out["bns"][l] for l in range(len(widths))}}
    return out, stats_out, vals

"""Per-variant arrays: each variant's numbers, keys, structure and initial state.

A group's variants become arrays with a leading variant axis ``V``: the optimizer's
injected values (:func:`opt_hparams`), the engine's own (:func:`engine_hparams`), random
keys (:func:`variant_keys`), the network's per-variant structure (:func:`shapes`) and the
initial parameters (:func:`init_params`). Which fields go where is the fields' *role*
(:mod:`jaxlab.hparams`); nothing here lists hyperparameters by name.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab import compiled, engine, hparams, optim
from jaxlab.config import ModelConfig, TrainConfig, Variant
from jaxlab.conventions import float_dtype
from jaxlab.errors import check
from jaxlab.keys import fold_in
from jaxlab.networks import MLPNet


def opt_hparams(prog: engine.Program, v: Variant) -> dict[str, float]:
    """The values ``v``'s optimizer state starts with (``prog.opt.names``)."""
    from jaxlab.planning import optimizer_parts

    t = v.train
    _, floats = optimizer_parts(t)
    args = optim.arguments(t.optimizer)
    out = {}
    for name in prog.opt.names:
        if name in floats:
            out[name] = floats[name]
        elif name in prog.opt.hparams:  # a float option another variant of the group sets
            out[name] = float(args[name].default)
        else:  # a TrainConfig field: learning rate, schedule, clipping (unset: no clipping)
            value = getattr(t, name)
            out[name] = math.inf if value is None else float(value)
    return out


def engine_hparams(prog: engine.Program, v: Variant) -> dict[str, float]:
    """The engine's per-variant numbers of ``v`` (``prog.hparam_names``)."""
    values = {f.name: getattr(v.train, f.name) for f in hparams.fields(TrainConfig, "variant")}
    values.update({f.name: getattr(v.model, f.name)
                   for f in hparams.fields(ModelConfig, "variant")})
    return {k: float(values[k]) for k in prog.hparam_names}


def variant_keys(variants: Sequence[Variant]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(init, dropout, shuffle)`` raw keys ``(V, 2)``: ``fold_in(PRNGKey(seed), 0 | 1 | 2)``.

    ``seed`` is ``train.seed`` unless ``init_seed``, ``dropout_seed`` or ``shuffle_seed`` is set.
    """

    def seeds(name):
        return np.array([v.train.seed if getattr(v.train, name) is None
                         else getattr(v.train, name) for v in variants], np.uint32)

    names = ("init_seed", "dropout_seed", "shuffle_seed")
    keys = fold_in(np.stack([seeds(n) for n in names]),
                   np.arange(len(names), dtype=np.uint32)[:, None])
    return keys[0], keys[1], keys[2]


def stack(values: Sequence[dict]) -> dict:
    return {k: np.stack([np.asarray(d[k]) for d in values]) for k in values[0]}


def shapes(prog: engine.Program, variants: Sequence[Variant]) -> dict:
    """The network's per-variant structure arrays, stacked (``{}`` for a user module)."""
    rows = [prog.net.shape_of(v.model.widths) for v in variants]
    return stack(rows) if rows and rows[0] else {}


def _init_inputs(prog: engine.Program, variants: Sequence[Variant]) -> tuple:
    """``(kinds, which, keys, shapes, scale)`` for :func:`compiled.init_params`: the distinct
    ``(hidden, output, bias)`` initializers and each variant's index into them."""
    dtype = float_dtype(prog.dtype)
    keys = variant_keys(variants)[0]
    scale = np.array([(v.model.scale, v.model.output_scale, v.model.bias_scale)
                      for v in variants], dtype)
    if isinstance(prog.net, MLPNet):
        pairs = [(v.model.kernel_init, v.model.output_kind, v.model.bias_init) for v in variants]
    else:
        pairs = [""] * len(variants)
    kinds = tuple(dict.fromkeys(pairs))
    which = np.array([kinds.index(k) for k in pairs], np.int32)
    return kinds, which, keys, shapes(prog, variants), scale


def init_params(prog: engine.Program, variants: Sequence[Variant]):
    """``(params, model_state)`` of the variants, leading ``V`` (each from its own seed)."""
    kinds, which, keys, shape, scale = _init_inputs(prog, variants)
    return compiled.init_params(prog.net, kinds, which, keys, shape, scale)


def init_rows(prog: engine.Program, variants: Sequence[Variant], params0=None
              ) -> engine.TrainState:
    """Initial numpy states of ``variants`` (``params0``: their given parameters, or None)."""
    opt_hp = stack([opt_hparams(prog, v) for v in variants])
    hp = stack([engine_hparams(prog, v) for v in variants])
    _, dkeys, skeys = variant_keys(variants)
    if params0 is None:  # one program draws the parameters and builds the state
        kinds, which, keys, shape, scale = _init_inputs(prog, variants)
        state = compiled.init_variants(prog, kinds, which, keys, shape, scale, opt_hp, hp,
                                       skeys, dkeys)
    else:
        params, model_state = init_params(prog, variants)
        state = compiled.init_state(prog, params0, model_state, opt_hp, hp,
                                    shapes(prog, variants), skeys, dkeys)
    return jax.tree.map(np.array, jax.device_get(state))


def abstract_row(prog: engine.Program, v: Variant):
    """One variant's state as ``ShapeDtypeStruct`` leaves (nothing computed)."""
    keys = jax.ShapeDtypeStruct((1, 2), jnp.uint32)
    shape = shapes(prog, [v])
    dtype = float_dtype(prog.dtype)
    params, model_state = jax.eval_shape(
        lambda k, s, c: jax.vmap(lambda a, b, d: prog.net.init(
            a, b, kernel_init=(v.model.kernel_init, v.model.output_kind, v.model.bias_init),
            scale=d))(k, s, c),
        keys, shape, jax.ShapeDtypeStruct((1, 3, 2), dtype))
    opt_hp = stack([opt_hparams(prog, v)])
    hp = stack([engine_hparams(prog, v)])
    state = jax.eval_shape(functools.partial(compiled.abstract_state, prog), params,
                           model_state, opt_hp, hp, shape, keys, keys)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), state)


def mask_params(prog: engine.Program, params, shape):
    """Zero the padded entries of user-given MLP parameters (keeps the exactness invariant)."""
    if not isinstance(prog.net, MLPNet):
        return params
    depth = shape["depth"]
    # (V, D, W): which units each variant has; a kernel entry is real where both its input
    # unit (or input feature) and its output unit are.
    masks = compiled.unit_masks(prog.net.arch, shape["widths"], depth)
    last = masks[jnp.arange(len(depth)), jnp.asarray(depth) - 1]  # (V, W) last hidden layer

    def fix(path, p):
        names = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
        if names[0] == "out":
            return p * last[:, :, None] if names[-1] == "kernel" else p
        l = names[1]
        if names[-1] == "kernel":
            rows = jnp.ones(p.shape[:2], p.dtype) if l == 0 else masks[:, l - 1]
            return p * rows[:, :, None] * masks[:, l][:, None, :]
        return p * masks[:, l]

    return jax.tree_util.tree_map_with_path(fix, params)


def check_params(params, expected) -> Any:
    """``params`` cast to ``expected``'s dtypes, refused unless structure and shapes match."""
    exp_leaves, exp_tree = jax.tree.flatten(expected)
    leaves, tree = jax.tree.flatten(params)
    check(tree == exp_tree, "init_params", "structure",
          f"expected the structure of Plan.initial_params(): {exp_tree}")
    for a, e in zip(leaves, exp_leaves, strict=True):
        check(tuple(np.shape(a)) == tuple(e.shape), "init_params", f"shape {np.shape(a)}",
              f"expected {e.shape}")
    return jax.tree.map(lambda a, e: jnp.asarray(a, e.dtype), params, expected)


def group_data(g) -> dict:
    """Device arrays of a group's data: encoded targets, validation padded to whole chunks."""
    prog, ds = g.program, g.dataset
    dtype = float_dtype(prog.dtype)
    obj = prog.objective
    out = {"x_train": jnp.asarray(ds.x_train, dtype),
           "y_train": jnp.asarray(_cast(obj.encode(ds.y_train, "data.y_train"), dtype))}
    if prog.n_val:
        out["x_val"], out["y_val"] = _chunked(g, ds.x_val, ds.y_val, "val", prog.eval_chunk)
    else:
        out["x_val"] = out["y_val"] = jnp.zeros((0,), dtype)
    return out


def _chunked(g, x, y, part: str, chunk: int) -> tuple[jax.Array, jax.Array]:
    """Device arrays of a held-out part, encoded targets, zero-padded to whole chunks."""
    dtype = float_dtype(g.program.dtype)
    pad = math.ceil(len(x) / chunk) * chunk - len(x)
    y = _cast(g.program.objective.encode(y, f"data.y_{part}"), dtype)
    return (jnp.asarray(np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)]), dtype),
            jnp.asarray(np.concatenate([y, np.zeros((pad,) + y.shape[1:], y.dtype)])))


def test_part(g, chunk: int) -> tuple[jax.Array, jax.Array]:
    """The group's test part as device arrays padded to whole chunks of ``chunk`` rows."""
    return _chunked(g, g.dataset.x_test, g.dataset.y_test, "test", chunk)


def _cast(y: np.ndarray, dtype) -> np.ndarray:
    return y if np.issubdtype(y.dtype, np.integer) else y.astype(dtype)

"""The sweep runner: plan a sweep into groups, compile each once, train all variants per epoch.

``plan(spec)`` validates every variant, loads the data and splits the variants into
*groups*: variants that differ only in vectorizable settings (learning rate and schedule
parameters, momentum, betas, eps, weight decay, clip thresholds, L2, dropout rate, init
scale and kind, seeds, batch size, width, depth, epochs, patience, min_delta) share one
compiled program; settings that change the program (data, activation, batch norm, loss,
metrics, optimizer family, schedule shape, shuffling, early-stopping monitor, dtype) start a
new group. Nothing is compiled before every variant has been checked.

``run(spec)`` trains every group: ``jit`` is applied here, once per program, and the host
sees the sweep once per epoch (records, progress, callbacks, "all stopped?").
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab import data as data_lib
from jaxlab import engine, models, optim
from jaxlab.config import Sweep, Variant
from jaxlab.errors import ConfigError, check
from jaxlab.losses import make_objective

_train_epoch = jax.jit(engine.train_epoch, static_argnums=0)
_finish = jax.jit(engine.finish, static_argnums=0)


@dataclasses.dataclass
class Group:
    """Variants trained by one compiled program."""

    program: engine.Program
    variants: list[Variant]
    dataset: data_lib.Dataset

    @property
    def indices(self) -> list[int]:
        return [v.index for v in self.variants]


@dataclasses.dataclass
class Plan:
    """A validated sweep, split into groups; nothing compiled yet."""

    spec: Sweep
    variants: list[Variant]
    groups: list[Group]

    def initial_params(self) -> list[Any]:
        """Initial parameters of every group: pure-dict pytrees with a leading variant axis.

        Widths and depth are padded to the group's largest; see :mod:`jaxlab.models`.
        """
        return [_init_params(g) for g in self.groups]


def _monitor_ok(monitor: str, objective, has_val: bool) -> None:
    names = ["loss", *objective.metrics]
    allowed = names + [f"val_{n}" for n in names] if has_val else names
    if monitor not in allowed:
        reason = f"expected one of {allowed}"
        if monitor.startswith("val_") and not has_val:
            reason = ("needs validation data: set data.validation_split or data.train_size, "
                      "or monitor 'loss'")
        raise ConfigError("train.monitor", monitor, reason)


def _structure(v: Variant, objective) -> tuple:
    t, m = v.train, v.model
    es = (t.monitor, t.mode, t.restore_best_weights) if t.early_stopping else None
    return (v.data, m.activation, m.batch_norm, objective, t.optimizer, t.schedule, t.shuffle,
            es, t.dtype, t.microbatch, t.eval_batch_size, t.diagnostics)


def _n_micro(n: int, b: int, m: int) -> int:
    return (n // b) * math.ceil(b / m) + math.ceil((n % b) / m)


def plan(spec: Sweep, *, dataset: data_lib.Dataset | None = None) -> Plan:
    """Validate ``spec`` and split it into groups (raises :class:`ConfigError`, compiles nothing).

    Args:
      spec: the sweep.
      dataset: in-memory data used for every variant instead of loading ``spec.data``.
    """
    variants = spec.variants()
    datasets: dict = {}
    buckets: dict[tuple, list] = {}
    for v in variants:
        if v.data not in datasets:
            datasets[v.data] = dataset if dataset is not None else data_lib.load(v.data)
        ds = datasets[v.data]
        where = f" (variant {v.index}: {dict(v.values)})" if v.values else ""
        if v.train.dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("train.dtype", "float64", "needs 64-bit JAX: set "
                              "JAX_ENABLE_X64=1 or jax.config.update('jax_enable_x64', True)")
        check(v.train.batch_size <= ds.n_train, "train.batch_size", v.train.batch_size,
              f"is larger than the training set ({ds.n_train} samples){where}")
        loss = v.train.loss
        if loss == "auto":
            loss = "sparse_categorical_crossentropy" if ds.task == "classification" else "mse"
        metrics = v.train.metrics
        if metrics == "auto":
            metrics = ("accuracy",) if ds.task == "classification" else ("mae",)
        objective = make_objective(
            loss, metrics, task=ds.task, n_classes=ds.n_classes,
            n_targets=ds.y_train.shape[1] if ds.task == "regression" else None,
            output_activation=v.model.output_activation, y_train=ds.y_train)
        if v.train.early_stopping:
            _monitor_ok(v.train.monitor, objective, ds.n_val > 0)
        buckets.setdefault(_structure(v, objective), []).append((v, objective))

    groups = []
    for members in buckets.values():
        vs = [v for v, _ in members]
        objective = members[0][1]
        first = vs[0]
        ds = datasets[first.data]
        t = first.train
        batch_sizes = sorted({v.train.batch_size for v in vs})
        m = t.microbatch or batch_sizes[0]
        check(m <= ds.n_train, "train.microbatch", m,
              f"is larger than the training set ({ds.n_train} samples)")
        if first.model.batch_norm != "none" and any(b > m for b in batch_sizes):
            warnings.warn(
                f"batch norm with batch sizes {batch_sizes} and microbatch {m}: statistics are "
                f"computed over microbatches of {m} samples (ghost batch norm), which is not "
                "exactly Keras' per-batch normalization for the larger batches; set "
                f"train.microbatch={batch_sizes[-1]} for exact (padded) batches",
                stacklevel=2)
        es = None
        if t.early_stopping:
            maximize = t.mode == "max" or (t.mode == "auto" and "acc" in t.monitor)
            es = engine.EarlyStop(t.monitor, maximize, t.restore_best_weights)
        arch = models.Arch(
            n_in=ds.n_features,
            width=max(max(v.model.widths) for v in vs),
            depth=max(len(v.model.widths) for v in vs),
            n_out=objective.n_outputs,
            activation=first.model.activation,
            batch_norm=first.model.batch_norm,
        )
        opt = optim.OptimizerSpec(
            t.optimizer,
            clip_norm=any(v.train.clip_norm is not None for v in vs),
            clip_value=any(v.train.clip_value is not None for v in vs),
            schedule=t.schedule,
        )
        prog = engine.Program(
            arch=arch, objective=objective, opt=opt, n_train=ds.n_train, n_val=ds.n_val,
            microbatch=m,
            n_micro=max(_n_micro(ds.n_train, b, m) for b in batch_sizes),
            accumulate=any(b > m for b in batch_sizes),
            dropout=any(v.model.dropout > 0 for v in vs),
            shuffle=t.shuffle, early_stopping=es, dtype=t.dtype,
            eval_chunk=min(t.eval_batch_size, max(ds.n_val, 1)),
            diagnostics=t.diagnostics,
            freeze=any(v.train.freeze > 0 for v in vs),
        )
        groups.append(Group(prog, vs, ds))
    return Plan(spec, variants, groups)


# -- per-variant data ---------------------------------------------------------------------------
def variant_hparams(prog: engine.Program, v: Variant) -> dict[str, float]:
    """The numeric settings of ``v`` that its group's program reads as data."""
    t = v.train
    values = {k: getattr(t, k) for k in ("learning_rate", "momentum", "b1", "b2", "eps",
                                         "weight_decay", "rho", "initial_accumulator",
                                         "decay_rate", "decay_steps", "warmup_steps", "alpha",
                                         "l2", "batch_size", "epochs", "patience", "min_delta",
                                         "freeze")}
    values["clip_norm"] = math.inf if t.clip_norm is None else t.clip_norm
    values["clip_value"] = math.inf if t.clip_value is None else t.clip_value
    values["dropout"] = v.model.dropout
    return {k: float(values[k]) for k in prog.hparam_names}


@functools.partial(jax.jit, static_argnums=1)
def _keys(seeds, i):
    return jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), i))(seeds)


def variant_keys(variants: Sequence[Variant]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(init, dropout, shuffle)`` raw keys ``(V, 2)``: ``fold_in(PRNGKey(seed), 0 | 1 | 2)``.

    ``seed`` is ``train.seed`` unless ``init_seed``, ``dropout_seed`` or ``shuffle_seed`` is set.
    """

    def seeds(name):
        return np.array([v.train.seed if getattr(v.train, name) is None
                         else getattr(v.train, name) for v in variants], np.uint32)

    return tuple(np.asarray(_keys(seeds(name), i))
                 for i, name in enumerate(("init_seed", "dropout_seed", "shuffle_seed")))


def _widths(prog: engine.Program, v: Variant) -> np.ndarray:
    w = np.zeros(prog.arch.depth, np.int32)
    w[: len(v.model.widths)] = v.model.widths
    return w


def _stack(values: Sequence[dict]) -> dict:
    return {k: np.stack([np.asarray(d[k]) for d in values]) for k in values[0]}


def _pick_rows(pick, a, b):
    """Rows of ``a`` where ``pick`` (``(V,)`` bool), else rows of ``b``."""
    return jnp.where(pick.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)


def _init_group(arch, kernel_init, dtype, keys, widths, depth, scale):
    def one(k, w, d, s):
        return models.init_params(arch, k, w, d, s, kernel_init=kernel_init, dtype=dtype)

    return jax.vmap(one)(keys, widths, depth, scale)


_init_group_jit = jax.jit(_init_group, static_argnums=(0, 1, 2))


def _init_params(g: Group):
    prog = g.program
    dtype = jnp.float64 if prog.dtype == "float64" else jnp.float32
    keys = variant_keys(g.variants)[0]
    widths = np.stack([_widths(prog, v) for v in g.variants])
    depth = np.array([len(v.model.widths) for v in g.variants], np.int32)
    scale = np.array([v.model.scale for v in g.variants])
    kinds = [v.model.kernel_init for v in g.variants]
    params = None
    for kind in dict.fromkeys(kinds):
        out = _init_group_jit(prog.arch, kind, dtype, keys, widths, depth, scale.astype(dtype))
        if params is None:
            params = out
        else:
            pick = jnp.asarray([k == kind for k in kinds])
            params = jax.tree.map(functools.partial(_pick_rows, pick), out, params)
    return params


def _init_state(prog, params, hp, widths, depth, skeys, dkeys):
    return jax.vmap(engine.init_state, in_axes=(None, 0, 0, 0, 0, 0, 0))(
        prog, params, hp, widths, depth, skeys, dkeys)


_init_state_jit = jax.jit(_init_state, static_argnums=0)


def _mask_params(prog: engine.Program, params, widths, depth):
    """Zero the padded entries of user-given parameters (keeps the exactness invariant)."""
    ref = _init_group_jit(prog.arch, "he_uniform",
                          jnp.float64 if prog.dtype == "float64" else jnp.float32,
                          jnp.zeros((len(depth), 2), jnp.uint32), widths, depth,
                          jnp.ones(len(depth)))
    # Every kernel entry that He init can make non-zero is real; biases and norms are real
    # where their unit exists.
    masks = jax.vmap(lambda w, d: models.unit_mask(prog.arch, w, d))(widths, depth)

    def fix(path, p, r):
        names = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
        if names[-1] == "kernel":
            return jnp.where(r != 0, p, 0)
        if names[0] in ("hidden", "norms") and names[-1] in ("bias", "scale"):
            return p * masks[:, names[1]]
        return p

    return jax.tree_util.tree_map_with_path(fix, params, ref)


def group_data(g: Group) -> dict:
    """Device arrays of a group's data: encoded targets, validation padded to whole chunks."""
    prog, ds = g.program, g.dataset
    dtype = np.float64 if prog.dtype == "float64" else np.float32
    obj = prog.objective
    out = {"x_train": jnp.asarray(ds.x_train, dtype),
           "y_train": jnp.asarray(_cast(obj.encode(ds.y_train, "data.y_train"), dtype))}
    if prog.n_val:
        n_chunks = math.ceil(prog.n_val / prog.eval_chunk)
        pad = n_chunks * prog.eval_chunk - prog.n_val
        yv = _cast(obj.encode(ds.y_val, "data.y_val"), dtype)
        out["x_val"] = jnp.asarray(np.concatenate(
            [ds.x_val, np.zeros((pad, ds.x_val.shape[1]), ds.x_val.dtype)]), dtype)
        out["y_val"] = jnp.asarray(np.concatenate([yv, np.zeros((pad,) + yv.shape[1:],
                                                                yv.dtype)]))
    else:
        out["x_val"] = out["y_val"] = jnp.zeros((0,), dtype)
    return out


def _cast(y: np.ndarray, dtype) -> np.ndarray:
    return y if np.issubdtype(y.dtype, np.integer) else y.astype(dtype)


# -- running ------------------------------------------------------------------------------------
@dataclasses.dataclass
class EpochReport:
    """What callbacks see once per epoch of a group.

    Attributes:
      group: index of the group; ``indices``: sweep indices of its variants.
      epoch: 0-based epoch; ``epochs``: the group's largest epoch count.
      record: name -> ``(V,)`` numpy values of this epoch (see :func:`engine.end_epoch`).
      active: ``(V,)`` still training after this epoch; ``diverged``: ``(V,)``.
      compile_seconds: time spent compiling before the first epoch (0 afterwards).
    """

    group: int
    indices: list[int]
    epoch: int
    epochs: int
    record: dict
    active: np.ndarray
    diverged: np.ndarray
    stop_epoch: np.ndarray
    compile_seconds: float = 0.0


Callback = Callable[[EpochReport], None]


def run_plan(p: Plan, *, init_params: Sequence | Any | None = None,
             callbacks: Sequence[Callback] = ()) -> list[dict]:
    """Train every group of ``p``; returns per group ``{"records", "state", "timing"}``."""
    if init_params is not None and not isinstance(init_params, (list, tuple)):
        init_params = [init_params]
    check(init_params is None or len(init_params) == len(p.groups), "init_params",
          f"{len(init_params or [])} pytrees", f"expected one per group ({len(p.groups)})")
    outputs = []
    for gi, g in enumerate(p.groups):
        prog = g.program
        hp = _stack([variant_hparams(prog, v) for v in g.variants])
        widths = np.stack([_widths(prog, v) for v in g.variants])
        depth = np.array([len(v.model.widths) for v in g.variants], np.int32)
        _, dkeys, skeys = variant_keys(g.variants)
        data = group_data(g)
        t0 = time.perf_counter()
        if init_params is None:
            params = _init_params(g)
        else:
            params = _check_params(prog, init_params[gi], _init_params_shape(g))
            params = _mask_params(prog, params, widths, depth)
        state = _init_state_jit(prog, params, hp, widths, depth, skeys, dkeys)
        epochs = max(v.train.epochs for v in g.variants)
        # Compile ahead of time so that compilation shows as its own phase.
        compiled = _train_epoch.lower(prog, state, data, jnp.int32(0)).compile()
        compile_s = time.perf_counter() - t0
        records = []
        t1 = time.perf_counter()
        for epoch in range(epochs):
            state, rec = compiled(state, data, jnp.int32(epoch))
            rec, active, diverged, stop_epoch = jax.device_get(
                (rec, state.active, state.diverged, state.stop_epoch))
            records.append(rec)
            report = EpochReport(gi, g.indices, epoch, epochs, rec, active, diverged,
                                 stop_epoch, compile_s if epoch == 0 else 0.0)
            for cb in callbacks:
                cb(report)
            if not active.any():
                break
        state = _finish(prog, state)
        state = jax.device_get(state)
        outputs.append({"records": records, "state": state,
                        "timing": {"compile_s": compile_s,
                                   "train_s": time.perf_counter() - t1}})
    return outputs


def _init_params_shape(g: Group):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _init_params(g))


def _check_params(prog, params, expected):
    exp_leaves, exp_tree = jax.tree.flatten(expected)
    leaves, tree = jax.tree.flatten(params)
    check(tree == exp_tree, "init_params", "structure",
          f"expected the structure of Plan.initial_params(): {exp_tree}")
    for a, e in zip(leaves, exp_leaves, strict=True):
        check(tuple(np.shape(a)) == tuple(e.shape), "init_params", f"shape {np.shape(a)}",
              f"expected {e.shape}")
    return jax.tree.map(lambda a, e: jnp.asarray(a, e.dtype), params, expected)


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

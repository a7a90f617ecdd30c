"""The sweep runner: plan a sweep into groups, compile each once, train all variants per epoch.

``plan(spec)`` validates every variant, loads the data and splits the variants into
*groups*: variants that differ only in vectorizable settings (learning rate and schedule
parameters, momentum, betas, eps, weight decay, clip thresholds, L2, dropout rate, init
scale and kind, seeds, batch size, width, depth, epochs, patience, min_delta) share one
compiled program; settings that change the program (data, activation, batch norm, loss,
metrics, optimizer family, schedule shape, shuffling, early-stopping monitor, dtype) start a
new group. Nothing is compiled before every variant has been checked.

``run_plan(plan)`` trains every group: ``jit``, ``shard_map`` and the variant mesh are applied
here, once per program, and the host sees the sweep once per epoch (records, progress,
callbacks, "all stopped?", successive-halving rungs, checkpoints).

**Devices and hosts.** A group's variants are padded to a multiple of the device count with
inactive copies of its last variant and split over every device of every process
(:mod:`jaxlab.distributed`); the data are replicated; one program runs on every device.

**Chunks.** When a group does not fit in the memory budget (:mod:`jaxlab.memory`), its
variants are trained in equal chunks within each epoch, one after the other, by one compiled
program; between epochs a chunk's state waits in host memory. Every chunk sees the same
epochs, so halving rungs, callbacks and checkpoints see the whole group at once.

**Numerics.** A variant's arithmetic does not depend on the others, but XLA compiles a
different program for a different number of variants per device (and for an SPMD
partition), and may then order a reduction differently: results with other device counts,
chunk sizes or halving compactions agree to float rounding (about 1e-7 relative in float32
after a few epochs, 1e-15 in float64), not always to the bit. The same layout (for
instance a resumed run) is bit-identical.
"""

from __future__ import annotations

import contextlib
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
from jax.sharding import PartitionSpec as P

from jaxlab import checkpoint as ckpt
from jaxlab import data as data_lib
from jaxlab import distributed, engine, memory, models, optim
from jaxlab.config import Sweep, Variant
from jaxlab.errors import ConfigError, check
from jaxlab.halving import Halving
from jaxlab.losses import make_objective

_train_epoch = jax.jit(engine.train_epoch, static_argnums=0)
# The memory probe: the epoch program on one device, state donated as in the real one.
_probe_epoch = jax.jit(engine.train_epoch, static_argnums=0, donate_argnums=1)
_finish = jax.jit(engine.finish, static_argnums=0)


@dataclasses.dataclass
class Group:
    """Variants trained by one compiled program."""

    program: engine.Program
    variants: list[Variant]
    dataset: data_lib.Dataset
    halving: Halving | None = None

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
    halving = (t.halving_every, t.halving_eta, t.halving_metric) if t.halving_every else None
    return (v.data, m.activation, m.batch_norm, objective, t.optimizer, t.schedule, t.shuffle,
            es, t.dtype, t.microbatch, t.eval_batch_size, t.diagnostics, halving)


def _halving(t, objective, has_val: bool) -> Halving | None:
    """Check the halving settings of a variant's ``TrainConfig``; the group's schedule."""
    every, eta, metric = t.halving_every, t.halving_eta, t.halving_metric
    check(isinstance(every, (int, np.integer)) and not isinstance(every, bool) and every >= 0,
          "train.halving_every", every, "must be an integer >= 0 (0: no successive halving)")
    check(isinstance(eta, (int, float, np.number)) and not isinstance(eta, bool)
          and math.isfinite(eta) and eta > 1, "train.halving_eta", eta, "must be > 1")
    check(isinstance(metric, str), "train.halving_metric", metric, "must be a metric name")
    if not every:
        return None
    if metric == "auto":
        metric = "val_loss" if has_val else "loss"
    names = ["loss", *objective.metrics]
    allowed = names + [f"val_{n}" for n in names] if has_val else names
    if metric not in allowed:
        reason = f"expected 'auto' or one of {allowed}"
        if metric.startswith("val_") and not has_val:
            reason = "needs validation data: set data.validation_split or data.train_size"
        raise ConfigError("train.halving_metric", t.halving_metric, reason)
    return Halving(int(every), float(eta), metric, "acc" in metric)


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
        _halving(v.train, objective, ds.n_val > 0)
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
        groups.append(Group(prog, vs, ds, _halving(t, objective, ds.n_val > 0)))
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
    return _init_params_for(g.program, g.variants)


def _init_params_for(prog: engine.Program, variants: Sequence[Variant]):
    dtype = jnp.float64 if prog.dtype == "float64" else jnp.float32
    keys = variant_keys(variants)[0]
    widths = np.stack([_widths(prog, v) for v in variants])
    depth = np.array([len(v.model.widths) for v in variants], np.int32)
    scale = np.array([v.model.scale for v in variants])
    kinds = [v.model.kernel_init for v in variants]
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
    # (V, D, W): which units each variant has; a kernel entry is real where both its input
    # unit (or input feature) and its output unit are.
    masks = jax.vmap(lambda w, d: models.unit_mask(prog.arch, w, d))(widths, depth)
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
             callbacks: Sequence[Callback] = (), devices: Sequence[jax.Device] | None = None,
             memory_budget: int | str | None = None, checkpoint_dir: str | None = None,
             checkpoint_every: int = 10, resume: bool = False) -> list[dict]:
    """Train every group of ``p``; returns per group ``{"records", "state", "timing"}``.

    Args:
      p: the plan.
      init_params: initial parameters, one pytree per group with a leading variant axis.
      callbacks: called once per epoch per group with an :class:`EpochReport` (on every
        process of a multi-process sweep).
      devices: the devices to shard the variants over (default: all, of every process).
      memory_budget: bytes per device (or ``"2GB"``) a group may use; a larger group runs in
        chunks. Default: the device's memory where JAX reports it, else unbounded.
      checkpoint_dir: save the sweep there every ``checkpoint_every`` epochs and on SIGTERM
        (see :mod:`jaxlab.checkpoint`); ``None``: no checkpoints.
      resume: continue from the newest valid checkpoint in ``checkpoint_dir`` (refused if the
        spec changed); without it, existing checkpoints there are removed.

    Returns:
      per group: ``records`` (one dict of ``(V,)`` numpy arrays per epoch run, in the group's
      variant order), ``state`` (the final :class:`engine.TrainState`, numpy, leading ``V``)
      and ``timing``.

    Raises:
      checkpoint.Preempted: SIGTERM arrived (the sweep was saved first when it could be).
    """
    if init_params is not None and not isinstance(init_params, (list, tuple)):
        init_params = [init_params]
    check(init_params is None or len(init_params) == len(p.groups), "init_params",
          f"{len(init_params or [])} pytrees", f"expected one per group ({len(p.groups)})")
    check(isinstance(checkpoint_every, (int, np.integer)) and checkpoint_every >= 0,
          "checkpoint_every", checkpoint_every, "must be an integer >= 0 (0: only on SIGTERM)")
    check(checkpoint_dir is not None or not resume, "resume", resume,
          "needs a checkpoint directory (checkpoint_dir, or jaxlab sweep --out)")
    mesh = distributed.variant_mesh(devices)
    budget = memory.parse_bytes(memory_budget)
    if budget is None:
        mine = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
        budget = memory.device_budget(mine[0]) if mine else None
        # Every process must cut the same chunks: the smallest device decides.
        budget = distributed.min_over_processes(budget)
    params0 = None
    if init_params is not None:
        params0 = [_mask_params(g.program, _check_params(g.program, init_params[gi],
                                                         _init_params_shape(g)),
                                *_shape_inputs(g.program, g.variants))
                   for gi, g in enumerate(p.groups)]
        params0 = [jax.tree.map(np.asarray, jax.device_get(t)) for t in params0]
    run = _Run(p, mesh, budget, params0, list(callbacks), checkpoint_every)
    if checkpoint_dir is not None:
        run.store = ckpt.Store(checkpoint_dir, writer=distributed.is_main())
        run.fingerprint = ckpt.fingerprint(p.spec.to_dict(), _data_fingerprint(p, params0))
        if resume:
            run.restore()
        else:
            run.store.clear()
        distributed.barrier("jaxlab-checkpoints-ready")
    guard = ckpt.on_sigterm() if checkpoint_dir is not None else contextlib.nullcontext(
        ckpt.StopFlag())
    try:
        with guard as stop:
            run.stop = stop
            for gi, out in enumerate(run.outputs):  # resumed: the callbacks see every epoch
                run.replay(gi, out["records"], out["state"].active)
            for gi in range(len(run.outputs), len(p.groups)):
                run.outputs.append(run.group(gi))
    finally:
        if run.store is not None:
            run.store.close()
    return run.outputs


def _shape_inputs(prog: engine.Program, variants: Sequence[Variant]):
    widths = np.stack([_widths(prog, v) for v in variants])
    depth = np.array([len(v.model.widths) for v in variants], np.int32)
    return widths, depth


def _data_fingerprint(p: Plan, params0) -> dict:
    """Checksums of what the spec does not name: the data arrays and given parameters."""
    out = {}
    for gi, g in enumerate(p.groups):
        ds = g.dataset
        parts = [ds.x_train, ds.y_train, ds.x_val, ds.y_val]
        out[f"data (group {gi} arrays)"] = [ckpt.crc(np.asarray(a)) for a in parts
                                            if a is not None]
    if params0 is not None:
        out["init_params"] = [ckpt.crc(a) for t in params0 for a in jax.tree.leaves(t)]
    return out


@dataclasses.dataclass
class _Chunk:
    """Variants trained together by one call of the compiled program."""

    idx: np.ndarray  # (k,) positions in the group, k <= size
    size: int  # padded variant count (a multiple of the device count)
    state: Any = None  # the device state while it stays on the devices


@functools.cache
def _epoch_program(prog: engine.Program, mesh):
    """``train_epoch`` of every device's share of the variants: data replicated, no
    communication; the state is donated (updated in place)."""
    variants = P(distributed.AXIS)
    body = jax.shard_map(functools.partial(engine.train_epoch, prog), mesh=mesh,
                         in_specs=(variants, P(), P()), out_specs=(variants, variants),
                         check_vma=False)
    return jax.jit(body, donate_argnums=0)


def _rows(tree, idx):
    return jax.tree.map(lambda a: a[idx], tree)


def _write_rows(host, idx, rows) -> None:
    for h, r in zip(jax.tree.leaves(host), jax.tree.leaves(rows), strict=True):
        h[idx] = r[: len(idx)]


_MIN_COMPACT = 8  # variants per device below which halving does not recompile


class _Run:
    """The host loop of one sweep: groups in turn, epochs in turn, chunks within an epoch."""

    def __init__(self, p: Plan, mesh, budget, params0, callbacks, checkpoint_every):
        self.p, self.mesh, self.budget = p, mesh, budget
        self.params0, self.callbacks = params0, callbacks
        self.every = int(checkpoint_every)
        self.store: ckpt.Store | None = None
        self.fingerprint: dict = {}
        self.stop = ckpt.StopFlag()
        self.outputs: list[dict] = []
        self.step = 0  # epochs completed over the sweep: the checkpoint number
        self.resumed: dict | None = None  # the current group's saved progress

    # -- checkpoints ----------------------------------------------------------------------------
    def restore(self) -> None:
        found = self.store.latest_everywhere()
        if found is None:
            return
        step, arrays, meta = found
        ckpt.check_same(meta["fingerprint"], self.fingerprint, self.store.directory)
        self.step = step
        for gi in range(meta["group"]):
            saved = arrays["done"][str(gi)]
            self.outputs.append({
                "records": _unstack_records(saved["records"], meta["record_keys"][gi]),
                "state": _unflatten_state(self.p.groups[gi], saved["state"],
                                          self.store.directory),
                "timing": meta["timing"][gi]})
        if "current" in arrays:
            g = self.p.groups[meta["group"]]
            cur = arrays["current"]
            self.resumed = {
                "epoch": meta["epoch"], "working": np.asarray(meta["working"], np.int64),
                "records": _unstack_records(cur["records"], meta["record_keys"][meta["group"]]),
                "state": _unflatten_state(g, cur["state"], self.store.directory)}

    def save(self, gi: int, epoch: int, host, records, working) -> None:
        arrays: dict = {"current": {"state": _flatten_state(host),
                                    "records": _stack_records(records)}}
        if self.outputs:
            arrays["done"] = {str(i): {"state": _flatten_state(o["state"]),
                                       "records": _stack_records(o["records"])}
                              for i, o in enumerate(self.outputs)}
        meta = {"fingerprint": self.fingerprint, "group": gi, "epoch": epoch + 1,
                "working": [int(i) for i in working],
                "record_keys": [list(o["records"][0]) for o in self.outputs] + [list(records[0])],
                "timing": [o["timing"] for o in self.outputs]}
        self.store.save(self.step, arrays, meta)
        distributed.barrier(f"jaxlab-checkpoint-{self.step}")

    def replay(self, gi: int, records: list[dict], active_after) -> None:
        """Report the epochs a checkpoint holds to the callbacks, as they first ran."""
        g = self.p.groups[gi]
        epochs = max(v.train.epochs for v in g.variants)
        n = len(g.variants)
        diverged, stop_epoch = np.zeros(n, bool), np.full(n, -1, np.int32)
        for e, rec in enumerate(records):
            active = records[e + 1]["trained"] if e + 1 < len(records) else active_after
            ended = rec["stopped"] | rec["diverged"] | rec.get("pruned", False)
            diverged = diverged | rec["diverged"]
            stop_epoch = np.where(ended, e, stop_epoch)
            report = EpochReport(gi, g.indices, e, epochs, rec, np.asarray(active, bool).copy(),
                                 diverged.copy(), stop_epoch.copy())
            for cb in self.callbacks:
                cb(report)

    # -- one group ------------------------------------------------------------------------------
    def _capacity(self, gi: int, g: Group, data_host) -> tuple[int | None, memory.Estimate | None]:
        """Variants one device holds within the budget (``None``: no limit)."""
        if self.budget is None:
            return None, None
        per_device = -(-len(g.variants) // self.mesh.size)
        est = memory_estimate(g, data_host, measure=False)
        if est.bytes(per_device) > self.budget // 4:  # it may matter: ask XLA
            est = memory_estimate(g, data_host)
        capacity = est.capacity(self.budget)
        if capacity < 1:
            raise ConfigError("memory_budget", self.budget,
                              f"group {gi} needs about {est.bytes(1)} bytes for one variant "
                              f"({est.source} estimate); raise the budget")
        return capacity, est

    def _chunks(self, working: np.ndarray, capacity: int | None, floor: int = 0
                ) -> list[_Chunk]:
        n_chunks, size = memory.chunk_layout(len(working), self.mesh.size, capacity)
        if n_chunks == 1:
            size = max(size, floor)
        step = -(-len(working) // n_chunks)
        return [_Chunk(working[i: i + step], size) for i in range(0, len(working), step)]

    def _init_host(self, gi: int, g: Group, chunks: list[_Chunk]):
        """Every variant's initial state on the host, initialized one chunk at a time."""
        host = None
        for c in chunks:
            padded = np.concatenate([c.idx, np.repeat(c.idx[-1:], c.size - len(c.idx))])
            rows = _init_rows(g, padded, None if self.params0 is None else self.params0[gi])
            if host is None:
                host = jax.tree.map(lambda a: np.empty((len(g.variants),) + a.shape[1:],
                                                       a.dtype), rows)
            _write_rows(host, c.idx, rows)
        return host

    def _upload(self, host, c: _Chunk):
        rows = distributed.pad_rows(_rows(host, c.idx), c.size)
        active = np.zeros(c.size, bool)
        active[: len(c.idx)] = host.active[c.idx]  # the padding copies never train
        return distributed.shard(rows.replace(active=active), self.mesh)

    def group(self, gi: int) -> dict:
        g = self.p.groups[gi]
        prog, n = g.program, len(g.variants)
        epochs = max(v.train.epochs for v in g.variants)
        t0 = time.perf_counter()
        data_host = jax.tree.map(np.asarray, group_data(g))
        data = distributed.replicate(data_host, self.mesh)
        capacity, est = self._capacity(gi, g, data_host)
        resumed, self.resumed = self.resumed, None
        if resumed is None:
            first, working, records = 0, np.arange(n), []
            chunks = self._chunks(working, capacity)
            host = self._init_host(gi, g, chunks)
        else:
            first, working, records = resumed["epoch"], resumed["working"], resumed["records"]
            host = jax.tree.map(np.array, resumed["state"])
            chunks = self._chunks(working, capacity)
            self.replay(gi, records, host.active)
        layout = {"chunks": len(chunks), "chunk_size": chunks[0].size if chunks else 0}
        active, diverged = np.array(host.active), np.array(host.diverged)
        stop_epoch = np.array(host.stop_epoch)
        programs: dict[int, Any] = {}
        compile_s = 0.0

        def program(size, state):
            nonlocal compile_s
            if size not in programs:
                t = time.perf_counter()
                programs[size] = _epoch_program(prog, self.mesh).lower(
                    state, data, np.int32(0)).compile()
                compile_s += time.perf_counter() - t
            return programs[size]

        def sync():
            for c in chunks:
                if c.state is not None:
                    _write_rows(host, c.idx, distributed.to_host(c.state))

        setup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for epoch in range(first, epochs if working.size else first):
            parts = []
            for c in chunks:
                st = c.state if c.state is not None else self._upload(host, c)
                st, rec = program(c.size, st)(st, data, np.int32(epoch))
                c.state = st if len(chunks) == 1 else None
                if c.state is None:
                    _write_rows(host, c.idx, distributed.to_host(st))
                    flags = (host.active[c.idx], host.diverged[c.idx], host.stop_epoch[c.idx])
                    rec = distributed.to_host(rec)
                else:
                    rec, *flags = distributed.to_host((rec, st.active, st.diverged,
                                                       st.stop_epoch))
                parts.append((c.idx, rec))
                for whole, part in zip((active, diverged, stop_epoch), flags, strict=True):
                    whole[c.idx] = part[: len(c.idx)]
            rec = _merge_records(parts, n)
            if g.halving is not None:
                rec["pruned"] = np.zeros(n, bool)
                if g.halving.is_rung(epoch) and epoch + 1 < epochs:
                    keep = g.halving.survivors(rec[g.halving.metric], active)
                    pruned = active & ~keep
                    if pruned.any():
                        sync()
                        rec["pruned"] = pruned
                        active[pruned] = False
                        stop_epoch[pruned] = epoch
                        host.active[pruned] = False
                        host.stop_epoch[pruned] = epoch
                        working = np.flatnonzero(active)  # compact: survivors only
                        # Below 8 variants per device a smaller program saves next to
                        # nothing: keep that size rather than compile again.
                        floor = min(chunks[0].size, _MIN_COMPACT * self.mesh.size)
                        chunks = self._chunks(working, capacity, floor)
            records.append(rec)
            self.step += 1
            report = EpochReport(gi, g.indices, epoch, epochs, rec, active.copy(),
                                 diverged.copy(), stop_epoch.copy(),
                                 setup_s + compile_s if epoch == first else 0.0)
            for cb in self.callbacks:
                cb(report)
            done = not active.any() or epoch + 1 == epochs
            stop = (distributed.any_process(self.stop.requested) if self.store is not None
                    else self.stop.requested)
            if self.store is not None and not done and (
                    stop or (self.every and (epoch + 1) % self.every == 0)):
                sync()
                self.save(gi, epoch, host, records, working)
            if stop and not done:
                raise ckpt.Preempted(self.store and self.store.directory, epoch + 1, gi)
            if not active.any():
                break
        sync()
        if not records:
            raise ConfigError("resume", first, "the checkpoint holds no epoch of this group")
        state = _finish_host(prog, host, max(c.size for c in chunks) if chunks else n)
        # Programs compile on first use, inside the loop: count that time as compilation.
        timing = {"compile_s": setup_s + compile_s,
                  "train_s": time.perf_counter() - t1 - compile_s,
                  "devices": self.mesh.size, "programs": len(programs), **layout}
        if resumed is not None:
            timing["resumed_at_epoch"] = first
        if est is not None:
            timing["bytes_per_variant"] = est.per_variant
            timing["memory_estimate"] = est.source
        return {"records": records, "state": state, "timing": timing}


def memory_estimate(g: Group, data_host: dict | None = None, *,
                    measure: bool = True) -> memory.Estimate:
    """Device bytes of ``g``'s epoch program: ``fixed + per_variant * n`` for ``n`` variants
    per device, from XLA's memory analysis of two small compilations (``measure``) or counted
    from the shapes (see :mod:`jaxlab.memory`).

    Example:
      >>> est = memory_estimate(jl.plan(spec).groups[0])       # doctest: +SKIP
      >>> est.capacity(2 * 10**9)                              # variants in 2 GB per device
    """
    prog = g.program
    if data_host is None:
        data_host = jax.tree.map(np.asarray, group_data(g))
    row = _abstract_row(g)
    if not measure:
        return memory.analytic(prog, row, data_host)
    data_abs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data_host)

    def lower(k):
        state = jax.tree.map(lambda s: jax.ShapeDtypeStruct((k,) + s.shape, s.dtype), row)
        return _probe_epoch.lower(prog, state, data_abs, np.int32(0))

    return memory.measure(lower, prog, row, data_host)


def _merge_records(parts, n: int) -> dict:
    """One ``(n,)`` array per entry from the chunks' records; variants in no chunk (pruned or
    finished earlier) get a record with ``trained`` false and placeholder values."""
    first = parts[0][1]
    out = {}
    for k, v in first.items():
        v = np.asarray(v)
        fill = np.nan if np.issubdtype(v.dtype, np.floating) else 0
        out[k] = np.full((n,) + v.shape[1:], fill, v.dtype)
    for idx, rec in parts:
        for k, v in rec.items():
            out[k][idx] = np.asarray(v)[: len(idx)]
    return out


def _init_rows(g: Group, idx: np.ndarray, params0) -> engine.TrainState:
    """Initial numpy states of the variants at positions ``idx`` of ``g`` (repeats allowed)."""
    prog = g.program
    vs = [g.variants[i] for i in idx]
    hp = _stack([variant_hparams(prog, v) for v in vs])
    widths, depth = _shape_inputs(prog, vs)
    _, dkeys, skeys = variant_keys(vs)
    params = _init_params_for(prog, vs) if params0 is None else _rows(params0, idx)
    state = _init_state_jit(prog, params, hp, widths, depth, skeys, dkeys)
    return jax.tree.map(np.array, jax.device_get(state))


def _abstract_row(g: Group):
    """One variant's state as ``ShapeDtypeStruct`` leaves (nothing computed)."""
    prog, v = g.program, g.variants[0]
    dtype = jnp.float64 if prog.dtype == "float64" else jnp.float32
    widths, depth = _shape_inputs(prog, [v])
    keys = jax.ShapeDtypeStruct((1, 2), jnp.uint32)
    params = jax.eval_shape(functools.partial(_init_group, prog.arch, v.model.kernel_init, dtype),
                            keys, widths, depth, jax.ShapeDtypeStruct((1,), dtype))
    hp = _stack([variant_hparams(prog, v)])
    state = jax.eval_shape(functools.partial(_init_state, prog), params, hp, widths, depth,
                           keys, keys)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), state)


def _finish_host(prog: engine.Program, host, size: int):
    """:func:`engine.finish` over the host state, ``size`` variants at a time."""
    es = prog.early_stopping
    if es is None or not es.restore:
        return host
    n = host.active.shape[0]
    for start in range(0, n, size):
        idx = np.arange(start, min(start + size, n))
        _write_rows(host, idx, jax.device_get(_finish(prog, _rows(host, idx))))
    return host


# -- checkpoint layout ----------------------------------------------------------------------------
def _stack_records(records: list[dict]) -> dict:
    return {k: np.stack([np.asarray(r[k]) for r in records]) for k in records[0]}


def _unstack_records(stacked: dict, keys: list[str]) -> list[dict]:
    n_epochs = len(stacked[keys[0]])
    return [{k: np.asarray(stacked[k][e]) for k in keys} for e in range(n_epochs)]


def _flatten_state(state) -> dict:
    return {f"{i:04d}": np.asarray(a) for i, a in enumerate(jax.tree.leaves(state))}


def _unflatten_state(g: Group, flat: dict, directory: str):
    template = _abstract_row(g)
    leaves, treedef = jax.tree.flatten(template)
    saved = [flat[k] for k in sorted(flat)]
    ok = len(saved) == len(leaves) and all(
        a.shape[1:] == t.shape and a.dtype == t.dtype for a, t in zip(saved, leaves, strict=False))
    if not ok:
        raise ConfigError("resume", directory, "the checkpoint's state does not fit this "
                                               "program (written by another jaxlab version?)")
    return jax.tree.unflatten(treedef, [np.array(a) for a in saved])


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

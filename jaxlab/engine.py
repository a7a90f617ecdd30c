"""The vectorized training engine: pure functions over a sweep's state.

One *program* (a :class:`Program`, static and hashable) trains every variant of a group.
The state of one variant is a :class:`TrainState` pytree; a group's state is the same pytree
with a leading variant axis ``V``. :func:`train_epoch` runs one epoch of every variant as one
``lax.scan`` over *microsteps*; the runner (:mod:`jaxlab.sweep`) applies ``jit`` and calls it
once per epoch.

**Batch sizes.** Every variant walks its own batches in microbatches of ``m`` samples
(``m`` = the group's smallest batch size unless set). A batch of ``b`` samples takes
``ceil(b/m)`` microsteps; samples past the end of the batch are masked; the variant's
gradient is summed over its microbatches (each scaled by ``1/b``) and its update is applied
at the batch's last microstep. So every variant updates with exactly its batch size,
including the smaller last batch of an epoch, and no variant is padded to the largest batch:
an epoch of variant ``v`` costs ``sum_k ceil(b_k/m) <= N/m + n_batches`` microsteps, about the
same for every batch size, so a batch-size sweep costs about the sum of its variants' costs.
Batch sizes need not be multiples of anything. (Batch norm then normalizes over microbatches
of ``m``; see :mod:`jaxlab.sweep` for the warning.)

**Randomness.** Per variant: shuffle order of epoch ``e`` is
``permutation(fold_in(shuffle_key, e), N)``; the dropout mask of training sample ``i`` in
epoch ``e`` at hidden layer ``l`` is
``bernoulli(fold_in(fold_in(fold_in(dropout_key, e), i), l), 1 - rate, (W,))``, so it does
not depend on the microbatch size or on the other variants.

**Divergence.** A microstep whose loss, or an update whose new parameters, are not finite
marks the variant diverged: it keeps its last finite parameters and stops. Variants never
mix: a NaN in one cannot reach another.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab import models, optim
from jaxlab.losses import Objective

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class EarlyStop:
    """Static early-stopping structure; patience and min_delta are per-variant data."""

    monitor: str = "val_loss"
    maximize: bool = False
    restore: bool = False


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about a group's compiled training program (hashable).

    Attributes:
      arch: padded network shape.
      objective: loss, metrics and output encoding.
      opt: optimizer structure.
      n_train, n_val: data set sizes.
      microbatch: samples per microstep ``m``.
      n_micro: microsteps per epoch (the largest over the group's variants).
      accumulate: some variant's batch is larger than ``m`` (needs a gradient accumulator).
      dropout: some variant uses dropout.
      shuffle: reshuffle each epoch.
      early_stopping: :class:`EarlyStop` or ``None``.
      dtype: ``"float32"`` or ``"float64"``.
      eval_chunk: samples per evaluation chunk.
      diagnostics: also record per-layer gradient and weight norms and the fractions of dead
        and saturated units (see :func:`diagnose`).
      freeze: some variant keeps its first ``freeze`` hidden layers fixed (transfer learning).
    """

    arch: models.Arch
    objective: Objective
    opt: optim.OptimizerSpec
    n_train: int
    n_val: int
    microbatch: int
    n_micro: int
    accumulate: bool
    dropout: bool
    shuffle: bool
    early_stopping: EarlyStop | None
    dtype: str = "float32"
    eval_chunk: int = 2048
    diagnostics: bool = False
    freeze: bool = False

    @property
    def hparam_names(self) -> tuple[str, ...]:
        """Per-variant numeric settings carried in ``TrainState.hp``."""
        return (self.opt.hparams + optim.SCHEDULE_HPARAMS
                + ("l2", "dropout", "batch_size", "epochs", "patience", "min_delta")
                + ("freeze",) * self.freeze)


class TrainState(struct.PyTreeNode):
    """State of one variant (a sweep adds a leading variant axis to every leaf).

    Shapes are for one variant; ``P`` is the parameter pytree (pure dict).
    """

    params: Any  # P: pure-dict parameter pytree, padded (see jaxlab.models)
    batch_stats: Any  # running batch-norm statistics (pure dict, maybe empty)
    opt_state: Any  # optax InjectHyperparamsState
    grad_acc: Any  # P, gradient summed over the current batch's microbatches (or None)
    widths: Array  # (D,) int32 hidden widths
    depth: Array  # () int32 hidden layers
    hp: dict  # name -> () scalar, see Program.hparam_names
    shuffle_key: Array  # (2,) uint32
    dropout_key: Array  # (2,) uint32
    step: Array  # () int32 optimizer updates applied
    seen: Array  # () int32 training examples processed
    active: Array  # () bool still training
    diverged: Array  # () bool
    stop_epoch: Array  # () int32 epoch at which training stopped (-1: not stopped)
    best: Array  # () monitored best value
    best_epoch: Array  # () int32
    wait: Array  # () int32 epochs since the last improvement
    best_params: Any  # P or None (restore_best_weights)
    best_batch_stats: Any
    sums: dict  # per-epoch accumulators: loss, metrics, count, grad_norm, updates


def _where(cond, new, old):
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _layer_names(prog: Program) -> list[str]:
    return [str(l + 1) for l in range(prog.arch.depth)] + ["out"]


def _zero_sums(prog: Program, dtype) -> dict:
    names = ("loss",) + prog.objective.metrics + ("count", "grad_norm", "updates")
    if prog.diagnostics:
        names += tuple(f"grad_norm_{n}" for n in _layer_names(prog))
    return {k: jnp.zeros((), dtype) for k in names}


def _kernels(prog: Program, params) -> list[Array]:
    return [params["hidden"][l]["kernel"] for l in range(prog.arch.depth)] + [
        params["out"]["kernel"]]


def trainable_mask(params, freeze):
    """Pytree like ``params``: 1 where trainable, 0 in the first ``freeze`` hidden layers
    (and their batch norm)."""

    def one(path, p):
        names = [getattr(k, "key", None) for k in path]
        if names[0] not in ("hidden", "norms"):
            return jnp.ones_like(p)
        return jnp.broadcast_to(jnp.where(names[1] < freeze, 0, 1), p.shape).astype(p.dtype)

    return jax.tree_util.tree_map_with_path(one, params)


def _float(prog: Program):
    return jnp.float64 if prog.dtype == "float64" else jnp.float32


def _forward(prog: Program, params, batch_stats, mask, x, **kw):
    graphdef, abs_params, abs_stats = models.abstract(prog.arch, _float(prog))
    return models.apply(
        graphdef, models.to_state(abs_params, params), models.to_state(abs_stats, batch_stats),
        x, mask, **kw,
    )


def l2_penalty(params) -> Array:
    """``sum(kernel**2)`` over every Dense kernel (Keras' ``kernel_regularizer``)."""
    kernels = [layer["kernel"] for layer in params["hidden"].values()]
    kernels.append(params["out"]["kernel"])
    return sum(jnp.sum(k**2) for k in kernels)


def init_state(prog: Program, params, hp: dict, widths, depth, shuffle_key,
               dropout_key) -> TrainState:
    """The initial state of one variant (vmap it for a group); ``params`` is a pure dict."""
    dtype = _float(prog)
    stats = models.init_batch_stats(prog.arch, dtype)
    tx = optim.make_optimizer(prog.opt, hp)
    es = prog.early_stopping
    return TrainState(
        params=params,
        batch_stats=stats,
        opt_state=tx.init(params),
        grad_acc=jax.tree.map(jnp.zeros_like, params) if prog.accumulate else None,
        widths=jnp.asarray(widths, jnp.int32),
        depth=jnp.asarray(depth, jnp.int32),
        hp={k: jnp.asarray(v, dtype) for k, v in hp.items()},
        shuffle_key=shuffle_key,
        dropout_key=dropout_key,
        step=jnp.zeros((), jnp.int32),
        seen=jnp.zeros((), jnp.int32),
        active=jnp.ones((), bool),
        diverged=jnp.zeros((), bool),
        stop_epoch=-jnp.ones((), jnp.int32),
        best=jnp.asarray(-jnp.inf if es and es.maximize else jnp.inf, dtype),
        best_epoch=-jnp.ones((), jnp.int32),
        wait=jnp.zeros((), jnp.int32),
        best_params=params if es and es.restore else None,
        best_batch_stats=stats if es and es.restore else None,
        sums=_zero_sums(prog, dtype),
    )


def locate(s, batch_size, n: int, m: int):
    """Where microstep ``s`` of an epoch falls for a variant with ``batch_size``.

    Returns:
      ``(pos, sample_mask, is_last, batch_len, valid)``: ``pos`` ``(m,)`` positions in the
      epoch order, which of them belong to the current batch, whether this microstep
      completes the batch, the batch's true length, and whether the variant has a batch at
      microstep ``s`` at all.
    """
    b = batch_size
    q = (b + m - 1) // m  # microsteps per full batch
    n_full = n // b
    rest = n - n_full * b
    k, j = s // q, s % q
    in_full = k < n_full
    ragged = (k == n_full) & (rest > 0) & (j * m < rest)
    valid = in_full | ragged
    batch_start = k * b
    batch_end = jnp.where(in_full, batch_start + b, n)
    start = batch_start + j * m
    pos = start + jnp.arange(m)
    sample_mask = valid & (pos < batch_end)
    is_last = valid & (start + m >= batch_end)
    return jnp.minimum(pos, n - 1), sample_mask, is_last, batch_end - batch_start, valid


def _dropout_keep(prog: Program, key, epoch, idx, rate, dtype):
    """``(D, m, W)`` dropout multipliers for samples ``idx`` (see module doc)."""
    keep_prob = 1.0 - rate

    def one(i):
        k = jax.random.fold_in(jax.random.fold_in(key, epoch), i)
        return jnp.stack([jax.random.bernoulli(jax.random.fold_in(k, l), keep_prob,
                                               (prog.arch.width,))
                          for l in range(prog.arch.depth)])

    keep = jax.vmap(one, out_axes=1)(idx)
    return keep.astype(dtype) / keep_prob


def schedule(prog: Program, batch_size, perm):
    """Where every microstep of an epoch falls, for one variant (see :func:`locate`).

    Computed once per epoch, outside the scan, so that the scan body does only training.

    Returns:
      ``(idx (S, m) sample indices, mask (S, m), is_last (S,), batch_len (S,), valid (S,))``.
    """
    s = jnp.arange(prog.n_micro)
    pos, mask, is_last, blen, valid = jax.vmap(locate, in_axes=(0, None, None, None))(
        s, batch_size.astype(jnp.int32), prog.n_train, prog.microbatch)
    return perm[pos], mask, is_last, blen, valid


def microstep(prog: Program, st: TrainState, where, x_all, y_all, epoch) -> TrainState:
    """One microstep of one variant (vmap it over variants).

    ``where``: this microstep's ``(idx (m,), mask (m,), is_last, batch_len, valid)``.
    """
    dtype = _float(prog)
    idx, smask, is_last, blen, valid = where
    run = valid & st.active
    x, y = x_all[idx], y_all[idx]
    mask = models.unit_mask(prog.arch, st.widths, st.depth, dtype)
    keep = (_dropout_keep(prog, st.dropout_key, epoch, idx, st.hp["dropout"], dtype)
            if prog.dropout else None)

    def loss_fn(params):
        logits, stats = _forward(prog, params, st.batch_stats, mask, x, train=True,
                                 sample_mask=smask, keep=keep)
        per = jnp.where(smask, prog.objective.per_sample_loss(logits, y), 0.0)
        total = jnp.sum(per) / blen.astype(dtype)
        total += jnp.where(is_last, st.hp["l2"] * l2_penalty(params), 0.0)
        return total, (per, logits, stats)

    (_, (per, logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(st.params)
    stats = models.nnx.to_pure_dict(stats)
    if prog.freeze:
        trainable = trainable_mask(st.params, st.hp["freeze"])
        grads = jax.tree.map(jnp.multiply, grads, trainable)
    if prog.accumulate:
        grads = jax.tree.map(jnp.add, st.grad_acc, grads)

    lr = optim.learning_rate(prog.opt.schedule, st.hp["learning_rate"], st.step, st.hp)
    opt_state = st.opt_state._replace(
        hyperparams={**st.opt_state.hyperparams, "learning_rate": lr})
    tx = optim.make_optimizer(prog.opt, st.hp)
    updates, new_opt = tx.update(grads, opt_state, st.params)
    # The injected hyperparameters are inputs, not state: keep them out of the select below.
    new_opt = new_opt._replace(hyperparams=st.opt_state.hyperparams)
    if prog.freeze:  # also stops weight decay and momentum from moving frozen weights
        updates = jax.tree.map(jnp.multiply, updates, trainable)
    new_params = optax.apply_updates(st.params, updates)

    # One reduction each: a sum is finite iff its terms are (an overflowing update norm
    # means the variant is diverging anyway).
    finite_loss = jnp.isfinite(jnp.sum(per))
    finite_update = jnp.isfinite(optax.tree.norm(updates))
    ok = finite_loss & jnp.where(is_last, finite_update, True)
    update = run & is_last & ok
    diverge = run & ~ok

    metrics = prog.objective.per_sample_metrics(logits, y)
    sums = dict(st.sums)
    sums["loss"] = st.sums["loss"] + jnp.where(run, jnp.sum(per), 0.0)
    for name, vals in metrics.items():
        sums[name] = st.sums[name] + jnp.where(run, jnp.sum(jnp.where(smask, vals, 0.0)), 0.0)
    n_valid = jnp.sum(smask).astype(dtype)
    sums["count"] = st.sums["count"] + jnp.where(run, n_valid, 0.0)
    sums["grad_norm"] = st.sums["grad_norm"] + jnp.where(update, optax.tree.norm(grads), 0.0)
    sums["updates"] = st.sums["updates"] + update.astype(dtype)
    if prog.diagnostics:
        for name, k in zip(_layer_names(prog), _kernels(prog, grads), strict=True):
            key = f"grad_norm_{name}"
            sums[key] = st.sums[key] + jnp.where(update, jnp.sqrt(jnp.sum(k**2)), 0.0)

    grad_acc = st.grad_acc
    if prog.accumulate:
        zeros = jax.tree.map(jnp.zeros_like, grads)
        grad_acc = _where(run, _where(is_last, zeros, grads), st.grad_acc)
    return st.replace(
        params=_where(update, new_params, st.params),
        opt_state=_where(update, new_opt, st.opt_state),
        batch_stats=_where(run & ok, stats, st.batch_stats),
        grad_acc=grad_acc,
        step=st.step + update.astype(jnp.int32),
        seen=st.seen + jnp.where(run, jnp.sum(smask), 0).astype(jnp.int32),
        active=st.active & ~diverge,
        diverged=st.diverged | diverge,
        stop_epoch=jnp.where(diverge, epoch, st.stop_epoch),
        sums=sums,
    )


def evaluate(prog: Program, st: TrainState, x, y, n: int) -> dict:
    """Mean loss and metrics of one variant on ``x[:n]`` (``x`` padded to whole chunks).

    Args:
      x: ``(n_chunks * chunk, n_in)`` inputs, zero-padded past ``n``.
      y: targets, padded alike.
      n: number of real samples.

    Returns:
      name -> () mean over the ``n`` samples, inference mode (no dropout, running batch-norm
      statistics).
    """
    dtype = _float(prog)
    chunk = x.shape[0] // ((x.shape[0] + prog.eval_chunk - 1) // prog.eval_chunk)
    xs = x.reshape(-1, chunk, x.shape[-1])
    ys = y.reshape((-1, chunk) + y.shape[1:])
    valid = (jnp.arange(xs.shape[0] * chunk) < n).reshape(-1, chunk)
    mask = models.unit_mask(prog.arch, st.widths, st.depth, dtype)
    params = st.params

    def body(acc, batch):
        xb, yb, vb = batch
        logits, _ = _forward(prog, params, st.batch_stats, mask, xb, train=False)
        vals = {"loss": prog.objective.per_sample_loss(logits, yb),
                **prog.objective.per_sample_metrics(logits, yb)}
        return {k: acc[k] + jnp.sum(jnp.where(vb, v, 0.0)) for k, v in vals.items()}, None

    zero = {k: jnp.zeros((), dtype) for k in ("loss",) + prog.objective.metrics}
    sums, _ = jax.lax.scan(body, zero, (xs, ys, valid))
    return {k: v / n for k, v in sums.items()}


SATURATION = 0.05  # a unit is saturated where its activation's slope is < 5% of the maximum


def diagnose(prog: Program, st: TrainState, x) -> dict:
    """Per-layer health of one variant on a probe batch ``x`` ``(b, n_in)``, inference mode.

    Returns:
      ``weight_norm_{l}`` (Frobenius norm of each kernel, ``out`` included); ``dead_{l}``:
      fraction of the layer's units whose activation is 0 on every probe sample (dead ReLUs);
      ``saturated_{l}``: fraction of unit activations where a sigmoid/tanh slope is below 5%
      of its maximum (0 for other activations); ``dead_fraction`` and
      ``saturated_fraction`` over all hidden units. NaN for layers the variant lacks.
    """
    dtype = _float(prog)
    params = st.params
    mask = models.unit_mask(prog.arch, st.widths, st.depth, dtype)
    trace: list = []
    graphdef, abs_params, abs_stats = models.abstract(prog.arch, dtype)
    model = models.nnx.merge(graphdef, models.to_state(abs_params, params),
                             models.to_state(abs_stats, st.batch_stats))
    model(x, mask, train=False, trace=trace)
    out = {}
    for name, k in zip(_layer_names(prog), _kernels(prog, params), strict=True):
        out[f"weight_norm_{name}"] = jnp.sqrt(jnp.sum(k**2))
    act = prog.arch.activation
    dead_n = sat_n = units = 0.0
    for l, a in enumerate(trace):
        real = mask[l] > 0
        n_units = jnp.sum(real)
        dead = jnp.sum(real & jnp.all(a == 0, axis=0))
        if act == "sigmoid":
            slope = a * (1 - a) / 0.25
        elif act == "tanh":
            slope = 1 - a**2
        else:
            slope = jnp.ones_like(a)
        sat = jnp.sum(jnp.where(real, jnp.mean(slope < SATURATION, axis=0), 0.0))
        exists = n_units > 0
        out[f"weight_norm_{l + 1}"] = jnp.where(exists, out[f"weight_norm_{l + 1}"], jnp.nan)
        out[f"dead_{l + 1}"] = jnp.where(exists, dead / jnp.maximum(n_units, 1), jnp.nan)
        out[f"saturated_{l + 1}"] = jnp.where(exists, sat / jnp.maximum(n_units, 1), jnp.nan)
        dead_n, sat_n, units = dead_n + dead, sat_n + sat, units + n_units
    out["dead_fraction"] = dead_n / units
    out["saturated_fraction"] = sat_n / units
    return out


def end_epoch(prog: Program, st: TrainState, val: dict, epoch, probe=None
              ) -> tuple[TrainState, dict]:
    """Epoch bookkeeping of one variant: means, early stopping, the epoch's record."""
    dtype = _float(prog)
    trained = st.sums["count"] > 0
    count = jnp.maximum(st.sums["count"], 1.0)
    record = {"loss": st.sums["loss"] / count}
    for name in prog.objective.metrics:
        record[name] = st.sums[name] / count
    for name, v in val.items():
        record[f"val_{name}"] = v
    record["grad_norm"] = st.sums["grad_norm"] / jnp.maximum(st.sums["updates"], 1.0)
    if prog.diagnostics:
        active_layer = jnp.arange(prog.arch.depth + 1) < st.depth
        active_layer = active_layer.at[-1].set(True)
        for i, name in enumerate(_layer_names(prog)):
            g = st.sums[f"grad_norm_{name}"] / jnp.maximum(st.sums["updates"], 1.0)
            record[f"grad_norm_{name}"] = jnp.where(active_layer[i], g, jnp.nan)
    record["lr"] = optim.learning_rate(prog.opt.schedule, st.hp["learning_rate"],
                                       jnp.maximum(st.step - 1, 0), st.hp)
    record["updates"] = st.step
    record["examples"] = st.seen
    record["trained"] = trained
    if prog.diagnostics:
        record.update(diagnose(prog, st, probe))

    active = st.active & (epoch + 1 < st.hp["epochs"].astype(jnp.int32))
    stop_epoch = st.stop_epoch
    best, best_epoch, wait = st.best, st.best_epoch, st.wait
    best_params, best_stats = st.best_params, st.best_batch_stats
    es = prog.early_stopping
    if es is not None:
        # Keras' EarlyStopping.on_epoch_end, per variant.
        value = record[es.monitor]
        delta = st.hp["min_delta"]
        improved = (value - delta > best) if es.maximize else (value + delta < best)
        improved = st.active & improved & jnp.isfinite(value)
        wait = jnp.where(st.active, jnp.where(improved, 0, wait + 1), wait)
        best = jnp.where(improved, value, best)
        best_epoch = jnp.where(improved, epoch, best_epoch)
        if es.restore:
            best_params = _where(improved, st.params, best_params)
            best_stats = _where(improved, st.batch_stats, best_stats)
        stop = st.active & ~improved & (wait >= st.hp["patience"].astype(jnp.int32)) & (epoch > 0)
        stop_epoch = jnp.where(stop, epoch, stop_epoch)
        active = active & ~stop
    record["stopped"] = (stop_epoch == epoch) & ~st.diverged
    record["diverged"] = st.diverged & (st.stop_epoch == epoch)
    st = st.replace(active=active, stop_epoch=stop_epoch, best=best, best_epoch=best_epoch,
                    wait=wait, best_params=best_params, best_batch_stats=best_stats,
                    sums=_zero_sums(prog, dtype))
    return st, record


PROBE = 1024  # training samples the diagnostics look at


def train_epoch(prog: Program, state: TrainState, data: dict, epoch) -> tuple[TrainState, dict]:
    """One epoch of every variant of a group. ``state`` has a leading variant axis.

    Args:
      prog: the static program.
      state: the group's :class:`TrainState`, leaves ``(V, ...)``.
      data: ``x_train (N, n_in)``, ``y_train``, ``x_val``, ``y_val`` (padded to whole eval
        chunks), shared by every variant.
      epoch: () int32, the 0-based epoch.

    Returns:
      ``(state, record)``: the new state and name -> ``(V,)`` per-epoch values.
    """
    n = prog.n_train
    if prog.shuffle:
        perm = jax.vmap(lambda k: jax.random.permutation(jax.random.fold_in(k, epoch), n))(
            state.shuffle_key)
    else:
        perm = jnp.broadcast_to(jnp.arange(n), (state.step.shape[0], n))

    # (V, S, ...) -> (S, V, ...): the scan walks microsteps, the vmap variants.
    plan = jax.vmap(schedule, in_axes=(None, 0, 0))(prog, state.hp["batch_size"], perm)
    plan = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), plan)
    step = jax.vmap(microstep, in_axes=(None, 0, 0, None, None, None))

    def body(st, where):
        return step(prog, st, where, data["x_train"], data["y_train"], epoch), None

    state, _ = jax.lax.scan(body, state, plan)
    if prog.n_val:
        val = jax.vmap(evaluate, in_axes=(None, 0, None, None, None))(
            prog, state, data["x_val"], data["y_val"], prog.n_val)
    else:
        val = {}
    probe = data["x_train"][: min(prog.n_train, PROBE)] if prog.diagnostics else None
    return jax.vmap(end_epoch, in_axes=(None, 0, 0, None, None))(prog, state, val, epoch, probe)


def finish(prog: Program, state: TrainState) -> TrainState:
    """Restore the best weights where early stopping asks for it (Keras: at the end of training)."""
    es = prog.early_stopping
    if es is None or not es.restore:
        return state
    has_best = state.best_epoch >= 0
    pick = jax.vmap(lambda c, a, b: _where(c, a, b))
    return state.replace(params=pick(has_best, state.best_params, state.params),
                         batch_stats=pick(has_best, state.best_batch_stats, state.batch_stats))


def logits(arch: models.Arch, dtype: str, params, batch_stats, widths, depth, x) -> Array:
    """Raw outputs of one variant in inference mode, ``(b, n_in) -> (b, n_out)``."""
    float_ = jnp.float64 if dtype == "float64" else jnp.float32
    graphdef, abs_params, abs_stats = models.abstract(arch, float_)
    mask = models.unit_mask(arch, widths, depth, float_)
    out, _ = models.apply(graphdef, models.to_state(abs_params, params),
                          models.to_state(abs_stats, batch_stats), x, mask, train=False)
    return out

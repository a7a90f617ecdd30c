"""The training engine: pure functions of ONE variant (no ``jit``, ``vmap`` or ``scan`` here).

One *program* (a :class:`Program`, static and hashable) trains every variant of a group.
The state of one variant is a :class:`TrainState` pytree; :mod:`jaxlab.compiled` adds the
leading variant axis ``V`` (``vmap``), walks the microsteps of an epoch (``scan``), and
applies ``jit`` and ``shard_map``, all in one place. An epoch of one variant is::

    order = epoch_order(prog, st, epoch)                # (N,) sample order
    plan = microbatches(prog, st, order)                # where each microstep falls
    for where in plan: st = microstep(prog, tx, st, where, data, epoch)
    val = sum of eval_chunk(prog, st, chunk) over chunks
    st, record = end_epoch(prog, st, val, epoch)

**Batch sizes.** Every variant walks its own batches in microbatches of ``m`` samples
(``m`` = the group's smallest batch size unless set). A batch of ``b`` samples takes
``ceil(b/m)`` microsteps; samples past the end of the batch are masked; the variant's
gradient is summed over its microbatches (each scaled by ``1/b``) and its update is applied
at the batch's last microstep. So every variant updates with exactly its batch size,
including the smaller last batch of an epoch, and no variant is padded to the largest batch:
an epoch of variant ``v`` costs ``sum_k ceil(b_k/m) <= N/m + n_batches`` microsteps. (Batch
norm then normalizes over microbatches of ``m``; :func:`jaxlab.planning` warns.)

**Hyperparameters.** Each value lives once: optimizer, schedule and clipping values in the
optimizer state (``optax.inject_hyperparams``, see :mod:`jaxlab.optim`), the engine's own
(``l2``, ``dropout``, ``batch_size``, ``epochs``, ``patience``, ``min_delta``, ``freeze``) in
``TrainState.hp``. The optimizer is built once per program.

**Randomness.** Per variant: shuffle order of epoch ``e`` is
``permutation(fold_in(shuffle_key, e), N)`` (drawn in the program, or for small groups the
same permutation from the host, see ``Program.host_order``); dropout draws from
``fold_in(dropout_key, e)`` (see :mod:`jaxlab.networks`), so it does not depend on the other
variants.

**Instruments** (off unless asked; nothing of them is traced then). The gradient noise
scale's estimators come from each batch's last microbatch and whole-batch gradients at the
update (:mod:`jaxlab.noise_scale`); the sharpness is measured after :func:`end_epoch` by
:mod:`jaxlab.curvature`'s functions, walked by :mod:`jaxlab.compiled`.

**Divergence.** A microstep whose loss is not finite, or an epoch that ends with parameters
that are not finite, marks the variant diverged: it gets back its variables from the start of
that epoch (the last finite ones) and stops. Variants never mix: a NaN in one cannot reach
another.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxlab import conventions, metrics, noise_scale, optim
from jaxlab.curvature import Sharpness
from jaxlab.losses import Objective
from jaxlab.metrics import Average
from jaxlab.networks import MLPNet, Net, Noise

Array = jax.Array
Params = Any  # a pure-dict parameter pytree


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
      net: the network (:class:`jaxlab.networks.MLPNet` or ``ModuleNet``).
      objective: loss, metrics and output encoding.
      opt: optimizer structure.
      n_train, n_val: data set sizes.
      microbatch: samples per microstep ``m``.
      n_micro: microsteps per epoch (the largest over the group's variants).
      accumulate: some variant's batch is larger than ``m`` (needs a gradient accumulator).
      lockstep: every variant completes a batch at every microstep (one batch size, no
        accumulation): no microstep needs to hold a variant back, so the optimizer's output is
        taken as it is and inactive or diverged variants are restored once per epoch
        (:func:`settle`).
      shuffle: reshuffle each epoch.
      host_order: the epochs' sample orders come from the host (:func:`jaxlab.keys.permutations`,
        the same permutations as :func:`epoch_order`), so the program holds no sort: for
        small groups, where the sort would cost more than the training (see
        :mod:`jaxlab.planning`).
      early_stopping: :class:`EarlyStop` or ``None``.
      dtype: ``"float32"`` or ``"float64"``.
      eval_chunk: samples per evaluation chunk.
      diagnostics: also record per-layer norms and unit health (MLP, :mod:`jaxlab.diagnostics`).
      freeze: some variant keeps its first ``freeze`` hidden layers fixed (MLP).
      l2: some variant has an L2 weight (the penalty is computed only then).
      sharpness: measure the top Hessian eigenvalue (:class:`jaxlab.curvature.Sharpness`;
        ``None``: never).
      noise_scale: estimate the gradient noise scale from the microbatch and batch gradients
        (:mod:`jaxlab.noise_scale`).
    """

    net: Net
    objective: Objective
    opt: optim.OptimizerSpec
    n_train: int
    n_val: int
    microbatch: int
    n_micro: int
    accumulate: bool
    shuffle: bool
    early_stopping: EarlyStop | None
    dtype: str = "float32"
    eval_chunk: int = 2048
    diagnostics: bool = False
    freeze: bool = False
    lockstep: bool = False
    l2: bool = False
    sharpness: Sharpness | None = None
    noise_scale: bool = False
    host_order: bool = False

    @property
    def arch(self):
        """The MLP's padded architecture (``None`` for a user module)."""
        return self.net.arch if isinstance(self.net, MLPNet) else None

    @property
    def float(self):
        return conventions.float_dtype(self.dtype, jnp)

    @property
    def hparam_names(self) -> tuple[str, ...]:
        """The engine's own per-variant numbers, carried in ``TrainState.hp``."""
        return (("l2", "dropout", "batch_size", "epochs", "patience", "min_delta")
                + ("freeze",) * self.freeze)


class TrainState(struct.PyTreeNode):
    """State of one variant (a sweep adds a leading variant axis to every leaf)."""

    params: Params  # P: pure-dict parameter pytree (the MLP's padded, see jaxlab.models)
    model_state: Any  # the network's other variables (batch-norm statistics), pure dict
    opt_state: Any  # optax InjectHyperparamsState: optimizer, schedule and clip values
    grad_acc: Any  # P, gradient summed over the current batch's microbatches (or None)
    shape: dict  # per-variant structure (MLP: widths (D,) int32, depth () int32)
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
    best_model_state: Any
    sums: dict  # name -> metrics.Average over the epoch (loss, metrics, grad_norm...)


def _sq_norm(tree):
    """Squared L2 norm of a pytree: a sum of squares per leaf (cheaper than ``vdot`` on
    XLA:CPU, measured: a W2 epoch -3%, a small model's microstep -5%)."""
    return sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(tree))


def _where(cond, new, old):
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _empty_sums(prog: Program) -> dict:
    names = ("loss",) + prog.objective.metrics + ("grad_norm",)
    if prog.diagnostics:
        from jaxlab import diagnostics

        names += tuple(f"grad_norm_{n}" for n in diagnostics.layer_names(prog.net))
    if prog.noise_scale:
        names += noise_scale.NAMES
    return {k: Average.empty(prog.float) for k in names}


def trainable_mask(params, freeze):
    """Pytree like ``params``: 1 where trainable, 0 in the first ``freeze`` hidden layers
    (and their batch norm) of the MLP."""

    def one(path, p):
        names = [getattr(k, "key", None) for k in path]
        if names[0] not in ("hidden", "norms"):
            return jnp.ones_like(p)
        return jnp.broadcast_to(jnp.where(names[1] < freeze, 0, 1), p.shape).astype(p.dtype)

    return jax.tree_util.tree_map_with_path(one, params)


def _multipliers(prog: Program, params, shape):
    """A layer-scaled optimizer's per-tensor learning-rate multipliers (muP), else None."""
    if not prog.opt.layer_scaled:
        return None
    return prog.net.lr_multipliers(params, shape, optim.mup_rule(prog.opt.optimizer))


def init_state(prog: Program, params, model_state, opt_hp: dict, hp: dict, shape: dict,
               shuffle_key, dropout_key) -> TrainState:
    """The initial state of one variant.

    Args:
      params, model_state: the network's initial variables (pure dicts).
      opt_hp: the optimizer's injected values (``prog.opt.names``).
      hp: the engine's values (``prog.hparam_names``).
      shape: the network's per-variant structure arrays.
    """
    dtype = prog.float
    es = prog.early_stopping
    return TrainState(
        params=params,
        model_state=model_state,
        opt_state=optim.init(prog.opt, opt_hp, params, dtype, _multipliers(prog, params, shape)),
        grad_acc=jax.tree.map(jnp.zeros_like, params) if prog.accumulate else None,
        shape=shape,
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
        best_model_state=model_state if es and es.restore else None,
        sums=_empty_sums(prog),
    )


# -- the order of an epoch ------------------------------------------------------------------------
def epoch_order(prog: Program, st: TrainState, epoch) -> Array:
    """``(N,)`` the variant's sample order in ``epoch``."""
    if prog.shuffle:
        return jax.random.permutation(jax.random.fold_in(st.shuffle_key, epoch), prog.n_train)
    return jnp.arange(prog.n_train)


def locate(s, batch_size, n: int, m: int):
    """Where microstep ``s`` of an epoch falls for a variant with ``batch_size``.

    ``s`` may be an array ``(S,)`` of microsteps: every output gains that leading axis.

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
    start = jnp.asarray(batch_start + j * m)
    pos = start[..., None] + jnp.arange(m)
    sample_mask = jnp.asarray(valid)[..., None] & (pos < jnp.asarray(batch_end)[..., None])
    is_last = valid & (start + m >= batch_end)
    return jnp.minimum(pos, n - 1), sample_mask, is_last, batch_end - batch_start, valid


def microbatches(prog: Program, st: TrainState, order) -> tuple:
    """Where every microstep of an epoch falls for one variant (see :func:`locate`).

    Returns:
      ``(idx (S, m) sample indices, mask (S, m), is_last (S,), batch_len (S,), valid (S,))``.
    """
    s = jnp.arange(prog.n_micro)
    b = st.hp["batch_size"].astype(jnp.int32)
    pos, mask, is_last, blen, valid = locate(s, b, prog.n_train, prog.microbatch)
    return order[pos], mask, is_last, blen, valid


# -- one microstep --------------------------------------------------------------------------------
def make_optimizer(prog: Program) -> optax.GradientTransformation:
    """The program's optimizer, built once: every value is read from the state."""
    return optim.build(prog.opt, prog.float)


def microstep(prog: Program, tx: optax.GradientTransformation, st: TrainState, where,
              x, y, epoch) -> TrainState:
    """One microstep of one variant on its microbatch ``x`` ``(m, n_in)``, ``y``.

    ``where``: this microstep's ``(idx (m,), mask (m,), is_last, batch_len, valid)``.
    """
    dtype = prog.float
    idx, smask, is_last, blen, valid = where
    run = valid & st.active
    noise = Noise(st.dropout_key, epoch, idx, st.hp["dropout"])

    def loss_fn(params):
        logits, model_state = prog.net.apply(params, st.model_state, x, st.shape, noise,
                                             train=True, sample_mask=smask)
        per = jnp.where(smask, prog.objective.per_sample_loss(logits, y), 0.0)
        total = jnp.sum(per) / blen.astype(dtype)
        if prog.l2:  # a pass over every kernel: only when some variant has an L2 weight
            total += jnp.where(is_last, st.hp["l2"] * prog.net.penalty(params), 0.0)
        return total, (per, logits, model_state)

    (_, (per, logits, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        st.params)
    if prog.freeze:
        trainable = trainable_mask(st.params, st.hp["freeze"])
        grads = jax.tree.map(jnp.multiply, grads, trainable)
    if prog.noise_scale:  # the microbatch's own gradient, before accumulation
        micro_sq = _sq_norm(grads)
    if prog.accumulate:
        grads = jax.tree.map(jnp.add, st.grad_acc, grads)
    grad_norm = jnp.sqrt(_sq_norm(grads))

    updates, new_opt = tx.update(grads, st.opt_state, st.params)
    if prog.freeze:  # also stops weight decay and momentum from moving frozen weights
        updates = jax.tree.map(jnp.multiply, updates, trainable)
    new_params = optax.apply_updates(st.params, updates)

    # A sum is finite iff its terms are. Non-finite parameters are caught at the end of the
    # epoch (settle), which restores the epoch's starting state.
    ok = jnp.isfinite(jnp.sum(per))
    update = run & is_last & ok
    diverge = run & ~ok

    step_sums = {"loss": Average(jnp.sum(per), jnp.sum(smask).astype(dtype))}
    for name, vals in prog.objective.per_sample_metrics(logits, y).items():
        step_sums[name] = Average.of(vals, smask)
    step_sums["grad_norm"] = Average(grad_norm, jnp.ones((), dtype))
    if prog.diagnostics:
        from jaxlab import diagnostics

        step_sums.update(diagnostics.grad_norms(prog.net, grads))
    if prog.noise_scale:  # the microbatch's mean gradient is grads * blen / b_s
        b_s = jnp.sum(smask)
        scale = (blen / jnp.maximum(b_s, 1)).astype(dtype) ** 2
        step_sums.update(noise_scale.estimates(micro_sq * scale, grad_norm**2, b_s, blen))
    per_update = ("grad_norm", "gns_")
    sums = {k: st.sums[k].merge(v).where(update if k.startswith(per_update) else run,
                                         st.sums[k]) for k, v in step_sums.items()}

    grad_acc = st.grad_acc
    if prog.accumulate:
        zeros = jax.tree.map(jnp.zeros_like, grads)
        grad_acc = _where(run, _where(is_last, zeros, grads), st.grad_acc)
    if not prog.lockstep:  # this microstep may not update this variant: keep its state
        new_params = _where(update, new_params, st.params)
        new_opt = _where(update, new_opt, st.opt_state)
        model_state = _where(run & ok, model_state, st.model_state)
    return st.replace(
        params=new_params,
        opt_state=new_opt,
        model_state=model_state,
        grad_acc=grad_acc,
        step=st.step + update.astype(jnp.int32),
        seen=st.seen + jnp.where(run, jnp.sum(smask), 0).astype(jnp.int32),
        active=st.active & ~diverge,
        diverged=st.diverged | diverge,
        stop_epoch=jnp.where(diverge, epoch, st.stop_epoch),
        sums=sums,
    )


def settle(prog: Program, start: TrainState, st: TrainState, epoch) -> TrainState:
    """After an epoch's microsteps: a variant whose parameters are no longer finite has
    diverged; a diverged variant, and one that was not training, gets back the variables it
    had at the start of the epoch (``start``), the last finite ones."""
    finite = jnp.isfinite(sum(jnp.sum(a) for a in jax.tree.leaves(st.params)))
    diverge = st.active & ~finite
    restore = ~start.active | st.diverged | diverge
    keep = {"params": st.params, "opt_state": st.opt_state, "model_state": st.model_state}
    back = {"params": start.params, "opt_state": start.opt_state,
            "model_state": start.model_state}
    kept = _where(restore, back, keep)
    return st.replace(**kept, active=st.active & ~diverge, diverged=st.diverged | diverge,
                      stop_epoch=jnp.where(diverge, epoch, st.stop_epoch))


# -- evaluation and the end of an epoch -----------------------------------------------------------
def eval_chunk(prog: Program, st: TrainState, x, y, valid) -> dict[str, Average]:
    """Loss and metrics of one variant on a chunk ``x`` ``(c, n_in)`` where ``valid``
    ``(c,)``, inference mode (no dropout, running batch-norm statistics)."""
    logits, _ = prog.net.apply(st.params, st.model_state, x, st.shape, train=False)
    vals = {"loss": prog.objective.per_sample_loss(logits, y),
            **prog.objective.per_sample_metrics(logits, y)}
    return {k: Average.of(v, valid) for k, v in vals.items()}


def end_epoch(prog: Program, st: TrainState, val: dict[str, Average], epoch, probe=None
              ) -> tuple[TrainState, dict]:
    """Epoch bookkeeping of one variant: means, early stopping, the epoch's record."""
    trained = st.sums["loss"].count > 0
    record = metrics.compute_all({k: v for k, v in st.sums.items()
                                  if not k.startswith(("grad_norm_", "gns_"))})
    if prog.noise_scale:
        record.update(noise_scale.record(st.sums))
    for name, v in val.items():
        record[f"val_{name}"] = v.compute()
    if prog.diagnostics:
        from jaxlab import diagnostics

        record.update(diagnostics.epoch_record(prog.net, st, probe))
    record["lr"] = optim.current_learning_rate(prog.opt, st.opt_state, jnp.maximum(st.step - 1, 0))
    record["updates"] = st.step
    record["examples"] = st.seen
    record["trained"] = trained

    active = st.active & (epoch + 1 < st.hp["epochs"].astype(jnp.int32))
    stop_epoch = st.stop_epoch
    best, best_epoch, wait = st.best, st.best_epoch, st.wait
    best_params, best_state = st.best_params, st.best_model_state
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
            best_state = _where(improved, st.model_state, best_state)
        stop = st.active & ~improved & (wait >= st.hp["patience"].astype(jnp.int32)) & (epoch > 0)
        stop_epoch = jnp.where(stop, epoch, stop_epoch)
        active = active & ~stop
    record["stopped"] = (stop_epoch == epoch) & ~st.diverged
    record["diverged"] = st.diverged & (st.stop_epoch == epoch)
    st = st.replace(active=active, stop_epoch=stop_epoch, best=best, best_epoch=best_epoch,
                    wait=wait, best_params=best_params, best_model_state=best_state,
                    sums=_empty_sums(prog))
    return st, record


def finish(prog: Program, st: TrainState) -> TrainState:
    """Restore the best weights where early stopping asks for it (Keras: at the end)."""
    es = prog.early_stopping
    if es is None or not es.restore:
        return st
    has_best = st.best_epoch >= 0
    return st.replace(params=_where(has_best, st.best_params, st.params),
                      model_state=_where(has_best, st.best_model_state, st.model_state))


def logits(net: Net, params, model_state, shape, x) -> Array:
    """Raw outputs of one variant in inference mode, ``(b, n_in) -> (b, n_out)``."""
    out, _ = net.apply(params, model_state, x, shape, train=False)
    return out

"""The one place where ``jit``, ``vmap``, ``scan`` and ``shard_map`` are applied.

:mod:`jaxlab.engine` defines the training of ONE variant as pure functions; here they
become the programs a sweep runs:

* :func:`epoch_program` (:func:`compile_epoch` keeps its executables): up to ``slots``
  epochs of every variant of a device's share in one call (:func:`_epochs`, a
  ``fori_loop``, so a small model does not pay a host round trip per epoch); an epoch
  (:func:`_epoch`) is a ``vmap`` over variants inside a ``scan`` over microsteps,
  evaluation as a ``scan`` over chunks; all under ``shard_map`` over the variant mesh and
  ``jit`` with the state donated; where the program asks for it, the sharpness
  (:func:`_sharpness`: a ``scan`` of Lanczos steps, each a ``scan`` of Hessian-vector
  products over chunks) at the epoch's end;
* :func:`init_params`, :func:`init_state`, :func:`init_variants` (both as one program),
  :func:`finish`, :func:`logits`: the same functions over a leading variant axis.

Every program is cached by its static :class:`~jaxlab.engine.Program`, so new values of
any swept number reuse it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from jaxlab import curvature, distributed, engine
from jaxlab.metrics import Average


def _epoch(prog: engine.Program, state: engine.TrainState, data: dict, epoch, order=None):
    """One epoch of every variant in ``state`` (leaves ``(V, ...)``); ``data`` is shared;
    ``order`` ``(V, N)``: the epoch's sample orders (``None``: drawn here).

    Returns ``(state, record)`` with name -> ``(V,)`` per-epoch values.
    """
    tx = engine.make_optimizer(prog)
    if order is None:
        order = jax.vmap(engine.epoch_order, in_axes=(None, 0, None))(prog, state, epoch)
    plan = jax.vmap(engine.microbatches, in_axes=(None, 0, 0))(prog, state, order)
    plan = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), plan)  # (S, V, ...): scan, vmap
    step = jax.vmap(engine.microstep, in_axes=(None, None, 0, 0, 0, 0, None))

    def body(st, where):
        idx = where[0]  # (V, m)
        return step(prog, tx, st, where, data["x_train"][idx], data["y_train"][idx],
                    epoch), None

    start = state
    state, _ = jax.lax.scan(body, state, plan)
    state = jax.vmap(engine.settle, in_axes=(None, 0, 0, None))(prog, start, state, epoch)
    val = _evaluate(prog, state, data) if prog.n_val else {}
    probe = None
    if prog.diagnostics:
        from jaxlab.diagnostics import PROBE

        probe = data["x_train"][: min(prog.n_train, PROBE)]
    state, record = jax.vmap(engine.end_epoch, in_axes=(None, 0, 0, None, None))(
        prog, state, val, epoch, probe)
    if prog.sharpness is not None:  # the other epochs record NaN and cost nothing
        sh = prog.sharpness
        nan = jnp.full(state.step.shape, jnp.nan, prog.float)
        record["sharpness"] = jax.lax.cond(sh.due(epoch), lambda: _sharpness(prog, state, data),
                                           lambda: nan)
    return state, record


#: The flags the host follows after every epoch, carried in the stacked records.
FLAGS = ("active", "diverged", "stop_epoch")


def _epochs(prog: engine.Program, slots: int, state: engine.TrainState, data: dict, first,
            count, orders=None):
    """Epochs ``first .. first + count - 1`` (``count <= slots``) of every variant;
    ``orders`` ``(V, slots, N)``: their sample orders where the host draws them.

    Returns ``(state, records)``: name -> ``(slots, V)``, row ``i`` the record of epoch
    ``first + i`` (rows from ``count`` on are zeros), with the :data:`FLAGS` after each
    epoch under ``"_" + name``. Only the record's shape is traced twice: ``_epoch_jit``'s
    trace is cached.
    """
    def one(st, i):
        order = None if orders is None else orders[:, i]
        st, rec = _epoch_jit(prog, st, data, first + i, order)
        return st, {**rec, **{f"_{k}": getattr(st, k) for k in FLAGS}}

    shapes = jax.eval_shape(one, state, first)[1]
    rows = jax.tree.map(lambda a: jnp.zeros((slots,) + a.shape, a.dtype), shapes)

    def body(i, carry):
        st, rows = carry
        st, rec = one(st, i)
        return st, jax.tree.map(lambda r, v: r.at[i].set(v), rows, rec)

    return jax.lax.fori_loop(0, count, body, (state, rows))


_epoch_jit = jax.jit(_epoch, static_argnums=0)


def _sharpness(prog: engine.Program, state, data) -> jax.Array:
    """``(V,)`` the top Hessian eigenvalue of every variant's training loss on the first
    ``prog.sharpness.examples`` samples: Lanczos (:mod:`jaxlab.curvature`), each
    Hessian-vector product a ``scan`` over chunks of ``prog.eval_chunk``."""
    sh = prog.sharpness
    n = sh.examples
    chunk = min(prog.eval_chunk, n)
    n_chunks = -(-n // chunk)
    pos = jnp.arange(n_chunks * chunk)
    idx = jnp.minimum(pos, n - 1).reshape(n_chunks, chunk)
    valid = (pos < n).reshape(n_chunks, chunk)
    xs, ys = data["x_train"][idx], data["y_train"][idx]
    one = jax.vmap(curvature.hvp, in_axes=(None, 0, 0, None, None, None, None, None))

    def hvp(v):
        def body(acc, c):
            x, y, ok, i = c
            return jax.tree.map(jnp.add, acc, one(prog, state, v, x, y, ok, n, i == 0)), None

        zero = jax.tree.map(jnp.zeros_like, v)
        return jax.lax.scan(body, zero, (xs, ys, valid, jnp.arange(n_chunks)))[0]

    step = jax.vmap(curvature.lanczos_step)

    def body(carry, _):
        v_prev, v, beta = carry
        return step(v_prev, v, beta, hvp(v))

    v0 = jax.vmap(curvature.start)(state)
    carry = (jax.tree.map(jnp.zeros_like, v0), v0, jnp.zeros(state.step.shape, prog.float))
    _, (alphas, betas) = jax.lax.scan(body, carry, None, length=sh.iters)  # (k, V) each
    return jax.vmap(curvature.top_eigenvalue)(alphas.T, betas.T)


def _evaluate(prog: engine.Program, state, data) -> dict[str, Average]:
    """Validation sums of every variant: a ``scan`` over chunks of ``prog.eval_chunk``."""
    return _evaluate_on(prog, state, data["x_val"], data["y_val"], prog.n_val, prog.eval_chunk)


def _evaluate_on(prog: engine.Program, state, x, y, n: int, chunk: int) -> dict[str, Average]:
    """Sums of every variant over the first ``n`` rows of ``x``, ``y`` (padded to whole
    chunks of ``chunk`` rows): a ``scan`` over chunks."""
    xs = x.reshape((-1, chunk) + x.shape[1:])
    ys = y.reshape((-1, chunk) + y.shape[1:])
    valid = (jnp.arange(xs.shape[0] * chunk) < n).reshape(-1, chunk)
    one = jax.vmap(engine.eval_chunk, in_axes=(None, 0, None, None, None))
    n = state.step.shape[0]
    names = ("loss",) + prog.objective.metrics
    zero = {k: Average(jnp.zeros((n,), prog.float), jnp.zeros((n,), prog.float)) for k in names}

    def body(acc, batch):
        part = one(prog, state, *batch)
        return {k: acc[k].merge(part[k]) for k in acc}, None

    sums, _ = jax.lax.scan(body, zero, (xs, ys, valid))
    return sums


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def evaluate(prog: engine.Program, state, x, y, n: int, chunk: int) -> dict[str, jax.Array]:
    """Loss and metrics ``(V,)`` of every variant of ``state`` on ``n`` held-out samples
    (the test part, once at the end), as validation is evaluated."""
    return {k: v.compute() for k, v in _evaluate_on(prog, state, x, y, n, chunk).items()}


@functools.cache
def epoch_program(prog: engine.Program, mesh, slots: int = 1):
    """Up to ``slots`` epochs of every device's share of the variants,
    ``(state, data, first, count, orders) -> (state, records)`` (see :func:`_epochs`): data
    replicated, no communication; the state is donated (updated in place)."""
    variants = P(distributed.AXIS)
    body = jax.shard_map(functools.partial(_epochs, prog, slots), mesh=mesh,
                         in_specs=(variants, P(), P(), P(), variants),
                         out_specs=(variants, P(None, distributed.AXIS)), check_vma=False)
    return jax.jit(body, donate_argnums=0)


def compile_epoch(prog: engine.Program, mesh, state, data, slots: int = 1):
    """:func:`epoch_program` compiled for ``state``'s and ``data``'s shapes and shardings.

    Kept (the last 32) per program, mesh, ``slots`` and shapes, so a sweep run again in the
    same process, or one whose variant count falls in the same :func:`jaxlab.memory.bucket`,
    reuses the executable instead of compiling anew.
    """
    return _compile_epoch(prog, mesh, slots, _signature(state), _signature(data))


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((a.shape, jnp.dtype(a.dtype), getattr(a, "sharding", None))
                          for a in leaves)


@functools.lru_cache(maxsize=32)
def _compile_epoch(prog, mesh, slots, state_sig, data_sig):
    def avals(sig):
        treedef, leaves = sig
        return jax.tree.unflatten(treedef, [jax.ShapeDtypeStruct(s, d, sharding=sh)
                                            for s, d, sh in leaves])

    state = avals(state_sig)
    orders = None
    if prog.host_order:
        n = jax.tree.leaves(state)[0].shape[0]
        orders = jax.ShapeDtypeStruct((n, slots, prog.n_train), jnp.int32,
                                      sharding=distributed.sharded(mesh))
    return epoch_program(prog, mesh, slots).lower(state, avals(data_sig), jnp.int32(0),
                                                  jnp.int32(1), orders).compile()


#: The memory probe: the epoch program on one device, state donated as in the real one.
probe_epoch = jax.jit(_epoch, static_argnums=0, donate_argnums=1)


def _init_params(net, kinds, which, keys, shapes, scale):
    """Initial ``(params, model_state)`` of every variant: ``keys`` ``(V, 2)``, ``shapes``
    ``(V, ...)``, ``scale`` ``(V, 3, 2)`` (hidden, output and bias (scale, shift)); variant
    ``v`` uses the initializers ``kinds[which[v]]`` (one draw per kind, rows picked after)."""
    out = None
    for i, kind in enumerate(kinds):
        part = jax.vmap(lambda k, s, c, kind=kind: net.init(k, s, kernel_init=kind, scale=c))(
            keys, shapes, scale)
        if out is None:
            out = part
        else:
            pick = which == i
            out = jax.tree.map(
                lambda a, b, p=pick: jnp.where(p.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                part, out)
    return out


init_params = jax.jit(_init_params, static_argnums=(0, 1))


def _init_state(prog, params, model_state, opt_hp, hp, shapes, skeys, dkeys):
    return jax.vmap(engine.init_state, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))(
        prog, params, model_state, opt_hp, hp, shapes, skeys, dkeys)


init_state = jax.jit(_init_state, static_argnums=0)
abstract_state = _init_state  # for jax.eval_shape: the same function, not compiled


@functools.partial(jax.jit, static_argnums=(0, 1))
def init_variants(prog, kinds, which, keys, shapes, scale, opt_hp, hp, skeys, dkeys):
    """:func:`init_params` then :func:`init_state` as one program (one compile, not two)."""
    params, model_state = _init_params(prog.net, kinds, which, keys, shapes, scale)
    return _init_state(prog, params, model_state, opt_hp, hp, shapes, skeys, dkeys)


@functools.partial(jax.jit, static_argnums=0)
def finish(prog: engine.Program, state):
    return jax.vmap(engine.finish, in_axes=(None, 0))(prog, state)


logits = jax.jit(engine.logits, static_argnums=0)


def unit_masks(arch, widths, depth):
    """``(V, D, W)`` MLP unit masks of every variant."""
    from jaxlab import models

    return jax.vmap(lambda w, d: models.unit_mask(arch, w, d))(widths, depth)

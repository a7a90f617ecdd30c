"""Planning: validate a sweep and split its variants into groups, one compiled program each.

``plan(spec)`` validates every variant, loads the data and splits the variants into
*groups*: variants that differ only in vectorizable settings (every number of the
optimizer, the schedule and the clipping, L2, dropout rate, init scale and kind, seeds,
batch size, the MLP's width and depth, epochs, patience, min_delta) share one compiled
program; settings that change the program (data, the network's structure, loss, metrics,
optimizer factory and its non-float options, schedule shape, shuffling, early-stopping
monitor, dtype) start a new group. Nothing is compiled before every variant has been
checked.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import jax

from jaxlab import config, curvature, engine, models, networks, optim, plugins
from jaxlab import data as data_lib
from jaxlab.config import Sweep, Variant
from jaxlab.conventions import maximize
from jaxlab.errors import ConfigError, check
from jaxlab.halving import Halving
from jaxlab.losses import make_objective


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

        The MLP's widths and depth are padded to the group's largest (see
        :mod:`jaxlab.models`); a user module's come from its own initializers.
        """
        from jaxlab import variants

        return [variants.init_params(g.program, g.variants)[0] for g in self.groups]


#: Samples a group's epoch order may hold (variants x training samples) to be drawn on the
#: host: XLA:CPU sorts about 150 ns a sample, so below this the program would spend more on
#: its sort than the host does on the same permutation in numpy (and compile it for 0.3 s);
#: above it the program draws its orders itself.
HOST_ORDERS = 1 << 16


def _metric_ok(field: str, value: str, metric: str, objective, has_val: bool,
               auto: bool = False) -> None:
    names = ["loss", *objective.metrics]
    allowed = names + [f"val_{n}" for n in names] if has_val else names
    if metric not in allowed:
        first = "'auto' or " if auto else ""
        reason = f"expected {first}one of {allowed}"
        if metric.startswith("val_") and not has_val:
            reason = ("needs validation data: set data.validation_split or data.train_size"
                      + ("" if auto else ", or monitor 'loss'"))
        raise ConfigError(field, value, reason)


def _frozen(value):
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def optimizer_parts(t: config.TrainConfig) -> tuple[tuple, dict[str, float]]:
    """``(static, floats)``: a variant's optimizer options that are structure (sorted
    ``(name, value)`` pairs) and those that are vectorized (name -> float)."""
    args = optim.arguments(t.optimizer)
    static, floats = [], {}
    for k, v in config.optimizer_options(t).items():
        if optim.is_float_option(args.get(k), v):
            floats[k] = float(v)
        else:
            static.append((k, _frozen(v)))
    return tuple(sorted(static)), floats


def _structure(v: Variant, objective) -> tuple:
    t, m = v.train, v.model
    es = (t.monitor, t.mode, t.restore_best_weights) if t.early_stopping else None
    halving = (t.halving_every, t.halving_eta, t.halving_metric) if t.halving_every else None
    mup = _mup_base(m)
    net = ((m.activation, m.batch_norm, mup) if m.module is None
           else (plugins.load("model.module", m.module), networks.freeze_options(m.options)))
    static, _ = optimizer_parts(t)
    opt = (optim.resolve(t.optimizer), static, t.schedule)
    return (v.data, net, objective, opt, t.shuffle, es, t.dtype, t.microbatch,
            t.eval_batch_size, t.diagnostics, halving, _sharpness(t, 0), t.noise_scale)


def _halving(t, objective, has_val: bool) -> Halving | None:
    """Check the halving settings of a variant's ``TrainConfig``; the group's schedule."""
    every, eta, metric = t.halving_every, t.halving_eta, t.halving_metric
    check(isinstance(metric, str), "train.halving_metric", metric, "must be a metric name")
    if not every:
        return None
    if metric == "auto":
        metric = "val_loss" if has_val else "loss"
    _metric_ok("train.halving_metric", t.halving_metric, metric, objective, has_val, auto=True)
    return Halving(int(every), float(eta), metric, maximize(metric))


def _sharpness(t: config.TrainConfig, n_train: int) -> curvature.Sharpness | None:
    """The program's sharpness measurement (``None``: off); ``n_train`` 0: not yet known."""
    if not t.sharpness_every:
        return None
    n = t.sharpness_examples or n_train
    check(not n_train or n <= n_train, "train.sharpness_examples", t.sharpness_examples,
          f"is larger than the training set ({n_train} samples)")
    return curvature.Sharpness(t.sharpness_every, t.sharpness_iters, n)


def _mup_base(m: config.ModelConfig) -> int | None:
    """The muP base width of an MLP in the maximal-update parametrization, else ``None``."""
    return m.mup_base_width if m.parametrization == "mup" else None


def _noise_scale(vs: list[Variant], m: int) -> bool:
    """Whether the group measures the gradient noise scale (checked: it needs a batch larger
    than the microbatch, and no L2 term, whose gradient is not a mean over samples)."""
    if not vs[0].train.noise_scale:
        return False
    check(any(v.train.batch_size > m for v in vs), "train.noise_scale", True,
          f"needs a batch_size larger than the microbatch ({m} samples): set train.microbatch "
          "below the batch size")
    for v in vs:
        check(v.train.l2 == 0, "train.noise_scale", True,
              f"measures the data gradient only: not with train.l2 = {v.train.l2}")
    return True


def n_micro(n: int, b: int, m: int) -> int:
    """Microsteps of an epoch of ``n`` samples in batches of ``b``, microbatches of ``m``."""
    return (n // b) * math.ceil(b / m) + math.ceil((n % b) / m)



def _objective(v: Variant, ds: data_lib.Dataset):
    loss = v.train.loss
    if loss == "auto":
        loss = "sparse_categorical_crossentropy" if ds.task == "classification" else "mse"
    metrics = v.train.metrics
    if metrics == "auto":
        metrics = ("accuracy",) if ds.task == "classification" else ("mae",)
    return make_objective(
        loss, metrics, task=ds.task, n_classes=ds.n_classes,
        n_targets=ds.y_train.shape[1] if ds.task == "regression" else None,
        output_activation=v.model.output_activation, y_train=ds.y_train)


def _net(vs: list[Variant], ds: data_lib.Dataset, objective) -> networks.Net:
    first = vs[0]
    dtype = first.train.dtype
    if first.model.module is not None:
        return networks.ModuleNet(plugins.load("model.module", first.model.module),
                                  networks.freeze_options(first.model.options),
                                  ds.n_features, objective.n_outputs, dtype)
    arch = models.Arch(
        n_in=ds.n_features,
        width=max(max(v.model.widths) for v in vs),
        depth=max(len(v.model.widths) for v in vs),
        n_out=objective.n_outputs,
        activation=first.model.activation,
        batch_norm=first.model.batch_norm,
    )
    mup = _mup_base(first.model)
    return networks.MLPNet(arch, dtype, dropout=any(v.model.dropout > 0 for v in vs),
                           mup_base_width=mup)


def _optimizer(vs: list[Variant]) -> optim.OptimizerSpec:
    t = vs[0].train
    static, _ = optimizer_parts(t)
    floats = sorted({k for v in vs for k in optimizer_parts(v.train)[1]})
    return optim.OptimizerSpec(
        t.optimizer, hparams=tuple(floats), static=static,
        clips=tuple(c for c in optim.CLIPS if any(getattr(v.train, c) is not None for v in vs)),
        schedule=t.schedule, warmup=any(v.train.warmup_steps > 0 for v in vs),
        layer_scaled=vs[0].model.parametrization == "mup")


def _program(vs: list[Variant], ds: data_lib.Dataset, objective) -> engine.Program:
    first = vs[0]
    t = first.train
    batch_sizes = sorted({v.train.batch_size for v in vs})
    m = t.microbatch or batch_sizes[0]
    check(m <= ds.n_train, "train.microbatch", m,
          f"is larger than the training set ({ds.n_train} samples)")
    net = _net(vs, ds, objective)
    batch_norm = (net.batch_norm if isinstance(net, networks.ModuleNet)
                  else net.arch.batch_norm != "none")
    if any(b > m for b in batch_sizes) and batch_norm:
        warnings.warn(
            f"batch norm with batch sizes {batch_sizes} and microbatch {m}: statistics "
            f"are computed over microbatches of {m} samples (ghost batch norm), which is not "
            "exactly Keras' per-batch normalization for the larger batches; set "
            f"train.microbatch={batch_sizes[-1]} for exact (padded) batches", stacklevel=3)
    es = None
    if t.early_stopping:
        es = engine.EarlyStop(t.monitor, maximize(t.monitor, t.mode), t.restore_best_weights)
    return engine.Program(
        net=net, objective=objective, opt=_optimizer(vs),
        n_train=ds.n_train, n_val=ds.n_val, microbatch=m,
        n_micro=max(n_micro(ds.n_train, b, m) for b in batch_sizes),
        accumulate=any(b > m for b in batch_sizes),
        lockstep=len(batch_sizes) == 1 and batch_sizes[0] <= m,
        shuffle=t.shuffle, early_stopping=es, dtype=t.dtype,
        eval_chunk=min(t.eval_batch_size, max(ds.n_val, 1)),
        diagnostics=t.diagnostics,
        freeze=any(v.train.freeze > 0 for v in vs),
        l2=any(v.train.l2 > 0 for v in vs),
        sharpness=_sharpness(t, ds.n_train),
        noise_scale=_noise_scale(vs, m),
        host_order=t.shuffle and len(vs) * ds.n_train <= HOST_ORDERS,
    )


def plan(spec: Sweep, *, dataset: data_lib.Dataset | None = None) -> Plan:
    """Validate ``spec`` and split it into groups (raises :class:`ConfigError`, compiles nothing).

    Args:
      spec: the sweep.
      dataset: in-memory data used for every variant instead of loading ``spec.data``.
    """
    variants = spec.variants()
    datasets: dict = {}
    buckets: dict[tuple, list] = {}
    clamped: set[tuple[int, int]] = set()
    for i, v in enumerate(variants):
        if v.data not in datasets:
            datasets[v.data] = dataset if dataset is not None else data_lib.load(v.data)
        ds = datasets[v.data]
        if v.train.dtype == "float64" and not jax.config.jax_enable_x64:
            raise ConfigError("train.dtype", "float64", "needs 64-bit JAX: set "
                              "JAX_ENABLE_X64=1 or jax.config.update('jax_enable_x64', True)")
        if v.train.batch_size > ds.n_train:
            clamped.add((v.train.batch_size, ds.n_train))
            v = variants[i] = full_batch(v, ds.n_train)
        objective = _objective(v, ds)
        if v.train.early_stopping:
            _metric_ok("train.monitor", v.train.monitor, v.train.monitor, objective,
                       ds.n_val > 0)
        _halving(v.train, objective, ds.n_val > 0)
        buckets.setdefault(_structure(v, objective), []).append((v, objective))

    if clamped:
        warnings.warn("batch sizes larger than the training set train on one batch of "
                      "everything, as Keras does: " + ", ".join(
                          f"train.batch_size={b} with {n} samples" for b, n in sorted(clamped)),
                      stacklevel=2)
    groups = []
    for members in buckets.values():
        vs = [v for v, _ in members]
        objective = members[0][1]
        ds = datasets[vs[0].data]
        _check_float_options(vs)
        groups.append(Group(_program(vs, ds, objective), vs, ds,
                            _halving(vs[0].train, objective, ds.n_val > 0)))
    return Plan(spec, variants, groups)


def full_batch(v: Variant, n_train: int) -> Variant:
    """``v`` training on one batch of all ``n_train`` samples (Keras' answer to a batch size
    larger than the data); ``v.values`` keeps the batch size asked for."""
    return dataclasses.replace(v, train=dataclasses.replace(v.train, batch_size=n_train))


def _check_float_options(vs: list[Variant]) -> None:
    """A float option some variants of a group set needs a float default for the others."""
    t = vs[0].train
    args = optim.arguments(t.optimizer)
    names = {k for v in vs for k in optimizer_parts(v.train)[1]}
    for v in vs:
        missing = names - set(optimizer_parts(v.train)[1])
        for k in missing:
            default = args[k].default
            check(isinstance(default, float), f"train.optimizer_options.{k}", "unset",
                  f"variant {v.index} does not set it and the factory has no float default")

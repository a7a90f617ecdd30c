"""Optimizers whose hyperparameters are data, so that one program trains many settings.

An optimizer is any *factory* that returns an ``optax.GradientTransformation``: a built-in
name (:data:`BUILTINS`, Keras' defaults), any Optax function (``"optax:lion"``), a user's
function (``"package.module:fn"``) or the callable itself. jaxlab wraps it once with
``optax.inject_hyperparams``: every float argument (the learning rate, the factory's float
options, the schedule's parameters and the clipping thresholds) lives in the optimizer
state, carries a leading variant axis in a sweep, and a new value never recompiles. What
is static (the factory, its non-float options, which clippings and which schedule shape)
is the :class:`OptimizerSpec` of a group.

The learning-rate schedule is handed to the factory as a callable of the update count
(Optax's ``ScalarOrSchedule``) whose parameters are injected hyperparameters too; the
optimizer counts its own updates. Clipping (per tensor as Keras 3's ``clipnorm``, by global
norm, by value) is chained in front of the factory's transformation; per-layer learning-rate
multipliers (muP, :func:`scale_by_multipliers`) are chained after it.

Example:
  >>> spec = OptimizerSpec("optax:lion", hparams=("b1",))
  >>> tx = build(spec)        # one transformation for every variant of a program
  >>> state = init(spec, {"learning_rate": 1e-4, "b1": 0.9}, params)   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxlab import plugins
from jaxlab.errors import ConfigError, unknown


# -- the built-in optimizers: entries of one table, Keras' defaults ----------------------------
def _sgd(learning_rate, momentum=0.0):
    # optax: t = g + mu * t; update = -lr * t. With mu = 0, t = g exactly.
    return optax.sgd(learning_rate, momentum=momentum)


def _nesterov(learning_rate, momentum=0.0):
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)


def _adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7):
    return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)


def _adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.004):
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)


def _rmsprop(learning_rate, rho=0.9, eps=1e-7, momentum=0.0):
    return optax.rmsprop(learning_rate, decay=rho, eps=eps, momentum=momentum)


def _adagrad(learning_rate, initial_accumulator=0.1, eps=1e-7):
    return optax.adagrad(learning_rate, initial_accumulator_value=initial_accumulator, eps=eps)


#: Built-in optimizer name -> factory. Their arguments are ``TrainConfig`` fields of the same
#: name (``momentum``, ``b1``...); ``momentum`` is SGD with its ``momentum`` (as ``sgd``).
BUILTINS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": _sgd, "momentum": _sgd, "nesterov": _nesterov, "adam": _adam, "adamw": _adamw,
    "rmsprop": _rmsprop, "adagrad": _adagrad,
}
FAMILIES = tuple(BUILTINS)
SCHEDULES = ("constant", "exponential", "step", "cosine")
#: Schedule shape -> the parameters it reads (besides ``learning_rate``).
SCHEDULE_HPARAMS = {
    "constant": (), "exponential": ("decay_rate", "decay_steps"),
    "step": ("decay_rate", "decay_steps"), "cosine": ("decay_steps", "alpha"),
}
CLIPS = ("clip_tensor_norm", "clip_norm", "clip_value")  # the order they are applied in
#: Built-in optimizer -> its muP learning-rate rule (Tensor Programs V, Table 3): ``"sgd"``
#: for SGD with or without momentum, ``"adam"`` for the entrywise-normalized optimizers.
MUP_RULES = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adam": "adam",
             "adamw": "adam", "rmsprop": "adam", "adagrad": "adam"}


def mup_rule(optimizer: str | Callable) -> str:
    """The muP learning-rate rule of ``optimizer`` (:data:`MUP_RULES`); any other factory is
    refused, naming ``train.optimizer``."""
    if isinstance(optimizer, str) and optimizer in MUP_RULES:
        return MUP_RULES[optimizer]
    name = optimizer if isinstance(optimizer, str) else plugins.name_of(optimizer)
    raise ConfigError("train.optimizer", name, "model.parametrization='mup' knows the "
                      f"learning-rate rule of {sorted(MUP_RULES)} only")


def resolve(optimizer: str | Callable) -> Callable[..., optax.GradientTransformation]:
    """The factory named by ``optimizer`` (built-in name, ``"module:name"`` or a callable)."""
    if callable(optimizer):
        return optimizer
    if isinstance(optimizer, str) and ":" not in optimizer:
        if optimizer not in BUILTINS:
            raise unknown("train.optimizer", optimizer,
                          [*FAMILIES, "optax:NAME", "package.module:fn"])
        return BUILTINS[optimizer]
    return plugins.load("train.optimizer", optimizer)


def arguments(optimizer: str | Callable) -> dict[str, inspect.Parameter]:
    """The factory's keyword arguments besides ``learning_rate``."""
    params = plugins.parameters(resolve(optimizer))
    if params is None:
        raise ConfigError("train.optimizer", optimizer, "has no inspectable signature")
    if "learning_rate" not in params:
        raise ConfigError("train.optimizer", optimizer,
                          "the factory must take a learning_rate argument")
    return {k: p for k, p in params.items() if k != "learning_rate"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def is_float_option(param: inspect.Parameter | None, value) -> bool:
    """A float option is vectorized (injected); anything else is static structure.

    A value counts as float when the factory's default for it is a float, or when it is
    given as a float (``0`` for an argument whose default is ``1e-3`` is a float).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    default = None if param is None else param.default
    return isinstance(value, float) or (isinstance(default, float) and not
                                        isinstance(default, bool))


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """Static structure of an optimizer (hashable): what compiles.

    Attributes:
      optimizer: a built-in name, ``"module:name"`` or a callable factory.
      hparams: the factory's float arguments that are injected (vectorized), besides
        ``learning_rate``.
      static: ``(name, value)`` pairs of its other arguments, passed as they are.
      clips: which of :data:`CLIPS` are present (thresholds are hyperparameters).
      schedule: learning-rate schedule shape, one of :data:`SCHEDULES`.
      warmup: a linear warmup precedes the schedule (``warmup_steps`` is a hyperparameter).
      layer_scaled: every update is multiplied by a per-variant, per-tensor learning-rate
        multiplier kept in the optimizer state (:func:`scale_by_multipliers`; muP).
    """

    optimizer: str | Callable = "sgd"
    hparams: tuple[str, ...] = ()
    static: tuple[tuple[str, Any], ...] = ()
    clips: tuple[str, ...] = ()
    schedule: str = "constant"
    warmup: bool = False
    layer_scaled: bool = False

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise unknown("train.schedule", self.schedule, SCHEDULES)

    @property
    def names(self) -> tuple[str, ...]:
        """Every injected hyperparameter, ``learning_rate`` first."""
        return (("learning_rate",) + SCHEDULE_HPARAMS[self.schedule]
                + ("warmup_steps",) * self.warmup + self.hparams + self.clips)

    @property
    def scheduled(self) -> bool:
        return self.schedule != "constant" or self.warmup


def learning_rate(spec: OptimizerSpec, hp: Mapping[str, Any], count) -> jax.Array:
    """Learning rate in effect at update ``count`` (0-based) for hyperparameters ``hp``.

    Schedules: ``constant``; ``exponential`` (``lr * rate**(t/steps)``, Keras
    ``ExponentialDecay``); ``step`` (the same with ``floor(t/steps)``); ``cosine`` (to
    ``alpha * lr`` over ``decay_steps``, Keras ``CosineDecay``). A linear warmup from 0 over
    ``warmup_steps`` precedes any schedule; the decay starts after it.
    """
    base = hp["learning_rate"]
    t = jnp.asarray(count, jnp.result_type(base))
    warm = hp["warmup_steps"] if spec.warmup else 0.0
    after = jnp.maximum(t - warm, 0.0)
    if spec.schedule == "constant":
        lr = base * jnp.ones_like(t)
    else:
        steps = jnp.maximum(hp["decay_steps"], 1.0)
        if spec.schedule == "exponential":
            lr = base * hp["decay_rate"] ** (after / steps)
        elif spec.schedule == "step":
            lr = base * hp["decay_rate"] ** jnp.floor(after / steps)
        else:  # cosine
            frac = jnp.minimum(after, steps) / steps
            lr = base * ((1 - hp["alpha"]) * 0.5 * (1 + jnp.cos(jnp.pi * frac)) + hp["alpha"])
    if not spec.warmup:
        return lr
    return jnp.where(t < warm, base * (t + 1) / jnp.maximum(warm, 1.0), lr)


def clip_by_tensor_norm(max_norm) -> optax.GradientTransformation:
    """Clip every gradient tensor to L2 norm ``max_norm`` on its own (Keras 3 ``clipnorm``).

    ``g -> g * max_norm / ||g||`` where ``||g|| > max_norm``; ``max_norm = inf`` is no-op.
    """

    def update(updates, state, params=None):
        del params

        def one(g):
            norm = jnp.sqrt(jnp.sum(g * g))
            return g * jnp.where(norm > max_norm, max_norm / jnp.where(norm > 0, norm, 1), 1)

        return jax.tree.map(one, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class MultipliersState(NamedTuple):
    """The learning-rate multipliers of :func:`scale_by_multipliers`."""

    multipliers: dict  # like the params (a pure dict), one () multiplier per tensor


def scale_by_multipliers(multipliers=None) -> optax.GradientTransformation:
    """Multiply every tensor's update by its own multiplier, read from the state.

    Chained after an optimizer, the multiplier of a tensor scales its learning rate (and,
    for AdamW, its decoupled weight decay, as muP's per-layer learning rates do).

    Args:
      multipliers: pytree like the params with one scalar per tensor; ``None``: all 1 (the
        state's structure, as in the program's one built transformation).
    """

    def init(params):
        if multipliers is not None:
            return MultipliersState(multipliers)
        return MultipliersState(jax.tree.map(lambda p: jnp.ones((), p.dtype), params))

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u, m: u * m.astype(u.dtype), updates,
                            state.multipliers), state

    return optax.GradientTransformation(init, update)


_CLIP = {"clip_tensor_norm": clip_by_tensor_norm, "clip_norm": optax.clip_by_global_norm,
         "clip_value": optax.clip}


def _factory(spec: OptimizerSpec, multipliers=None
             ) -> Callable[..., optax.GradientTransformation]:
    """The function ``inject_hyperparams`` wraps: injected values in, a transformation out.

    ``multipliers``: the per-tensor learning-rate multipliers a ``layer_scaled`` state
    starts with (``None``: ones)."""
    inner = resolve(spec.optimizer)
    static = dict(spec.static)

    def factory(**hp):
        lr = hp["learning_rate"]
        if spec.scheduled:
            def lr(count, hp=hp):  # noqa: F811 - a schedule in place of the number
                return learning_rate(spec, hp, count)
        tx = inner(learning_rate=lr, **static, **{k: hp[k] for k in spec.hparams})
        clips = [_CLIP[name](hp[name]) for name in spec.clips]
        after = [scale_by_multipliers(multipliers)] if spec.layer_scaled else []
        return optax.chain(*clips, tx, *after) if clips or after else tx

    # inject_hyperparams reads the names of the hyperparameters from the signature.
    factory.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in spec.names])
    return factory


def build(spec: OptimizerSpec, dtype=None) -> optax.GradientTransformation:
    """The program's optimizer: one transformation whose hyperparameters are state.

    Its ``update`` reads every value from the state, so one ``build`` serves every variant.
    """
    inject = optax.inject_hyperparams(_factory(spec), hyperparam_dtype=dtype)
    return inject(**{k: 0.0 for k in spec.names})


def init(spec: OptimizerSpec, hp: Mapping[str, Any], params, dtype=None, multipliers=None):
    """Optimizer state of one variant with hyperparameters ``hp`` (name -> scalar) and, when
    ``spec.layer_scaled``, its per-tensor learning-rate ``multipliers`` (pytree like
    ``params``, () leaves)."""
    inject = optax.inject_hyperparams(_factory(spec, multipliers), hyperparam_dtype=dtype)
    return inject(**{k: hp[k] for k in spec.names}).init(params)


def current_learning_rate(spec: OptimizerSpec, opt_state, count) -> jax.Array:
    """The learning rate at update ``count`` from a variant's optimizer state."""
    return learning_rate(spec, opt_state.hyperparams, count)


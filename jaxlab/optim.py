"""Optimizers whose hyperparameters are data, so that one program trains many settings.

Every optimizer is an ``optax.inject_hyperparams`` transformation: its numeric
hyperparameters (learning rate, momentum, betas, eps, weight decay, clip thresholds...) live
in the optimizer state, carry a leading variant axis in a sweep, and changing them never
recompiles. Only the *structure* (the family, Nesterov, whether clipping is present, the
schedule's shape) is static.

Defaults follow Keras, the course's tool (Adam and RMSprop ``eps=1e-7``, Adagrad's initial
accumulator 0.1). Learning-rate schedules are computed by :func:`learning_rate` from the
update count and the variant's schedule parameters, then written into the state before each
update.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax

from jaxlab.errors import unknown

FAMILIES = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "exponential", "step", "cosine")

#: Hyperparameters (besides ``learning_rate``) each family reads.
FAMILY_HPARAMS = {
    "sgd": ("momentum",),
    "momentum": ("momentum",),
    "nesterov": ("momentum",),
    "adam": ("b1", "b2", "eps"),
    "adamw": ("b1", "b2", "eps", "weight_decay"),
    "rmsprop": ("rho", "eps", "momentum"),
    "adagrad": ("initial_accumulator", "eps"),
}
SCHEDULE_HPARAMS = ("decay_rate", "decay_steps", "warmup_steps", "alpha")


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """Static structure of an optimizer (hashable).

    Attributes:
      family: one of :data:`FAMILIES`.
      clip_norm: clip gradients by global norm (threshold is a hyperparameter).
      clip_value: clip gradients element-wise (threshold is a hyperparameter).
      schedule: learning-rate schedule shape, one of :data:`SCHEDULES`.
    """

    family: str
    clip_norm: bool = False
    clip_value: bool = False
    schedule: str = "constant"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise unknown("train.optimizer", self.family, FAMILIES)
        if self.schedule not in SCHEDULES:
            raise unknown("train.schedule", self.schedule, SCHEDULES)

    @property
    def hparams(self) -> tuple[str, ...]:
        """Names of the injected hyperparameters, ``learning_rate`` first."""
        names = ("learning_rate",) + FAMILY_HPARAMS[self.family]
        return names + ("clip_norm",) * self.clip_norm + ("clip_value",) * self.clip_value


def _core(family: str, learning_rate, momentum=0.0, b1=0.9, b2=0.999, eps=1e-7,
          weight_decay=0.0, rho=0.9, initial_accumulator=0.1) -> optax.GradientTransformation:
    if family in ("sgd", "momentum", "nesterov"):
        # optax: t = g + mu * t; update = -lr * t. With mu = 0, t = g exactly.
        return optax.sgd(learning_rate, momentum=momentum, nesterov=family == "nesterov")
    if family == "adam":
        return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
    if family == "adamw":
        return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    if family == "rmsprop":
        return optax.rmsprop(learning_rate, decay=rho, eps=eps, momentum=momentum)
    if family == "adagrad":
        return optax.adagrad(learning_rate, initial_accumulator_value=initial_accumulator,
                             eps=eps)
    raise unknown("train.optimizer", family, FAMILIES)


def make_optimizer(spec: OptimizerSpec, hparams: dict) -> optax.GradientTransformation:
    """The optimizer for ``spec``, with ``hparams`` (name -> scalar) as its initial values.

    Example:
      >>> tx = make_optimizer(OptimizerSpec("adam"), {"learning_rate": 1e-3, "b1": 0.9,
      ...                     "b2": 0.999, "eps": 1e-7})
    """

    def factory(learning_rate, momentum=0.0, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.0,
                rho=0.9, initial_accumulator=0.1, clip_norm=None, clip_value=None):
        parts = []
        if spec.clip_norm:
            parts.append(optax.clip_by_global_norm(clip_norm))
        if spec.clip_value:
            parts.append(optax.clip(clip_value))
        parts.append(_core(spec.family, learning_rate, momentum=momentum, b1=b1, b2=b2, eps=eps,
                           weight_decay=weight_decay, rho=rho,
                           initial_accumulator=initial_accumulator))
        return optax.chain(*parts) if len(parts) > 1 else parts[0]

    return optax.inject_hyperparams(factory)(**{k: hparams[k] for k in spec.hparams})


def learning_rate(schedule: str, base, count, hp: dict):
    """Learning rate in effect at update ``count`` (0-based).

    Args:
      schedule: ``constant``; ``exponential`` (``lr * rate**(t/steps)``, Keras
        ``ExponentialDecay``); ``step`` (the same with ``floor(t/steps)``); ``cosine`` (to
        ``alpha * lr`` over ``decay_steps``, Keras ``CosineDecay``).
      base: the base learning rate.
      count: updates applied so far.
      hp: ``decay_rate``, ``decay_steps``, ``warmup_steps``, ``alpha``. A linear warmup from
        0 over ``warmup_steps`` precedes any schedule (0 = none); the decay starts after it.
    """
    t = jnp.asarray(count, jnp.result_type(base))
    warm = hp["warmup_steps"]
    after = jnp.maximum(t - warm, 0.0)
    steps = jnp.maximum(hp["decay_steps"], 1.0)
    if schedule == "exponential":
        lr = base * hp["decay_rate"] ** (after / steps)
    elif schedule == "step":
        lr = base * hp["decay_rate"] ** jnp.floor(after / steps)
    elif schedule == "cosine":
        frac = jnp.minimum(after, steps) / steps
        lr = base * ((1 - hp["alpha"]) * 0.5 * (1 + jnp.cos(jnp.pi * frac)) + hp["alpha"])
    else:
        lr = base * jnp.ones_like(t)
    return jnp.where(t < warm, base * (t + 1) / jnp.maximum(warm, 1.0), lr)

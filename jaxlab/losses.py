"""Losses and metrics, per sample, as pure functions of the network's raw outputs.

The network always returns raw outputs ("logits", shape ``(b, n_out)``); the loss decides
the output activation (softmax for cross-entropies, sigmoid for binary cross-entropy, tanh
for the hinge losses as in the course, linear for regression) unless the model config
overrides it. Cross-entropies are computed from logits, which is what Keras computes with
``from_logits=True`` and, up to its ``1e-7`` clipping, with a softmax output layer.

Labels are encoded once, on the host, by :meth:`Objective.encode`; a loss that does not fit
the labels (categorical cross-entropy on regression targets, a binary loss on three
classes...) is a :class:`~jaxlab.errors.ConfigError` before anything is compiled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab.errors import ConfigError, check, unknown

Array = jax.Array

CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence")
BINARY_LOSSES = ("binary_crossentropy", "hinge", "squared_hinge")
REGRESSION_LOSSES = ("mse", "mae", "msle", "huber")
LOSSES = CLASS_LOSSES + BINARY_LOSSES + REGRESSION_LOSSES
METRICS = ("accuracy", "binary_accuracy", "mae", "mse")
OUTPUT_ACTIVATIONS = ("auto", "softmax", "sigmoid", "tanh", "linear")

_KERAS_EPS = 1e-7  # keras.config.epsilon()

_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "mean_squared_logarithmic_error": "msle",
    "crossentropy": "categorical_crossentropy",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
}

_DEFAULT_OUTPUT = {
    **{name: "softmax" for name in CLASS_LOSSES},
    "binary_crossentropy": "sigmoid",
    "hinge": "tanh",
    "squared_hinge": "tanh",
    **{name: "linear" for name in REGRESSION_LOSSES},
}


def canonical_loss(name: str) -> str:
    """The canonical name of a loss (Keras long names are accepted)."""
    if not isinstance(name, str):
        raise unknown("train.loss", name, LOSSES + tuple(_ALIASES))
    name = _ALIASES.get(name, name)
    if name not in LOSSES:
        raise unknown("train.loss", name, LOSSES + tuple(_ALIASES))
    return name


def _activate(kind: str, z: Array) -> Array:
    if kind == "softmax":
        return jax.nn.softmax(z, axis=-1)
    if kind == "sigmoid":
        return jax.nn.sigmoid(z)
    if kind == "tanh":
        return jnp.tanh(z)
    return z


def _huber(err: Array, delta: float = 1.0) -> Array:
    a = jnp.abs(err)
    return jnp.where(a <= delta, 0.5 * err**2, delta * (a - 0.5 * delta))


def _per_sample(name: str, out_kind: str) -> Callable[[Array, Array], Array]:
    """Per-sample loss ``(logits (b, k), targets) -> (b,)``."""
    if name == "categorical_crossentropy":
        return lambda z, y: -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)
    if name == "sparse_categorical_crossentropy":
        return lambda z, y: -jnp.take_along_axis(
            jax.nn.log_softmax(z, axis=-1), y[:, None], axis=-1
        )[:, 0]
    if name == "kl_divergence":

        def kl(z, y):
            logp = jax.nn.log_softmax(z, axis=-1)
            safe_y = jnp.where(y > 0, y, 1.0)
            return jnp.sum(jnp.where(y > 0, y * (jnp.log(safe_y) - logp), 0.0), axis=-1)

        return kl
    if name == "binary_crossentropy":
        if out_kind == "sigmoid":
            return lambda z, y: jnp.mean(
                jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))), axis=-1
            )

        def bce(z, y):
            p = jnp.clip(_activate(out_kind, z), 1e-7, 1 - 1e-7)
            return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p), axis=-1)

        return bce
    if name == "hinge":
        return lambda z, y: jnp.mean(jnp.maximum(1 - y * _activate(out_kind, z), 0), axis=-1)
    if name == "squared_hinge":
        return lambda z, y: jnp.mean(
            jnp.maximum(1 - y * _activate(out_kind, z), 0) ** 2, axis=-1
        )
    if name == "mse":
        return lambda z, y: jnp.mean((_activate(out_kind, z) - y) ** 2, axis=-1)
    if name == "mae":
        return lambda z, y: jnp.mean(jnp.abs(_activate(out_kind, z) - y), axis=-1)
    if name == "msle":

        def msle(z, y):
            # Keras clamps predictions and targets at its epsilon before log1p, so targets
            # at or below -1 (e.g. standardized ones) are accepted, as in Keras.
            p = jnp.maximum(_activate(out_kind, z), _KERAS_EPS)
            return jnp.mean((jnp.log1p(p) - jnp.log1p(jnp.maximum(y, _KERAS_EPS))) ** 2,
                            axis=-1)

        return msle
    if name == "huber":
        return lambda z, y: jnp.mean(_huber(_activate(out_kind, z) - y), axis=-1)
    raise unknown("train.loss", name, LOSSES)


@dataclasses.dataclass(frozen=True)
class Objective:
    """A loss, its metrics and the label encoding they need, for one data set.

    Hashable, so that it can be a static part of a compiled program.

    Attributes:
      loss: canonical loss name.
      metrics: metric names, in order.
      task: ``"classification"`` or ``"regression"``.
      n_classes: number of classes (classification) or ``None``.
      n_outputs: width of the network's output layer.
      output_activation: activation applied to the raw outputs by :meth:`predict`.
    """

    loss: str
    metrics: tuple[str, ...]
    task: str
    n_classes: int | None
    n_outputs: int
    output_activation: str

    # -- host side ---------------------------------------------------------------------------
    def encode(self, y: np.ndarray, field: str = "data.y_train") -> np.ndarray:
        """Encode labels as the loss needs: ``(n,)`` int, ``(n, k)`` one-hot, or floats."""
        if self.task == "regression":
            return np.asarray(y)
        y = np.asarray(y).astype(np.int32)
        check(
            y.min() >= 0 and y.max() < self.n_classes, field, f"labels {y.min()}..{y.max()}",
            f"labels must lie in 0..{self.n_classes - 1}",
        )
        if self.loss == "sparse_categorical_crossentropy":
            return y
        if self.loss in BINARY_LOSSES or self.n_outputs == 1:
            y = y[:, None].astype(np.float32)
            return 2 * y - 1 if self.loss in ("hinge", "squared_hinge") else y
        return np.eye(self.n_classes, dtype=np.float32)[y]

    # -- device side -------------------------------------------------------------------------
    def per_sample_loss(self, logits: Array, targets: Array) -> Array:
        """Loss of every sample, ``(b, k), targets -> (b,)``."""
        if self.loss != "sparse_categorical_crossentropy":
            targets = targets.astype(logits.dtype)
        return _per_sample(self.loss, self.output_activation)(logits, targets)

    def predict(self, logits: Array) -> Array:
        """Network outputs after the output activation, ``(b, n_outputs)``."""
        return _activate(self.output_activation, logits)

    def per_sample_metrics(self, logits: Array, targets: Array) -> dict[str, Array]:
        """Every metric, per sample: name -> ``(b,)``."""
        out = self.predict(logits)
        return {name: self._metric(name, out, targets) for name in self.metrics}

    def _metric(self, name: str, out: Array, y: Array) -> Array:
        if name in ("mae", "mse"):
            dense = self._dense_targets(y, out.dtype)
            err = out - dense
            return jnp.mean(jnp.abs(err) if name == "mae" else err**2, axis=-1)
        if out.shape[-1] == 1:  # one output unit: threshold it
            threshold = 0.0 if self.output_activation in ("tanh", "linear") else 0.5
            positive = out[:, 0] > threshold
            target = y[:, 0] > (0.0 if self.loss in ("hinge", "squared_hinge") else 0.5)
            return (positive == target).astype(out.dtype)
        pred = jnp.argmax(out, axis=-1)
        label = y if y.ndim == 1 else jnp.argmax(y, axis=-1)
        return (pred == label).astype(out.dtype)

    def _dense_targets(self, y: Array, dtype) -> Array:
        if y.ndim == 1:  # sparse labels
            return jax.nn.one_hot(y, self.n_outputs, dtype=dtype)
        return y.astype(dtype)


def make_objective(
    loss: str,
    metrics: tuple[str, ...] | list[str],
    *,
    task: str,
    n_classes: int | None,
    n_targets: int | None = None,
    output_activation: str = "auto",
    y_train: np.ndarray | None = None,
) -> Objective:
    """Build the :class:`Objective` for a loss on a data set, refusing combinations that do not fit.

    Args:
      loss: loss name (``"categorical_crossentropy"``, ``"mse"``...).
      metrics: metric names.
      task: the data set's task, ``"classification"`` or ``"regression"``.
      n_classes: number of classes (classification).
      n_targets: number of regression targets.
      output_activation: ``"auto"`` (chosen by the loss) or an explicit activation.
      y_train: training labels, to check value ranges (reserved; ``msle`` clamps targets at
        Keras' epsilon, as Keras does).

    Raises:
      ConfigError: naming ``train.loss``, ``train.metrics`` or ``model.output_activation``.

    Example:
      >>> make_objective("sparse_categorical_crossentropy", ["accuracy"], task="classification",
      ...                n_classes=3).n_outputs
      3
    """
    loss = canonical_loss(loss)
    metrics = tuple(metrics)
    for m in metrics:
        if m not in METRICS:
            raise unknown("train.metrics", m, METRICS)
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise unknown("model.output_activation", output_activation, OUTPUT_ACTIVATIONS)
    out_kind = _DEFAULT_OUTPUT[loss] if output_activation == "auto" else output_activation

    if task == "regression":
        if loss in CLASS_LOSSES + BINARY_LOSSES:
            raise ConfigError(
                "train.loss", loss, "needs class labels, but the data has continuous regression "
                "targets; use mse, mae, msle or huber",
            )
        for m in metrics:
            check(m in ("mae", "mse"), "train.metrics", m,
                  "needs class labels; regression data supports mae and mse")
        n_out = int(n_targets or 1)
    else:
        check(n_classes is not None and n_classes >= 2, "data.n_classes", n_classes,
              "classification needs at least 2 classes")
        if loss in BINARY_LOSSES:
            check(n_classes == 2, "train.loss", loss,
                  f"is a binary loss, but the data has {n_classes} classes")
            n_out = 1
        else:
            n_out = n_classes
        if "binary_accuracy" in metrics:
            check(n_out == 1, "train.metrics", "binary_accuracy",
                  "needs a single output unit (a binary loss)")
    if loss in CLASS_LOSSES:
        check(out_kind == "softmax", "model.output_activation", output_activation,
              f"{loss} needs a softmax output")
    if loss == "binary_crossentropy":
        check(out_kind in ("sigmoid",), "model.output_activation", output_activation,
              "binary_crossentropy needs a sigmoid output")
    return Objective(loss, metrics, task, n_classes, n_out, out_kind)

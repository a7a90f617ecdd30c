"""The front door: ``run`` a sweep, or ``fit`` one model Keras-style (a sweep of one).

Example:
  >>> import jaxlab as jl
  >>> spec = jl.Sweep(data=jl.DataConfig("blobs", options={"n_samples": 200}, train_size=100),
  ...                 train=jl.TrainConfig(epochs=3), grid={"learning_rate": [0.1, 0.01]})
  >>> result = jl.run(spec)
  >>> result.history[["variant", "epoch", "loss", "val_accuracy"]].shape[0]
  6
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jaxlab import data as data_lib
from jaxlab import distributed, results, sweep
from jaxlab import progress as progress_lib
from jaxlab.config import ModelConfig, Sweep, TrainConfig
from jaxlab.errors import ConfigError, check

if TYPE_CHECKING:
    from flax import nnx


def run(
    spec: Sweep,
    *,
    init_params: Any = None,
    callbacks: Sequence[sweep.Callback] = (),
    compilation_cache: bool = False,
    dataset: data_lib.Dataset | None = None,
    tensorboard: str | None = None,
    loggers: Sequence[str | Any] = (),
    progress: bool | None = None,
    memory_budget: int | str | None = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    devices: Sequence[Any] | None = None,
    epochs_per_call: int | None = None,
) -> results.Result:
    """Train every variant of ``spec`` and return the :class:`~jaxlab.results.Result`.

    Args:
      spec: the sweep.
      init_params: initial parameters, one pytree per group with a leading variant axis (as
        returned by ``plan(spec).initial_params()``); a single pytree for a one-group sweep.
      callbacks: called once per epoch per group with a :class:`jaxlab.sweep.EpochReport`.
      compilation_cache: turn on JAX's persistent compilation cache first (see
        :func:`jaxlab.sweep.enable_compilation_cache`). It is process-wide and stays on, so
        it is off by default; ``jaxlab sweep`` and ``jaxlab run`` turn it on (``--no-cache``
        or ``JAXLAB_COMPILATION_CACHE=0``: off).
      dataset: in-memory data (from :func:`jaxlab.data.from_arrays`) used instead of
        ``spec.data``.
      tensorboard: a log directory: write one TensorBoard run per variant there, with
        per-epoch scalars and HParams (see :mod:`jaxlab.tblog`).
      loggers: experiment loggers, by name (``"tensorboard"``, ``"wandb"``, ``"mlflow"``) or
        as objects (:func:`jaxlab.loggers.make_loggers`): one run per variant with its
        hyperparameters and per-epoch metrics (see :mod:`jaxlab.loggers`). ``run`` closes
        them. A name's local files go to the current directory, TensorBoard's to
        ``tensorboard`` when that is given.
      progress: show a progress bar on stderr (see :mod:`jaxlab.progress`); ``None``: only
        when stderr is a terminal or in Jupyter.
      memory_budget: bytes per device (``2_000_000_000`` or ``"2GB"``); a group that needs
        more runs in chunks (see :mod:`jaxlab.memory`). Default: the device memory where JAX
        reports it.
      checkpoint_dir: save the sweep there every ``checkpoint_every`` epochs and on SIGTERM
        (see :mod:`jaxlab.checkpoint`). One run at a time: a second ``run`` into the same
        directory while this one trains raises :class:`jaxlab.lock.InUse` before compiling.
      resume: continue from the newest valid checkpoint in ``checkpoint_dir``.
      devices: shard the variants over these devices (default: every device of every
        process; see :mod:`jaxlab.distributed`).
      epochs_per_call: the most epochs one compiled call runs before the host sees them:
        ``None`` (default) batches up to 16 epochs of a small model into one call, so it
        does not pay a host round trip per epoch; ``1``: the host sees every epoch's end
        at once (callbacks are still called once per epoch either way, and the results are
        the same). A SIGTERM or Ctrl-C is acted on at the end of a call.

    In a multi-process sweep every process calls ``run`` and gets the whole result; the
    loggers and the progress bar are written by process 0 only.
    """
    if compilation_cache:
        sweep.enable_compilation_cache()
    main = distributed.is_main()  # one writer in a multi-process sweep
    held = _checkpoint_lock(checkpoint_dir, main)  # a file there is refused before planning
    p = plan(spec, dataset=dataset)
    own = []  # callbacks made here, closed here (also when training fails or is interrupted)
    loggers = [loggers] if isinstance(loggers, str) else list(loggers)
    names = [x for x in loggers if isinstance(x, str)]
    if names or tensorboard is not None:
        from jaxlab import loggers as loggers_lib

        names = loggers_lib.check_names(names)  # in every process: the same error everywhere
        if tensorboard is not None and "tensorboard" not in names:
            names.append("tensorboard")
        if main:
            own += loggers_lib.make_loggers(names, None, p, **(
                {"tensorboard": {"logdir": tensorboard}} if tensorboard is not None else {}))
    if main:
        own += [x for x in loggers if not isinstance(x, str)]
    if main and (progress or (progress is None and progress_lib.interactive(sys.stderr))):
        own.append(progress_lib.ProgressBar(p, enabled=True))
    try:
        with held:
            outputs = sweep.run_plan(p, init_params=init_params, callbacks=[*callbacks, *own],
                                     memory_budget=memory_budget, checkpoint_dir=checkpoint_dir,
                                     checkpoint_every=checkpoint_every, resume=resume,
                                     devices=devices, epochs_per_call=epochs_per_call)
    finally:
        for cb in own:
            cb.close()
    return results.build(p, outputs)


def _checkpoint_lock(checkpoint_dir: str | None, main: bool):
    """One run per checkpoint directory: the main process holds its lock while training, so a
    second run into it is refused (:class:`jaxlab.lock.InUse`, one line) before compiling."""
    if checkpoint_dir is None or not main:
        return contextlib.nullcontext()
    import os

    from jaxlab import lock

    if os.path.exists(checkpoint_dir) and not os.path.isdir(checkpoint_dir):
        raise ConfigError("checkpoint_dir", checkpoint_dir, "exists and is not a directory")
    return lock.hold(checkpoint_dir, field="checkpoint_dir")


def plan(spec: Sweep, *, dataset: data_lib.Dataset | None = None) -> sweep.Plan:
    """Validate and group ``spec`` without compiling (see :func:`jaxlab.sweep.plan`)."""
    return sweep.plan(spec, dataset=dataset)


# Keras' default learning rate of each built-in optimizer (keras.optimizers.*).
KERAS_LEARNING_RATES = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adam": 0.001,
                        "adamw": 0.001, "rmsprop": 0.001, "adagrad": 0.001}


def _known_keywords(given: dict, config: type, where: str, own: Sequence[str]) -> None:
    """Refuse a keyword that is neither one of ``where``'s own nor a field of ``config``,
    suggesting the closest name."""
    names = [*own, *(f.name for f in dataclasses.fields(config))]
    for key, value in given.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(key, value, f"not an argument of {where} (its own or a "
                                          f"{config.__name__} field){hint}")


class History(pd.DataFrame):
    """What :meth:`Network.fit` returns: the per-epoch DataFrame, with Keras' ``.history``.

    It is the tidy history itself (one row per epoch: ``epoch`` from 1, ``loss``, metrics,
    ``val_*``, ``lr``, ``updates``, ``examples``...), so ``history.tail()`` and
    ``history.val_loss`` work as on any DataFrame, and it answers Keras' habits too:

    * ``history.history``: a dict of lists, one per column but ``epoch`` (as Keras'
      ``History.history``: ``history.history["val_accuracy"][-1]``);
    * ``history.frame``: the same table as a plain DataFrame;
    * ``history.model``: the :class:`Network` that was fitted.

    Unlike Keras' ``History.epoch`` (a list from 0), ``history.epoch`` is the 1-based
    ``epoch`` column, as in ``history.csv``.
    """

    _metadata = ["model"]  # kept by pandas on copies; the Network that was fitted

    @property
    def _constructor(self):
        return pd.DataFrame  # a slice or a computation is a plain DataFrame

    @property
    def history(self) -> dict[str, list]:
        """Column name -> per-epoch values, every column but ``epoch`` (Keras' layout)."""
        return {c: self[c].tolist() for c in self.columns if c != "epoch"}

    @property
    def frame(self) -> pd.DataFrame:
        """The history as a plain DataFrame (a copy)."""
        return pd.DataFrame(self, copy=True)


class Network:
    """One MLP used the way the course uses Keras: make, compile, fit, evaluate, predict.

    It is a sweep of one variant through the same engine.

    Example:
      >>> net = Network(hidden=(100, 100), activation="relu")
      >>> net.compile(optimizer="adam", learning_rate=1e-3, loss="categorical_crossentropy",
      ...             metrics=["accuracy"])
      >>> history = net.fit(x, y, epochs=20, validation_split=0.3)   # doctest: +SKIP
      >>> history.history["val_accuracy"][-1]                         # doctest: +SKIP
      >>> probs = net.predict(x)                                      # doctest: +SKIP
      >>> logits = net.module(x)          # the trained nnx.Module    # doctest: +SKIP
    """

    def __init__(self, hidden: Sequence[int] = (50,), **model: Any):
        _known_keywords(model, ModelConfig, "Network", ("hidden",))
        self.model = ModelConfig(hidden=tuple(hidden), **model)
        self.train = TrainConfig()
        self.result: results.Result | None = None

    def compile(self, optimizer: str = "adam", loss: str = "auto",
                metrics: Sequence[str] | str = "auto", **train: Any) -> Network:
        """Choose the optimizer, loss, metrics and any :class:`TrainConfig` field.

        Without ``learning_rate``, a built-in optimizer gets Keras' default rate
        (:data:`KERAS_LEARNING_RATES`: 0.001 for Adam, AdamW, RMSprop and Adagrad, 0.01 for
        SGD); any other optimizer gets :class:`TrainConfig`'s.
        """
        _known_keywords(train, TrainConfig, "Network.compile", ("optimizer", "loss", "metrics"))
        if "learning_rate" not in train:
            train["learning_rate"] = KERAS_LEARNING_RATES.get(
                optimizer if isinstance(optimizer, str) else None, TrainConfig.learning_rate)
        self.train = dataclasses.replace(self.train, optimizer=optimizer, loss=loss,
                                         metrics=metrics if isinstance(metrics, str)
                                         else tuple(metrics), **train)
        return self

    def fit(self, x, y, *, epochs: int = 10, batch_size: int = 32,
            validation_split: float | None = None, validation_data: tuple | None = None,
            early_stopping: dict | bool = False, **train: Any) -> History:
        """Train on ``(x, y)``; returns the :class:`History` (a DataFrame, one row per epoch,
        with Keras' ``.history`` dict of lists).

        Args:
          x: inputs ``(n, ...)`` (flattened to ``(n, d)``); y: labels ``(n,)``, one-hot
            ``(n, k)`` or regression targets.
          validation_split: Keras semantics (the last fraction, before shuffling).
          validation_data: ``(x_val, y_val)``.
          early_stopping: ``True`` or a dict of ``monitor``, ``patience``, ``min_delta``,
            ``mode``, ``restore_best_weights``.
        """
        _known_keywords(train, TrainConfig, "Network.fit", (
            "x", "y", "epochs", "batch_size", "validation_split", "validation_data",
            "early_stopping"))
        check(not (validation_split and validation_data), "validation_split",
              validation_split, "give validation_split or validation_data, not both")
        xv, yv = validation_data if validation_data is not None else (None, None)
        ds = data_lib.from_arrays(x, y, xv, yv, validation_split=validation_split)
        es = {}
        if early_stopping:
            es = {"early_stopping": True, **(early_stopping if isinstance(early_stopping, dict)
                                             else {})}
        train_cfg = dataclasses.replace(self.train, epochs=epochs, batch_size=batch_size,
                                        **es, **train)
        spec = Sweep(data=data_lib.DataConfig(name="arrays"), model=self.model,
                     train=train_cfg, name="fit")
        self.result = run(spec, dataset=ds)
        history = History(self.result.history.drop(columns=["variant"]))
        history.model = self
        return history

    def _trained(self) -> results.TrainedModel:
        if self.result is None:
            raise ConfigError("Network", "unfitted", "call fit() before predict()/evaluate()")
        return self.result.models[0]

    def evaluate(self, x, y) -> dict[str, float]:
        """Loss and metrics on ``(x, y)``, inference mode."""
        return self._trained().evaluate(np.asarray(x).reshape(len(x), -1), y)

    def predict(self, x) -> np.ndarray:
        """Outputs (probabilities for classification), ``(n, n_outputs)``."""
        return self._trained().predict(x)

    @property
    def params(self) -> dict | None:
        """The trained parameters at the network's size (pure dict of numpy arrays)."""
        return self.result.params(0) if self.result else None

    @property
    def module(self) -> nnx.Module:
        """The trained network as a Flax NNX module (a fresh copy, see
        :meth:`jaxlab.results.Result.module`): ``net.module(x)`` gives the raw outputs
        (logits) whose output activation is :meth:`predict`."""
        self._trained()  # an unfitted network is refused, as by predict()
        return self.result.module(0)

"""Experiment loggers: one sweep callback, one run per variant, any backend.

Every backend logs the same things, at ``step`` = the 1-based epoch (as in
``Result.history``):

* one run per variant, named from its swept values (:func:`jaxlab.labels.run_name`), with
  the swept values as its hyperparameters (the same table as TensorBoard's HParams);
* every epoch the variant trained: ``train/<name>``, ``val/<name>``, ``optim/lr`` and
  ``optim/grad_norm`` (:func:`tag`), non-finite values included (a diverged epoch's loss);
* when the variant ends: ``final/<name>``, ``best/<name>`` and ``final/epochs_run``, and its
  status (``ok``, ``stopped``, ``diverged``, ``pruned``; ``interrupted`` when the sweep
  was).

A backend is a :class:`jaxlab.writers.Writer` for one run; :class:`SweepLogger` is the
sweep callback that owns one writer per variant. It is called in the host's once-per-epoch
look at the sweep (never per step) and hands each report to one worker thread, which
writes while the next epoch computes.

The backends, by name (:data:`BACKENDS`):

* ``tensorboard``: :class:`jaxlab.tblog.TensorBoardLogger` (always installed);
* ``wandb``: :class:`jaxlab.log_wandb.WandbLogger` (``pip install 'jaxlab[wandb]'``);
* ``mlflow``: :class:`jaxlab.log_mlflow.MLflowLogger` (``pip install 'jaxlab[mlflow]'``).

Example:
  >>> result = jl.run(spec, loggers=["wandb", "mlflow"])                    # doctest: +SKIP
  >>> # or, as explicit callbacks:
  >>> loggers = make_loggers(["tensorboard"], "runs/demo", jl.plan(spec))   # doctest: +SKIP
  >>> result = jl.run(spec, loggers=loggers)                                # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jaxlab import conventions, labels
from jaxlab.errors import ConfigError
from jaxlab.writers import Writer

_OPTIM = ("lr", "grad_norm")
_NOT_SCALARS = ("trained", "stopped", "diverged", "pruned", "updates", "examples")

#: Logger name -> (module, class, the package it needs, the extra that installs it).
BACKENDS = {
    "tensorboard": ("jaxlab.tblog", "TensorBoardLogger", "tensorboardX", None),
    "wandb": ("jaxlab.log_wandb", "WandbLogger", "wandb", "wandb"),
    "mlflow": ("jaxlab.log_mlflow", "MLflowLogger", "mlflow", "mlflow"),
}


@runtime_checkable
class Logger(Protocol):
    """A sweep callback that logs: called once per epoch per group, closed after the sweep."""

    def __call__(self, report) -> None:
        """Log one :class:`jaxlab.sweep.EpochReport`."""

    def close(self) -> None:
        """Finish every run (those still open as ``interrupted``) and release the backend."""


def tag(name: str) -> str:
    """The logged name of a history column: ``val_accuracy`` -> ``val/accuracy``."""
    if name in _OPTIM:
        return f"optim/{name}"
    if name.startswith("val_"):
        return f"val/{name[4:]}"
    return f"train/{name}"


def hparam_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Make ``rows`` (name -> value per run) HParams-ready, one type per column.

    Numbers stay numbers and bools stay bools; any other value (``None``, a tuple such as
    ``hidden=(50, 50)``), or a column that mixes kinds, becomes a string (``"50x50"``).
    """
    out = [dict() for _ in rows]
    for name in dict.fromkeys(k for r in rows for k in r):
        col = [_plain(r.get(name)) for r in rows]
        if all(isinstance(v, bool) for v in col):
            kind = bool
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col):
            kind = float
        else:
            kind = str
        for o, v in zip(out, col, strict=True):
            o[name] = labels.value(v) if kind is str else v
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# -- the factory --------------------------------------------------------------------------------
def check_names(names: Sequence[str]) -> list[str]:
    """Validate logger names (and that their packages are installed); returns them.

    Raises:
      ConfigError: for an unknown name, or a backend whose package is missing.
    """
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in BACKENDS:
            raise ConfigError("loggers", name,
                              f"unknown logger; expected one of {sorted(BACKENDS)}")
        package, extra = BACKENDS[name][2:]
        if importlib.util.find_spec(package) is None:
            raise ConfigError("loggers", name, f"needs the {package} package: "
                                               f"pip install 'jaxlab[{extra}]'")
    return names


def make_loggers(names: Sequence[str], out: str | None, plan,
                 **options: Mapping[str, Any]) -> list[Logger]:
    """Build the loggers named in ``names`` for the sweep ``plan``.

    Args:
      names: ``"tensorboard"``, ``"wandb"``, ``"mlflow"``.
      out: the sweep's results directory, where local files go: TensorBoard logs into
        ``OUT/tensorboard``, W&B into ``OUT/wandb`` (unless ``WANDB_DIR`` is set). ``None``:
        the current directory (as W&B and MLflow do by default). MLflow logs to its own
        tracking URI (``MLFLOW_TRACKING_URI``).
      plan: the sweep's :class:`jaxlab.sweep.Plan`.
      **options: per backend, keyword arguments of its class, e.g.
        ``wandb={"project": "lr-study"}``, ``mlflow={"experiment": "lr"}``,
        ``tensorboard={"logdir": "tb"}``.

    Raises:
      ConfigError: for an unknown name or a missing package (before anything is logged).

    Example:
      >>> make_loggers(["tensorboard", "wandb"], "runs/demo", plan)   # doctest: +SKIP
    """
    names = check_names(names)
    unused = set(options) - set(names)
    if unused:
        raise ConfigError("loggers", sorted(unused), f"options for loggers not in {names}")
    made = []
    for name in names:
        module, cls = BACKENDS[name][:2]
        kwargs = dict(options.get(name, {}))
        if name == "tensorboard":
            kwargs.setdefault("logdir", os.path.join(out or ".", "tensorboard"))
        elif name == "wandb" and out is not None and not os.environ.get("WANDB_DIR"):
            kwargs.setdefault("dir", out)
        made.append(getattr(importlib.import_module(module), cls)(plan=plan, **kwargs))
    return made


# -- the sweep callback -------------------------------------------------------------------------
class SweepLogger:
    """A per-epoch sweep callback writing one run per variant through a backend's writers.

    Subclasses define :meth:`open_writer` (a :class:`jaxlab.writers.Writer` for one variant,
    opened when the variant first trains) and may define :meth:`end` (after every run is
    closed). See the module doc for what is logged.

    Args:
      plan: the sweep's :class:`jaxlab.sweep.Plan` (names runs, lists every metric).
      background: write on one worker thread (as CLU's ``AsyncWriter``), so that the
        training loop only hands each epoch's report over. Reports are handled in order; a
        worker error is raised by the next call or by :meth:`close`. ``False``: in the
        calling thread.

    Call :meth:`close` after the sweep (``jl.run`` does for the loggers it is given): it
    waits for the worker and ends runs left open by an interrupted sweep.
    """

    def __init__(self, plan, *, background: bool = True, thread_name: str = "jaxlab-logger"):
        self.name = plan.spec.name
        axes = plan.spec.axes()
        names = labels.short_names(axes)
        n = len(plan.variants)
        self.run_names = {v.index: labels.run_name(v.index, {a: v.values.get(a) for a in axes},
                                                   n_variants=n) for v in plan.variants}
        table = hparam_table([{"variant": v.index, **{names[a]: v.values.get(a) for a in axes}}
                              for v in plan.variants])
        #: variant index -> its hyperparameters (``variant`` and the swept values).
        self.hparams = {v.index: row for v, row in zip(plan.variants, table, strict=True)}
        self.metrics = labels.metric_names(plan)
        self._writers: dict[int, Writer] = {}
        self._groups: dict[int, Track] = {}
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
                      if background else None)
        self._pending: collections.deque[Future] = collections.deque()
        self._broken = False
        self._closed = False
        #: whether :meth:`close` found runs still open (the sweep was interrupted).
        self.interrupted = False

    def open_writer(self, index: int) -> Writer:
        """A writer for variant ``index``'s run (called once, when it first trains)."""
        raise NotImplementedError

    def end(self) -> None:
        """Called once by :meth:`close`, after every run is closed (a sweep-level run)."""

    def __call__(self, report) -> None:
        if self._broken:
            return  # its error was raised already
        if self._pool is None:
            try:
                self._log(report)
            except BaseException:
                self._broken = True
                raise
            return
        self._check(wait=False)
        self._pending.append(self._pool.submit(self._log, report))

    def _check(self, wait: bool) -> None:
        """Raise the worker's error, if any, from the reports it finished (``wait``: all).

        Reports finish in order, so only the oldest pending ones need a look. After an error
        the logger is broken: the reports still queued are dropped.
        """
        while self._pending and (wait or self._pending[0].done()):
            try:
                self._pending.popleft().result()
            except BaseException:
                self._broken = True
                for f in self._pending:
                    f.cancel()
                self._pending.clear()
                raise

    def _writer(self, index: int) -> Writer:
        if index not in self._writers:
            self._writers[index] = self.open_writer(index)
        return self._writers[index]

    def _log(self, report) -> None:
        rec = report.record
        if report.group not in self._groups:
            self._groups[report.group] = Track.start(report)
        track = self._groups[report.group]
        values = track.update(report)  # (V, S) float64
        tags, rows, step = track.tags, values.tolist(), report.epoch + 1
        for j in np.flatnonzero(rec["trained"]):
            self._writer(report.indices[j]).write_scalars(step, dict(zip(tags, rows[j],
                                                                         strict=True)))
        for j in np.flatnonzero(rec["trained"] & ~report.active):
            self._finish(report.group, int(j))

    def _finish(self, group: int, j: int, status: str | None = None) -> None:
        track = self._groups[group]
        index = track.indices[j]
        w = self._writers.pop(index)
        final = dict(zip(track.metrics, track.final[j].tolist(), strict=True))
        best = dict(zip(track.metrics, track.best[j].tolist(), strict=True))
        summary = {f"final/{m}": final.get(m, math.nan) for m in self.metrics}
        summary.update({f"best/{m}": best.get(m, math.nan) for m in self.metrics})
        summary["final/epochs_run"] = int(track.epochs[j])
        w.write_scalars(int(track.epochs[j]), summary)
        w.write_hparams({**self.hparams[index], "status": status or track.status[j]})
        w.close()

    def close(self) -> None:
        """Wait for the worker, then end every run still open (an interrupted sweep) with
        status ``interrupted``."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._check(wait=True)
        if self._broken:
            return
        for group, track in self._groups.items():
            for j, index in enumerate(track.indices):
                if index in self._writers:
                    self.interrupted = True
                    self._finish(group, j, "interrupted")
        self.end()


@dataclasses.dataclass
class Track:
    """One group's per-variant summary so far: ``(V, M)`` final and best values.

    Final and best are :func:`jaxlab.conventions.final_value` and
    :func:`~jaxlab.conventions.best_value` (as in ``Result.variants``), folded one epoch at a
    time: the summary so far and the new epoch are two epochs of the same reduction.
    """

    indices: list[int]
    scalars: list[str]  # the record's per-epoch scalars (S)
    tags: list[str]
    metrics: list[str]  # loss and metrics, training and validation (M)
    columns: np.ndarray  # (M,) their positions among the scalars
    maximize: np.ndarray  # (M,) bool
    final: np.ndarray  # (V, M)
    best: np.ndarray  # (V, M)
    epochs: np.ndarray  # (V,) last epoch trained, 1-based
    status: list[str]  # (V,) ok | stopped | diverged

    @classmethod
    def start(cls, report) -> Track:
        scalars = [k for k in report.record if k not in _NOT_SCALARS]
        metrics = [k for k in scalars if k not in _OPTIM]
        v, m = len(report.indices), len(metrics)
        return cls(list(report.indices), scalars, [tag(k) for k in scalars], metrics,
                   np.array([scalars.index(k) for k in metrics]),
                   np.array([conventions.maximize(k) for k in metrics], bool),
                   np.full((v, m), np.nan),
                   np.full((v, m), np.nan), np.zeros(v, np.int64), ["ok"] * v)

    def update(self, report) -> np.ndarray:
        """Fold in one epoch; returns the epoch's ``(V, S)`` scalars."""
        rec = report.record
        values = np.array([rec[k] for k in self.scalars], np.float64).T
        m = values[:, self.columns]
        ran = np.stack([np.broadcast_to((self.epochs > 0)[:, None], m.shape),
                        np.broadcast_to(rec["trained"][:, None], m.shape)])  # (2, V, M)
        self.final = conventions.final_value(np.stack([self.final, m]), ran)
        self.best = conventions.best_value(np.stack([self.best, m]), ran, self.maximize)[0]
        self.epochs[rec["trained"]] = report.epoch + 1
        for flag in ("stopped", "pruned", "diverged"):  # diverged wins: it is checked last
            if flag in rec and rec[flag].any():
                for j in np.flatnonzero(rec[flag]):
                    self.status[j] = flag
        diverged = np.array([s == "diverged" for s in self.status])[:, None]
        self.final = conventions.void_diverged(self.final, diverged)
        self.best = conventions.void_diverged(self.best, diverged)
        return values

"""Rules that several modules share, written once.

* :func:`maximize`: which direction is better for a metric ("larger is better when the name
  contains ``acc``", Keras' ``mode="auto"``); :func:`default_monitor`: the metric watched
  when none is named.
* :func:`float_dtype`: the numpy/jax float type named by ``train.dtype``.
* :data:`STATUS`: how a variant's training ended.
* :func:`swept_axes`: which columns of a result table are its swept axes.
* :func:`final_value`, :func:`best_value`: a metric's per-variant summaries over epochs, and
  :func:`summary_column`, :func:`summarized`: the ``final_``/``best_`` columns naming them;
  :func:`void_diverged`: a diverged variant has no final or best value (NaN).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: How a variant's training ended (``interrupted``: Ctrl-C or SIGTERM before the end).
STATUS = ("ok", "stopped", "diverged", "pruned", "interrupted")

DTYPES = ("float32", "float64")

#: A metric's per-variant summaries over epochs, each a ``Result.variants`` column prefix.
SUMMARIES = ("final", "best")


def maximize(metric: str, mode: str = "auto") -> bool:
    """Whether larger values of ``metric`` are better.

    Args:
      metric: a record name (``val_accuracy``, ``loss``...).
      mode: ``"min"``, ``"max"`` or ``"auto"`` (Keras: larger is better for accuracies).
    """
    if mode == "auto":
        return "acc" in metric
    return mode == "max"


def default_monitor(has_val: bool) -> str:
    """The metric watched when none is named: ``val_loss`` with validation data, else
    ``loss`` (the best epoch of a result, halving's ``auto``, the CLI's best variant)."""
    return "val_loss" if has_val else "loss"


def float_dtype(name: str, xp=np):
    """``xp.float64`` for ``"float64"``, else ``xp.float32`` (``xp``: numpy or jax.numpy)."""
    return xp.float64 if name == "float64" else xp.float32


# -- result tables ------------------------------------------------------------------------------
def swept_axes(columns: Iterable[str]) -> list[str]:
    """The swept axes among a result table's ``columns``, in table order.

    A result names each swept axis by its dotted config path (``train.learning_rate``); no
    other column has a dot.

    Example:
      >>> swept_axes(["variant", "train.learning_rate", "status", "final_loss"])
      ['train.learning_rate']
    """
    return [c for c in columns if "." in c]


def summary_column(value: str, metric: str) -> str:
    """The ``Result.variants`` column of ``metric``'s ``value`` (one of :data:`SUMMARIES`):
    ``summary_column("best", "val_loss") == "best_val_loss"``."""
    return f"{value}_{metric}"


def summarized(columns: Iterable[str], value: str = "final") -> list[str]:
    """The metrics that have a ``value`` column (``final_<metric>``...) among ``columns``."""
    prefix = summary_column(value, "")
    return [c[len(prefix):] for c in columns if c.startswith(prefix) and c != "best_epoch"]


# -- summaries over epochs ----------------------------------------------------------------------
def final_value(values, trained) -> np.ndarray:
    """Each variant's value at its last trained epoch.

    Args:
      values: ``(E, ...)`` per-epoch values (epochs first).
      trained: ``(E, ...)`` bool, or broadcastable to ``values``: whether the epoch ran.

    Returns:
      ``(...)``: the value at the last trained epoch, finite or not; NaN where no epoch was
      trained. (A result reports none for a diverged variant: :func:`void_diverged`.)
    """
    values = np.asarray(values)
    trained = np.broadcast_to(trained, values.shape)
    last = len(values) - 1 - np.argmax(trained[::-1], axis=0)
    return np.where(trained.any(0), np.take_along_axis(values, last[None], 0)[0], np.nan)


def best_value(values, trained, maximize: bool | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each variant's best finite value over its trained epochs, and that epoch.

    Args:
      values: ``(E, ...)`` per-epoch values (epochs first).
      trained: ``(E, ...)`` bool, or broadcastable to ``values``: whether the epoch ran.
      maximize: larger is better (:func:`maximize`); a bool, or one per trailing column.

    Returns:
      ``(best, epoch)``: ``(...)`` the best value, NaN where no trained epoch has a finite
      one; ``(...)`` int, the 0-based epoch of its first occurrence, ``-1`` where none.
    """
    values = np.asarray(values)
    ok = np.broadcast_to(trained, values.shape) & np.isfinite(values)
    x = values.astype(np.float64, copy=False)  # a sign flip that no integer type wraps
    score = np.where(ok, np.where(maximize, -x, x), np.inf)  # smaller is better
    epoch = np.argmin(score, axis=0)
    found = ok.any(0)
    best = np.where(found, np.take_along_axis(values, epoch[None], 0)[0], np.nan)
    return best, np.where(found, epoch, -1)


def void_diverged(summary, diverged) -> np.ndarray:
    """``summary`` (``(V,)`` final or best values) with NaN where ``diverged`` (``(V,)`` bool).

    A diverged variant keeps its last finite weights, but values measured on them (often of
    weights near overflow) or before the divergence would rank it among the ones that trained:
    its summaries are NaN and its ``status`` says ``diverged``.
    """
    summary = np.asarray(summary, np.float64)
    return np.where(np.asarray(diverged, bool), np.nan, summary)

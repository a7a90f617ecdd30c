"""Rules that several modules share, written once.

* :func:`maximize`: which direction is better for a metric ("larger is better when the name
  contains ``acc``", Keras' ``mode="auto"``).
* :func:`float_dtype`: the numpy/jax float type named by ``train.dtype``.
* :data:`STATUS`: how a variant's training ended.
"""

from __future__ import annotations

import numpy as np

#: How a variant's training ended (``interrupted``: Ctrl-C or SIGTERM before the end).
STATUS = ("ok", "stopped", "diverged", "pruned", "interrupted")

DTYPES = ("float32", "float64")


def maximize(metric: str, mode: str = "auto") -> bool:
    """Whether larger values of ``metric`` are better.

    Args:
      metric: a record name (``val_accuracy``, ``loss``...).
      mode: ``"min"``, ``"max"`` or ``"auto"`` (Keras: larger is better for accuracies).
    """
    if mode == "auto":
        return "acc" in metric
    return mode == "max"


def float_dtype(name: str, xp=np):
    """``xp.float64`` for ``"float64"``, else ``xp.float32`` (``xp``: numpy or jax.numpy)."""
    return xp.float64 if name == "float64" else xp.float32

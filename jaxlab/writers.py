"""The one small interface every metric writer implements (after CLU's ``MetricWriter``).

A writer belongs to one run (one variant): the sweep's per-epoch callback owns one writer per
variant and calls it from the host loop, once per epoch, never per step. Backends live in
their own modules (:mod:`jaxlab.tblog`, :mod:`jaxlab.log_wandb`,
:mod:`jaxlab.log_mlflow`); :class:`jaxlab.loggers.SweepLogger` is that callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

Scalars = Mapping[str, float]
HParams = Mapping[str, Any]


@runtime_checkable
class Writer(Protocol):
    """Writes one run's scalars and hyperparameters."""

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        """Write ``tag -> value`` at ``step`` (the 1-based epoch in jaxlab)."""

    def write_hparams(self, hparams: HParams) -> None:
        """Write the run's hyperparameters (``name -> number | str | bool``)."""

    def flush(self) -> None:
        """Make everything written so far visible to readers."""

    def close(self) -> None:
        """Flush and release the run's files."""

"""Weights & Biases logging of a sweep: one W&B run per variant, the sweep as their group.

Each variant's run (``wandb.init(project=..., group=<sweep name>, name=<run name>,
config=<its hyperparameters>)``) gets, at ``step`` = the 1-based epoch, the scalars of
:mod:`jaxlab.loggers` (``train/loss``, ``val/accuracy``, ``optim/lr``...; NaN and inf as
W&B stores them), then ``final/...`` and ``best/...`` at its last epoch, and ``status`` in
its summary. W&B's own settings apply: ``WANDB_MODE=offline`` logs to local files only
(``wandb sync`` uploads them later), ``WANDB_DIR``, ``WANDB_PROJECT``, ``WANDB_ENTITY``.

Every variant's run is open while the sweep trains (W&B's ``reinit="create_new"``), and
finished when the variant ends: early stopped and diverged variants finish early.

Example:
  >>> result = jl.run(spec, loggers=["wandb"])                               # doctest: +SKIP
  >>> logger = WandbLogger(jl.plan(spec), project="lr-study")                # doctest: +SKIP
  >>> result = jl.run(spec, loggers=[logger])                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

from jaxlab.loggers import SweepLogger
from jaxlab.writers import HParams, Scalars


class WandbWriter:
    """A :class:`jaxlab.writers.Writer` for one W&B run (a ``wandb.Run``)."""

    def __init__(self, run):
        self.run = run
        self._status = "ok"

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        self.run.log(dict(scalars), step=int(step))

    def write_hparams(self, hparams: HParams) -> None:
        """The status goes to the run's summary, the rest to its config."""
        hparams = dict(hparams)
        self._status = hparams.pop("status", self._status)
        self.run.config.update(hparams, allow_val_change=True)
        self.run.summary["status"] = self._status

    def flush(self) -> None:
        """W&B sends in the background; nothing to do."""

    def close(self) -> None:
        # An interrupted sweep's runs end as failed; diverged ones are results, not failures.
        self.run.finish(exit_code=1 if self._status == "interrupted" else 0)


class WandbLogger(SweepLogger):
    """Per-epoch sweep callback writing one W&B run per variant (see module doc).

    Args:
      plan: the sweep's :class:`jaxlab.sweep.Plan`.
      project: the W&B project (default: ``WANDB_PROJECT``, else ``"jaxlab"``).
      group: the runs' group (default: the sweep's name).
      dir: where W&B writes its local files (default: ``WANDB_DIR``, else the current
        directory).
      background: log on a worker thread (see :class:`jaxlab.loggers.SweepLogger`).
      **init: more ``wandb.init`` arguments (``entity``, ``tags``, ``mode``...); default
        ``settings``: no console capture, no banners.
    """

    def __init__(self, plan, *, project: str | None = None, group: str | None = None,
                 dir: str | None = None, background: bool = True, **init: Any):
        super().__init__(plan, background=background, thread_name="jaxlab-wandb")
        import wandb  # an optional dependency: pip install 'jaxlab[wandb]'

        self._wandb = wandb
        self.project = project or os.environ.get("WANDB_PROJECT") or "jaxlab"
        self.group = group or self.name
        self.dir = dir
        if dir is not None:
            os.makedirs(dir, exist_ok=True)
        # One process holds every variant's run: its console output belongs to none of them,
        # and one banner per run would bury the progress bar.
        init.setdefault("settings", wandb.Settings(console="off", silent=True))
        self.init = init

    def open_writer(self, index: int) -> WandbWriter:
        run = self._wandb.init(project=self.project, group=self.group,
                               name=self.run_names[index], config=dict(self.hparams[index]),
                               dir=self.dir, reinit="create_new", job_type="variant",
                               **self.init)
        return WandbWriter(run)

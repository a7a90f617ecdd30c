"""One progress bar per sweep (tqdm), driven by the per-epoch :class:`sweep.EpochReport`.

The bar counts epochs over every group (``n/N``), with tqdm's elapsed time and ETA, and a
postfix with the epoch, the best validation metric so far and how many variants are
running, stopped early or diverged::

  demo: 45%|████▌     | 9/20 [00:07<00:02, 4.1epoch/s, epoch 9/20 · best val_accuracy
  0.8340 (v3) · 8 running, 0 stopped, 1 diverged]

Compilation is its own phase: the description reads ``compiling`` until a group's first
epoch arrives, then a line such as ``group 1/1: 12 variants compiled in 2.3 s`` is printed.

The bar shows on a terminal and in Jupyter (through ``tqdm.auto``: a widget bar where
ipywidgets is installed, else a text bar in the cell's output); it is silent when its
stream is neither (CI, pipes) unless forced with ``enabled=True``.

Example:
  >>> bar = ProgressBar(jl.plan(spec), enabled=True)         # doctest: +SKIP
  >>> result = jl.run(spec, callbacks=[bar]); bar.close()    # doctest: +SKIP
  >>> result = jl.run(spec, progress=True)                   # the same, in one argument
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import IO

import numpy as np

from jaxlab import conventions, labels


def is_terminal(stream: IO | None) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or exotic streams
        return False


def in_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel, as ``tqdm.auto`` decides it."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it; nothing else to import
    try:
        shell = ipython.get_ipython() if ipython is not None else None
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an exotic or half-initialised shell is not a notebook
        return False


def interactive(stream: IO | None) -> bool:
    """Whether a bar on ``stream`` is seen as it moves: a terminal, or a Jupyter kernel's
    output (when ``stream`` is the kernel's ``sys.stderr``)."""
    return is_terminal(stream) or (stream is sys.stderr and in_notebook())


def _tqdm_class(own_stream: bool):
    """tqdm's bar class: ``tqdm.auto``'s (a Jupyter widget where that works) for the default
    stream, the text bar for a stream given by the caller."""
    if own_stream:
        from tqdm.std import tqdm
        return tqdm
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto warns and falls back to the text bar: the bar still
        # shows, so say it once in the docs rather than in every notebook.
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


def default_metric(names: list[str]) -> str:
    """The metric worth watching: the first validation metric, else validation loss, else
    the first training metric, else the loss (``names`` as :func:`labels.metric_names`)."""
    val = [n for n in names if n.startswith("val_")]
    pool = val or names
    return pool[1] if len(pool) > 1 else pool[0]


class ProgressBar:
    """Per-epoch sweep callback drawing one tqdm bar (see the module docstring).

    Args:
      plan: the sweep's :class:`jaxlab.sweep.Plan`.
      metric: the metric whose best value is shown (default :func:`default_metric`);
        its direction is :func:`jaxlab.conventions.maximize`'s.
      enabled: ``None``: only when ``file`` is a terminal, or in Jupyter (see
        :func:`interactive`).
      file: the stream (default ``sys.stderr``, through ``tqdm.auto``: a widget in
        Jupyter where ipywidgets is installed).
    """

    def __init__(self, plan, *, metric: str | None = None, enabled: bool | None = None,
                 file: IO | None = None):
        tqdm = _tqdm_class(own_stream=file is not None)
        file = sys.stderr if file is None else file
        self.enabled = interactive(file) if enabled is None else bool(enabled)
        self.epochs = [max(v.train.epochs for v in g.variants) for g in plan.groups]
        self.sizes = [len(g.variants) for g in plan.groups]
        self.metric = metric or default_metric(labels.metric_names(plan))
        self.maximize = conventions.maximize(self.metric)
        self.best, self.best_variant = math.nan, -1
        self.status: dict[int, str] = {}
        self.lines: list[str] = []  # the phase lines printed, e.g. "... compiled in 2.3 s"
        self._bar = tqdm(total=sum(self.epochs), unit="epoch", file=file,
                         disable=not self.enabled, dynamic_ncols=True,
                         desc=self._compiling(0))

    def _compiling(self, group: int) -> str:
        where = f" group {group + 1}/{len(self.epochs)}" if len(self.epochs) > 1 else ""
        return f"compiling{where}"

    def __call__(self, report) -> None:
        if not self.enabled:
            return
        g, n_groups = report.group, len(self.epochs)
        if report.epoch == 0:
            line = (f"group {g + 1}/{n_groups}: {self.sizes[g]} variant"
                    f"{'s' * (self.sizes[g] != 1)} compiled in {report.compile_seconds:.1f} s")
            self.lines.append(line)
            self._bar.write(line, file=self._bar.fp)
            self._bar.set_description_str("training", refresh=False)
        self._update_counts(report)
        self._update_best(report)
        where = f"group {g + 1}/{n_groups} · " if n_groups > 1 else ""
        best = ("" if self.best_variant < 0 else
                f" · best {self.metric} {self.best:.4g} (v{self.best_variant})")
        counts = {s: sum(1 for v in self.status.values() if v == s)
                  for s in ("running", "stopped", "diverged")}
        self._bar.set_postfix_str(
            f"{where}epoch {report.epoch + 1}/{report.epochs}{best} · "
            f"{counts['running']} running, {counts['stopped']} stopped, "
            f"{counts['diverged']} diverged", refresh=False)
        done = report.epoch + 1 >= report.epochs or not report.active.any()
        # A group whose variants all stopped early skips its remaining epochs.
        self._bar.update(report.epochs - report.epoch if done else 1)
        if done and g + 1 < n_groups:
            self._bar.set_description_str(self._compiling(g + 1))

    def _update_counts(self, report) -> None:
        rec = report.record
        for j, index in enumerate(report.indices):
            before = self.status.get(index)
            if report.diverged[j] or rec["diverged"][j] or before == "diverged":
                self.status[index] = "diverged"
            elif rec["stopped"][j] or before == "stopped":
                self.status[index] = "stopped"
            else:
                self.status[index] = "running" if report.active[j] else "done"

    def _update_best(self, report) -> None:
        values = report.record.get(self.metric)
        if values is None:
            return
        values = np.where(report.record["trained"], np.asarray(values, np.float64), np.nan)
        if not np.isfinite(values).any():
            return
        j = int(np.nanargmax(values) if self.maximize else np.nanargmin(values))
        v = float(values[j])
        if math.isnan(self.best) or (v > self.best if self.maximize else v < self.best):
            self.best, self.best_variant = v, report.indices[j]

    def close(self) -> None:
        self._bar.close()

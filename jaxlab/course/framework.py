"""What a course experiment is and how it runs: :class:`Experiment`, :class:`Context`, :func:`run`.

A study is a module of :mod:`jaxlab.course` that defines
``EXPERIMENT = Experiment(name, title, course, run)``; ``run(ctx)`` builds its sweeps, trains
them through the :class:`Context`, draws the course's figures and returns
:class:`Findings`: the course's claim, whether this run shows it, and the numbers measured.
:func:`run` gives it a fresh directory and writes (see :mod:`jaxlab.course.report`)::

  OUT/NAME/findings.md        claim, verdict, numbers, figures, runs (compiles, seconds)
  OUT/NAME/findings.json      the same, machine-readable
  OUT/NAME/*.png              the figures the course shows
  OUT/NAME/results/SWEEP/     every sweep's results directory (``Result.save``)
  OUT/NAME/tensorboard/SWEEP/ one TensorBoard run per variant

Every experiment is reproducible: its data generators, seeds (a ``seed`` axis: repeats are
variants of one program, never a loop of runs) and settings are fixed in its module, and
``findings.md`` records the command line, the overrides and the library versions.

``quick`` runs a small version (tests), ``overrides`` (``jaxlab run --set key=value``) apply
to every sweep of the experiment the way ``jaxlab sweep --set`` does (``train.epochs=5``,
``sweep.grid.seed=[0,1]``, ``data.name=digits``), ``data_dir`` points MNIST at its files.
The helpers at the end (:func:`by_axis`, :func:`panels`...) are what the studies share.

Example:
  >>> from jaxlab import course
  >>> outcome = run(course.EXPERIMENTS["capacity-nodes"],
  ...               Options(quick=True, out="/tmp/runs"))                # doctest: +SKIP
  >>> outcome.findings.holds, outcome.findings.numbers["loss_at_1"]    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jaxlab.atomic import atomic_write_text
from jaxlab.course import report
from jaxlab.errors import ConfigError, check

if TYPE_CHECKING:  # the heavy modules (JAX, matplotlib) load when a study runs, not on list
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from jaxlab import data as data_lib
    from jaxlab.config import Sweep
    from jaxlab.results import Result


# -- what an experiment is ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Options:
    """How to run an experiment.

    Attributes:
      quick: the small version (seconds; what the tests run).
      overrides: ``key=value`` strings applied to every sweep (see :meth:`Context.configure`).
      out: the parent directory; the experiment writes ``out/NAME``.
      data_dir: where offline MNIST files live (``data.data_dir`` of every sweep).
      tensorboard: write TensorBoard logs.
      progress: progress bars (``None``: only on a terminal).
      compilation_cache: use JAX's persistent compilation cache (process-wide; see
        :func:`jaxlab.sweep.enable_compilation_cache`). ``jaxlab run`` turns it on.
    """

    quick: bool = False
    overrides: tuple[str, ...] = ()
    out: str = "runs"
    data_dir: str | None = None
    tensorboard: bool = True
    progress: bool | None = None
    compilation_cache: bool = False


@dataclasses.dataclass(frozen=True)
class Findings:
    """What an experiment measured.

    Attributes:
      claim: what the course says, in one sentence.
      holds: whether this run's numbers show it.
      summary: one line with the measured numbers (the README catalogue line).
      numbers: named measurements (plain floats), e.g. ``{"loss_at_1": 2.77}``.
      tables: titled tables printed into ``findings.md``.
      figures: file names of the figures written (in the experiment's directory).
    """

    claim: str
    holds: bool
    summary: str
    numbers: Mapping[str, float]
    tables: Mapping[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    figures: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One course experiment.

    Attributes:
      name: the ``jaxlab run`` name, e.g. ``capacity-nodes``.
      title: one line for ``jaxlab list``.
      course: where the course teaches it (chapter or lesson).
      run: ``run(ctx) -> Findings``.
    """

    name: str
    title: str
    course: str
    run: Callable[[Context], Findings]


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One sweep trained by an experiment: its size, compiles and time."""

    name: str
    variants: int
    groups: int
    programs: int  # compiled programs: groups differing only in their data share one
    compile_s: float
    train_s: float
    wall_s: float
    result: Result = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass
class Context:
    """What an experiment's ``run`` works through: settings, output directory, a runner.

    ``runs`` lists the sweeps trained so far (in order); nothing else changes.
    """

    name: str
    out: str
    options: Options
    runs: list[RunInfo] = dataclasses.field(default_factory=list)

    @property
    def quick(self) -> bool:
        return self.options.quick

    def configure(self, spec: Sweep) -> Sweep:
        """``spec`` with the ``--set`` overrides and ``--data-dir`` applied."""
        overrides = list(self.options.overrides)
        if self.options.data_dir is not None:
            overrides.append(f"data.data_dir={json.dumps(self.options.data_dir)}")
        if not overrides:
            return spec
        from jaxlab.config import Sweep, apply_overrides

        return Sweep.from_dict(apply_overrides(spec.to_dict(), overrides))

    def run(self, spec: Sweep, *, init_params: Any = None,
            dataset: data_lib.Dataset | None = None) -> Result:
        """Train ``spec`` as given; save ``results/<spec.name>``, log ``tensorboard/<name>``.

        This is a :class:`jaxlab.recipes.Runner`.
        """
        check(all(r.name != spec.name for r in self.runs), "sweep name", spec.name,
              "already used in this experiment")
        t0 = time.perf_counter()
        from jaxlab import api

        plan = api.plan(spec, dataset=dataset)
        tb = (os.path.join(self.out, "tensorboard", spec.name) if self.options.tensorboard
              else None)
        result = api.run(spec, init_params=init_params, dataset=dataset, tensorboard=tb,
                         progress=self.options.progress,
                         compilation_cache=self.options.compilation_cache)
        result.save(os.path.join(self.out, "results", spec.name))
        self.runs.append(RunInfo(
            name=spec.name, variants=len(result), groups=len(plan.groups),
            # Groups that differ only in their data (same program, same number of
            # variants) reuse one compiled program.
            programs=len({(g.program, len(g.variants)) for g in plan.groups}),
            compile_s=sum(t["compile_s"] for t in result.timing),
            train_s=sum(t["train_s"] for t in result.timing),
            wall_s=time.perf_counter() - t0, result=result))
        return result

    def sweep(self, spec: Sweep) -> Result:
        """``run(configure(spec))``: a plain sweep with the user's overrides."""
        return self.run(self.configure(spec))

    def figure(self, fig: Figure, name: str) -> str:
        """Save ``fig`` as ``name`` (e.g. ``loss.png``) in the experiment's directory."""
        from jaxlab import plotting

        return os.path.basename(plotting.save(fig, os.path.join(self.out, name)))

    def table(self, frame: pd.DataFrame, name: str) -> str:
        """Save ``frame`` as CSV ``name`` in the experiment's directory."""
        path = os.path.join(self.out, name)
        atomic_write_text(path, frame.to_csv(index=False))
        return name


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What :func:`run_experiment` returns: the findings, the sweeps run, where and how long."""

    experiment: Experiment
    findings: Findings
    runs: tuple[RunInfo, ...]
    out: str
    wall_s: float
    options: Options = Options()

    @property
    def command(self) -> str:
        """The command line that reruns this experiment."""
        o = self.options
        parts = ["jaxlab", "run", self.experiment.name] + ["--quick"] * o.quick
        for item in o.overrides:
            parts += ["--set", item]
        if o.data_dir is not None:
            parts += ["--data-dir", o.data_dir]
        return " ".join(shlex.quote(p) for p in parts)

    @property
    def programs(self) -> int:
        return sum(r.programs for r in self.runs)

    def result(self, name: str) -> Result:
        """The result of the sweep named ``name``."""
        for r in self.runs:
            if r.name == name:
                return r.result
        raise ConfigError("sweep name", name, f"not run; have {[r.name for r in self.runs]}")


# -- running one --------------------------------------------------------------------------------
def run(experiment: Experiment, options: Options = Options()) -> Outcome:
    """Run ``experiment`` and write its directory ``options.out/NAME``.

    Args:
      experiment: the experiment (``jaxlab.course.EXPERIMENTS[name]``; by name:
        :func:`jaxlab.course.run_experiment`).
      options: quick, overrides, output, data directory, compilation cache.

    Returns:
      The :class:`Outcome`; ``findings.md`` and ``findings.json`` are written.
    """
    out = os.path.join(options.out, experiment.name)
    os.makedirs(out, exist_ok=True)
    ctx = Context(experiment.name, out, options)
    t0 = time.perf_counter()
    try:
        findings = experiment.run(ctx)
    except ConfigError as e:
        if e.field != "data.name" or e.value not in ("mnist", "fashion_mnist"):
            raise
        raise ConfigError(e.field, e.value, f"{e.reason} Offline now: jaxlab run {experiment.name} "
                          "--set data.name=digits") from e
    outcome = Outcome(experiment, findings, tuple(ctx.runs), out, time.perf_counter() - t0, options)
    report.write_findings(outcome)
    return outcome


# -- helpers the experiments share --------------------------------------------------------------
def by_axis(result: Result, column: str, axis: str, *, where: Mapping[str, Any] | None = None,
            stat: str = "mean") -> pd.Series:
    """``result.variants[column]`` aggregated over repeats: one value per value of ``axis``.

    Args:
      result: a sweep result.
      column: a ``variants`` column (``final_loss``, ``best_val_accuracy``...).
      axis: a swept axis, dotted or short (``width``).
      where: only variants with these axis values (dotted or short names).
      stat: ``mean``, ``std``, ``min``, ``max`` or ``median`` over the repeats.
    """
    rows = _select(result.variants, result, where)
    axis = _axis(result, axis)
    return rows.groupby(axis, sort=True)[column].agg(stat)


def at_epoch(result: Result, metric: str, epoch: int, axis: str, *,
             where: Mapping[str, Any] | None = None, stat: str = "mean") -> pd.Series:
    """``metric`` at ``epoch`` (1-based; a variant's last epoch if it stopped earlier),
    aggregated over repeats per value of ``axis``."""
    h = result.history
    last = h[h.epoch <= epoch].sort_values("epoch").groupby("variant").tail(1)
    rows = _select(last, result, where)
    return rows.groupby(_axis(result, axis), sort=True)[metric].agg(stat)


def curve_mean(result: Result, metric: str, axis: str, *,
               where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Mean learning curve over repeats: epochs (rows) x values of ``axis`` (columns)."""
    rows = _select(result.history, result, where)
    return rows.pivot_table(index="epoch", columns=_axis(result, axis), values=metric,
                            aggfunc="mean")


def _axis(result: Result, axis: str) -> str:
    from jaxlab import labels

    return labels.resolve_axis(axis, [c for c in result.variants.columns if "." in c])


def _select(frame: pd.DataFrame, result: Result, where: Mapping[str, Any] | None):
    for key, value in (where or {}).items():
        frame = frame[frame[_axis(result, key)] == value]
    return frame


def roughness(result: Result, metric: str, *, start: int = 0) -> pd.Series:
    """Per variant: how noisy the learning curve of ``metric`` is after epoch ``start``.

    The mean absolute second difference ``|m[t+1] - 2 m[t] + m[t-1]| / 2``: zero for a
    straight (rising or falling) curve, about the step-to-step jitter otherwise.
    """
    h = result.history[result.history.epoch > start].sort_values(["variant", "epoch"])

    def jitter(s: pd.Series) -> float:
        return float(np.mean(np.abs(np.diff(s.to_numpy(np.float64), 2))) / 2) if len(s) > 2 \
            else float("nan")

    return h.groupby("variant")[metric].apply(jitter)


def panels(frames: Mapping[str, pd.DataFrame], *, xlabel: str = "epoch", ylabel: str = "",
           logx: bool = False, logy: bool = False, ncols: int = 4, title: str | None = None,
           styles: Mapping[str, str] | None = None,
           panel_size: tuple[float, float] = (3.4, 2.6), sharey: bool = True) -> Figure:
    """One panel per entry of ``frames``; each frame's columns are its lines (x = index).

    Example:
      >>> fig = panels({"batch=4": pd.DataFrame({"train": [0.5, 0.8], "test": [0.4, 0.7]})})
    """
    n = len(frames)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axs = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    for ax in axs[n:]:
        fig.delaxes(ax)
    for ax, (name, frame) in zip(axs, frames.items(), strict=False):
        for col in frame.columns:
            ax.plot(frame.index, frame[col], (styles or {}).get(str(col), "-"), label=str(col))
        ax.set_title(name, fontsize="medium")
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(frame.columns) > 1:
            ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def bars(values: pd.DataFrame, *, ylabel: str, xlabel: str | None = None,
         title: str | None = None, logy: bool = False,
         figsize: tuple[float, float] = (6.0, 3.8), ax: Axes | None = None) -> Figure:
    """Grouped bars: rows of ``values`` on x, one bar per column, with error bars.

    A column ``c`` may come with ``c_low`` and ``c_high`` columns: the ends of its 95%
    confidence interval over seeds (``stats.by_axis``'s ``low``/``high``), drawn as error
    bars; ``c_std`` columns (± one standard deviation) are still read. ``xlabel`` defaults to
    the index's name.

    Example:
      >>> e = by_axis(result, "final_val_accuracy", "lr")[["mean", "low", "high"]]  # doctest: +SKIP
      >>> fig = bars(e.rename(columns={"low": "mean_low", "high": "mean_high"}),  # doctest: +SKIP
      ...            ylabel="final validation accuracy")
    """
    from jaxlab.plot_style import grouped_bars, new_figure

    extra = ("_std", "_low", "_high")
    cols = [c for c in values.columns if not str(c).endswith(extra)]
    series = {}
    for c in cols:
        mean = values[c].to_numpy(np.float64)
        if f"{c}_low" in values and f"{c}_high" in values:
            low, high = values[f"{c}_low"].to_numpy(np.float64), values[f"{c}_high"].to_numpy(
                np.float64)
        elif f"{c}_std" in values:
            sd = values[f"{c}_std"].to_numpy(np.float64)
            low, high = mean - sd, mean + sd
        else:
            low = high = None
        series[str(c)] = (mean, low, high)
    fig, ax = new_figure(ax, figsize)
    grouped_bars(ax, [str(i) for i in values.index], series, ylabel=ylabel,
                 xlabel=xlabel if xlabel is not None else str(values.index.name or ""))
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def number(x: Any) -> float:
    """A plain float (for :attr:`Findings.numbers`)."""
    return float(np.asarray(x).item())

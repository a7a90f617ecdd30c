"""Plots of sweep results: learning curves, sensitivity curves, heatmaps, comparisons.

Every function takes a :class:`jaxlab.results.Result` (or anything with its ``history`` and
``variants`` DataFrames, e.g. ``Result.load(dir)``) and returns a
:class:`matplotlib.figure.Figure`. Figures are built without ``pyplot``: no global figure
registry, no backend or display needed (headless-safe), nothing is shown. In Jupyter, a
returned figure displays inline once the inline backend is active (``%matplotlib inline`` or
``import matplotlib.pyplot``); :func:`save` writes PNG, SVG or PDF atomically.

* :func:`curves`: a metric against epochs, optimizer updates or examples seen, one line per
  variant; ``facet=`` makes one panel per value of an axis, ``color=`` colours lines by
  another (legend naming the values); ``aggregate=`` (e.g. seeds) draws a mean line and a
  band (std or min-max) per group of repeats.
* :func:`sensitivity`: the final (or best) metric against one hyperparameter (log x for
  learning rates).
* :func:`heatmap`: the final (or best) metric over two axes.
* :func:`compare`: several results, or chosen variants, on one figure.

Diverged variants end in an ``x`` where and when they diverged (at their last epoch, at
their last finite value); early-stopped ones end in a hollow circle. A few diverging losses
do not flatten the others: the y range follows the variants that did not diverge.

Example:
  >>> result = jl.run(spec)                                             # doctest: +SKIP
  >>> fig = curves(result, "val_accuracy", facet="batch_size",          # doctest: +SKIP
  ...              color="learning_rate", x="examples")
  >>> save(fig, "plots/curves.png")                                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from jaxlab import conventions, labels
from jaxlab.errors import ConfigError
from jaxlab.results import atomic_open

X_AXES = {"epoch": "epoch", "updates": "optimizer updates", "examples": "examples seen"}
BANDS = ("std", "minmax", "none")
VALUES = conventions.SUMMARIES
FORMATS = ("png", "svg", "pdf")
_NOT_METRICS = {"variant", "epoch", "updates", "examples"}
_STYLES = ("-", "--", ":", "-.")
_MAX_LEGEND = 12


# -- reading a result ---------------------------------------------------------------------------
def axes_of(result) -> list[str]:
    """The swept axes of ``result`` (dotted names, e.g. ``train.learning_rate``)."""
    return conventions.swept_axes(result.variants.columns)


def metrics_of(result) -> list[str]:
    """Plottable per-epoch columns of ``result.history`` (loss, metrics, lr, grad_norm...)."""
    axes = set(axes_of(result))
    return [c for c in result.history.columns if c not in _NOT_METRICS and c not in axes]


def check_metric(result, metric: str) -> str:
    """``metric`` if ``result.history`` has it, else :class:`ConfigError` listing the choices."""
    have = metrics_of(result)
    if metric not in have:
        raise ConfigError("metric", metric, f"not in the results; expected one of {have}")
    return metric


def _check(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ConfigError(name, value, f"expected one of {list(allowed)}")
    return value


def _distinct(**roles: str | None) -> None:
    """Refuse one axis in two roles (e.g. colour by the axis that is averaged away)."""
    seen: dict[str, str] = {}
    for role, axis in roles.items():
        if axis is None:
            continue
        if axis in seen:
            raise ConfigError(role, axis, f"is already the {seen[axis]} axis; pick another")
        seen[axis] = role


def _clean(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _order(v: Any) -> tuple:
    """Sort key for axis values of mixed kinds: numbers, then strings, then ``None``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v, "")
    return (1, 0, str(v)) if v is not None else (2, 0, "")


def _uniques(values) -> list:
    return sorted({_clean(v) for v in values}, key=_order)


def _summary(result) -> dict[int, dict]:
    """variant -> {"values": axis -> value, "status", "stop_epoch"}."""
    axes = axes_of(result)
    out = {}
    for row in result.variants.to_dict("records"):
        out[int(row["variant"])] = {
            "values": {a: _clean(row[a]) for a in axes},
            "status": row.get("status", "ok"),
        }
    return out


def _curve(history: pd.DataFrame, variant: int, metric: str, x: str):
    h = history[history.variant == variant].sort_values("epoch")
    return h[x].to_numpy(np.float64), h[metric].to_numpy(np.float64), h.epoch.to_numpy()


# -- figure helpers -----------------------------------------------------------------------------
def _grid(n: int, ncols: int | None, panel: tuple[float, float], extra_w: float = 0.0,
          figsize: tuple[float, float] | None = None, sharey: bool = True):
    ncols = max(1, min(n, ncols or 4))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=figsize or (panel[0] * ncols + extra_w, panel[1] * nrows),
                 layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=sharey)
    axs = list(grid.ravel())
    for ax in axs[n:]:
        fig.delaxes(ax)
    return fig, axs[:n]


def _colors(values: Sequence, cmap: str = "viridis") -> dict:
    """value -> colour: a sequential map for numbers, a qualitative one otherwise."""
    values = list(values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 1:
        cm = mpl.colormaps[cmap]
        # Stop short of viridis' pale yellow end, which vanishes on white.
        return {v: cm(0.9 * i / (len(values) - 1)) for i, v in enumerate(values)}
    cm = mpl.colormaps["tab10" if len(values) <= 10 else "tab20"]
    return {v: cm(i % cm.N) for i, v in enumerate(values)}


def _cycle(n: int) -> list:
    cm = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return [cm(i % cm.N) for i in range(n)]


class _Marks:
    """Diverged / early-stopped end points, placed once the y range is known."""

    def __init__(self):
        self.points: list[tuple[Axes, str, float, float, Any]] = []

    def add(self, ax: Axes, status: str, x: np.ndarray, y: np.ndarray, color) -> None:
        if status not in ("diverged", "stopped") or len(x) == 0:
            return
        finite = np.isfinite(y)
        last_y = float(y[finite][-1]) if finite.any() else math.nan
        self.points.append((ax, status, float(x[-1]), last_y, color))

    def draw(self, ylim: tuple[float, float] | None) -> set[str]:
        kinds = set()
        for ax, status, x, y, color in self.points:
            lo, hi = ylim if ylim is not None else ax.get_ylim()
            if math.isnan(y):  # nothing finite: pin the mark to the top edge of the panel
                trans, y = blended_transform_factory(ax.transData, ax.transAxes), 0.97
            else:
                trans, y = ax.transData, min(max(y, lo), hi)
            if status == "diverged":
                sc = ax.scatter([x], [y], marker="x", s=60, linewidths=2, color="red",
                                transform=trans, zorder=5)
            else:
                sc = ax.scatter([x], [y], marker="o", s=40, facecolors="none",
                                edgecolors=[color], linewidths=1.5, transform=trans, zorder=5)
            sc.set_gid(status)
            kinds.add(status)
        return kinds


def _mark_handles(kinds: set[str]) -> list[Line2D]:
    handles = []
    if "diverged" in kinds:
        handles.append(Line2D([], [], marker="x", color="red", linestyle="none",
                              markersize=7, markeredgewidth=2, label="diverged"))
    if "stopped" in kinds:
        handles.append(Line2D([], [], marker="o", color="gray", markerfacecolor="none",
                              linestyle="none", label="stopped early"))
    return handles


def _robust_ylim(ok: list[np.ndarray], every: list[np.ndarray], logy: bool):
    """A y range that keeps exploding curves from flattening the others, or ``None``.

    The range fits the curves in ``ok`` (those that did not diverge) minus outliers: curves
    whose median lies more than 10 median absolute deviations from the median of all
    medians (a loss that blew up without turning into NaN). ``None`` when every value of
    ``every`` already fits.
    """
    def finite(v):
        v = v[np.isfinite(v)]
        return v[v > 0] if logy else v

    ok = [f for f in map(finite, ok) if f.size]
    all_v = np.concatenate([finite(v) for v in every]) if every else np.zeros(0)
    if not ok or all_v.size == 0:
        return None
    medians = np.array([np.median(v) for v in ok])
    if len(ok) >= 3:
        center = np.median(medians)
        mad = np.median(np.abs(medians - center))
        keep = np.abs(medians - center) <= 10 * mad + 1e-12 * abs(center)
        ok = [v for v, k in zip(ok, keep, strict=True) if k] or ok
    ok_v = np.concatenate(ok)
    lo, hi = float(ok_v.min()), float(ok_v.max())
    if all_v.min() >= lo and all_v.max() <= hi:
        return None
    if logy:
        return lo / 1.5, hi * 1.5
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
    return lo - pad, hi + pad


def _x_scale(ax: Axes, x: str, logx: bool | None) -> None:
    if logx or (logx is None and x == "updates"):
        ax.set_xscale("log")
    elif x != "epoch":  # counts in the thousands: "12k", not overlapping "12000"
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def _legend(fig: Figure, axs: Sequence[Axes], handles: list, title: str | None = None) -> None:
    if not handles:
        return
    if len(axs) == 1:
        axs[0].legend(handles=handles, title=title, fontsize="small", title_fontsize="small")
    else:
        fig.legend(handles=handles, title=title, loc="outside right upper", fontsize="small",
                   title_fontsize="small")


# -- learning curves ----------------------------------------------------------------------------
def curves(
    result,
    metric: str = "val_accuracy",
    *,
    facet: str | None = None,
    color: str | None = None,
    x: str = "epoch",
    aggregate: str | None = None,
    band: str = "std",
    variants: Sequence[int] | None = None,
    logx: bool | None = None,
    logy: bool = False,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (3.6, 2.8),
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Learning curves of ``metric``, one line per variant (or per group of repeats).

    Args:
      result: a sweep result.
      metric: a ``history`` column (``loss``, ``val_accuracy``, ``lr``, ``grad_norm``...).
      facet: an axis (short names allowed, e.g. ``batch_size``): one panel per value, in
        a grid of ``ncols`` columns (default up to 4), sharing the y axis.
      color: an axis: lines coloured by its value, with a legend naming the values. Other
        swept axes (neither facet, colour nor aggregate) get line styles.
      x: ``epoch``, ``updates`` (optimizer updates) or ``examples`` (examples seen).
      aggregate: an axis whose values are repeats (``train.seed``): one mean line per group
        of variants equal in every other axis, with a ``band``.
      band: ``std`` (mean ± one standard deviation), ``minmax`` or ``none``.
      variants: only these variant indices (default: all).
      logx: log x axis; ``None``: only for ``x="updates"`` (batch sizes differ by orders of
        magnitude in their update counts).
      logy: log y axis (losses).
      panel_size: inches per panel ``(width, height)``; ``figsize`` overrides the total.

    Returns:
      The figure: one Axes per facet value (one without ``facet``); ``ax.lines`` holds
      exactly one line per variant (or per aggregated group).
    """
    check_metric(result, metric)
    _check("x", x, X_AXES)
    _check("band", band, BANDS)
    axes = axes_of(result)
    facet = labels.resolve_axis(facet, axes, field="facet") if facet else None
    color = labels.resolve_axis(color, axes, field="color") if color else None
    aggregate = labels.resolve_axis(aggregate, axes, field="aggregate") if aggregate else None
    _distinct(facet=facet, aggregate=aggregate, color=color)
    info = _summary(result)
    chosen = list(info) if variants is None else [int(v) for v in variants]
    for v in chosen:
        if v not in info:
            raise ConfigError("variants", v, f"no such variant; have 0..{len(info) - 1}")
    history = result.history
    names = labels.short_names(axes)

    panels = _uniques(info[v]["values"][facet] for v in chosen) if facet else [None]
    colors = _colors(_uniques(info[v]["values"][color] for v in chosen)) if color else {}
    rest = [a for a in axes if a not in (facet, color, aggregate)]
    styles = {}
    if color:
        combos = _uniques(tuple(info[v]["values"][a] for a in rest) for v in chosen)
        styles = {c: _STYLES[i % len(_STYLES)] for i, c in enumerate(combos)}

    fig, axs = _grid(len(panels), ncols, panel_size, extra_w=2.2 if color else 0.0,
                     figsize=figsize)
    marks = _Marks()
    ok_vals, all_vals = [], []
    line_handles: dict[str, Line2D] = {}
    for ax, pv in zip(axs, panels, strict=True):
        members = [v for v in chosen if not facet or info[v]["values"][facet] == pv]
        groups: dict[tuple, list[int]] = {}
        for v in members:
            key = tuple(info[v]["values"][a] for a in axes if a not in (facet, aggregate))
            groups.setdefault(key, []).append(v)
        keys = sorted(groups, key=lambda k: tuple(_order(x) for x in k))
        cycle = _cycle(len(keys))
        for i, key in enumerate(keys):
            vs = groups[key]
            vals = info[vs[0]]["values"]
            c = colors[vals[color]] if color else cycle[i]
            style = styles.get(tuple(vals[a] for a in rest), "-") if color else "-"
            label = labels.describe({a: vals[a] for a in axes if a not in (facet, aggregate)})
            if aggregate:
                xs, mean, lo, hi = _aggregate(history, vs, metric, x, band)
                ax.plot(xs, mean, color=c, linestyle=style, label=label or "mean")
                if lo is not None:
                    ax.fill_between(xs, lo, hi, color=c, alpha=0.2, linewidth=0)
                    all_vals += [lo, hi]
                all_vals.append(mean)
                if not any(info[v]["status"] == "diverged" for v in vs):
                    ok_vals += [mean] + ([lo, hi] if lo is not None else [])
            for v in vs:
                xs_v, ys_v, _ = _curve(history, v, metric, x)
                if not aggregate:
                    ax.plot(xs_v, ys_v, color=c, linestyle=style, linewidth=1.3,
                            label=label or f"v{v}")
                    all_vals.append(ys_v)
                    if info[v]["status"] != "diverged":
                        ok_vals.append(ys_v)
                marks.add(ax, info[v]["status"], xs_v, ys_v, c)
        if facet:
            ax.set_title(f"{names[facet]}={labels.value(pv)}", fontsize="medium")
        _x_scale(ax, x, logx)
        if logy:
            ax.set_yscale("log")
        if not color and len(keys) <= _MAX_LEGEND and (len(keys) > 1 or aggregate):
            ax.legend(fontsize="x-small")

    for ax in axs:
        if ax.get_subplotspec().is_last_row():
            ax.set_xlabel(X_AXES[x])
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(metric)
    ylim = _robust_ylim(ok_vals, all_vals, logy)
    if ylim is not None:
        axs[0].set_ylim(*ylim)  # shared by every panel
    kinds = marks.draw(ylim)
    if color:
        for val, c in colors.items():
            name = f"{names[color]}={labels.value(val)}"
            line_handles[name] = Line2D([], [], color=c, label=name)
        if rest and 1 < len(styles) <= len(_STYLES):
            for combo, style in styles.items():
                name = labels.describe(dict(zip(rest, combo, strict=True)))
                line_handles[name] = Line2D([], [], color="gray", linestyle=style, label=name)
        _legend(fig, axs, [*line_handles.values(), *_mark_handles(kinds)])
    elif kinds and len(axs) == 1:  # add the marks to the panel's own legend, if any
        handles = axs[0].get_legend_handles_labels()[0] if axs[0].get_legend() else []
        axs[0].legend(handles=[*handles, *_mark_handles(kinds)], fontsize="x-small")
    elif kinds:
        _legend(fig, axs, _mark_handles(kinds))
    if title is None and aggregate:
        spread = {"std": " ± std", "minmax": ", min-max", "none": ""}[band]
        title = f"{metric} (mean{spread} over {names[aggregate]})"
    fig.suptitle(title or metric, fontsize="medium")
    return fig


def _aggregate(history: pd.DataFrame, vs: list[int], metric: str, x: str, band: str):
    """Mean over the repeats ``vs`` per epoch (``NaN``-aware), and the band's edges."""
    h = history[history.variant.isin(vs)]
    arr = h.pivot(index="epoch", columns="variant", values=metric).to_numpy(np.float64)
    xs = (h.epoch.drop_duplicates().sort_values().to_numpy(np.float64)[:, None] if x == "epoch"
          else h.pivot(index="epoch", columns="variant", values=x).to_numpy(np.float64))
    with _quiet():
        mean = np.nanmean(arr, axis=1)
        if band == "std":
            sd = np.nanstd(arr, axis=1)
            lo, hi = mean - sd, mean + sd
        elif band == "minmax":
            lo, hi = np.nanmin(arr, axis=1), np.nanmax(arr, axis=1)
        else:
            lo = hi = None
        xm = np.nanmean(xs, axis=1)
    return xm, mean, lo, hi


@contextlib.contextmanager
def _quiet():
    """Silence NumPy's all-NaN warnings (an epoch where every repeat diverged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- final metric against hyperparameters -------------------------------------------------------
def _summary_column(result, metric: str, value: str) -> str:
    _check("value", value, VALUES)
    col = conventions.summary_column(value, metric)
    if col not in result.variants:
        have = conventions.summarized(result.variants.columns, value)
        raise ConfigError("metric", metric, f"no {value} value in the results; expected one "
                                            f"of {have}")
    return col


def _default_axis(axes: list[str], prefer: str) -> str:
    if not axes:
        raise ConfigError("axis", None, "the result has no swept axes")
    hits = [a for a in axes if a.endswith("." + prefer)]
    return hits[0] if hits else axes[0]


def _log_axis(values: list, logx: bool | None, axis: str) -> bool:
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if logx is not None:
        return logx
    if not numeric or not values or min(values) <= 0:
        return False
    return axis.endswith("learning_rate") or max(values) / min(values) >= 10


def sensitivity(
    result,
    metric: str = "val_accuracy",
    *,
    axis: str | None = None,
    value: str = "final",
    color: str | None = None,
    aggregate: str | None = None,
    band: str = "std",
    logx: bool | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5.5, 3.8),
) -> Figure:
    """The final (or best) ``metric`` of each variant against one hyperparameter.

    One line per combination of the other axes (coloured by ``color``'s value when given);
    with ``aggregate``, the mean over that axis with a band. Diverged variants are marked
    ``x`` (at the top edge when their value is not finite).

    Args:
      result: a sweep result.
      metric: a metric with ``final_``/``best_`` columns in ``result.variants``.
      axis: the hyperparameter on x (default: the learning rate if swept, else the first
        axis); numbers on a linear or log scale, other values as categories.
      value: ``final`` or ``best``.
      logx: ``None``: log for learning rates and positive ranges spanning 10x or more.
      ax: draw into this Axes instead of a new figure.

    Returns:
      The figure; its (first) Axes holds one line per group.
    """
    col = _summary_column(result, metric, value)
    _check("band", band, BANDS)
    axes = axes_of(result)
    axis = (labels.resolve_axis(axis, axes) if axis
            else _default_axis(axes, "learning_rate"))
    color = labels.resolve_axis(color, axes, field="color") if color else None
    aggregate = labels.resolve_axis(aggregate, axes, field="aggregate") if aggregate else None
    _distinct(x=axis, aggregate=aggregate, color=color)
    names = labels.short_names(axes)
    table = result.variants
    info = _summary(result)
    xs_all = _uniques(info[v]["values"][axis] for v in info)
    log = _log_axis(xs_all, logx, axis)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_all)
    pos = {v: (v if numeric else i) for i, v in enumerate(xs_all)}

    fig = ax.figure if ax is not None else Figure(figsize=figsize, layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    others = [a for a in axes if a not in (axis, aggregate)]
    groups: dict[tuple, list[int]] = {}
    for v in info:
        groups.setdefault(tuple(info[v]["values"][a] for a in others), []).append(v)
    keys = sorted(groups, key=lambda k: tuple(_order(x) for x in k))
    colors = _colors(_uniques(info[v]["values"][color] for v in info)) if color else {}
    cycle = _cycle(len(keys))
    marks = []
    for i, key in enumerate(keys):
        vs = groups[key]
        vals = dict(zip(others, key, strict=True))
        c = colors[vals[color]] if color else cycle[i]
        by_x: dict[Any, list[float]] = {}
        for v in vs:
            x = info[v]["values"][axis]
            y = float(table.loc[table.variant == v, col].iloc[0])
            if info[v]["status"] == "diverged":
                marks.append((pos[x], y))
                continue
            by_x.setdefault(x, []).append(y)
        xs = [x for x in xs_all if x in by_x]
        ys = [np.asarray(by_x[x], np.float64) for x in xs]
        with _quiet():
            mean = np.array([np.nanmean(y) if y.size else np.nan for y in ys])
        label = labels.describe(vals) or metric
        ax.plot([pos[x] for x in xs], mean, marker="o", color=c, label=label)
        if aggregate and band != "none" and xs:
            with _quiet():
                if band == "std":
                    sd = np.array([np.nanstd(y) for y in ys])
                    lo, hi = mean - sd, mean + sd
                else:
                    lo = np.array([np.nanmin(y) for y in ys])
                    hi = np.array([np.nanmax(y) for y in ys])
            ax.fill_between([pos[x] for x in xs], lo, hi, color=c, alpha=0.2, linewidth=0)
    if marks:
        finite = [(x, y) for x, y in marks if math.isfinite(y)]
        pinned = [x for x, y in marks if not math.isfinite(y)]
        if finite:
            ax.scatter(*zip(*finite, strict=True), marker="x", color="red", s=60,
                       linewidths=2, zorder=5, label="diverged").set_gid("diverged")
        if pinned:
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            ax.scatter(pinned, [0.97] * len(pinned), marker="x", color="red", s=60,
                       linewidths=2, transform=trans, zorder=5,
                       label="_" if finite else "diverged").set_gid("diverged")
    if log:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs_all)), [labels.value(x) for x in xs_all])
    ax.set_xlabel(names[axis])
    ax.set_ylabel(f"{value} {metric}")
    over = f" (mean over {names[aggregate]})" if aggregate else ""
    ax.set_title(f"{value} {metric} vs {names[axis]}{over}", fontsize="medium")
    if 1 < len(keys) <= _MAX_LEGEND or marks:
        ax.legend(fontsize="x-small")
    return fig


def heatmap(
    result,
    metric: str = "val_accuracy",
    *,
    x: str | None = None,
    y: str | None = None,
    value: str = "final",
    annotate: bool = True,
    cmap: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """The final (or best) ``metric`` over two axes, e.g. learning rate x batch size.

    A cell is the mean over the variants that share its two values (any other axis is
    averaged) and did not diverge; cells where every variant diverged are grey and read
    ``diverged``; ``stopped`` notes cells whose variants all stopped early.

    Args:
      result: a sweep result.
      metric: a metric with ``final_``/``best_`` columns.
      x, y: the axes for columns and rows (default: batch size and learning rate when
        swept, else the first two axes).
      value: ``final`` or ``best``.
      annotate: write each cell's value.
      cmap: colormap (default: viridis, reversed for losses so that bright is good).
      ax: draw into this Axes instead of a new figure.
    """
    col = _summary_column(result, metric, value)
    axes = axes_of(result)
    if len(axes) < 2:
        raise ConfigError("heatmap", axes, "needs a result with two swept axes")
    y = labels.resolve_axis(y, axes, field="y") if y else _default_axis(axes, "learning_rate")
    rest = [a for a in axes if a != y]
    x = labels.resolve_axis(x, axes, field="x") if x else _default_axis(rest, "batch_size")
    if x == y:
        raise ConfigError("heatmap", x, "x and y must be two different axes")
    names = labels.short_names(axes)
    info = _summary(result)
    table = result.variants
    xs = _uniques(info[v]["values"][x] for v in info)
    ys = _uniques(info[v]["values"][y] for v in info)
    cells: dict[tuple, list[tuple[float, str]]] = {}
    for v in info:
        key = (info[v]["values"][y], info[v]["values"][x])
        val = float(table.loc[table.variant == v, col].iloc[0])
        cells.setdefault(key, []).append((val, info[v]["status"]))
    grid = np.full((len(ys), len(xs)), np.nan)
    notes = {}
    for (yv, xv), members in cells.items():
        i, j = ys.index(yv), xs.index(xv)
        good = [val for val, s in members if s != "diverged" and math.isfinite(val)]
        grid[i, j] = np.mean(good) if good else np.nan
        status = {s for _, s in members}
        if status == {"diverged"}:
            notes[i, j] = "diverged"
        elif "diverged" in status:
            notes[i, j] = f"{sum(s == 'diverged' for _, s in members)} div."
        elif status == {"stopped"}:
            notes[i, j] = "stopped"
    fig = ax.figure if ax is not None else Figure(
        figsize=figsize or (1.1 * len(xs) + 2.6, 0.7 * len(ys) + 1.8), layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    cm = mpl.colormaps[cmap or ("viridis" if conventions.maximize(metric) else "viridis_r")]
    cm = cm.with_extremes(bad="lightgray")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cm, aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [labels.value(v) for v in xs])
    ax.set_yticks(range(len(ys)), [labels.value(v) for v in ys])
    ax.set_xlabel(names[x])
    ax.set_ylabel(names[y])
    ax.set_title(f"{value} {metric}", fontsize="medium")
    fig.colorbar(im, ax=ax, label=metric)
    if annotate:
        for i in range(len(ys)):
            for j in range(len(xs)):
                val = grid[i, j]
                text = "" if math.isnan(val) else f"{val:.3g}"
                if (i, j) in notes:
                    text = f"{text}\n{notes[i, j]}".strip()
                # Dark text on bright cells, light text on dark ones.
                r, g, b, _ = cm(im.norm(val)) if math.isfinite(val) else (1, 1, 1, 1)
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
    return fig


# -- comparisons --------------------------------------------------------------------------------
def compare(
    results,
    metric: str = "val_accuracy",
    *,
    variants: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    x: str = "epoch",
    train: bool = False,
    logx: bool | None = None,
    logy: bool = False,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.2),
) -> Figure:
    """Several results, or chosen variants of one, on one figure ("compare two models").

    Args:
      results: a result, a sequence of results, or a mapping ``name -> result``.
      metric: the history column to draw.
      variants: the variant indices to draw from each result (default: all).
      names: one name per result (default: the mapping's keys, else each spec's name).
      x: ``epoch``, ``updates`` or ``examples``.
      train: also draw the training counterpart of a validation metric (or the reverse),
        dashed, in the same colour.
      ax: draw into this Axes instead of a new figure.

    Returns:
      The figure; its Axes holds one line per (result, variant), two with ``train``.
    """
    _check("x", x, X_AXES)
    if isinstance(results, Mapping):
        names, results = list(results), list(results.values())
    elif not isinstance(results, (list, tuple)):
        results = [results]
    if names is None:
        names = [getattr(getattr(r, "spec", None), "name", None) or f"result {i}"
                 for i, r in enumerate(results)]
    names = list(names)
    if len(names) != len(results):
        raise ConfigError("names", names, f"expected one per result ({len(results)})")
    if len(set(names)) < len(names):
        names = [f"{n} ({i})" for i, n in enumerate(names)]
    other = metric[4:] if metric.startswith("val_") else f"val_{metric}"
    fig = ax.figure if ax is not None else Figure(figsize=figsize, layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    lines = []
    for name, r in zip(names, results, strict=True):
        check_metric(r, metric)
        if train:
            check_metric(r, other)
        info = _summary(r)
        chosen = list(info) if variants is None else [int(v) for v in variants]
        for v in chosen:
            if v not in info:
                raise ConfigError("variants", v, f"no such variant in {name}; have "
                                                 f"0..{len(info) - 1}")
            lines.append((name, r, v, info[v]))
    colors = _cycle(len(lines))
    marks = _Marks()
    ok_vals, all_vals = [], []
    for (name, r, v, inf), c in zip(lines, colors, strict=True):
        what = labels.describe(inf["values"])
        label = f"v{v}" + (f" ({what})" if what else "")
        label = f"{name}: {label}" if len(results) > 1 else label
        series = [(metric, "-", label if len(lines) > 1 else metric)]
        if train:
            series.append((other, "--", f"{label} [{other}]" if len(lines) > 1 else other))
        for m, style, lab in series:
            xs, ys, _ = _curve(r.history, v, m, x)
            ax.plot(xs, ys, color=c, linestyle=style, label=lab)
            all_vals.append(ys)
            if inf["status"] != "diverged":
                ok_vals.append(ys)
            marks.add(ax, inf["status"], xs, ys, c)
    _x_scale(ax, x, logx)
    if logy:
        ax.set_yscale("log")
    ylim = _robust_ylim(ok_vals, all_vals, logy)
    if ylim is not None:
        ax.set_ylim(*ylim)
    kinds = marks.draw(ylim)
    handles = list(ax.get_legend_handles_labels()[0]) if len(ax.lines) <= 2 * _MAX_LEGEND else []
    ax.legend(handles=handles + _mark_handles(kinds), fontsize="x-small")
    ax.set_xlabel(X_AXES[x])
    ax.set_ylabel(metric + (f" (dashed: {other})" if train else ""))
    return fig


# -- files --------------------------------------------------------------------------------------
def save(fig: Figure, path: str | os.PathLike, *, dpi: float = 100,
         format: str | None = None) -> str:
    """Write ``fig`` to ``path`` atomically (a temporary file renamed into place).

    Args:
      fig: the figure.
      path: the file; its extension picks the format unless ``format`` is given.
      dpi: pixels per inch: a PNG is ``figsize * dpi`` pixels.
      format: ``png``, ``svg`` or ``pdf``.

    Returns:
      ``path`` as a string.
    """
    path = os.fspath(path)
    fmt = format or os.path.splitext(path)[1].lstrip(".").lower()
    _check("format", fmt, FORMATS)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    return path

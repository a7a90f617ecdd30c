"""Summary figures: a variant's final (or best) metric against its hyperparameters.

:func:`sensitivity` (against one axis, a line per combination of the others),
:func:`heatmap` (over two axes) and :func:`bars` (per value of one axis, with confidence
intervals over seeds as error bars). All are re-exported by :mod:`jaxlab.plotting`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxlab import confidence, conventions, labels
from jaxlab.errors import ConfigError
from jaxlab.plot_data import (
    BANDS,
    axes_of,
    band_words,
    check_choice,
    default_axis,
    distinct,
    sort_key,
    spread,
    uniques,
    value_column,
    variants_of,
)
from jaxlab.plot_style import (
    MAX_LEGEND,
    color_cycle,
    color_map,
    colormap,
    grouped_bars,
    log_axis,
    new_figure,
    outside_legend,
    pin_top,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def sensitivity(
    result,
    metric: str = "val_accuracy",
    *,
    axis: str | None = None,
    value: str = "final",
    color: str | None = None,
    aggregate: str | None = None,
    band: str = "ci",
    logx: bool | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5.5, 3.8),
) -> Figure:
    """The final (or best) ``metric`` of each variant against one hyperparameter.

    One line per combination of the other axes (coloured by ``color``'s value when given);
    with ``aggregate``, the mean over that axis with a band (default: its 95% confidence
    interval), named in the title. Diverged variants are marked ``x`` (at the top edge when
    their value is not finite) and left out of the means.

    Args:
      result: a sweep result.
      metric: a metric with ``final_``/``best_`` columns in ``result.variants``.
      axis: the hyperparameter on x (default: the learning rate if swept, else the first
        axis); numbers on a linear or log scale, other values as categories.
      value: ``final`` or ``best``.
      color: an axis whose values colour the lines.
      aggregate: an axis whose values are repeats (``seed``), averaged.
      band: ``ci``, ``std``, ``minmax`` or ``none`` (see :func:`jaxlab.plotting.curves`).
      logx: ``None``: log for learning rates and positive ranges spanning 10x or more.
      ax: draw into this Axes instead of a new figure.

    Returns:
      The figure; its (first) Axes holds one line per group.
    """
    col = value_column(result, metric, value)
    check_choice("band", band, BANDS)
    axes = axes_of(result)
    axis = (labels.resolve_axis(axis, axes) if axis
            else default_axis(axes, "learning_rate"))
    color = labels.resolve_axis(color, axes, field="color") if color else None
    aggregate = labels.resolve_axis(aggregate, axes, field="aggregate") if aggregate else None
    distinct(x=axis, aggregate=aggregate, color=color)
    names = labels.short_names(axes)
    table = result.variants
    info = variants_of(result)
    xs_all = uniques(info[v]["values"][axis] for v in info)
    log = log_axis(xs_all, logx, axis)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_all)
    pos = {v: (v if numeric else i) for i, v in enumerate(xs_all)}

    fig, ax = new_figure(ax, figsize)
    others = [a for a in axes if a not in (axis, aggregate)]
    groups: dict[tuple, list[int]] = {}
    for v in info:
        groups.setdefault(tuple(info[v]["values"][a] for a in others), []).append(v)
    keys = sorted(groups, key=lambda k: tuple(sort_key(x) for x in k))
    colors = color_map(uniques(info[v]["values"][color] for v in info)) if color else {}
    cycle = color_cycle(len(keys))
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
        stats = [spread(y, band if aggregate else "none") for y in ys]
        mean = np.array([m for m, _, _ in stats], np.float64)
        label = labels.describe(vals) or metric
        ax.plot([pos[x] for x in xs], mean, marker="o", color=c, label=label)
        if aggregate and band != "none" and xs:
            lo = np.array([lo for _, lo, _ in stats], np.float64)
            hi = np.array([hi for _, _, hi in stats], np.float64)
            ax.fill_between([pos[x] for x in xs], lo, hi, color=c, alpha=0.2, linewidth=0)
    if marks:
        finite = [(x, y) for x, y in marks if math.isfinite(y)]
        pinned = [x for x, y in marks if not math.isfinite(y)]
        if finite:
            ax.scatter(*zip(*finite, strict=True), marker="x", color="red", s=60,
                       linewidths=2, zorder=5, label="diverged").set_gid("diverged")
        if pinned:
            pin_top(ax, pinned, marker="x", color="red", s=60, linewidths=2, zorder=5,
                    label="_" if finite else "diverged").set_gid("diverged")
    if log:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs_all)), [labels.value(x) for x in xs_all])
    ax.set_xlabel(names[axis])
    ax.set_ylabel(f"{value} {metric}")
    over = f" ({band_words(band, names[aggregate])})" if aggregate else ""
    ax.set_title(f"{value} {metric} vs {names[axis]}{over}", fontsize="medium")
    if 1 < len(keys) <= MAX_LEGEND or marks:
        outside_legend(ax)
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

    A cell is the mean over the variants that share its two values (any other axis, seeds
    included, is averaged) and did not diverge; with ``annotate``, a cell of two or more
    such variants also reads the half-width of their 95% confidence interval (``± h``, see
    :mod:`jaxlab.confidence`), as the title says. Cells where every variant diverged are grey
    and read ``diverged``; ``stopped`` notes cells whose variants all stopped early.

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
    col = value_column(result, metric, value)
    axes = axes_of(result)
    if len(axes) < 2:
        raise ConfigError("heatmap", axes, "needs a result with two swept axes")
    y = labels.resolve_axis(y, axes, field="y") if y else default_axis(axes, "learning_rate")
    rest = [a for a in axes if a != y]
    x = labels.resolve_axis(x, axes, field="x") if x else default_axis(rest, "batch_size")
    if x == y:
        raise ConfigError("heatmap", x, "x and y must be two different axes")
    names = labels.short_names(axes)
    info = variants_of(result)
    table = result.variants
    xs = uniques(info[v]["values"][x] for v in info)
    ys = uniques(info[v]["values"][y] for v in info)
    cells: dict[tuple, list[tuple[float, str]]] = {}
    for v in info:
        key = (info[v]["values"][y], info[v]["values"][x])
        val = float(table.loc[table.variant == v, col].iloc[0])
        cells.setdefault(key, []).append((val, info[v]["status"]))
    grid = np.full((len(ys), len(xs)), np.nan)
    half = np.full_like(grid, np.nan)  # the half-width of each cell's 95% interval
    notes = {}
    for (yv, xv), members in cells.items():
        i, j = ys.index(yv), xs.index(xv)
        good = [val for val, s in members if s != "diverged" and math.isfinite(val)]
        grid[i, j] = np.mean(good) if good else np.nan
        if len(good) >= 2:
            _, lo, hi, _ = confidence.interval(good)
            half[i, j] = (hi - lo) / 2
        status = {s for _, s in members}
        if status == {"diverged"}:
            notes[i, j] = "diverged"
        elif "diverged" in status:
            notes[i, j] = f"{sum(s == 'diverged' for _, s in members)} div."
        elif status == {"stopped"}:
            notes[i, j] = "stopped"
    fig, ax = new_figure(ax, figsize or (1.1 * len(xs) + 2.6, 0.7 * len(ys) + 1.8))
    cm = colormap(cmap or ("viridis" if conventions.maximize(metric) else "viridis_r"))
    cm = cm.with_extremes(bad="lightgray")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cm, aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [labels.value(v) for v in xs])
    ax.set_yticks(range(len(ys)), [labels.value(v) for v in ys])
    ax.set_xlabel(names[x])
    ax.set_ylabel(names[y])
    ci = annotate and bool(np.isfinite(half).any())
    ax.set_title(f"{value} {metric}" + (f" (mean ± {round(100 * confidence.LEVEL)}% CI "
                                        "over each cell's variants)" if ci else ""),
                 fontsize="medium")
    fig.colorbar(im, ax=ax, label=metric)
    if annotate:
        for i in range(len(ys)):
            for j in range(len(xs)):
                val = grid[i, j]
                text = "" if math.isnan(val) else f"{val:.3g}"
                if math.isfinite(half[i, j]):
                    text += f"\n± {half[i, j]:.2g}"
                if (i, j) in notes:
                    text = f"{text}\n{notes[i, j]}".strip()
                # Dark text on bright cells, light text on dark ones.
                r, g, b, _ = cm(im.norm(val)) if math.isfinite(val) else (1, 1, 1, 1)
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
    return fig


def bars(
    result,
    metric: str = "val_accuracy",
    *,
    axis: str | None = None,
    value: str = "final",
    color: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Bars of the mean final (or best) ``metric`` per value of ``axis``, with the 95%
    confidence interval over the variants each bar averages (its seeds) as error bars.

    A bar stands for the variants that share its ``axis`` value (and ``color`` value);
    every other swept axis (the seeds) is averaged, diverged variants left out. With fewer
    than two such variants a bar has no error bar. The title names what is averaged.

    Args:
      result: a sweep result.
      metric: a metric with ``final_``/``best_`` columns in ``result.variants``.
      axis: the hyperparameter on x (default: the learning rate if swept, else the first).
      value: ``final`` or ``best``.
      color: an axis: one bar per value side by side in each group, named in the legend.
      ax: draw into this Axes instead of a new figure.

    Returns:
      The figure; ``ax.containers`` holds one bar container per ``color`` value (one
      without), each bar's ``errorbar`` spanning its interval.
    """
    col = value_column(result, metric, value)
    axes = axes_of(result)
    axis = (labels.resolve_axis(axis, axes) if axis
            else default_axis(axes, "learning_rate"))
    color = labels.resolve_axis(color, axes, field="color") if color else None
    distinct(x=axis, color=color)
    names = labels.short_names(axes)
    info = variants_of(result)
    table = result.variants.set_index("variant")[col]
    xs = uniques(info[v]["values"][axis] for v in info)
    cs = uniques(info[v]["values"][color] for v in info) if color else [None]
    series = {}
    for cv in cs:
        stats = []
        for xv in xs:
            vals = [float(table.loc[v]) for v in info if info[v]["values"][axis] == xv
                    and (color is None or info[v]["values"][color] == cv)
                    and info[v]["status"] != "diverged"]
            mean, lo, hi, _ = confidence.interval(np.asarray(vals, np.float64))
            stats.append((mean, lo, hi))
        mean, lo, hi = (np.array(z, np.float64) for z in zip(*stats, strict=True))
        series[f"{names[color]}={labels.value(cv)}" if color else metric] = (mean, lo, hi)
    fig, ax = new_figure(ax, figsize or (max(4.0, 0.45 * len(xs) * len(cs) + 2.5), 3.6))
    grouped_bars(ax, [labels.value(x) for x in xs], series, xlabel=names[axis],
                 ylabel=f"{value} {metric}",
                 colors=list(color_map(cs).values()) if color else None)
    rest = [names[a] for a in axes if a not in (axis, color)]
    over = ", ".join(rest) or "repeats"
    ax.set_title(f"{value} {metric} (mean, {round(100 * confidence.LEVEL)}% CI over "
                 f"{over})", fontsize="medium")
    return fig

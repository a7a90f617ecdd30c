"""Learning-curve figures: a metric against training time, per variant or per result.

:func:`curves` (one sweep, optionally faceted, coloured and aggregated over repeats) and
:func:`compare` (several results or chosen variants on one plot). Both are re-exported by
:mod:`jaxlab.plotting`, whose docstring describes the marks and ranges they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from jaxlab import labels
from jaxlab.errors import ConfigError
from jaxlab.plot_data import (
    BANDS,
    X_AXES,
    axes_of,
    check_choice,
    check_metric,
    curve,
    distinct,
    mean_and_band,
    sort_key,
    uniques,
    variants_of,
)
from jaxlab.plot_style import (
    LINE_STYLES,
    MAX_LEGEND,
    Marks,
    color_cycle,
    color_map,
    figure_legend,
    legend_line,
    mark_handles,
    new_figure,
    panel_grid,
    robust_ylim,
    x_scale,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D


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
    ax: Axes | Sequence[Axes] | None = None,
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
      title: the figure's title (default: ``metric``); with ``ax``, the panel's title.
      ax: draw into this Axes (a figure of yours, e.g. ``plt.subplots()``) instead of a
        new figure; with ``facet``, one Axes per facet value (a sequence or an array).

    Returns:
      The figure (``ax``'s when given): one Axes per facet value (one without ``facet``);
      ``ax.lines`` holds exactly one line per variant (or per aggregated group).
    """
    check_metric(result, metric)
    check_choice("x", x, X_AXES)
    check_choice("band", band, BANDS)
    axes = axes_of(result)
    facet = labels.resolve_axis(facet, axes, field="facet") if facet else None
    color = labels.resolve_axis(color, axes, field="color") if color else None
    aggregate = labels.resolve_axis(aggregate, axes, field="aggregate") if aggregate else None
    distinct(facet=facet, aggregate=aggregate, color=color)
    info = variants_of(result)
    chosen = list(info) if variants is None else [int(v) for v in variants]
    for v in chosen:
        if v not in info:
            raise ConfigError("variants", v, f"no such variant; have 0..{len(info) - 1}")
    history = result.history
    names = labels.short_names(axes)

    panels = uniques(info[v]["values"][facet] for v in chosen) if facet else [None]
    colors = color_map(uniques(info[v]["values"][color] for v in chosen)) if color else {}
    rest = [a for a in axes if a not in (facet, color, aggregate)]
    styles = {}
    if color:
        combos = uniques(tuple(info[v]["values"][a] for a in rest) for v in chosen)
        styles = {c: LINE_STYLES[i % len(LINE_STYLES)] for i, c in enumerate(combos)}

    own = ax is None  # a grid of ours shares x and y; Axes given are labelled each
    if own:
        fig, axs = panel_grid(len(panels), ncols, panel_size, extra_w=2.2 if color else 0.0,
                              figsize=figsize)
    else:
        axs = [ax] if hasattr(ax, "plot") else list(getattr(ax, "flat", ax))
        if len(axs) != len(panels):
            raise ConfigError("ax", f"{len(axs)} Axes", f"this figure has {len(panels)} "
                              f"panel{'s' * (len(panels) != 1)}" +
                              (f", one per {names[facet]} value" if facet else "") +
                              "; give one Axes per panel")
        fig = axs[0].figure
    marks = Marks()
    ok_vals, all_vals = [], []
    line_handles: dict[str, Line2D] = {}
    for ax, pv in zip(axs, panels, strict=True):
        members = [v for v in chosen if not facet or info[v]["values"][facet] == pv]
        groups: dict[tuple, list[int]] = {}
        for v in members:
            key = tuple(info[v]["values"][a] for a in axes if a not in (facet, aggregate))
            groups.setdefault(key, []).append(v)
        keys = sorted(groups, key=lambda k: tuple(sort_key(x) for x in k))
        cycle = color_cycle(len(keys))
        for i, key in enumerate(keys):
            vs = groups[key]
            vals = info[vs[0]]["values"]
            c = colors[vals[color]] if color else cycle[i]
            style = styles.get(tuple(vals[a] for a in rest), "-") if color else "-"
            label = labels.describe({a: vals[a] for a in axes if a not in (facet, aggregate)})
            if aggregate:
                xs, mean, lo, hi = mean_and_band(history, vs, metric, x, band)
                ax.plot(xs, mean, color=c, linestyle=style, label=label or "mean")
                if lo is not None:
                    ax.fill_between(xs, lo, hi, color=c, alpha=0.2, linewidth=0)
                    all_vals += [lo, hi]
                all_vals.append(mean)
                if not any(info[v]["status"] == "diverged" for v in vs):
                    ok_vals += [mean] + ([lo, hi] if lo is not None else [])
            for v in vs:
                xs_v, ys_v, _ = curve(history, v, metric, x)
                if not aggregate:
                    ax.plot(xs_v, ys_v, color=c, linestyle=style, linewidth=1.3,
                            label=label or f"v{v}")
                    all_vals.append(ys_v)
                    if info[v]["status"] != "diverged":
                        ok_vals.append(ys_v)
                marks.add(ax, info[v]["status"], xs_v, ys_v, c)
        if facet:
            ax.set_title(f"{names[facet]}={labels.value(pv)}", fontsize="medium")
        x_scale(ax, x, logx)
        if logy:
            ax.set_yscale("log")
        if not color and len(keys) <= MAX_LEGEND and (len(keys) > 1 or aggregate):
            ax.legend(fontsize="x-small")

    for a in axs:
        where = a.get_subplotspec() if own else None
        if where is None or where.is_last_row():
            a.set_xlabel(X_AXES[x])
        if where is None or where.is_first_col():
            a.set_ylabel(metric)
    ylim = robust_ylim(ok_vals, all_vals, logy)
    if ylim is not None:
        for a in axs[:1] if own else axs:  # our panels share y
            a.set_ylim(*ylim)
    kinds = marks.draw(ylim)
    if color:
        for val, c in colors.items():
            name = f"{names[color]}={labels.value(val)}"
            line_handles[name] = legend_line(name, color=c)
        if rest and 1 < len(styles) <= len(LINE_STYLES):
            for combo, style in styles.items():
                name = labels.describe(dict(zip(rest, combo, strict=True)))
                line_handles[name] = legend_line(name, color="gray", linestyle=style)
        figure_legend(fig, axs, [*line_handles.values(), *mark_handles(kinds)])
    elif kinds and len(axs) == 1:  # add the marks to the panel's own legend, if any
        handles = axs[0].get_legend_handles_labels()[0] if axs[0].get_legend() else []
        axs[0].legend(handles=[*handles, *mark_handles(kinds)], fontsize="x-small")
    elif kinds:
        figure_legend(fig, axs, mark_handles(kinds))
    if title is None and aggregate:
        spread = {"std": " ± std", "minmax": ", min-max", "none": ""}[band]
        title = f"{metric} (mean{spread} over {names[aggregate]})"
    if own:
        fig.suptitle(title or metric, fontsize="medium")
    elif not facet:  # the caller's figure keeps its own title; the panel gets ours
        axs[0].set_title(title or metric, fontsize="medium")
    return fig


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
    check_choice("x", x, X_AXES)
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
    fig, ax = new_figure(ax, figsize)
    lines = []
    for name, r in zip(names, results, strict=True):
        check_metric(r, metric)
        if train:
            check_metric(r, other)
        info = variants_of(r)
        chosen = list(info) if variants is None else [int(v) for v in variants]
        for v in chosen:
            if v not in info:
                raise ConfigError("variants", v, f"no such variant in {name}; have "
                                                 f"0..{len(info) - 1}")
            lines.append((name, r, v, info[v]))
    colors = color_cycle(len(lines))
    marks = Marks()
    ok_vals, all_vals = [], []
    for (name, r, v, inf), c in zip(lines, colors, strict=True):
        what = labels.describe(inf["values"])
        label = f"v{v}" + (f" ({what})" if what else "")
        label = f"{name}: {label}" if len(results) > 1 else label
        series = [(metric, "-", label if len(lines) > 1 else metric)]
        if train:
            series.append((other, "--", f"{label} [{other}]" if len(lines) > 1 else other))
        for m, style, lab in series:
            xs, ys, _ = curve(r.history, v, m, x)
            ax.plot(xs, ys, color=c, linestyle=style, label=lab)
            all_vals.append(ys)
            if inf["status"] != "diverged":
                ok_vals.append(ys)
            marks.add(ax, inf["status"], xs, ys, c)
    x_scale(ax, x, logx)
    if logy:
        ax.set_yscale("log")
    ylim = robust_ylim(ok_vals, all_vals, logy)
    if ylim is not None:
        ax.set_ylim(*ylim)
    kinds = marks.draw(ylim)
    handles = list(ax.get_legend_handles_labels()[0]) if len(ax.lines) <= 2 * MAX_LEGEND else []
    ax.legend(handles=handles + mark_handles(kinds), fontsize="x-small")
    ax.set_xlabel(X_AXES[x])
    ax.set_ylabel(metric + (f" (dashed: {other})" if train else ""))
    return fig

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
    band_words,
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
    legend_width,
    mark_handles,
    new_figure,
    outside_legend,
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
    band: str = "ci",
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
        of variants equal in every other axis, with a ``band``; the title says which.
      band: ``ci`` (the 95% Student-t confidence interval of the mean over the repeats, see
        :mod:`jaxlab.confidence`), ``std`` (mean ± one standard deviation), ``minmax`` or
        ``none``.
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
        extra_w = 2.2 if color else 0.0
        if not color and len(panels) == 1:  # room beside a lone panel for its legend
            names_of = {labels.describe({a: info[v]["values"][a] for a in axes
                                         if a not in (facet, aggregate)}) for v in chosen}
            if len(names_of) <= MAX_LEGEND and (len(names_of) > 1 or aggregate):
                extra_w = legend_width(names_of)
        fig, axs = panel_grid(len(panels), ncols, panel_size, extra_w=extra_w, figsize=figsize)
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
            outside_legend(ax)

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
        outside_legend(axs[0], [*handles, *mark_handles(kinds)])
    elif kinds:
        figure_legend(fig, axs, mark_handles(kinds))
    if title is None and aggregate:
        title = f"{metric} ({band_words(band, names[aggregate])})"
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
    aggregate: str | None = None,
    band: str = "ci",
    train: bool = False,
    logx: bool | None = None,
    logy: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.2),
) -> Figure:
    """Several results, or chosen variants of one, on one figure ("compare two models").

    Lines are told apart by colour and line style: a colour per configuration (the same
    hyperparameter values get the same colour in every result; no two configurations share
    one, however many), a line style per result (solid for the first, dashed for the second,
    ...). The legend, outside the plot, names the configurations by their values and the
    results by their names.

    Args:
      results: a result, a sequence of results, or a mapping ``name -> result``.
      metric: the history column to draw.
      variants: the variant indices to draw from each result (default: all).
      names: one name per result (default: the mapping's keys, else each spec's name).
      x: ``epoch``, ``updates`` or ``examples``.
      aggregate: an axis whose values are repeats (``seed``): one mean line per group of
        variants equal in every other axis, with a ``band`` (default: the 95% confidence
        interval over the repeats); the title says which.
      band: ``ci``, ``std``, ``minmax`` or ``none`` (see :func:`curves`).
      train: also draw the training counterpart of a validation metric (or the reverse),
        fainter, in the same colour and style.
      title: the panel's title (default: ``metric``, and the band with ``aggregate``).
      ax: draw into this Axes instead of a new figure.

    Returns:
      The figure; its Axes holds one line per (result, variant), or per (result, group)
      with ``aggregate``; two with ``train``.
    """
    check_choice("x", x, X_AXES)
    check_choice("band", band, BANDS)
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
    lines = []  # (result index, variants drawn as one line, their values, diverged?)
    over = None
    for ri, (name, r) in enumerate(zip(names, results, strict=True)):
        check_metric(r, metric)
        if train:
            check_metric(r, other)
        info = variants_of(r)
        chosen = list(info) if variants is None else [int(v) for v in variants]
        for v in chosen:
            if v not in info:
                raise ConfigError("variants", v, f"no such variant in {name}; have "
                                                 f"0..{len(info) - 1}")
        agg = labels.resolve_axis(aggregate, axes_of(r), field="aggregate") if aggregate \
            else None
        over = over or (labels.short_names(axes_of(r))[agg] if agg else None)
        groups: dict[tuple, list[int]] = {}
        for v in chosen:
            key = tuple((a, info[v]["values"][a]) for a in axes_of(r) if a != agg)
            groups.setdefault(key, []).append(v)
        for key, vs in groups.items():
            diverged = any(info[v]["status"] == "diverged" for v in vs)
            lines.append((ri, vs, dict(key), diverged, info))
    # One colour per configuration, shared by the results; one style per result.
    configs = list(dict.fromkeys(labels.describe(values) for _, _, values, _, _ in lines))
    colors = dict(zip(configs, color_cycle(len(configs)), strict=True))
    styles = [LINE_STYLES[i % len(LINE_STYLES)] for i in range(len(results))]
    fig, ax = new_figure(ax, figsize)
    marks = Marks()
    ok_vals, all_vals = [], []
    for ri, vs, values, diverged, info in lines:
        what = labels.describe(values)
        c, style = colors[what], styles[ri]
        base = what or "mean" if aggregate else f"v{vs[0]}" + (f" ({what})" if what else "")
        label = f"{names[ri]}: {base}" if len(results) > 1 else base
        series = [(metric, 1.0, label if len(lines) > 1 else metric)]
        if train:
            series.append((other, 0.45, f"{label} [{other}]" if len(lines) > 1 else other))
        for m, alpha, lab in series:
            r = results[ri]
            if aggregate:
                xs, ys, lo, hi = mean_and_band(r.history, vs, m, x, band)
                if lo is not None:
                    ax.fill_between(xs, lo, hi, color=c, alpha=0.15 * alpha, linewidth=0)
                    all_vals += [lo, hi]
                    if not diverged:
                        ok_vals += [lo, hi]
            else:
                xs, ys, _ = curve(r.history, vs[0], m, x)
            ax.plot(xs, ys, color=c, linestyle=style, alpha=alpha, label=lab,
                    linewidth=1.5 if alpha == 1.0 else 1.0)
            all_vals.append(ys)
            if not diverged:
                ok_vals.append(ys)
            for v in vs:
                if not aggregate:
                    marks.add(ax, info[v]["status"], xs, ys, c)
    x_scale(ax, x, logx)
    if logy:
        ax.set_yscale("log")
    ylim = robust_ylim(ok_vals, all_vals, logy)
    if ylim is not None:
        ax.set_ylim(*ylim)
    kinds = marks.draw(ylim)
    # The legend names colours and styles once each, not every (colour, style) pair.
    handles = [legend_line(what or metric, color=c) for what, c in colors.items()]
    if len(results) > 1:
        handles += [legend_line(n, color="gray", linestyle=st)
                    for n, st in zip(names, styles, strict=True)]
    if train:
        handles.append(legend_line(f"faint: {other}", color="gray", alpha=0.45))
    outside_legend(ax, handles + mark_handles(kinds))
    ax.set_xlabel(X_AXES[x])
    ax.set_ylabel(metric + (f" (faint: {other})" if train else ""))
    if title is None and aggregate:
        title = f"{metric} ({band_words(band, over)})"
    ax.set_title(title or metric, fontsize="medium")
    return fig

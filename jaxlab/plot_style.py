"""Figure building blocks for :mod:`jaxlab.plotting`: panels, colours, marks, ranges, legends.

Everything here that touches matplotlib imports it when called, so that importing the plots
costs nothing until a figure is drawn. Figures are built without ``pyplot`` (no global
figure registry, no backend needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Transform

LINE_STYLES = ("-", "--", ":", "-.")
MAX_LEGEND = 12  # past this many entries a legend hides the plot
_TOP = 0.97  # where a mark with no finite value is pinned, as a fraction of the panel height


# -- figures and colours -------------------------------------------------------------------------
def new_figure(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new one-panel figure of ``figsize`` inches."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()


def panel_grid(n: int, ncols: int | None, panel: tuple[float, float], extra_w: float = 0.0,
               figsize: tuple[float, float] | None = None, sharey: bool = True):
    """A figure of ``n`` panels, ``ncols`` (default up to 4) a row: ``(fig, [Axes] * n)``."""
    from matplotlib.figure import Figure

    ncols = max(1, min(n, ncols or 4))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=figsize or (panel[0] * ncols + extra_w, panel[1] * nrows),
                 layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=sharey)
    axs = list(grid.ravel())
    for ax in axs[n:]:
        fig.delaxes(ax)
    return fig, axs[:n]


def colormap(name: str) -> Colormap:
    """The registered colormap ``name`` (``viridis``, ``tab10``...)."""
    import matplotlib as mpl

    return mpl.colormaps[name]


def color_map(values: Sequence, cmap: str = "viridis") -> dict:
    """value -> colour: a sequential map for numbers, a qualitative one otherwise."""
    values = list(values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 1:
        cm = colormap(cmap)
        # Stop short of viridis' pale yellow end, which vanishes on white.
        return {v: cm(0.9 * i / (len(values) - 1)) for i, v in enumerate(values)}
    cm = colormap("tab10" if len(values) <= 10 else "tab20")
    return {v: cm(i % cm.N) for i, v in enumerate(values)}


def color_cycle(n: int) -> list:
    """``n`` distinct colours: ``tab10``'s up to 10, else ``viridis`` sampled at ``n``
    evenly spaced points (a perceptual map: no two alike, however many lines)."""
    if n <= 10:
        cm = colormap("tab10")
        return [cm(i) for i in range(n)]
    cm = colormap("viridis")
    # Stop short of viridis' pale yellow end, which vanishes on white.
    return [cm(0.92 * i / (n - 1)) for i in range(n)]


def grouped_bars(ax: Axes, categories: Sequence[str], series: dict, *, xlabel: str,
                 ylabel: str, colors: Sequence | None = None) -> None:
    """Bars of each series side by side over ``categories``, with error bars.

    Args:
      ax: the Axes to draw into.
      categories: the x tick labels.
      series: name -> ``(mean, low, high)`` arrays, one value per category; ``low`` and
        ``high`` (the error bar's ends, e.g. a 95% interval) may be ``None``, and ``nan``
        where a category has no interval.
      xlabel, ylabel: the axis labels.
      colors: one colour per series (default: :func:`color_cycle`).
    """
    x = np.arange(len(categories))
    width = 0.8 / max(len(series), 1)
    colors = colors or color_cycle(len(series))
    for i, (name, (mean, low, high)) in enumerate(series.items()):
        mean = np.asarray(mean, np.float64)
        yerr = None if low is None else np.vstack([mean - np.asarray(low, np.float64),
                                                   np.asarray(high, np.float64) - mean])
        ax.bar(x + (i - (len(series) - 1) / 2) * width, mean, width, label=str(name),
               yerr=yerr, capsize=3, color=colors[i], ecolor="black")
    ax.set_xticks(x, [str(c) for c in categories])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        outside_legend(ax)


# -- diverged and stopped marks ------------------------------------------------------------------
def top_edge(ax: Axes) -> Transform:
    """x in data coordinates, y as a fraction of the panel (pins a mark to the top edge)."""
    from matplotlib.transforms import blended_transform_factory

    return blended_transform_factory(ax.transData, ax.transAxes)


def pin_top(ax: Axes, xs: Sequence[float], **scatter) -> Any:
    """Scatter marks at ``xs`` on the top edge of ``ax`` (values that are not finite)."""
    return ax.scatter(xs, [_TOP] * len(xs), transform=top_edge(ax), **scatter)


class Marks:
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
                trans, y = top_edge(ax), _TOP
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


def mark_handles(kinds: set[str]) -> list[Line2D]:
    """Legend entries for the kinds of marks drawn (``diverged``, ``stopped``)."""
    handles = []
    if "diverged" in kinds:
        handles.append(legend_line("diverged", marker="x", color="red", linestyle="none",
                                   markersize=7, markeredgewidth=2))
    if "stopped" in kinds:
        handles.append(legend_line("stopped early", marker="o", color="gray",
                                   markerfacecolor="none", linestyle="none"))
    return handles


# -- ranges and scales ---------------------------------------------------------------------------
def robust_ylim(ok: list[np.ndarray], every: list[np.ndarray], logy: bool):
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


def x_scale(ax: Axes, x: str, logx: bool | None) -> None:
    """Log for ``logx`` (default: optimizer updates), compact counts for examples seen."""
    if logx or (logx is None and x == "updates"):
        ax.set_xscale("log")
    elif x != "epoch":  # counts in the thousands: "12k", not overlapping "12000"
        from matplotlib.ticker import EngFormatter, MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))


def log_axis(values: list, logx: bool | None, axis: str) -> bool:
    """``logx``, or by default: log for learning rates and positive ranges spanning 10x."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if logx is not None:
        return logx
    if not numeric or not values or min(values) <= 0:
        return False
    return axis.endswith("learning_rate") or max(values) / min(values) >= 10


# -- legends -------------------------------------------------------------------------------------
def legend_line(label: str, **style) -> Line2D:
    """A legend entry drawn as a line (or marker) of ``style``, with no data."""
    from matplotlib.lines import Line2D

    return Line2D([], [], label=label, **style)


def outside_legend(ax: Axes, handles: list | None = None, title: str | None = None,
                   fontsize: str = "x-small"):
    """``ax``'s legend outside it, to the right, never over the data; entries past what the
    panel's height holds go into more columns. ``None`` when there is nothing to name."""
    if handles is None:
        handles = ax.get_legend_handles_labels()[0]
    if not handles:
        return None
    from matplotlib.font_manager import FontProperties

    line = 1.8 * FontProperties(size=fontsize).get_size_in_points()  # one entry's height
    rows = max(4, int(ax.figure.get_figheight() * 72 * 0.85 / line))
    return ax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.02, 1),
                     borderaxespad=0, fontsize=fontsize, title_fontsize=fontsize,
                     ncols=math.ceil(len(handles) / rows))


def legend_width(texts, fontsize: str = "x-small") -> float:
    """About how many inches a one-column legend of ``texts`` takes beside a panel."""
    from matplotlib.font_manager import FontProperties

    points = FontProperties(size=fontsize).get_size_in_points()
    return 0.6 + 0.6 * points / 72 * max((len(t) for t in texts), default=0)


def figure_legend(fig: Figure, axs: Sequence[Axes], handles: list,
                  title: str | None = None) -> None:
    """One legend outside the panels: to the right of a lone panel, else of all panels."""
    if not handles:
        return
    if len(axs) == 1:
        outside_legend(axs[0], handles, title, fontsize="small")
    else:
        fig.legend(handles=handles, title=title, loc="outside right upper", fontsize="small",
                   title_fontsize="small")

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
  band per group of repeats: by default the 95% confidence interval of the mean (Student
  t, :mod:`jaxlab.confidence`), or ± std, or min-max; the title says which.
* :func:`sensitivity`: the final (or best) metric against one hyperparameter (log x for
  learning rates), with the same bands over ``aggregate``.
* :func:`heatmap`: the final (or best) metric over two axes; each cell annotated with its
  mean and the half-width of its 95% interval.
* :func:`bars`: the mean final (or best) metric per value of one axis, with 95% interval
  error bars over the seeds.
* :func:`compare`: several results, or chosen variants, on one figure: a distinct colour
  per configuration, a line style per result, named by its result name; ``aggregate=``
  draws means and bands.

Every function takes ``ax=`` to draw into an Axes of yours; legends sit outside the data.

Diverged variants end in an ``x`` where and when they diverged (at their last epoch, at
their last finite value); early-stopped ones end in a hollow circle. A few diverging losses
do not flatten the others: the y range follows the variants that did not diverge.

The figures live in :mod:`jaxlab.figures_curves` and :mod:`jaxlab.figures_summary`, built
from :mod:`jaxlab.plot_data` (what a result holds) and :mod:`jaxlab.plot_style` (panels,
colours, marks); matplotlib is imported when the first figure is drawn.

Example:
  >>> result = jl.run(spec)                                             # doctest: +SKIP
  >>> fig = curves(result, "val_accuracy", facet="batch_size",          # doctest: +SKIP
  ...              color="learning_rate", x="examples")
  >>> save(fig, "plots/curves.png")                                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from jaxlab.atomic import atomic_open
from jaxlab.figures_curves import compare, curves
from jaxlab.figures_summary import bars, heatmap, sensitivity
from jaxlab.plot_data import (
    BANDS,
    VALUES,
    X_AXES,
    axes_of,
    check_choice,
    check_metric,
    metrics_of,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BANDS",
    "FORMATS",
    "VALUES",
    "X_AXES",
    "axes_of",
    "bars",
    "check_metric",
    "compare",
    "curves",
    "heatmap",
    "metrics_of",
    "save",
    "sensitivity",
]

FORMATS = ("png", "svg", "pdf")


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
    check_choice("format", fmt, FORMATS)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    return path

"""Statistics over seeds: every number a study reports is a mean with a 95% interval.

A claim "holds" only beyond the seed noise:

* a **difference** holds when the interval of ``a - b`` (paired by seed) excludes 0;
* a **trend** holds when the interval of the rank correlation between an axis and a measure
  (one Spearman correlation per seed, then a t interval over seeds) excludes 0.

The intervals are Student-t intervals over the seed repeats (``n - 1`` degrees of freedom),
the rule of :mod:`jaxlab.confidence` that the plots draw too.
With one seed there is no interval (``low = high = nan``) and nothing is shown beyond noise.

Example:
  >>> e = mean_ci([0.90, 0.92, 0.91, 0.93, 0.94])
  >>> round(e.mean, 3), e.excludes(0.5)
  (0.92, True)
  >>> str(e)
  '0.92 [0.9, 0.94]'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jaxlab.confidence import LEVEL, interval, t_quantile

if TYPE_CHECKING:
    from jaxlab.results import Result



@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` seeds with its ``level`` confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the whole interval lies on one side of ``value`` (False without one)."""
        return bool(self.low > value or self.high < value)

    def above(self, value: float = 0.0) -> bool:
        """Whether the whole interval lies above ``value``."""
        return bool(self.low > value)

    def below(self, value: float = 0.0) -> bool:
        """Whether the whole interval lies below ``value``."""
        return bool(self.high < value)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def numbers(self, name: str) -> dict[str, float]:
        """``{name: mean, name_ci_low: low, name_ci_high: high}`` for :class:`Findings`."""
        return {name: self.mean, f"{name}_ci_low": self.low, f"{name}_ci_high": self.high}

    def __str__(self) -> str:
        return f"{_g(self.mean)} [{_g(self.low)}, {_g(self.high)}]"

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        return (f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]")


def _g(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def mean_ci(values: Sequence[float] | np.ndarray | pd.Series, level: float = LEVEL) -> Estimate:
    """Mean of ``values`` (one per seed; NaNs dropped) with a Student-t interval.

    A value that is infinite (a diverged variant) makes the mean and the interval infinite.
    """
    mean, low, high, n = interval(np.asarray(values, np.float64).ravel(), level)
    return Estimate(float(mean), float(low), float(high), int(n), level)


def diff_ci(a: pd.Series | Sequence[float], b: pd.Series | Sequence[float],
            level: float = LEVEL) -> Estimate:
    """``a - b`` with an interval: paired by index (seed) when ``a`` and ``b`` are Series
    with shared labels, else a Welch interval for two independent samples."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        shared = a.index.intersection(b.index)
        if len(shared) >= 2:
            return mean_ci(a.loc[shared].to_numpy() - b.loc[shared].to_numpy(), level)
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) < 2 or len(y) < 2:
        m = float(np.mean(x) - np.mean(y)) if len(x) and len(y) else math.nan
        return Estimate(m, math.nan, math.nan, min(len(x), len(y)), level)
    vx, vy = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1)) if se > 0 else 1
    m = float(np.mean(x) - np.mean(y))
    half = t_quantile(max(int(df), 1), level) * se
    return Estimate(m, m - half, m + half, min(len(x), len(y)), level)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get mean ranks; ``nan`` if
    either is constant). Infinite values rank as the largest."""
    rx = pd.Series(np.asarray(x, np.float64)).rank().to_numpy()
    ry = pd.Series(np.asarray(y, np.float64)).rank().to_numpy()
    if len(rx) < 2 or np.std(rx) == 0 or np.std(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


# -- over a sweep's result ----------------------------------------------------------------------
def per_seed(result: Result, column: str, axis: str, *, where: Mapping[str, Any] | None = None,
             seed: str = "seed") -> pd.DataFrame:
    """``column`` as a table: values of ``axis`` (rows) x seeds (columns).

    ``column`` is a ``result.variants`` column (``final_loss``, ``best_val_accuracy``...);
    variants not selected by ``where`` are left out; repeats that share an axis value and a
    seed (other swept axes) are averaged.
    """
    from jaxlab.course.framework import _axis, _select

    rows = _select(result.variants, result, where)
    a, s = _axis(result, axis), _axis(result, seed)
    return rows.pivot_table(index=a, columns=s, values=column, aggfunc="mean", dropna=False)


def by_axis(result: Result, column: str, axis: str, *, where: Mapping[str, Any] | None = None,
            seed: str = "seed", level: float = LEVEL) -> pd.DataFrame:
    """Per value of ``axis``: ``mean``, ``low``, ``high``, ``n`` of ``column`` over seeds."""
    table = per_seed(result, column, axis, where=where, seed=seed)
    rows = {k: dataclasses.astuple(mean_ci(table.loc[k].to_numpy(), level))[:4]
            for k in table.index}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "low", "high", "n"])


def at(result: Result, column: str, axis: str, value: Any, *,
       where: Mapping[str, Any] | None = None, seed: str = "seed",
       level: float = LEVEL) -> Estimate:
    """``column`` at ``axis = value`` over seeds."""
    return mean_ci(per_seed(result, column, axis, where=where, seed=seed).loc[value], level)


def trend(result: Result, column: str, axis: str, *, where: Mapping[str, Any] | None = None,
          seed: str = "seed", level: float = LEVEL) -> Estimate:
    """Rank correlation of ``axis`` and ``column``: one Spearman per seed, interval over seeds.

    A trend holds (rising: ``trend(...).above(0)``; falling: ``below(0)``) only when the
    interval excludes 0. When every seed gives the same correlation (say -1) the interval
    has zero width: the trend is the same in every repeat.
    """
    table = per_seed(result, column, axis, where=where, seed=seed)
    x = table.index.to_numpy()
    rhos = [spearman(x, table[c].to_numpy()) for c in table.columns]
    return mean_ci(rhos, level)


def difference(result: Result, column: str, axis: str, a: Any, b: Any, *,
               where: Mapping[str, Any] | None = None, seed: str = "seed",
               level: float = LEVEL) -> Estimate:
    """``column`` at ``axis = a`` minus at ``axis = b``, paired by seed."""
    table = per_seed(result, column, axis, where=where, seed=seed)
    return diff_ci(table.loc[a], table.loc[b], level)


def verdict(holds: bool) -> str:
    """The words for a claim's verdict in a summary."""
    return "holds" if holds else "not shown in this run"


# -- per-variant measures and tables with intervals -----------------------------------------------
def with_columns(result: Result, **columns: pd.Series) -> Result:
    """``result`` with per-variant measures (Series indexed by variant) added to
    ``variants``, so that :func:`trend`, :func:`difference`, :func:`by_axis` can use them."""
    return dataclasses.replace(result, variants=result.variants.assign(**columns))


def at_epoch(result: Result, metric: str, epoch: int) -> pd.Series:
    """Per variant: ``metric`` at ``epoch`` (1-based; its last epoch if it stopped earlier)."""
    h = result.history
    last = h[h.epoch <= epoch].sort_values("epoch").groupby("variant").tail(1)
    return last.set_index("variant")[metric]


def table(result: Result, columns: Mapping[str, str], axis: str, *,
          where: Mapping[str, Any] | None = None, seed: str = "seed",
          level: float = LEVEL) -> pd.DataFrame:
    """Per value of ``axis`` (rows): for each ``{label: column}`` the mean over seeds and
    its interval, as columns ``label``, ``label CI low``, ``label CI high``."""
    parts = {}
    for label, column in columns.items():
        b = by_axis(result, column, axis, where=where, seed=seed, level=level)
        parts |= {label: b["mean"], f"{label} CI low": b["low"], f"{label} CI high": b["high"]}
    return pd.DataFrame(parts).rename_axis(axis.rpartition(".")[2]).reset_index()

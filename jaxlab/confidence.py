"""Student-t confidence intervals of a mean over repeats (seeds): the one rule, written once.

:mod:`jaxlab.course.stats` reports every number with it, and the plots of
:mod:`jaxlab.plotting` draw it as bands and error bars. For ``n`` values (NaNs dropped) with
mean ``m`` and sample standard deviation ``s`` (``ddof=1``), the interval at ``level`` is
``m ± t(0.5 + level / 2; n - 1) * s / sqrt(n)``. With one value there is no interval
(``low = high = nan``); a value that is infinite (a diverged variant) makes the mean
infinite and the interval collapse onto it.

Example:
  >>> mean, low, high, n = interval([0.90, 0.92, 0.91, 0.93, 0.94])
  >>> round(float(mean), 3), round(float(high - mean), 4), int(n)
  (0.92, 0.0196, 5)
"""

from __future__ import annotations

import numpy as np

LEVEL = 0.95


def t_quantile(df, level: float = LEVEL):
    """The two-sided Student-t critical value for ``df`` degrees of freedom (an array or a
    number; ``scipy.stats.t.ppf(0.5 + level / 2, df)``)."""
    from scipy import stats

    out = stats.t.ppf(0.5 + level / 2, df)
    return float(out) if np.ndim(out) == 0 else out


def interval(values, level: float = LEVEL, axis: int = -1):
    """Mean of ``values`` along ``axis`` (NaNs dropped) with its t interval.

    Args:
      values: ``(..., n)`` numbers, one per repeat along ``axis``.
      level: the confidence level (0.95: a 95% interval).
      axis: the repeats' axis.

    Returns:
      ``(mean, low, high, n)``, each of ``values``' shape without ``axis`` (0-d arrays for
      1-D input): ``nan`` where no value is left, ``low = high = nan`` with one value,
      ``low = high = mean`` where a value is infinite.
    """
    x = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    keep = ~np.isnan(x)
    n = keep.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(keep, x, 0.0).sum(-1)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        finite = np.where(keep, np.isfinite(x), True).all(-1)
        dev = np.where(keep & finite[..., None], x - mean[..., None], 0.0)
        sd = np.sqrt((dev ** 2).sum(-1) / np.maximum(n - 1, 1))
        half = t_quantile(np.maximum(n - 1, 1), level) * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n >= 2, np.where(finite, half, 0.0), np.nan)
    return mean, mean - half, mean + half, n

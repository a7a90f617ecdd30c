"""What the plots of :mod:`jaxlab.plotting` read from a result, and the checks of their arguments.

A result here is anything with the ``history`` and ``variants`` DataFrames of a
:class:`jaxlab.results.Result`. Nothing here draws: no matplotlib.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxlab import confidence, conventions
from jaxlab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

X_AXES = {"epoch": "epoch", "updates": "optimizer updates", "examples": "examples seen"}
BANDS = ("ci", "std", "minmax", "none")
VALUES = conventions.SUMMARIES
_NOT_METRICS = {"variant", "epoch", "updates", "examples"}


# -- what a result holds ------------------------------------------------------------------------
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


def check_choice(name: str, value: str, allowed) -> str:
    """``value`` if it is one of ``allowed``, else :class:`ConfigError` naming ``name``."""
    if value not in allowed:
        raise ConfigError(name, value, f"expected one of {list(allowed)}")
    return value


def distinct(**roles: str | None) -> None:
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


def sort_key(v: Any) -> tuple:
    """Sort key for axis values of mixed kinds: numbers, then strings, then ``None``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v, "")
    return (1, 0, str(v)) if v is not None else (2, 0, "")


def uniques(values) -> list:
    """The distinct values, NaN as ``None``, in :func:`sort_key` order."""
    return sorted({_clean(v) for v in values}, key=sort_key)


def variants_of(result) -> dict[int, dict]:
    """variant -> ``{"values": axis -> value, "status": status}``."""
    axes = axes_of(result)
    out = {}
    for row in result.variants.to_dict("records"):
        out[int(row["variant"])] = {
            "values": {a: _clean(row[a]) for a in axes},
            "status": row.get("status", "ok"),
        }
    return out


# -- curves and summaries -----------------------------------------------------------------------
def curve(history: pd.DataFrame, variant: int, metric: str, x: str):
    """One variant's ``(x, metric, epoch)`` arrays in epoch order."""
    h = history[history.variant == variant].sort_values("epoch")
    return h[x].to_numpy(np.float64), h[metric].to_numpy(np.float64), h.epoch.to_numpy()


def mean_and_band(history: pd.DataFrame, vs: list[int], metric: str, x: str, band: str):
    """Mean over the repeats ``vs`` per epoch (``NaN``-aware), and the band's edges."""
    h = history[history.variant.isin(vs)]
    arr = h.pivot(index="epoch", columns="variant", values=metric).to_numpy(np.float64)
    xs = (h.epoch.drop_duplicates().sort_values().to_numpy(np.float64)[:, None] if x == "epoch"
          else h.pivot(index="epoch", columns="variant", values=x).to_numpy(np.float64))
    mean, lo, hi = spread(arr, band)
    with quiet():
        xm = np.nanmean(xs, axis=1)
    return xm, mean, lo, hi


def spread(arr: np.ndarray, band: str):
    """Mean over the repeats (the last axis of ``arr``, NaNs dropped) and the edges of
    ``band`` around it: ``ci`` (95% t interval, :mod:`jaxlab.confidence`), ``std`` (± one
    standard deviation), ``minmax``; ``None`` edges for ``none``."""
    arr = np.asarray(arr, np.float64)
    with quiet():
        mean = np.nanmean(arr, axis=-1)
        if band == "ci":
            _, lo, hi, _ = confidence.interval(arr, axis=-1)
        elif band == "std":
            sd = np.nanstd(arr, axis=-1)
            lo, hi = mean - sd, mean + sd
        elif band == "minmax":
            lo, hi = np.nanmin(arr, axis=-1), np.nanmax(arr, axis=-1)
        else:
            lo = hi = None
    return mean, lo, hi


def band_words(band: str, over: str) -> str:
    """What a mean line and its band show, for a title: ``mean, 95% CI over seed``."""
    what = {"ci": f", {round(100 * confidence.LEVEL)}% CI", "std": " ± std",
            "minmax": ", min-max", "none": ""}[band]
    return f"mean{what} over {over}"


@contextlib.contextmanager
def quiet():
    """Silence NumPy's all-NaN warnings (an epoch where every repeat diverged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def value_column(result, metric: str, value: str) -> str:
    """The ``variants`` column of ``metric``'s ``value`` (``final``/``best``), checked."""
    check_choice("value", value, VALUES)
    col = conventions.summary_column(value, metric)
    if col not in result.variants:
        have = conventions.summarized(result.variants.columns, value)
        raise ConfigError("metric", metric, f"no {value} value in the results; expected one "
                                            f"of {have}")
    return col


def default_axis(axes: list[str], prefer: str) -> str:
    """The axis whose field is ``prefer`` (``learning_rate``) if swept, else the first."""
    if not axes:
        raise ConfigError("axis", None, "the result has no swept axes")
    hits = [a for a in axes if a.endswith("." + prefer)]
    return hits[0] if hits else axes[0]

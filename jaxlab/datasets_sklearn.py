"""scikit-learn's synthetic data sets (blobs, circles, moons, regression) and digits.

scikit-learn is imported when a generator is first needed (a ``DataConfig`` of one of these
names checks its options against the generator's signature), not with :mod:`jaxlab.data`.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxlab.errors import ConfigError

# name -> (generator in sklearn.datasets, task, default options). Defaults follow the course.
GENERATORS = types.MappingProxyType({
    "blobs": ("make_blobs", "classification", {"n_samples": 1000, "centers": 3,
              "n_features": 2, "cluster_std": 2.0, "random_state": 2}),
    "circles": ("make_circles", "classification",
                {"n_samples": 1000, "noise": 0.1, "random_state": 1}),
    "moons": ("make_moons", "classification",
              {"n_samples": 1000, "noise": 0.1, "random_state": 1}),
    "regression": ("make_regression", "regression",
                   {"n_samples": 1000, "n_features": 20, "noise": 0.1, "random_state": 1}),
})
# Generator arguments that change what the generator returns.
_NOT_OPTIONS = frozenset({"return_centers", "coef"})


def _generator(name: str) -> Callable:
    from sklearn import datasets as skd

    return getattr(skd, GENERATORS[name][0])


def task(name: str) -> str:
    """``classification`` or ``regression``: what the data set ``name`` is for."""
    return GENERATORS[name][1] if name in GENERATORS else "classification"


def allowed_options(name: str) -> list[str]:
    """The generator's keyword arguments that ``DataConfig.options`` may set (none for
    names that are not generators)."""
    if name not in GENERATORS:
        return []
    params = inspect.signature(_generator(name)).parameters
    return sorted(set(params) - _NOT_OPTIONS)


def generate(name: str, options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, task)`` from generator ``name`` with ``options`` over its defaults.

    Raises:
      ConfigError: naming ``data.options`` when the generator refuses them.
    """
    method, kind, defaults = GENERATORS[name]
    options = {**defaults, **options}
    try:
        x, y = _generator(name)(**options)
    except (ValueError, TypeError) as e:
        raise ConfigError("data.options", options, f"{method}: {e}") from e
    return x, y, kind


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: ``x`` (1797, 64) in [0, 1], ``y`` (1797,) labels."""
    from sklearn import datasets as skd

    d = skd.load_digits()
    return d.data / 16.0, d.target  # pixels 0..16

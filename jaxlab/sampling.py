"""Random sweep axes: ``n`` points drawn with a seed from uniform, log-uniform or choice."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from jaxlab.errors import check, unknown


def sample_count(random: Mapping) -> int:
    """The number of points ``random`` asks for (its ``n``), checked; nothing is drawn."""
    n = random.get("n")
    check(isinstance(n, int) and not isinstance(n, bool) and n >= 1, "sweep.random.n", n,
          "must be an integer >= 1")
    return n


def sample(random: Mapping, resolve_key: Callable[[str], str], as_list: Callable) -> list[dict]:
    """``n`` random points from ``{key: {"uniform": [a, b]} | {"log_uniform": [a, b]} |
    {"choice": [...]}}`` drawn with ``seed``."""
    random = dict(random)
    n = random.pop("n", None)
    seed = random.pop("seed", 0)
    check(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0, "sweep.random.seed",
          seed, "must be an integer >= 0")
    check(isinstance(n, int) and n >= 1, "sweep.random.n", n, "must be an integer >= 1")
    rng = np.random.default_rng(seed)
    columns = {}
    for key, dist in random.items():
        field = f"sweep.random.{key}"
        check(isinstance(dist, Mapping) and len(dist) == 1, field, dist,
              "must be {uniform = [a, b]}, {log_uniform = [a, b]} or {choice = [...]}")
        (kind, arg), = dist.items()
        if kind in ("uniform", "log_uniform"):
            check(isinstance(arg, (list, tuple)) and len(arg) == 2
                  and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arg)
                  and arg[0] < arg[1], field, arg,
                  "needs [low, high] with low < high")
            if kind == "uniform":
                col = rng.uniform(arg[0], arg[1], n)
            else:
                check(arg[0] > 0, field, arg, "log_uniform needs low > 0")
                col = np.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]), n))
            columns[resolve_key(key)] = [float(v) for v in col]
        elif kind == "choice":
            arg = as_list(arg, field)
            columns[resolve_key(key)] = [arg[i] for i in rng.integers(0, len(arg), n)]
        else:
            raise unknown(field, kind, ("uniform", "log_uniform", "choice"))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]

"""A sweep from plan to trained state: the names scripts use, from the modules that hold them.

* :mod:`jaxlab.planning`: validate and group a sweep (:func:`plan`, :class:`Plan`, :class:`Group`);
* :mod:`jaxlab.variants`: per-variant arrays and initial states;
* :mod:`jaxlab.compiled`: the one place where ``jit``, ``vmap``, ``scan`` and ``shard_map``
  are applied;
* :mod:`jaxlab.runner`: the host loop (:func:`run_plan`, :class:`EpochReport`, chunks,
  halving, checkpoints, callbacks);
* :mod:`jaxlab.cache`: the persistent compilation cache.
"""

from __future__ import annotations

from jaxlab.cache import enable_compilation_cache
from jaxlab.planning import Group, Plan, n_micro, plan
from jaxlab.runner import Callback, EpochReport, memory_estimate, run_plan
from jaxlab.variants import group_data, variant_keys

_n_micro = n_micro

__all__ = ["Callback", "EpochReport", "Group", "Plan", "enable_compilation_cache", "group_data",
           "memory_estimate", "n_micro", "plan", "run_plan", "variant_keys"]

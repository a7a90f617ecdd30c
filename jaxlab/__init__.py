"""jaxlab: train many variants of a Flax model at once, as one jit-compiled, vmap-batched program.

The public names load on first use (``jl.run`` imports JAX, ``import jaxlab`` alone does
not), so that ``jaxlab --help`` and a CLI mistake answer at once; so does the submodule
``jl.plotting`` (matplotlib itself waits for the first figure).

Loading: ``jl.load(DataConfig)`` loads a data set; ``jl.load_result(path)`` a saved result.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Submodules reachable as attributes (``jl.plotting``), imported on first use.
_SUBMODULES = ("plotting",)

#: Public name -> the module that defines it.
_EXPORTS = {
    "ConfigError": "jaxlab.errors",
    "JaxlabError": "jaxlab.errors",
    "DataConfig": "jaxlab.data",
    "Dataset": "jaxlab.data",
    "from_arrays": "jaxlab.data",
    "load": "jaxlab.data",
    "ModelConfig": "jaxlab.config",
    "Sweep": "jaxlab.config",
    "TrainConfig": "jaxlab.config",
    "Network": "jaxlab.api",
    "plan": "jaxlab.api",
    "run": "jaxlab.api",
    "Result": "jaxlab.results",
    "load_result": "jaxlab.results",
    "enable_compilation_cache": "jaxlab.cache",
}

__all__ = [
    "ConfigError", "DataConfig", "Dataset", "JaxlabError", "ModelConfig", "Network", "Result",
    "Sweep", "TrainConfig", "enable_compilation_cache", "from_arrays", "load", "load_result",
    "plan", "plotting", "run",
]
__version__ = "0.1.0"

if TYPE_CHECKING:  # for readers and type checkers: the same names, imported eagerly
    from jaxlab import plotting
    from jaxlab.api import Network, plan, run
    from jaxlab.cache import enable_compilation_cache
    from jaxlab.config import ModelConfig, Sweep, TrainConfig
    from jaxlab.data import DataConfig, Dataset, from_arrays, load
    from jaxlab.errors import ConfigError, JaxlabError
    from jaxlab.results import Result, load_result


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxlab.{name}")  # the import binds jaxlab.<name>
    raise AttributeError(f"module 'jaxlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))

"""jaxlab: train many variants of a Flax MLP at once, as one jit-compiled, vmap-batched program."""

from jaxlab.api import Network, plan, run
from jaxlab.config import ModelConfig, Sweep, TrainConfig
from jaxlab.data import DataConfig, Dataset, from_arrays, load
from jaxlab.errors import ConfigError, JaxlabError
from jaxlab.results import Result

__all__ = [
    "ConfigError",
    "DataConfig",
    "Dataset",
    "JaxlabError",
    "ModelConfig",
    "Network",
    "Result",
    "Sweep",
    "TrainConfig",
    "from_arrays",
    "load",
    "plan",
    "run",
]
__version__ = "0.1.0"

"""Configs and sweep specs: plain frozen dataclasses, loadable from TOML and overridable.

A :class:`Sweep` is a base config (``data``, ``model``, ``train``) plus axes:

* ``grid``: the cartesian product of its axes;
* ``zip``: axes of equal length, taken together (one combined axis);
* ``random``: ``n`` samples (uniform, log-uniform, choice) drawn with a seed (one combined axis).

The variants are the product ``grid x zip x random``. Axis names are dotted
(``"train.learning_rate"``) or short when unambiguous (``"learning_rate"``, ``"width"``).
Derived values are computed, never written back.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxlab.data import DataConfig
from jaxlab.errors import ConfigError, check, unknown
from jaxlab.losses import METRICS, OUTPUT_ACTIVATIONS, canonical_loss
from jaxlab.models import ACTIVATIONS, BATCH_NORM, KERNEL_INITS
from jaxlab.optim import FAMILIES, SCHEDULES


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The MLP.

    Attributes:
      width: units of every hidden layer (ignored when ``hidden`` is given).
      depth: number of hidden layers (ignored when ``hidden`` is given).
      hidden: explicit widths, one per hidden layer, e.g. ``(100, 100)``.
      activation: hidden activation, one of :data:`jaxlab.models.ACTIVATIONS`.
      kernel_init: one of :data:`jaxlab.models.KERNEL_INITS` (Keras' default: glorot_uniform).
      init_scale: variance multiplier; for ``normal``/``uniform`` the std/limit itself
        (``None``: 1, or 0.05 for ``normal``/``uniform`` as in Keras).
      dropout: dropout rate after every hidden layer, in ``[0, 1)``.
      batch_norm: ``"none"``, ``"before"`` or ``"after"`` the activation (``True`` = after,
        the course's placement).
      output_activation: ``"auto"`` lets the loss choose (softmax for cross-entropy...).
    """

    width: int = 50
    depth: int = 1
    hidden: tuple[int, ...] | None = None
    activation: str = "relu"
    kernel_init: str = "glorot_uniform"
    init_scale: float | None = None
    dropout: float = 0.0
    batch_norm: str = "none"
    output_activation: str = "auto"

    def __post_init__(self):
        if isinstance(self.batch_norm, bool):
            object.__setattr__(self, "batch_norm", "after" if self.batch_norm else "none")
        if isinstance(self.hidden, (list, range, np.ndarray)):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        check(self.hidden is None or isinstance(self.hidden, tuple), "model.hidden", self.hidden,
              "must be a list of widths, e.g. [64, 32]")

    @property
    def widths(self) -> tuple[int, ...]:
        return self.hidden if self.hidden is not None else (self.width,) * self.depth

    @property
    def scale(self) -> float:
        if self.init_scale is not None:
            return float(self.init_scale)
        return 0.05 if self.kernel_init in ("normal", "uniform") else 1.0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training: optimizer, loss, schedule, batches, stopping.

    Attributes (the numeric ones can all be swept in one program):
      optimizer: ``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``, ``rmsprop``,
        ``adagrad``.
      learning_rate, momentum, b1, b2, eps, rho, initial_accumulator, weight_decay:
        optimizer hyperparameters (Keras defaults).
      clip_norm, clip_value: gradient clipping by global norm / by value (``None`` = off).
      l2: Keras-style L2 penalty ``l2 * sum(kernel**2)`` added to the loss.
      schedule, decay_rate, decay_steps, warmup_steps, alpha: learning-rate schedule in
        optimizer updates, see :func:`jaxlab.optim.learning_rate`.
      loss: ``"auto"`` (sparse categorical cross-entropy or mse) or a loss name.
      metrics: metric names (``"auto"``: accuracy for classification, mae for regression).
      epochs, batch_size: as in Keras. Every variant updates with exactly its batch size,
        including the smaller last batch.
      microbatch: samples per compiled step (``None``: the smallest batch size of the group).
      shuffle: reshuffle the training set every epoch.
      seed: seeds initialisation, dropout and shuffling; ``init_seed``, ``dropout_seed`` and
        ``shuffle_seed`` override one of them.
      early_stopping, monitor, mode, patience, min_delta, restore_best_weights: Keras'
        ``EarlyStopping``, decided inside the compiled loop per variant.
      dtype: ``float32`` or ``float64`` (needs ``jax_enable_x64``).
      eval_batch_size: samples per evaluation chunk (memory bound of evaluation).
      diagnostics: record per-layer gradient norms, weight norms, dead and saturated unit
        fractions every epoch (see :func:`jaxlab.engine.diagnose`).
      freeze: the first ``freeze`` hidden layers keep their initial weights (transfer
        learning with fixed features); swept in one program.
      halving_every, halving_eta, halving_metric: successive halving (see
        :mod:`jaxlab.halving`): every ``halving_every`` epochs (0: off) keep the best
        ``1/halving_eta`` of the variants still training by ``halving_metric`` (``"auto"``:
        ``val_loss``, or ``loss`` without validation data); the others stop, ``pruned``.
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-7
    rho: float = 0.9
    initial_accumulator: float = 0.1
    weight_decay: float = 0.004
    clip_norm: float | None = None
    clip_value: float | None = None
    l2: float = 0.0
    schedule: str = "constant"
    decay_rate: float = 0.96
    decay_steps: int = 1000
    warmup_steps: int = 0
    alpha: float = 0.0
    loss: str = "auto"
    metrics: tuple[str, ...] | str = "auto"
    epochs: int = 10
    batch_size: int = 32
    microbatch: int | None = None
    shuffle: bool = True
    seed: int = 0
    init_seed: int | None = None
    dropout_seed: int | None = None
    shuffle_seed: int | None = None
    early_stopping: bool = False
    monitor: str = "val_loss"
    mode: str = "auto"
    patience: int = 0
    min_delta: float = 0.0
    restore_best_weights: bool = False
    dtype: str = "float32"
    eval_batch_size: int = 2048
    diagnostics: bool = False
    freeze: int = 0
    halving_every: int = 0
    halving_eta: float = 3.0
    halving_metric: str = "auto"

    def __post_init__(self):
        if isinstance(self.metrics, list):
            object.__setattr__(self, "metrics", tuple(self.metrics))
        elif isinstance(self.metrics, str) and self.metrics != "auto":
            object.__setattr__(self, "metrics", (self.metrics,))  # one name, not its letters
        check(isinstance(self.metrics, (str, tuple)), "train.metrics", self.metrics,
              'must be a list of metric names or "auto"')


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
_FIELDS = {sec: {f.name for f in dataclasses.fields(cls)} for sec, cls in SECTIONS.items()}


def resolve_key(key: str) -> str:
    """``"learning_rate"`` -> ``"train.learning_rate"``; dotted keys are checked.

    ``data.<name>`` accepts any data-generator option (e.g. ``data.n_samples``).
    """
    if "." in key:
        sec, _, name = key.partition(".")
        if sec not in SECTIONS:
            raise unknown("sweep axis", key, [f"{s}.*" for s in SECTIONS])
        if sec != "data" and name not in _FIELDS[sec]:
            raise unknown("sweep axis", key, [f"{sec}.{f}" for f in _FIELDS[sec]])
        return key
    hits = [sec for sec, names in _FIELDS.items() if key in names]
    if len(hits) != 1:
        raise ConfigError("sweep axis", key, "unknown or ambiguous; write it as section.name, "
                          "e.g. train.learning_rate")
    return f"{hits[0]}.{key}"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One fully resolved training configuration and the axis values that made it."""

    index: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    values: Mapping[str, Any]


#: Fields whose "unset" is ``None``; TOML has no null, so sweep files write ``"none"``.
OPTIONAL = {
    "model": {"hidden", "init_scale"},
    "train": {"clip_norm", "clip_value", "microbatch", "init_seed", "dropout_seed",
              "shuffle_seed"},
    "data": {"train_size", "validation_split", "data_dir", "limit_train", "limit_val"},
}


def _unset(section: str, name: str, value):
    """``"none"`` means ``None`` for an optional field (e.g. ``clip_norm = "none"``)."""
    if (isinstance(value, str) and value.lower() in ("none", "off")
            and name in OPTIONAL.get(section, ())):
        return None
    return value


def _apply(data: DataConfig, model: ModelConfig, train: TrainConfig, overrides: Mapping):
    sections = {"data": {}, "model": {}, "train": {}}
    for key, value in overrides.items():
        sec, _, name = resolve_key(key).partition(".")
        sections[sec][name] = _unset(sec, name, value)
    if sections["data"]:
        d = data.to_dict()
        opts = dict(d.get("options") or {})
        for name, value in sections["data"].items():
            if name in _FIELDS["data"]:
                d[name] = value
            else:
                opts[name] = value
        d["options"] = opts
        data = DataConfig.from_dict(d)
    if sections["model"].keys() & {"width", "depth"} and "hidden" not in sections["model"]:
        sections["model"]["hidden"] = None
    model = dataclasses.replace(model, **sections["model"])
    train = dataclasses.replace(train, **sections["train"])
    return data, model, train


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A sweep: a base config and the axes to vary.

    Example:
      >>> spec = Sweep(data=DataConfig("blobs"), grid={"learning_rate": [0.1, 0.01],
      ...                                             "batch_size": [8, 32]})
      >>> len(spec.variants())
      4
    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    grid: Mapping[str, Sequence] = dataclasses.field(default_factory=dict)
    zip: Mapping[str, Sequence] = dataclasses.field(default_factory=dict)
    random: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: str = "sweep"

    def axes(self) -> list[str]:
        """The swept keys, dotted, in declaration order."""
        keys = [*self.grid, *self.zip, *(k for k in self.random if k not in ("n", "seed"))]
        return [resolve_key(k) for k in keys]

    def points(self) -> list[dict[str, Any]]:
        """The override dicts of every variant (dotted keys), grid-major."""
        axes = self.axes()
        twice = sorted({a for a in axes if axes.count(a) > 1})
        check(not twice, "sweep", twice, "axis declared twice (in grid, zip or random)")
        factors: list[list[dict]] = []
        for key, values in self.grid.items():
            values = _as_list(values, f"sweep.grid.{key}")
            factors.append([{resolve_key(key): v} for v in values])
        if self.zip:
            lists = {resolve_key(k): _as_list(v, f"sweep.zip.{k}") for k, v in self.zip.items()}
            lengths = {k: len(v) for k, v in lists.items()}
            check(len(set(lengths.values())) == 1, "sweep.zip", lengths,
                  "zipped axes must have equal lengths")
            n = next(iter(lengths.values()))
            factors.append([{k: v[i] for k, v in lists.items()} for i in range(n)])
        if self.random:
            factors.append(_sample(self.random))
        points = [{k: _unset(*k.split(".", 1), v)
                   for k, v in itertools.chain.from_iterable(d.items() for d in combo)}
                  for combo in itertools.product(*factors)]
        check(len(points) > 0, "sweep", "empty", "the sweep has no variants (an axis is empty)")
        return points

    def variants(self) -> list[Variant]:
        """Every variant, resolved and validated (raises :class:`ConfigError` before compiling)."""
        out = []
        for i, point in enumerate(self.points()):
            data, model, train = _apply(self.data, self.model, self.train, point)
            validate(model, train, where=f" (variant {i}: {point})" if point else "")
            out.append(Variant(i, data, model, train, point))
        return out

    # -- serialization ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        def clean(d):
            return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                    if v is not None}

        out = {"name": self.name, "data": clean(self.data.to_dict()),
               "model": clean(dataclasses.asdict(self.model)),
               "train": clean(dataclasses.asdict(self.train))}
        sweep = {}
        for kind in ("grid", "zip"):
            if getattr(self, kind):
                sweep[kind] = {k: ["none" if x is None else x for x in v]
                               for k, v in getattr(self, kind).items()}
        if self.random:
            sweep["random"] = dict(self.random)
        if sweep:
            out["sweep"] = sweep
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> Sweep:
        d = dict(d)
        known = {"name", "data", "model", "train", "sweep"}
        for key in d:
            if key not in known:
                raise unknown("spec", key, known)
            check(key == "name" or isinstance(d[key], Mapping), key, d[key], "must be a table")
        model = _section(ModelConfig, d.get("model", {}), "model")
        train = _section(TrainConfig, d.get("train", {}), "train")
        data = DataConfig.from_dict(d.get("data", {}))
        sweep = dict(d.get("sweep", {}))
        for key in sweep:
            if key not in ("grid", "zip", "random"):
                raise unknown("sweep", key, ("grid", "zip", "random"))
            check(isinstance(sweep[key], Mapping), f"sweep.{key}", sweep[key], "must be a table")
        check(isinstance(d.get("name", "sweep"), str), "name", d.get("name"), "must be a string")
        spec = cls(data=data, model=model, train=train, grid=sweep.get("grid", {}),
                   zip=sweep.get("zip", {}), random=sweep.get("random", {}),
                   name=d.get("name", "sweep"))
        spec.axes()  # checks the axis names
        return spec

    @classmethod
    def from_toml(cls, path, overrides: Sequence[str] = ()) -> Sweep:
        """Load a sweep file, then apply ``--set key=value`` overrides."""
        try:
            with open(path, "rb") as f:
                d = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError("sweep file", str(path), "no such file") from None
        except OSError as e:  # a directory, no permission...
            raise ConfigError("sweep file", str(path), f"cannot read: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError("sweep file", str(path), f"invalid TOML: {e}") from None
        spec = cls.from_dict(apply_overrides(d, overrides))
        axes = set(spec.axes())
        for item in overrides:
            key = item.partition("=")[0].strip()
            if key.split(".")[0] not in ("sweep", "name") and resolve_key(key) in axes:
                raise ConfigError("--set", item, f"{resolve_key(key)} is a sweep axis; set "
                                  f"its values instead, e.g. sweep.grid.{key}=[...]")
        return spec

    def to_toml(self) -> str:
        return dump_toml(self.to_dict())


def _section(cls, d: Mapping, name: str):
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in d:
        if key not in fields:
            raise unknown(name, key, fields)
    d = {k: _unset(name, k, v) for k, v in d.items()}
    return cls(**d)


def _as_list(values, field: str) -> list:
    check(isinstance(values, (list, tuple, np.ndarray, range)), field, values,
          "an axis must be a list of values")
    values = list(values)
    check(len(values) > 0, field, values, "an axis must not be empty")
    return values


def _sample(random: Mapping) -> list[dict]:
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
            arg = _as_list(arg, field)
            columns[resolve_key(key)] = [arg[i] for i in rng.integers(0, len(arg), n)]
        else:
            raise unknown(field, kind, ("uniform", "log_uniform", "choice"))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def validate(model: ModelConfig, train: TrainConfig, where: str = "") -> None:
    """Refuse invalid model and training settings, naming the field and value."""

    def need(cond, field, value, reason):
        check(cond, field, value, reason + where)

    def number(x):
        return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)

    def integer(x):
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool)

    if not isinstance(model.activation, str) or model.activation not in ACTIVATIONS:
        raise unknown("model.activation", model.activation, ACTIVATIONS)
    if model.kernel_init not in KERNEL_INITS:
        raise unknown("model.kernel_init", model.kernel_init, KERNEL_INITS)
    if model.batch_norm not in BATCH_NORM:
        raise unknown("model.batch_norm", model.batch_norm, BATCH_NORM)
    if model.output_activation not in OUTPUT_ACTIVATIONS:
        raise unknown("model.output_activation", model.output_activation, OUTPUT_ACTIVATIONS)
    field = "model.hidden" if model.hidden is not None else "model.width"
    if model.hidden is None:
        need(integer(model.depth) and model.depth >= 1, "model.depth", model.depth,
             "must be an integer >= 1")
    need(len(model.widths) >= 1, field, model.hidden, "needs at least 1 hidden layer")
    for w in model.widths:
        need(integer(w) and w >= 1, field, w, "widths must be integers >= 1")
    need(number(model.dropout) and 0 <= model.dropout < 1, "model.dropout", model.dropout,
         "must be in [0, 1)")
    need(model.init_scale is None or (number(model.init_scale) and model.init_scale >= 0),
         "model.init_scale", model.init_scale, "must be >= 0")

    if train.optimizer not in FAMILIES:
        raise unknown("train.optimizer", train.optimizer, FAMILIES)
    if train.schedule not in SCHEDULES:
        raise unknown("train.schedule", train.schedule, SCHEDULES)
    if train.loss != "auto":
        canonical_loss(train.loss)
    if train.metrics != "auto":
        for m in train.metrics:
            if m not in METRICS:
                raise unknown("train.metrics", m, METRICS)
    positive = ("learning_rate", "eps", "decay_rate", "decay_steps")
    for name in positive:
        v = getattr(train, name)
        need(number(v) and v > 0 and math.isfinite(v), f"train.{name}", v, "must be > 0")
    for name in ("momentum", "b1", "b2", "rho"):
        v = getattr(train, name)
        need(number(v) and 0 <= v < 1, f"train.{name}", v, "must be in [0, 1)")
    for name in ("weight_decay", "l2", "initial_accumulator", "warmup_steps", "alpha",
                 "min_delta"):
        v = getattr(train, name)
        need(number(v) and v >= 0, f"train.{name}", v, "must be >= 0")
    for name in ("clip_norm", "clip_value"):
        v = getattr(train, name)
        need(v is None or (number(v) and v > 0), f"train.{name}", v, "must be > 0 (or unset)")
    for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0),
                      ("eval_batch_size", 1), ("freeze", 0)):
        v = getattr(train, name)
        need(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low,
             f"train.{name}", v, f"must be an integer >= {low}")
    need(train.microbatch is None or (isinstance(train.microbatch, int) and train.microbatch >= 1),
         "train.microbatch", train.microbatch, "must be an integer >= 1 (or unset)")
    for name in ("seed", "init_seed", "dropout_seed", "shuffle_seed"):
        v = getattr(train, name)
        need(v is None or (isinstance(v, (int, np.integer)) and v >= 0), f"train.{name}", v,
             "must be an integer >= 0")
    need(train.mode in ("auto", "min", "max"), "train.mode", train.mode, "must be auto/min/max")
    need(isinstance(train.monitor, str), "train.monitor", train.monitor, "must be a metric name")
    for name in ("shuffle", "early_stopping", "restore_best_weights"):
        v = getattr(train, name)
        need(isinstance(v, (bool, np.bool_)), f"train.{name}", v, "must be true or false")
    need(train.dtype in ("float32", "float64"), "train.dtype", train.dtype,
         "must be float32 or float64")
    need(train.freeze <= len(model.widths), "train.freeze", train.freeze,
         f"cannot freeze more than the {len(model.widths)} hidden layers")
    need(train.optimizer == "adamw" or train.weight_decay == TrainConfig.weight_decay,
         "train.weight_decay", train.weight_decay,
         f"applies to adamw only; use train.l2 with {train.optimizer}")


# -- --set overrides and a small TOML writer ---------------------------------------------------
def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (``0.1``, ``[1, 2]``, ``true``), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(d: Mapping, overrides: Sequence[str]) -> dict:
    """Apply ``key=value`` strings to a nested spec dict (``train.learning_rate=0.1``,
    ``sweep.grid.batch_size=[8,16]``); short keys resolve like sweep axes."""
    d = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in d.items()}
    for item in overrides:
        check("=" in item, "--set", item, "expected key=value")
        key, _, text = item.partition("=")
        key = key.strip()
        path = key.split(".")
        if path[0] not in ("sweep", "name"):
            path = resolve_key(key).split(".")
        data = d.get("data")
        if (path[0] == "data" and len(path) == 2 and path[1] not in _FIELDS["data"]
                and isinstance(data, Mapping) and isinstance(data.get("options"), Mapping)):
            path = ["data", "options", path[1]]  # a spec written by to_toml nests the options
        node = d
        for part in path[:-1]:
            node[part] = dict(node.get(part, {}))
            node = node[part]
        node[path[-1]] = parse_value(text.strip())
    return d


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'


def dump_toml(d: Mapping, prefix: str = "") -> str:
    """Write a nested dict of scalars, lists and tables as TOML (what specs need)."""
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and not (prefix.startswith("sweep.random") and prefix):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = f"{prefix}{_toml_key(k)}"
        body = dump_toml(v, prefix=name + ".")
        out += f"\n\n[{name}]\n" + body if not body.startswith("\n") else f"\n\n[{name}]" + body
    return out.strip("\n") + "\n" if not prefix else out

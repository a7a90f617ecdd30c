"""Configs and sweep specs: plain frozen dataclasses, loadable from TOML and overridable.

A :class:`Sweep` is a base config (``data``, ``model``, ``train``) plus axes:

* ``grid``: the cartesian product of its axes;
* ``zip``: axes of equal length, taken together (one combined axis);
* ``random``: ``n`` samples (uniform, log-uniform, choice) drawn with a seed (one combined axis).

The variants are the product ``grid x zip x random``. Axis names are dotted
(``"train.learning_rate"``) or short when unambiguous (``"learning_rate"``, ``"width"``).
Derived values are computed, never written back.

(About 500 lines: the configs, the axes they make and the checks that relate their fields
belong together; the field ranges themselves live in :mod:`jaxlab.hparams`, TOML writing in
:mod:`jaxlab.tomlio`, random axes in :mod:`jaxlab.sampling`.)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxlab import hparams, optim, plugins
from jaxlab.conventions import DTYPES
from jaxlab.data import DataConfig
from jaxlab.errors import ConfigError, check, unknown
from jaxlab.hparams import ANY, BOOL, Domain, choice, fraction, hparam, integer, positive, real
from jaxlab.losses import METRICS, OUTPUT_ACTIVATIONS, canonical_loss
from jaxlab.models import ACTIVATIONS, BATCH_NORM, KERNEL_INITS
from jaxlab.networks import BIAS_INITS
from jaxlab.optim import SCHEDULES
from jaxlab.sampling import sample, sample_count
from jaxlab.tomlio import dump_toml, parse_value

MAX_VARIANTS = 1_000_000  # a larger sweep is refused before its points are built


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network: the built-in MLP, or any Flax NNX module (``module``).

    Every field is declared with its range, role and meaning (:mod:`jaxlab.hparams`); the
    README's "Every axis" table lists them. ``hidden`` (explicit widths, e.g. ``(100, 100)``)
    wins over ``width`` x ``depth``. ``batch_norm=True`` means ``"after"`` (the course's
    placement).

    A user module: ``module`` is a factory (or ``"package.module:Name"``) called as
    ``module(n_in=..., n_out=..., rngs=nnx.Rngs(init_key), **options)`` that returns an
    ``nnx.Module`` whose ``__call__(x, *, train)`` maps ``(b, n_in)`` inputs to raw outputs
    ``(b, n_out)``. Its ``options`` are structure: variants that differ in them form groups.
    The MLP fields other than ``dropout`` do not apply to it.
    """

    module: Any = hparam(None, ANY, "a Flax NNX module factory or 'package.module:Name' "
                         "(unset: the built-in MLP)")
    options: Mapping[str, Any] = hparam({}, ANY, "keyword arguments of the module factory "
                                        "(sweep them as model.options.NAME)")
    width: int = hparam(50, integer(1), "units of every hidden layer (MLP)", "shape")
    depth: int = hparam(1, integer(1), "hidden layers (MLP)", "shape")
    hidden: tuple[int, ...] | None = hparam(None, Domain("any", optional=True),
                                            "explicit hidden widths, e.g. [64, 32] (MLP)",
                                            "shape")
    activation: str = hparam("relu", choice(*ACTIVATIONS), "hidden activation (MLP)")
    kernel_init: str = hparam("glorot_uniform", choice(*KERNEL_INITS),
                              "kernel initializer, Keras' definitions (MLP)", "init")
    output_init: str = hparam("glorot_uniform", choice("same", *KERNEL_INITS),
                              "the output layer's kernel initializer (default: Keras' Dense "
                              "default; 'same': kernel_init) (MLP)", "init")
    init_scale: float | None = hparam(None, real(0, optional=True),
                                      "initializer variance multiplier; for normal/uniform the "
                                      "std/limit itself (unset: 1, or 0.05 as in Keras)", "init")
    init_min: float | None = hparam(None, real(optional=True),
                                    "lower bound of 'uniform' kernels, Keras' RandomUniform "
                                    "minval (unset: -limit)", "init")
    init_max: float | None = hparam(None, real(optional=True),
                                    "upper bound of 'uniform' kernels, Keras' RandomUniform "
                                    "maxval (unset: +limit)", "init")
    bias_init: str = hparam("zeros", choice(*BIAS_INITS),
                            "bias initializer, Keras' bias_initializer; uniform: U(init_min, "
                            "init_max), default +-0.05, a constant when min = max; normal: "
                            "N(0, 0.05) (MLP)", "init")
    dropout: float = hparam(0.0, fraction(), "dropout rate after every hidden layer (MLP)",
                            "variant")
    batch_norm: str = hparam("none", choice(*BATCH_NORM),
                             "batch norm before or after the activation (MLP)")
    output_activation: str = hparam("auto", choice(*OUTPUT_ACTIVATIONS),
                                    "'auto' lets the loss choose (softmax for cross-entropy)")
    parametrization: str = hparam("standard", choice("standard", "mup"),
                                  "'mup': Maximal Update Parametrization, per-layer learning "
                                  "rates and output init scaled by width (MLP; sgd, momentum, "
                                  "nesterov, adam, adamw, rmsprop, adagrad)")
    mup_base_width: int = hparam(32, integer(1), "the width at which muP equals the standard "
                                 "parametrization (muP)")

    def __post_init__(self):
        if isinstance(self.batch_norm, bool):
            object.__setattr__(self, "batch_norm", "after" if self.batch_norm else "none")
        if isinstance(self.hidden, (list, range, np.ndarray)):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        check(self.hidden is None or isinstance(self.hidden, tuple), "model.hidden", self.hidden,
              "must be a list of widths, e.g. [64, 32]")
        check(isinstance(self.options, Mapping), "model.options", self.options,
              "must be a table of keyword arguments")

    @property
    def widths(self) -> tuple[int, ...]:
        return self.hidden if self.hidden is not None else (self.width,) * self.depth

    @property
    def scale(self) -> tuple[float, float]:
        """The hidden layers' initializer data ``(scale, shift)``: kernel = shift + scale * draw."""
        return _affine(self.kernel_init, self.init_scale, self.init_min, self.init_max)

    @property
    def output_kind(self) -> str:
        """The output layer's initializer."""
        return self.kernel_init if self.output_init == "same" else self.output_init

    @property
    def output_scale(self) -> tuple[float, float]:
        """The output layer's ``(scale, shift)``."""
        return _affine(self.output_kind, self.init_scale, self.init_min, self.init_max)

    @property
    def bias_scale(self) -> tuple[float, float]:
        """The biases' ``(scale, shift)``: Keras' RandomUniform/RandomNormal defaults (0.05),
        ``uniform`` shifted to ``[init_min, init_max]`` when they are set."""
        return _affine(self.bias_init, None, self.init_min, self.init_max)


def _scale(kind: str, init_scale: float | None) -> float:
    """``init_scale``, or Keras' default for ``kind`` (0.05 for normal/uniform, else 1)."""
    if init_scale is not None:
        return float(init_scale)
    return 0.05 if kind in ("normal", "uniform") else 1.0


def _affine(kind: str, init_scale, init_min, init_max) -> tuple[float, float]:
    """``(scale, shift)`` of ``kind``: a ``uniform`` kernel is U(init_min, init_max), each
    bound defaulting to -/+ the limit; other kinds are not shifted."""
    scale = _scale(kind, init_scale)
    if kind != "uniform" or (init_min is None and init_max is None):
        return scale, 0.0
    lo = -scale if init_min is None else float(init_min)
    hi = scale if init_max is None else float(init_max)
    check(lo <= hi, "model.init_min", lo, f"must not exceed model.init_max ({hi})")
    return (hi - lo) / 2, (hi + lo) / 2


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training: optimizer, loss, schedule, batches, stopping.

    Every field is declared once with its range, role and meaning (:mod:`jaxlab.hparams`;
    the README's "Every axis" table). Numeric fields are vectorized: one program trains
    every value. ``optimizer`` is a built-in name, ``"optax:NAME"``, ``"package.module:fn"``
    or a factory returning an ``optax.GradientTransformation``; it is called with
    ``learning_rate`` and ``optimizer_options`` (built-ins read their options from the
    fields of the same name: ``momentum``, ``b1``...). Float options are vectorized too
    (sweep ``train.optimizer_options.NAME``). Every variant updates with exactly its batch
    size, including the smaller last batch. ``seed`` seeds initialisation, dropout and
    shuffling; ``init_seed``, ``dropout_seed`` and ``shuffle_seed`` override one of them.
    """

    optimizer: Any = hparam("sgd", ANY, "a built-in name (sgd momentum nesterov adam adamw "
                            "rmsprop adagrad), 'optax:NAME', 'package.module:fn' or a factory")
    optimizer_options: Mapping[str, Any] = hparam(
        {}, ANY, "keyword arguments of the optimizer factory; floats are vectorized "
        "(sweep train.optimizer_options.NAME)")
    learning_rate: float = hparam(0.01, positive(), "base step size", "schedule")
    momentum: float = hparam(0.0, fraction(), "momentum (sgd, momentum, nesterov, rmsprop)",
                             "optimizer")
    b1: float = hparam(0.9, fraction(), "Adam's first-moment decay", "optimizer")
    b2: float = hparam(0.999, fraction(), "Adam's second-moment decay", "optimizer")
    eps: float = hparam(1e-7, positive(), "denominator epsilon (Keras' 1e-7)", "optimizer")
    rho: float = hparam(0.9, fraction(), "RMSprop's decay", "optimizer")
    initial_accumulator: float = hparam(0.1, real(0), "Adagrad's initial accumulator",
                                        "optimizer")
    weight_decay: float = hparam(0.004, real(0), "AdamW's decoupled weight decay", "optimizer")
    clip_norm: float | None = hparam(None, positive(optional=True),
                                     "clip the gradient to this global L2 norm", "clip")
    clip_tensor_norm: float | None = hparam(
        None, positive(optional=True),
        "clip every gradient tensor to this L2 norm on its own (Keras 3 clipnorm)", "clip")
    clip_value: float | None = hparam(None, positive(optional=True),
                                      "clip every gradient element to [-v, v]", "clip")
    l2: float = hparam(0.0, real(0), "Keras-style penalty l2 * sum(kernel**2) in the loss",
                       "variant")
    schedule: str = hparam("constant", choice(*SCHEDULES),
                           "learning-rate schedule shape, in optimizer updates")
    decay_rate: float = hparam(0.96, positive(), "exponential/step decay factor", "schedule")
    decay_steps: int = hparam(1000, positive(), "updates per decay period", "schedule")
    warmup_steps: int = hparam(0, real(0), "linear warmup from 0 over these updates",
                               "schedule")
    alpha: float = hparam(0.0, real(0), "cosine schedule's final fraction of the rate",
                          "schedule")
    loss: str = hparam("auto", ANY, "'auto' (sparse categorical cross-entropy or mse) or a "
                       "loss name")
    metrics: tuple[str, ...] | str = hparam("auto", ANY, "metric names ('auto': accuracy or "
                                            "mae)")
    epochs: int = hparam(10, integer(1), "epochs (as in Keras)", "variant")
    batch_size: int = hparam(32, integer(1), "samples per update (exact, ragged last batch "
                             "included; more than the data: one full batch, with a warning)",
                             "variant")
    microbatch: int | None = hparam(None, integer(1, optional=True),
                                    "samples per compiled step (unset: the group's smallest "
                                    "batch size)")
    shuffle: bool = hparam(True, BOOL, "reshuffle the training set every epoch")
    seed: int = hparam(0, integer(0), "seeds initialisation, dropout and shuffling", "seed")
    init_seed: int | None = hparam(None, integer(0, optional=True), "overrides seed for "
                                   "initialisation", "seed")
    dropout_seed: int | None = hparam(None, integer(0, optional=True), "overrides seed for "
                                      "dropout", "seed")
    shuffle_seed: int | None = hparam(None, integer(0, optional=True), "overrides seed for "
                                      "shuffling", "seed")
    early_stopping: bool = hparam(False, BOOL, "Keras' EarlyStopping, per variant")
    monitor: str = hparam("val_loss", ANY, "the early-stopping metric")
    mode: str = hparam("auto", choice("auto", "min", "max"), "the monitor's better direction")
    patience: int = hparam(0, integer(0), "epochs without improvement before stopping",
                           "variant")
    min_delta: float = hparam(0.0, real(0), "smallest change that counts as improvement",
                              "variant")
    restore_best_weights: bool = hparam(False, BOOL, "end with the best epoch's weights")
    dtype: str = hparam("float32", choice(*DTYPES), "float64 needs jax_enable_x64")
    eval_batch_size: int = hparam(2048, integer(1), "samples per evaluation chunk (memory)")
    diagnostics: bool = hparam(False, BOOL, "per-layer gradient/weight norms, dead and "
                               "saturated units every epoch (MLP)")
    freeze: int = hparam(0, integer(0), "the first N hidden layers keep their initial weights "
                         "(MLP)", "variant")
    sharpness_every: int = hparam(0, integer(0), "record the top Hessian eigenvalue of the "
                                  "training loss (column sharpness) every N epochs (0: off)")
    sharpness_iters: int = hparam(20, integer(1), "Lanczos steps (Hessian-vector products) "
                                  "per sharpness measurement")
    sharpness_examples: int = hparam(0, integer(0), "the first N training samples define the "
                                     "loss whose sharpness is measured (0: all)")
    noise_scale: bool = hparam(False, BOOL, "record the gradient noise scale's estimators "
                               "(gns_trace, gns_g2, noise_scale) from the microbatch and batch "
                               "gradients (needs batch_size > microbatch)")
    halving_every: int = hparam(0, integer(0), "successive halving every N epochs (0: off)")
    halving_eta: float = hparam(3.0, real(1, open_low=True), "keep the best 1/eta at a rung")
    halving_metric: str = hparam("auto", ANY, "the halving metric ('auto': val_loss or loss)")

    def __post_init__(self):
        if isinstance(self.metrics, list):
            object.__setattr__(self, "metrics", tuple(self.metrics))
        elif isinstance(self.metrics, str) and self.metrics != "auto":
            object.__setattr__(self, "metrics", (self.metrics,))  # one name, not its letters
        check(isinstance(self.metrics, (str, tuple)), "train.metrics", self.metrics,
              'must be a list of metric names or "auto"')
        check(isinstance(self.optimizer_options, Mapping), "train.optimizer_options",
              self.optimizer_options, "must be a table of keyword arguments")


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
_FIELDS = {sec: {f.name for f in dataclasses.fields(cls)} for sec, cls in SECTIONS.items()}


#: Fields that are tables of a factory's keyword arguments: ``section.field.NAME`` axes.
NESTED = {"model": "options", "train": "optimizer_options"}


def resolve_key(key: str) -> str:
    """``"learning_rate"`` -> ``"train.learning_rate"``; dotted keys are checked.

    ``data.<name>`` accepts any data-generator option (e.g. ``data.n_samples``);
    ``model.options.<name>`` and ``train.optimizer_options.<name>`` any factory argument.
    """
    if "." in key:
        sec, _, name = key.partition(".")
        if sec not in SECTIONS:
            raise unknown("sweep axis", key, [f"{s}.*" for s in SECTIONS])
        nested = NESTED.get(sec)
        if nested and name.startswith(nested + ".") and name.count(".") == 1:
            return key
        if sec != "data" and name not in _FIELDS[sec]:
            known = [f"{sec}.{f}" for f in _FIELDS[sec]]
            raise unknown("sweep axis", key, known + ([f"{sec}.{nested}.NAME"] if nested else []))
        return key
    if key in ("options", "optimizer_options"):
        raise ConfigError("sweep axis", key, f"sweep one option: {key}.NAME")
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
    "model": {f.name for f in hparams.fields(ModelConfig) if f.metadata["domain"].optional},
    "train": {f.name for f in hparams.fields(TrainConfig) if f.metadata["domain"].optional},
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
    for sec, cfg in (("model", model), ("train", train)):
        nested = NESTED[sec]
        items = {k.partition(".")[2]: v for k, v in sections[sec].items()
                 if k.startswith(nested + ".")}
        if items:
            table = dict(sections[sec].get(nested, getattr(cfg, nested)))
            sections[sec] = {k: v for k, v in sections[sec].items()
                             if not k.startswith(nested + ".")}
            sections[sec][nested] = {**table, **items}
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

    def count(self) -> int:
        """The number of variants, from the axes' lengths alone (no point is built).

        Raises :class:`ConfigError` (field ``sweep``) above :data:`MAX_VARIANTS`.
        """
        n = 1
        for key, values in self.grid.items():
            n *= _axis_len(values, f"sweep.grid.{key}")
        if self.zip:
            lengths = {resolve_key(k): _axis_len(v, f"sweep.zip.{k}")
                       for k, v in self.zip.items()}
            check(len(set(lengths.values())) == 1, "sweep.zip", lengths,
                  "zipped axes must have equal lengths")
            n *= next(iter(lengths.values()))
        if self.random:
            n *= sample_count(self.random)
        check(n <= MAX_VARIANTS, "sweep", n,
              f"{n:,} variants is more than jaxlab.config.MAX_VARIANTS = {MAX_VARIANTS:,}; "
              "split the sweep into several smaller ones")
        return n

    def points(self) -> list[dict[str, Any]]:
        """The override dicts of every variant (dotted keys), grid-major."""
        axes = self.axes()
        twice = sorted({a for a in axes if axes.count(a) > 1})
        check(not twice, "sweep", twice, "axis declared twice (in grid, zip or random)")
        self.count()  # refuse a huge sweep before building (or sampling) any point
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
            factors.append(sample(self.random, resolve_key, _as_list))
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

        def named(d):  # a factory given as an object is written as "module:name"
            return {k: (plugins.name_of(v) if callable(v) else v) for k, v in d.items()}

        out = {"name": self.name, "data": clean(self.data.to_dict()),
               "model": clean(named(dataclasses.asdict(self.model))),
               "train": clean(named(dataclasses.asdict(self.train)))}
        for sec, nested in NESTED.items():
            if not out[sec].get(nested):
                out[sec].pop(nested, None)
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


def _axis_len(values, field: str) -> int:
    """An axis's length, checked like :func:`_as_list` but without copying it."""
    check(isinstance(values, (list, tuple, range))
          or (isinstance(values, np.ndarray) and values.ndim >= 1), field, values,
          "an axis must be a list of values")
    check(len(values) > 0, field, values, "an axis must not be empty")
    return len(values)


def _as_list(values, field: str) -> list:
    check(isinstance(values, (list, tuple, np.ndarray, range)), field, values,
          "an axis must be a list of values")
    values = list(values)
    check(len(values) > 0, field, values, "an axis must not be empty")
    return values


def validate(model: ModelConfig, train: TrainConfig, where: str = "") -> None:
    """Refuse invalid model and training settings, naming the field and value.

    The ranges are the fields' own (:mod:`jaxlab.hparams`); what follows are the rules that
    relate several fields.
    """

    def need(cond, field, value, reason):
        check(cond, field, value, reason + where)

    hparams.check_fields(model, "model", where)
    hparams.check_fields(train, "train", where)
    for kind in (model.kernel_init, model.output_kind, model.bias_init):
        _affine(kind, model.init_scale, model.init_min, model.init_max)  # bounds in order
    field = "model.hidden" if model.hidden is not None else "model.width"
    need(len(model.widths) >= 1, field, model.hidden, "needs at least 1 hidden layer")
    for w in model.widths:
        need(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1, field, w,
             "widths must be integers >= 1")
    if model.module is not None:
        plugins.check_options("model.options", plugins.load("model.module", model.module),
                              model.options, reserved=("n_in", "n_out", "rngs"))
    optimizer_options(train)  # checks the factory and its options
    if train.loss != "auto":
        canonical_loss(train.loss)
    if train.metrics != "auto":
        for m in train.metrics:
            if m not in METRICS:
                raise unknown("train.metrics", m, METRICS)
    need(isinstance(train.monitor, str), "train.monitor", train.monitor, "must be a metric name")
    need(train.freeze <= len(model.widths), "train.freeze", train.freeze,
         f"cannot freeze more than the {len(model.widths)} hidden layers")
    need(train.optimizer == "adamw" or train.weight_decay == TrainConfig.weight_decay,
         "train.weight_decay", train.weight_decay,
         f"applies to adamw only; use train.l2 with {train.optimizer}")
    if model.parametrization == "mup":
        _check_mup(model, train, need)
    if model.module is not None:
        for name in ("freeze", "diagnostics"):
            need(not getattr(train, name), f"train.{name}", getattr(train, name),
                 "applies to the built-in MLP only, not to model.module")
        need(model.batch_norm == "none" and model.dropout == 0, "model.module", model.module,
             "put dropout and batch norm inside the module (model.dropout and "
             "model.batch_norm apply to the built-in MLP)")


#: Fan-in initializers: variance ``scale / fan_in``, as muP's table asks (or zero).
MUP_INITS = ("he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "zeros")


def _check_mup(model: ModelConfig, train: TrainConfig, need) -> None:
    """muP needs the built-in MLP, fan-in initializers and an optimizer with a known rule."""
    need(model.module is None, "model.parametrization", "mup",
         "applies to the built-in MLP only, not to model.module")
    for field, kind in (("kernel_init", model.kernel_init), ("output_init", model.output_kind)):
        need(kind in MUP_INITS, f"model.{field}", kind,
             f"model.parametrization='mup' needs a fan-in initializer, one of {list(MUP_INITS)}")
    need(model.init_min is None and model.init_max is None, "model.init_min",
         (model.init_min, model.init_max), "does not apply under model.parametrization='mup'")
    optim.mup_rule(train.optimizer)


def optimizer_options(train: TrainConfig) -> dict[str, Any]:
    """The keyword arguments ``train.optimizer`` is called with, besides ``learning_rate``.

    Built-in optimizers read the ``TrainConfig`` fields of their arguments' names; any
    factory reads ``train.optimizer_options`` (which win). Unknown names are refused.
    """
    args = optim.arguments(train.optimizer)
    out = {}
    if isinstance(train.optimizer, str) and train.optimizer in optim.BUILTINS:
        out = {k: getattr(train, k) for k in args}
    plugins.check_options("train.optimizer_options", optim.resolve(train.optimizer),
                          train.optimizer_options, reserved=("learning_rate",))
    for k, v in train.optimizer_options.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"train.optimizer_options.{k}", v, "must be finite")
        out[k] = v
    return out


# -- --set overrides ----------------------------------------------------------------------------
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



"""Data sets as plain numpy arrays: synthetic problems, digits and (offline) MNIST.

A :class:`DataConfig` names a data set and how to split and scale it; :func:`load` turns it
into a :class:`Dataset` of numpy arrays (rows are samples). :func:`from_arrays` does the same
for arrays you already have. Every bad input raises :class:`~jaxlab.errors.ConfigError`
naming the dotted field (``data.validation_split``) and the offending value.

The sources live beside this module: :mod:`jaxlab.datasets_sklearn` (scikit-learn's
generators and digits, imported when used) and :mod:`jaxlab.datasets_mnist` (IDX, ``.npz``
and tensorflow-datasets files).

Example::

  ds = load(DataConfig("blobs", train_size=500))
  ds.x_train.shape, ds.y_train.shape, ds.n_classes  # (500, 2), (500,), 3
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxlab import conventions, datasets_sklearn
from jaxlab.datasets_mnist import MNISTS, mnist_arrays, read_idx
from jaxlab.errors import ConfigError, check, unknown

__all__ = ["DATASETS", "DTYPES", "SCALERS", "TASKS", "Array", "DataConfig", "Dataset",
           "from_arrays", "load", "read_idx", "validate"]

Array = np.ndarray

#: ``arrays`` names in-memory data (``from_arrays``), passed to ``run(..., dataset=...)``.
DATASETS: tuple[str, ...] = (*datasets_sklearn.GENERATORS, "digits", *MNISTS, "arrays")
SCALERS: tuple[str, ...] = ("none", "standardize", "minmax", "minmax_sym")
#: Which rows a scaler is fitted on: the train part, or every row (the book's order).
SCALE_FITS: tuple[str, ...] = ("train", "all")
DTYPES: tuple[str, ...] = conventions.DTYPES
TASKS: tuple[str, ...] = ("classification", "regression")
_CONSTANT_RTOL = 1e-12  # a column whose spread is below this (relative) counts as constant


class _FrozenDict(dict):
    """A read-only, hashable dict, so that :class:`DataConfig` is hashable (and picklable)."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("DataConfig.options is read-only; use dataclasses.replace")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self) -> int:
        return hash(_freeze(self))

    def __reduce__(self):
        return _FrozenDict, (dict(self),)


def _freeze(v: Any) -> Any:
    """A hashable stand-in for ``v`` (mappings and sequences become tuples)."""
    if isinstance(v, Mapping):
        return tuple(sorted((k, _freeze(e)) for k, e in v.items()))
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_freeze(e) for e in v)
    return v


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _check_split_args(train_size: Any, validation_split: Any) -> None:
    ts, vs = train_size, validation_split
    check(ts is None or (_is_int(ts) and ts >= 1) or (_is_real(ts) and 0 < ts < 1),
          "data.train_size", ts, "must be a sample count >= 1 or a fraction in (0, 1)")
    check(vs is None or (_is_real(vs) and 0 < vs < 1), "data.validation_split", vs,
          "must be a fraction in (0, 1)")
    check(ts is None or vs is None, "data.validation_split", vs,
          f"give data.train_size (={ts!r}) or data.validation_split, not both")


def _check_choices(scale_x: str, scale_y: str, dtype: str, task: str | None) -> None:
    for field, value in (("data.scale_x", scale_x), ("data.scale_y", scale_y)):
        if value not in SCALERS:
            raise unknown(field, value, SCALERS)
    if dtype not in DTYPES:
        raise unknown("data.dtype", dtype, DTYPES)
    check(scale_y == "none" or task != "classification", "data.scale_y", scale_y,
          "targets are only scaled for regression; this is a classification data set")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data set to load and how to split and scale it. Hashable; equal by value.

    Attributes:
      name: one of :data:`DATASETS`.
      options: keyword arguments for the scikit-learn generator (synthetic sets only), on top
        of the defaults, e.g. ``{"n_samples": 1000, "centers": 3}``.
      train_size: the first ``train_size`` samples (an int, or a fraction in (0, 1)) are the
        train set and the rest the validation set.
      validation_split: Keras semantics: the last fraction of the samples, before any
        shuffling, is the validation set.
      scale_x: ``none | standardize | minmax | minmax_sym`` (``minmax``: to [0, 1];
        ``minmax_sym``: to [-1, 1], Keras' ``MinMaxScaler(feature_range=(-1, 1))``).
      scale_y: the same for regression targets.
      scale_fit: ``train`` (fit the scalers on the train part) or ``all`` (on every row,
        before the split, as code that scales before splitting does).
      data_dir: where offline MNIST files (or a tfds data dir) live.
      limit_train: keep only the first n train samples (after the split).
      limit_val: keep only the first n validation samples.
      dtype: ``float32 | float64``, the dtype of x and of regression targets.
    """

    name: str = "digits"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train_size: int | float | None = None
    validation_split: float | None = None
    scale_x: str = "none"
    scale_y: str = "none"
    scale_fit: str = "train"
    data_dir: str | None = None
    limit_train: int | None = None
    limit_val: int | None = None
    dtype: str = "float32"

    def __post_init__(self):
        if self.name not in DATASETS:
            raise unknown("data.name", self.name, DATASETS)
        check(isinstance(self.options, Mapping), "data.options", self.options,
              "must be a table of generator options, e.g. [data.options] centers = 3")
        allowed = datasets_sklearn.allowed_options(self.name)
        for key, value in self.options.items():
            if key in allowed:
                continue
            if allowed:
                raise unknown(f"data.{key}", value, allowed)
            raise ConfigError(f"data.{key}", value, f"unknown field; data.name={self.name!r} "
                              f"takes no options (fields: {[f.name for f in _FIELDS]})")
        object.__setattr__(self, "options", _FrozenDict(copy.deepcopy(dict(self.options))))
        _check_split_args(self.train_size, self.validation_split)
        _check_choices(self.scale_x, self.scale_y, self.dtype, datasets_sklearn.task(self.name))
        if self.scale_fit not in SCALE_FITS:
            raise unknown("data.scale_fit", self.scale_fit, SCALE_FITS)
        for field in ("limit_train", "limit_val"):
            n = getattr(self, field)
            check(n is None or (_is_int(n) and n >= 1), f"data.{field}", n, "must be an int >= 1")
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON/TOML; ``options`` stays nested and ``None`` fields are left
        out (TOML has no null). ``DataConfig.from_dict(cfg.to_dict()) == cfg``."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["options"] = copy.deepcopy(dict(self.options))
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Inverse of :meth:`to_dict`. Also takes a flat table, as TOML users write it
        (``[data] name="blobs" n_samples=1000``): unknown top-level keys become options."""
        check(isinstance(d, Mapping), "data", d, "must be a table")
        names = {f.name for f in dataclasses.fields(cls)} - {"options"}
        options = d.get("options", {})
        check(isinstance(options, Mapping), "data.options", options,
              "must be a table of generator options, e.g. [data.options] centers = 3")
        options = dict(options)
        for key, value in d.items():
            if key not in names and key != "options":
                check(key not in options, f"data.{key}", value,
                      "given both at top level and in data.options")
                options[key] = value
        return cls(**{k: v for k, v in d.items() if k in names}, options=options)


_FIELDS = dataclasses.fields(DataConfig)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Numpy arrays, rows are samples. Compared by identity (it holds arrays).

    Attributes:
      x_train: (n, d) float inputs; images are flattened.
      y_train: classification: (n,) int32 labels in 0..n_classes-1; regression: (n, k) float.
      x_val: (m, d) or None.
      y_val: (m,) or (m, k) or None.
      task: ``"classification"`` or ``"regression"``.
      n_classes: number of classes (classification only, else None).
      name: the data set's name.
      x_test, y_test: the held-out test part or None: never trained on nor watched while
        training; every variant's final weights are evaluated on it once, at the end
        (``test_*`` columns of ``Result.variants``).
    """

    x_train: Array
    y_train: Array
    x_val: Array | None
    y_val: Array | None
    task: str
    n_classes: int | None
    name: str
    x_test: Array | None = None
    y_test: Array | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return 0 if self.x_val is None else len(self.x_val)

    @property
    def n_test(self) -> int:
        return 0 if self.x_test is None else len(self.x_test)

    @property
    def n_outputs(self) -> int:
        """Width of the model's output: n_classes (classification) or k (regression)."""
        return self.n_classes if self.task == "classification" else self.y_train.shape[1]


def _check_finite(a: Array, field: str) -> None:
    check(np.issubdtype(a.dtype, np.number) or a.dtype == bool, field, a.dtype,
          "must be numeric")
    if np.issubdtype(a.dtype, np.inexact):
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ConfigError(field, a[first].item(), f"{int(bad.sum())} values are NaN or inf "
                              f"(first at index {first})")


def _check_part(ds: Dataset, x: Array, y: Array, part: str) -> None:
    fx, fy = f"data.x_{part}", f"data.y_{part}"
    check(x.ndim == 2, fx, x.shape, "must be 2-D (samples, features)")
    check(len(x) > 0, fx, x.shape, "has no samples")
    check(len(y) == len(x), fy, y.shape, f"has {len(y)} samples but {fx} has {len(x)}")
    _check_finite(x, fx)
    if ds.task == "regression":
        check(y.ndim == 2, fy, y.shape, "regression targets must be 2-D (samples, outputs)")
        _check_finite(y, fy)
        return
    check(_is_int(ds.n_classes) and ds.n_classes >= 2, "data.n_classes", ds.n_classes,
          "classification needs at least 2 classes")
    check(y.ndim == 1 and np.issubdtype(y.dtype, np.integer), fy, y.shape,
          "class labels must be a 1-D integer array")
    lo, hi = int(y.min()), int(y.max())
    check(0 <= lo and hi < ds.n_classes, fy, lo if lo < 0 else hi,
          f"class labels must lie in 0..{ds.n_classes - 1}")


def validate(ds: Dataset) -> None:
    """Refuse a malformed data set. Raises ConfigError naming ``data.x_train`` etc."""
    if ds.task not in TASKS:
        raise unknown("data.task", ds.task, TASKS)
    _check_part(ds, ds.x_train, ds.y_train, "train")
    for part in ("val", "test"):
        x, y = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        if (x is None) != (y is None):
            missing = f"data.x_{part}" if x is None else f"data.y_{part}"
            raise ConfigError(missing, None, f"x_{part} and y_{part} must be given together")
        if x is not None:
            _check_part(ds, x, y, part)
            check(x.shape[1] == ds.n_features, f"data.x_{part}", x.shape,
                  f"has {x.shape[1]} features but data.x_train has {ds.n_features}")


def _split_at(n: int, train_size: float | None, validation_split: float | None) -> int:
    """Row index where the validation part starts (``n``: no validation part)."""
    _check_split_args(train_size, validation_split)
    if train_size is not None:
        field, value = "data.train_size", train_size
        at = train_size if _is_int(train_size) else int(n * train_size)
    elif validation_split is not None:
        field, value = "data.validation_split", validation_split
        at = int(n * (1 - validation_split))  # Keras's rule
    else:
        return n
    check(at < n, field, value, f"leaves no validation data: there are only {n} samples")
    check(at >= 1, field, value, f"leaves no training data out of {n} samples")
    return int(at)


def _fit_scaler(kind: str, a: Array) -> tuple[Array, Array] | None:
    """(shift, scale), each (d,), such that ``(a - shift) / scale`` is scaled; None: none."""
    if kind == "none":
        return None
    if kind == "standardize":
        shift, scale = a.mean(0, dtype=np.float64), a.std(0, dtype=np.float64)
    elif kind == "minmax":
        shift = a.min(0).astype(np.float64)
        scale = a.max(0) - shift
    else:  # minmax_sym: [min, max] -> [-1, 1]
        lo, hi = a.min(0).astype(np.float64), a.max(0).astype(np.float64)
        shift, scale = (lo + hi) / 2, (hi - lo) / 2
    constant = scale <= _CONSTANT_RTOL * np.maximum(np.abs(shift), 1.0)
    return shift, np.where(constant, 1.0, scale)  # constant columns: shift only, never /0


def _scale(a: Array | None, stats: tuple[Array, Array] | None, dtype: str) -> Array | None:
    if a is None:
        return None
    if stats is None:
        return a.astype(dtype)
    shift, scale = (s.astype(dtype) for s in stats)
    return (a.astype(dtype) - shift) / scale


def _build(x, y, x_val, y_val, *, task, n_classes, name, train_size=None, validation_split=None,
           limit_train=None, limit_val=None, scale_x="none", scale_y="none",
           dtype="float32", scale_fit="train", x_test=None, y_test=None) -> Dataset:
    """Validate, split, limit, scale (statistics of the train part) and cast."""
    _check_choices(scale_x, scale_y, dtype, task)
    validate(Dataset(x, y, x_val, y_val, task, n_classes, name, x_test, y_test))
    if train_size is not None or validation_split is not None:
        check(x_val is None, "data.validation_split", validation_split,
              "validation data was given explicitly; do not split the train data as well")
        at = _split_at(len(x), train_size, validation_split)
        x, y, x_val, y_val = x[:at], y[:at], x[at:], y[at:]
    if limit_train is not None:
        x, y = x[:limit_train], y[:limit_train]
    if limit_val is not None:
        check(x_val is not None, "data.limit_val", limit_val, "there is no validation data")
        x_val, y_val = x_val[:limit_val], y_val[:limit_val]
    every = scale_fit == "all" and x_val is not None
    sx = _fit_scaler(scale_x, np.concatenate([x, x_val]) if every else x)
    x, x_val = _scale(x, sx, dtype), _scale(x_val, sx, dtype)
    if task == "regression":
        sy = _fit_scaler(scale_y, np.concatenate([y, y_val]) if every else y)
        y, y_val = _scale(y, sy, dtype), _scale(y_val, sy, dtype)
    else:
        sy = None
        y, y_val = y.astype(np.int32), None if y_val is None else y_val.astype(np.int32)
    x_test, y_test = _scaled_test(x_test, y_test, sx, sy if task == "regression" else None,
                                  dtype)
    ds = Dataset(x, y, x_val, y_val, task, n_classes, name, x_test, y_test)
    validate(ds)
    return ds


def _scaled_test(x, y, sx, sy, dtype) -> tuple[Array | None, Array | None]:
    """The test part with the scalers of the train part (never fitted on it), cast."""
    if x is None:
        return None, None
    y = _scale(y, sy, dtype) if np.issubdtype(y.dtype, np.inexact) else y.astype(np.int32)
    return _scale(x, sx, dtype), y


# ----------------------------------------------------------------------------- from_arrays


def _is_one_hot(y: Array) -> bool:
    return (y.ndim == 2 and y.shape[1] > 1 and bool(np.isin(y, (0, 1)).all())
            and bool((y.sum(1) == 1).all()))


def _targets(y: Array, task: str, field: str) -> Array:
    """Class labels (n,) int, or regression targets (n, k) float64."""
    if task == "regression":
        _check_finite(y, field)
        check(y.ndim in (1, 2), field, y.shape, "regression targets must be (n,) or (n, k)")
        return y.astype(np.float64).reshape(len(y), -1)
    if _is_one_hot(y):
        return y.argmax(1).astype(np.int32)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    check(y.ndim == 1, field, y.shape, "class labels must be (n,) or one-hot (n, k)")
    check(np.issubdtype(y.dtype, np.number) or y.dtype == bool, field, y.dtype,
          "must be numeric")
    fractional = y != np.round(y) if np.issubdtype(y.dtype, np.inexact) else np.zeros(len(y), bool)
    check(not fractional.any(), field, y[fractional][:1].tolist(), "class labels must be integers")
    return y.astype(np.int32)


def _array(a: Any, field: str) -> Array:
    """``np.asarray(a)``, refusing ragged rows (lists of different lengths) and non-numbers."""
    try:
        out = np.asarray(a)
    except ValueError:  # numpy refuses an inhomogeneous shape
        out = None
    if out is None or (out.dtype == object and out.ndim >= 1):
        shapes = [np.shape(r) for r in a]
        i = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
        where = (f"row 0 has shape {shapes[0]}, row {i} has shape {shapes[i]}"
                 if i is not None else "rows of mixed types")
        raise ConfigError(field, f"<ragged: {where}>",
                          "every sample must have the same shape (pad or trim the rows)")
    check(out.dtype == bool or np.issubdtype(out.dtype, np.number), field,
          f"<array of {out.dtype}>", "must be numeric")
    return out


def _features(x: Any, field: str) -> Array:
    x = _array(x, field)
    check(x.ndim >= 1, field, x.shape, "must have a leading sample axis")
    # (n,) -> (n, 1); images (n, h, w, c) -> (n, h*w*c); prod, not -1, so that n may be 0
    return x.reshape(len(x), math.prod(x.shape[1:]))


def from_arrays(x, y, x_val=None, y_val=None, *, task: str | None = None,
                validation_split: float | None = None, scale_x: str = "none",
                scale_y: str = "none", name: str = "arrays", dtype: str = "float32",
                x_test=None, y_test=None) -> Dataset:
    """A :class:`Dataset` from arrays you already have.

    Args:
      x: (n, ...) inputs; anything beyond the sample axis is flattened.
      y: (n,) integer/bool labels, (n, k) one-hot labels, or (n,) / (n, k) float targets.
      x_val, y_val: optional validation arrays of the same kinds.
      x_test, y_test: an optional held-out test part of the same kinds (scaled with the
        train part's statistics), evaluated once at the end of training.
      task: ``classification | regression``; None infers it: integer, bool or one-hot
        ``y`` is classification, float ``y`` regression.
      validation_split: Keras semantics, the last fraction of ``x`` becomes validation.
      scale_x, scale_y, dtype: as in :class:`DataConfig`.
      name: recorded in the result.

    Example::

      ds = from_arrays(np.random.rand(100, 3), np.arange(100) % 2, validation_split=0.3)
      ds.n_train, ds.n_val  # 70, 30
    """
    x, y = _features(x, "data.x_train"), _array(y, "data.y_train")
    if task is None:
        is_label = y.dtype == bool or np.issubdtype(y.dtype, np.integer)
        task = "classification" if is_label or _is_one_hot(y) else "regression"
    if task not in TASKS:
        raise unknown("data.task", task, TASKS)
    n_classes = y.shape[1] if task == "classification" and _is_one_hot(y) else None
    y = _targets(y, task, "data.y_train")
    x_val = None if x_val is None else _features(x_val, "data.x_val")
    y_val = None if y_val is None else _targets(_array(y_val, "data.y_val"), task, "data.y_val")
    x_test = None if x_test is None else _features(x_test, "data.x_test")
    y_test = (None if y_test is None
              else _targets(_array(y_test, "data.y_test"), task, "data.y_test"))
    if task == "classification" and n_classes is None:
        n_classes = 1 + max([int(a.max()) for a in (y, y_val, y_test)
                             if a is not None and a.size] or [0])
    return _build(x, y, x_val, y_val, task=task, n_classes=n_classes, name=name,
                  validation_split=validation_split, scale_x=scale_x, scale_y=scale_y,
                  dtype=dtype, x_test=x_test, y_test=y_test)


# ----------------------------------------------------------------------------- load


def load(cfg: DataConfig) -> Dataset:
    """Load, split and scale the data set that ``cfg`` names (``jl.load``; a saved sweep
    result loads with ``jl.load_result(path)``).

    Synthetic sets and digits have no validation part unless ``train_size`` or
    ``validation_split`` asks for one, and no test part. MNIST's test split is the validation
    part unless one of them is given; then the train split is divided into train and
    validation parts and the test split is the test part (``Dataset.x_test``).

    Example::

      ds = load(DataConfig("digits", validation_split=0.2, scale_x="standardize"))
      ds.x_train.shape, ds.x_val.shape, ds.n_classes  # (1437, 64), (360, 64), 10
    """
    x_val = y_val = x_test = y_test = None
    if cfg.name == "arrays":
        raise ConfigError("data.name", cfg.name, "in-memory data cannot be loaded from a spec; "
                          "pass it with jaxlab.run(spec, dataset=jaxlab.from_arrays(x, y))")
    if cfg.name in datasets_sklearn.GENERATORS:
        x, y, task = datasets_sklearn.generate(cfg.name, cfg.options)
    elif cfg.name == "digits":
        (x, y), task = datasets_sklearn.digits(), "classification"
    else:
        x, y, x_val, y_val = mnist_arrays(cfg.name, cfg.data_dir, cfg.dtype)
        task = "classification"
        if cfg.train_size is not None or cfg.validation_split is not None:
            x_val, y_val, x_test, y_test = None, None, x_val, y_val
    if task == "regression":
        n_classes, y = None, y.reshape(len(y), -1)
    else:
        n_classes = 10 if cfg.name in (*MNISTS, "digits") else int(y.max()) + 1
    return _build(x, y, x_val, y_val, task=task, n_classes=n_classes, name=cfg.name,
                  train_size=cfg.train_size, validation_split=cfg.validation_split,
                  limit_train=cfg.limit_train, limit_val=cfg.limit_val, scale_x=cfg.scale_x,
                  scale_y=cfg.scale_y, dtype=cfg.dtype, scale_fit=cfg.scale_fit,
                  x_test=x_test, y_test=y_test)

"""MNIST-like data sets read offline: IDX files, a Keras-style ``.npz``, or prepared
tensorflow-datasets data (never downloaded).

:func:`mnist_arrays` looks in ``data.data_dir`` (or its sub-directory named after the data
set) first, then asks tensorflow-datasets, imported only then.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import math
import pathlib
import struct
import zipfile

import numpy as np

from jaxlab.errors import ConfigError, check

Array = np.ndarray

MNISTS = ("mnist", "fashion_mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(path: str | pathlib.Path) -> Array:
    """Read one IDX file (``.gz`` or raw) as published by LeCun et al.: uint8 only.

    Layout: two zero bytes, dtype code 0x08, ndim, ndim big-endian uint32 dims, then data.
    """
    path = pathlib.Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError; truncated gzip: EOF
        raise ConfigError("data.data_dir", str(path), f"cannot read IDX file: {e}") from e
    check(len(raw) >= 4 and raw[:2] == b"\0\0" and raw[2] == 0x08, "data.data_dir", str(path),
          f"not a uint8 IDX file (magic bytes {raw[:4].hex()}, expected 000008xx)")
    ndim = raw[3]
    start = 4 + 4 * ndim
    check(ndim >= 1 and len(raw) >= start, "data.data_dir", str(path), "truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    check(len(raw) - start == math.prod(dims), "data.data_dir", str(path),
          f"IDX header says {dims} ({math.prod(dims)} bytes) but it holds {len(raw) - start}")
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def _read_npz(path: pathlib.Path) -> tuple[Array, ...]:
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in keys if k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ConfigError("data.data_dir", str(path), f"cannot read .npz file: {e}") from e
    missing = [k for k in keys if k not in arrays]
    check(not missing, "data.data_dir", str(path), f"lacks arrays {missing}")
    return tuple(arrays[k] for k in keys)


def _read_offline(name: str, data_dir: pathlib.Path) -> tuple[Array, ...] | None:
    """(x_train, y_train, x_test, y_test) from ``data_dir`` or its sub-directory ``name``."""
    for d in (data_dir / name, data_dir / name.replace("_", "-"), data_dir):
        if (d / f"{name}.npz").is_file():
            return _read_npz(d / f"{name}.npz")
        found = [next((p for p in (d / f, d / f"{f}.gz") if p.is_file()), None)
                 for f in IDX_FILES]
        if any(found):
            missing = [f for f, p in zip(IDX_FILES, found, strict=True) if p is None]
            check(not missing, "data.data_dir", str(d), f"has some IDX files but not {missing}")
            return tuple(read_idx(p) for p in found)
    return None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0]


def _read_tfds(name: str, data_dir: str | None) -> tuple[Array, ...]:
    """(x_train, y_train, x_test, y_test) from prepared tensorflow-datasets data, no download.

    With TensorFlow installed this uses ``tfds.load``; without it ``tfds.data_source``, which
    reads only data prepared in the ``array_record`` format. Raises FileNotFoundError (why).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise FileNotFoundError(f"tensorflow-datasets is not importable: {e}") from e
    why = []  # tfds says "not prepared here" with many exception types: broad excepts below
    if importlib.util.find_spec("tensorflow") is not None:
        try:
            splits = tfds.load(name, split=["train", "test"], data_dir=data_dir, download=False,
                               batch_size=-1, as_supervised=True)
            return tuple(np.asarray(a) for pair in tfds.as_numpy(splits) for a in pair)
        except Exception as e:  # noqa: BLE001
            why.append(f"tfds.load: {_first_line(e)}")
    try:
        out = []
        for source in tfds.data_source(name, split=["train", "test"], data_dir=data_dir,
                                       download=False):
            examples = [source[i] for i in range(len(source))]
            out += [np.stack([ex["image"] for ex in examples]),
                    np.array([ex["label"] for ex in examples])]
        return tuple(out)
    except Exception as e:  # noqa: BLE001
        why.append(f"tfds.data_source: {_first_line(e)}")
        with contextlib.suppress(Exception):  # else keep the reasons gathered so far
            builder = tfds.builder(name, data_dir=data_dir)
            if not builder.is_prepared():  # the usual case: say so plainly
                why = [f"tensorflow-datasets has no prepared copy in {builder.data_dir}"]
    raise FileNotFoundError("; ".join(why))


def mnist_arrays(name: str, data_dir: str | None, dtype: str) -> tuple[Array, ...]:
    """MNIST-like (x_train, y_train, x_test, y_test): x (n, 784) in [0, 1], y (n,) labels."""
    arrays = _read_offline(name, pathlib.Path(data_dir)) if data_dir is not None else None
    if arrays is None:
        try:
            arrays = _read_tfds(name, data_dir)
        except FileNotFoundError as e:
            raise ConfigError("data.name", name, (
                f"no {name} data found. Put the four IDX files ({', '.join(IDX_FILES)}, "
                f"each optionally .gz) or a Keras-style {name}.npz into the data directory "
                f"(--data-dir / data.data_dir, now {data_dir!r}; a sub-directory '{name}/' "
                f"works too), or prepare '{name}' with tensorflow-datasets on a machine with "
                f"internet and point data.data_dir at it ({e}). data.name=digits runs the "
                f"same study now, offline.")) from e
    x_tr, y_tr, x_te, y_te = arrays
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        check(len(x) == len(y), "data.data_dir", data_dir, f"{len(x)} images but {len(y)} labels")
    pixels = [np.asarray(x).reshape(len(x), -1).astype(dtype) / 255 for x in (x_tr, x_te)]
    return pixels[0], np.asarray(y_tr).reshape(-1), pixels[1], np.asarray(y_te).reshape(-1)

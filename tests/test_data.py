"""Tests for jaxlab.data: references are scikit-learn's own output and hand computations."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import pickle
import struct

import numpy as np
import pytest
from sklearn import datasets as skd

from jaxlab.data import DATASETS, DataConfig, Dataset, from_arrays, load, read_idx, validate
from jaxlab.errors import ConfigError

COURSE_BLOBS = {"n_samples": 1000, "centers": 3, "n_features": 2, "cluster_std": 2.0,
                "random_state": 2}


def raises(field: str, value: str):
    """Expect a ConfigError that names ``field`` and ``value``."""
    return pytest.raises(ConfigError, match=rf"{field}.*{value}")


# ----------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("options", [COURSE_BLOBS, {}])  # {}: the defaults are the course's
def test_blobs_match_sklearn_and_split_like_the_course(options):
    ds = load(DataConfig("blobs", options=options, train_size=500))
    x, y = skd.make_blobs(**COURSE_BLOBS)
    assert (ds.n_train, ds.n_val, ds.n_features, ds.n_classes) == (500, 500, 2, 3)
    assert ds.task == "classification" and ds.n_outputs == 3
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train, x[:500].astype(np.float32))
    np.testing.assert_array_equal(ds.x_val, x[500:].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y[:500])
    np.testing.assert_array_equal(ds.y_val, y[500:])
    assert set(np.unique(ds.y_train)) == {0, 1, 2}


def test_options_override_defaults_and_no_split_means_no_validation():
    ds = load(DataConfig("moons", options={"n_samples": 50}))
    x, y = skd.make_moons(n_samples=50, noise=0.1, random_state=1)
    np.testing.assert_array_equal(ds.x_train, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y)
    assert ds.x_val is None and ds.y_val is None and ds.n_val == 0
    assert load(DataConfig("circles")).n_train == 1000


def test_regression_targets_are_2d_and_scale_y_uses_train_statistics():
    ds = load(DataConfig("regression", train_size=0.8, scale_y="standardize", dtype="float64"))
    x, y = skd.make_regression(n_samples=1000, n_features=20, noise=0.1, random_state=1)
    assert ds.task == "regression" and ds.n_classes is None
    assert ds.y_train.shape == (800, 1) and ds.y_val.shape == (200, 1) and ds.n_outputs == 1
    assert ds.y_train.dtype == np.float64
    np.testing.assert_allclose(ds.y_train.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(ds.y_train.std(), 1, rtol=1e-12)
    expected = (y[800:] - y[:800].mean()) / y[:800].std()
    np.testing.assert_allclose(ds.y_val[:, 0], expected, rtol=1e-10)
    np.testing.assert_array_equal(ds.x_train, x[:800])  # scale_x="none"
    multi = load(DataConfig("regression", options={"n_targets": 3, "n_samples": 40}))
    assert multi.y_train.shape == (40, 3) and multi.n_outputs == 3


def test_scale_y_on_classification_is_an_error():
    with raises("data.scale_y", "standardize"):
        DataConfig("blobs", scale_y="standardize")
    with raises("data.scale_y", "minmax"):
        from_arrays(np.zeros((4, 2)), np.array([0, 1, 0, 1]), scale_y="minmax")


# ----------------------------------------------------------------------------- splits, scaling


def test_validation_split_takes_the_last_rows_keras_style():
    x = np.arange(300, dtype=np.float64).reshape(100, 3)
    y = np.arange(100) % 4
    ds = from_arrays(x, y, validation_split=0.3)
    assert (ds.n_train, ds.n_val, ds.n_classes) == (70, 30, 4)
    np.testing.assert_array_equal(ds.x_val, x[70:])
    np.testing.assert_array_equal(ds.y_val, y[70:])
    np.testing.assert_array_equal(ds.x_train, x[:70])
    digits = load(DataConfig("digits", validation_split=0.2))
    assert (digits.n_train, digits.n_val) == (int(1797 * 0.8), 1797 - int(1797 * 0.8))


def test_standardize_fits_on_train_only():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(200, 4)) * np.array([1.0, 10.0, 0.1, 1.0])
    x[:, 3] = 7.0  # a constant column must not divide by zero
    ds = from_arrays(x, rng.normal(size=200), validation_split=0.25, scale_x="standardize",
                     dtype="float64")
    tr, va = x[:150], x[150:]
    np.testing.assert_allclose(ds.x_train[:, :3].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.x_train[:, :3].std(0), 1, rtol=1e-12)
    std = np.where(tr.std(0) == 0, 1.0, tr.std(0))
    np.testing.assert_allclose(ds.x_val, (va - tr.mean(0)) / std, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ds.x_train[:, 3], 0.0)


def test_minmax_on_digits_has_no_nan_despite_constant_columns():
    ds = load(DataConfig("digits", train_size=1000, scale_x="minmax"))
    raw = skd.load_digits().data / 16.0
    assert (np.ptp(raw[:1000], axis=0) == 0).any()  # the premise: constant columns exist
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_val).all()
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    lo, span = raw[:1000].min(0), np.ptp(raw[:1000], axis=0)
    expected = (raw[1000:] - lo) / np.where(span == 0, 1, span)
    np.testing.assert_allclose(ds.x_val, expected, rtol=1e-6, atol=1e-6)


def test_digits_default_and_limits_apply_before_scaling():
    ds = load(DataConfig())
    assert ds.name == "digits" and ds.x_train.shape == (1797, 64) and ds.n_classes == 10
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    lim = load(DataConfig(validation_split=0.2, limit_train=100, limit_val=50,
                          scale_x="standardize"))
    assert (lim.n_train, lim.n_val) == (100, 50)
    np.testing.assert_allclose(lim.x_train.mean(0), 0, atol=1e-5)  # stats of the 100 kept
    with raises("data.limit_val", "5"):
        load(DataConfig(limit_val=5))  # no validation part to limit


@pytest.mark.parametrize("kwargs, field, value", [
    ({"train_size": 0}, "data.train_size", "0"),
    ({"train_size": -3}, "data.train_size", "-3"),
    ({"train_size": 1.5}, "data.train_size", "1.5"),
    ({"train_size": 1.0}, "data.train_size", "1.0"),
    ({"train_size": True}, "data.train_size", "True"),
    ({"train_size": 1797}, "data.train_size", "1797"),  # nothing left for validation
    ({"train_size": 0.0001}, "data.train_size", "0.0001"),  # nothing left for training
    ({"validation_split": 0.0}, "data.validation_split", "0.0"),
    ({"validation_split": 1}, "data.validation_split", "1"),
    ({"validation_split": -0.2}, "data.validation_split", "-0.2"),
    ({"validation_split": "0.2"}, "data.validation_split", "0.2"),
    ({"validation_split": 0.2, "train_size": 100}, "data.validation_split", "0.2"),
    ({"limit_train": 0}, "data.limit_train", "0"),
    ({"scale_x": "zscore"}, "data.scale_x", "zscore"),
    ({"dtype": "float16"}, "data.dtype", "float16"),
])
def test_bad_config_values_name_field_and_value(kwargs, field, value):
    with raises(field, value):
        load(DataConfig("digits", **kwargs))


def test_bad_validation_split_in_from_arrays():
    with raises("data.validation_split", "1.2"):
        from_arrays(np.zeros((10, 2)), np.arange(10) % 2, validation_split=1.2)
    with raises("data.validation_split", "0.5"):  # explicit validation data and a split
        from_arrays(np.zeros((10, 2)), np.arange(10) % 2, np.zeros((2, 2)), np.array([0, 1]),
                    validation_split=0.5)


# ----------------------------------------------------------------------------- errors


def test_unknown_name_and_generator_option():
    with raises("data.name", "cifar"):
        load(DataConfig("cifar"))
    with raises("data.bogus", "3"):
        load(DataConfig("blobs", options={"bogus": 3}))
    with raises("data.return_centers", "True"):  # would change what make_blobs returns
        DataConfig("blobs", options={"return_centers": True})
    with raises("data.centers", "3"):  # digits takes no generator options
        DataConfig("digits", options={"centers": 3})
    with raises("data.options", "n_samples"):  # sklearn refuses the value
        load(DataConfig("moons", options={"n_samples": -5}))


def test_non_finite_and_mismatched_arrays():
    x = np.ones((5, 2))
    x[3, 1] = np.nan
    with raises("data.x_train", "nan"):
        from_arrays(x, np.arange(5) % 2)
    with raises("data.y_train", "inf"):
        from_arrays(np.ones((3, 1)), np.array([0.5, np.inf, 1.0]))
    with raises("data.y_train", r"\(4,\)"):
        from_arrays(np.ones((5, 2)), np.array([0, 1, 0, 1]))
    with raises("data.x_val", r"\(2, 3\)"):
        from_arrays(np.ones((5, 2)), np.arange(5) % 2, np.ones((2, 3)), np.array([0, 1]))
    with raises("data.y_val", "None"):
        from_arrays(np.ones((5, 2)), np.arange(5) % 2, x_val=np.ones((2, 2)))
    with raises("data.x_train", r"\(0, 2\)"):
        from_arrays(np.ones((0, 2)), np.zeros(0, int), task="classification")
    with raises("data.y_train", "0.5"):
        from_arrays(np.ones((2, 2)), np.array([0.5, 1.0]), task="classification")


def test_validate_checks_a_hand_built_dataset():
    ok = Dataset(np.zeros((3, 2)), np.array([0, 1, 1]), None, None, "classification", 2, "t")
    validate(ok)
    with raises("data.x_train", r"\(3, 2, 1\)"):
        validate(dataclasses.replace(ok, x_train=np.zeros((3, 2, 1))))
    with raises("data.y_train", "2"):
        validate(dataclasses.replace(ok, y_train=np.array([0, 1, 2])))
    with raises("data.task", "ranking"):
        validate(dataclasses.replace(ok, task="ranking"))


# ----------------------------------------------------------------------------- from_arrays


def test_from_arrays_infers_task_and_converts_one_hot():
    one_hot = np.eye(4)[[2, 0, 3, 3, 1]]
    ds = from_arrays(np.ones((5, 2)), one_hot)
    assert ds.task == "classification" and ds.n_classes == 4
    np.testing.assert_array_equal(ds.y_train, [2, 0, 3, 3, 1])
    assert ds.y_train.dtype == np.int32
    fewer = from_arrays(np.ones((3, 1)), np.eye(5)[[0, 1, 0]])
    assert fewer.n_classes == 5  # the one-hot width, not the largest label seen
    assert from_arrays(np.ones((4, 1)), np.array([True, False, True, True])).n_classes == 2
    reg = from_arrays(np.ones((4, 1)), np.array([0.0, 1.0, 2.0, 3.0]))
    assert reg.task == "regression" and reg.y_train.shape == (4, 1)
    labels = from_arrays(np.ones((4, 1)), np.array([0.0, 1.0, 2.0, 1.0]), task="classification")
    np.testing.assert_array_equal(labels.y_train, [0, 1, 2, 1])
    images = from_arrays(np.ones((6, 8, 8, 1), np.uint8), np.arange(6) % 3)
    assert images.x_train.shape == (6, 64) and images.x_train.dtype == np.float32
    assert isinstance(images.x_train, np.ndarray)


# ----------------------------------------------------------------------------- DataConfig


def test_dataconfig_hashable_equal_by_value_and_round_trips():
    a = DataConfig("blobs", options={"centers": [[0, 0], [3, 3]], "n_samples": 10})
    b = DataConfig("blobs", options={"n_samples": 10, "centers": [[0, 0], [3, 3]]})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != dataclasses.replace(a, scale_x="minmax")
    d = a.to_dict()
    assert d["options"] == {"centers": [[0, 0], [3, 3]], "n_samples": 10}
    assert "train_size" not in d  # None is left out: TOML has no null
    assert DataConfig.from_dict(json.loads(json.dumps(d))) == a
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(TypeError):
        a.options["n_samples"] = 5


def test_from_dict_accepts_a_flat_toml_table():
    flat = {"name": "blobs", "n_samples": 100, "centers": 2, "train_size": 50}
    cfg = DataConfig.from_dict(flat)
    assert cfg.options == {"n_samples": 100, "centers": 2} and cfg.train_size == 50
    assert load(cfg).n_val == 50
    with raises("data.centers", "2"):
        DataConfig.from_dict({**flat, "options": {"centers": 3}})
    with raises("data.limit_trian", "5"):  # a typo is refused, not silently ignored
        DataConfig.from_dict({"name": "digits", "limit_trian": 5})
    assert set(DATASETS) >= {"blobs", "digits", "mnist", "fashion_mnist"}


# ----------------------------------------------------------------------------- MNIST


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    """IDX as published: 0x0000, type 0x08 (uint8), ndim, big-endian uint32 dims, data."""
    data = struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape)
    data += array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def fake_mnist(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20),
            rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10))


def write_mnist_idx(directory, arrays, compress: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    for name, array in zip(names, arrays, strict=True):
        write_idx(directory / name, array, compress)


def assert_is_fake_mnist(ds: Dataset, arrays) -> None:
    x_tr, y_tr, x_te, y_te = arrays
    assert ds.x_train.shape == (20, 784) and ds.x_val.shape == (10, 784) and ds.n_classes == 10
    np.testing.assert_array_equal(ds.x_train, x_tr.reshape(20, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.x_val, x_te.reshape(10, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    np.testing.assert_array_equal(ds.y_val, y_te)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_round_trip(tmp_path, compress):
    arrays = fake_mnist()
    write_mnist_idx(tmp_path, arrays, compress)
    assert_is_fake_mnist(load(DataConfig("mnist", data_dir=str(tmp_path))), arrays)
    # With a split asked for, the train files are divided into train and validation parts
    # and the test files are the held-out test part.
    split = load(DataConfig("mnist", data_dir=str(tmp_path), validation_split=0.25))
    assert (split.n_train, split.n_val, split.n_test) == (15, 5, 10)
    np.testing.assert_array_equal(split.y_val, arrays[1][15:])
    np.testing.assert_array_equal(split.x_test, arrays[2].reshape(10, 784) / np.float32(255))
    np.testing.assert_array_equal(split.y_test, arrays[3])
    assert load(DataConfig("mnist", data_dir=str(tmp_path))).x_test is None


def test_test_part_from_arrays_is_scaled_with_train_statistics_and_validated():
    rng = np.random.default_rng(0)
    x, xt = rng.normal(3, 2, (40, 3)), rng.normal(3, 2, (7, 3))
    ds = from_arrays(x, np.arange(40) % 3, x_test=xt, y_test=np.arange(7) % 3,
                     validation_split=0.25, scale_x="standardize")
    train = x[:30]
    np.testing.assert_allclose(ds.x_test, (xt - train.mean(0)) / train.std(0), rtol=1e-5)
    assert ds.y_test.dtype == np.int32 and (ds.n_train, ds.n_val, ds.n_test) == (30, 10, 7)
    reg = from_arrays(x, x[:, :1] * 10, x_test=xt, y_test=xt[:, :1] * 10, scale_y="minmax")
    lo, hi = (x[:, 0] * 10).min(), (x[:, 0] * 10).max()
    np.testing.assert_allclose(reg.y_test, (xt[:, :1] * 10 - lo) / (hi - lo), rtol=1e-5)
    with raises("data.y_test", "None"):
        from_arrays(x, np.arange(40) % 3, x_test=xt)
    with raises("data.x_test", "(7, 2)"):
        from_arrays(x, np.arange(40) % 3, x_test=xt[:, :2], y_test=np.arange(7) % 3)
    two = from_arrays(x, np.arange(40) % 2)
    with raises("data.y_test", "3"):  # a class the training labels do not have
        validate(dataclasses.replace(two, x_test=xt, y_test=np.full(7, 3, np.int32)))


def test_mnist_keras_npz_and_fashion_mnist_sub_directory(tmp_path):
    arrays = fake_mnist(1)
    np.savez(tmp_path / "mnist.npz", **dict(zip(("x_train", "y_train", "x_test", "y_test"),
                                                arrays, strict=True)))
    assert_is_fake_mnist(load(DataConfig("mnist", data_dir=tmp_path)), arrays)
    fashion = fake_mnist(2)
    write_mnist_idx(tmp_path / "fashion_mnist", fashion)
    ds = load(DataConfig("fashion_mnist", data_dir=str(tmp_path)))
    assert ds.name == "fashion_mnist"
    assert_is_fake_mnist(ds, fashion)


def test_corrupt_idx_names_the_file(tmp_path):
    images = np.zeros((3, 4, 4), np.uint8)
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(struct.pack(">BBBB3I", 0, 0, 0x0D, 3, 3, 4, 4) + images.tobytes())
    with raises("data.data_dir", "bad-magic"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 3, 4, 4) + images.tobytes()[:-5])
    with raises("data.data_dir", "truncated"):
        read_idx(truncated)
    write_idx(tmp_path / "good", images, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "good"), images)
    arrays = fake_mnist()
    write_mnist_idx(tmp_path / "mnist", arrays)
    gz = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:100])  # a cut-off download
    with raises("data.data_dir", "train-images-idx3-ubyte.gz"):
        load(DataConfig("mnist", data_dir=str(tmp_path)))
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with raises("data.data_dir", "t10k-labels-idx1-ubyte"):  # an incomplete set is refused
        load(DataConfig("mnist", data_dir=str(tmp_path)))


def test_no_mnist_anywhere_points_to_digits(tmp_path):
    # tfds looks only in the given data_dir (download=False), which is empty.
    with pytest.raises(ConfigError, match="data.name='mnist'") as info:
        load(DataConfig("mnist", data_dir=str(tmp_path)))
    message = str(info.value)
    assert "data.name=digits" in message and "train-images-idx3-ubyte" in message
    assert "mnist.npz" in message and "data.data_dir" in message


def test_mnist_through_tfds_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    # Without TensorFlow, jaxlab reads tfds data through tfds.data_source, which mock_data
    # supports; with TensorFlow it uses tfds.load, which mock_data supports as well.
    with tfds.testing.mock_data(num_examples=7, data_dir=str(tmp_path)):
        ds = load(DataConfig("mnist", data_dir=str(tmp_path)))
        if importlib.util.find_spec("tensorflow") is None:
            source = tfds.data_source("mnist", split="test", data_dir=str(tmp_path))
            reference = np.stack([source[i]["image"] for i in range(len(source))])
        else:
            reference, _ = tfds.as_numpy(tfds.load("mnist", split="test", batch_size=-1,
                                                   as_supervised=True, data_dir=str(tmp_path)))
    assert (ds.n_train, ds.n_val, ds.n_features, ds.n_classes) == (7, 7, 784, 10)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.y_train.dtype == np.int32 and ds.y_train.max() < 10
    np.testing.assert_array_equal(ds.x_val, reference.reshape(7, 784).astype(np.float32) / 255)


def test_minmax_sym_fitted_on_all_rows():
    """MinMaxScaler(feature_range=(-1, 1)) fitted on every row before the split (the book's
    order): train and validation together span exactly [-1, 1]."""
    cfg = DataConfig("circles", options=dict(n_samples=200, noise=0.1, random_state=1),
                        train_size=100, scale_x="minmax_sym", scale_fit="all",
                        dtype="float64")
    ds = load(cfg)
    every = np.concatenate([ds.x_train, ds.x_val])
    np.testing.assert_allclose(every.min(0), -1.0, atol=1e-12)
    np.testing.assert_allclose(every.max(0), 1.0, atol=1e-12)
    train_only = load(dataclasses.replace(cfg, scale_fit="train"))
    np.testing.assert_allclose(train_only.x_train.min(0), -1.0, atol=1e-12)
    with pytest.raises(ConfigError, match="scale_fit"):
        DataConfig("circles", scale_fit="val")

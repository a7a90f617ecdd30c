"""Tests for jaxlab.Network: Keras-style compile/fit/evaluate/predict is a sweep of one."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from flax import nnx
from sklearn.datasets import make_blobs

import jaxlab as jl
from jaxlab.errors import ConfigError

N, SPLIT, EPOCHS = 200, 0.3, 5
N_TRAIN = int(N * (1 - SPLIT))  # Keras: the last 30%, before shuffling, is validation
COMPILE = {"optimizer": "adam", "learning_rate": 1e-2,
           "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


@pytest.fixture(scope="module")
def blobs():
    x, y = make_blobs(n_samples=N, centers=3, n_features=2, cluster_std=2.0, random_state=2)
    return x.astype(np.float32), y


@pytest.fixture(scope="module", autouse=True)
def no_persistent_cache():
    with pytest.MonkeyPatch.context() as mp:  # fit() uses the default compilation cache
        mp.setenv("JAXLAB_COMPILATION_CACHE", "0")
        yield


@pytest.fixture(scope="module")
def fitted(blobs):
    x, y = blobs
    net = jl.Network(hidden=(16,)).compile(**COMPILE)
    history = net.fit(x, y, epochs=EPOCHS, validation_split=SPLIT)
    return net, history


def test_history_has_a_row_per_epoch_and_validation_columns(fitted):
    _, history = fitted
    assert len(history) == EPOCHS
    assert list(history.epoch) == list(range(1, EPOCHS + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    assert "variant" not in history.columns
    assert history.loss.iloc[-1] < history.loss.iloc[0]  # it learned
    assert (history.examples.diff().dropna() == N_TRAIN).all()  # 140 training samples/epoch


def test_fit_returns_a_keras_history_that_is_the_history_frame(fitted):
    net, history = fitted
    assert isinstance(history, pd.DataFrame)  # existing code keeps working
    assert history.model is net
    frame = history.frame
    assert type(frame) is pd.DataFrame
    assert set(history.history) == set(frame.columns) - {"epoch"}
    for name, values in history.history.items():
        assert isinstance(values, list) and values == frame[name].tolist()
    assert len(history.history["val_accuracy"]) == EPOCHS
    assert history.history["loss"][-1] == history.loss.iloc[-1]
    assert type(history.tail(2)) is pd.DataFrame  # slices are plain frames


def test_module_is_the_trained_network(fitted, blobs):
    net, _ = fitted
    x, _ = blobs
    module = net.module
    assert isinstance(module, nnx.Module)
    want = net.result.models[0].logits(x)
    np.testing.assert_allclose(np.asarray(module(x)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(nnx.jit(lambda m, x: m(x))(module, x)), want)
    np.testing.assert_allclose(jax.nn.softmax(module(x)), net.predict(x), rtol=1e-5, atol=1e-7)
    got = nnx.to_pure_dict(nnx.state(module, nnx.Param))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(net.params), strict=True):
        np.testing.assert_array_equal(a, b)  # width 16 everywhere: nothing padded
    with pytest.raises(ConfigError, match="Network.*fit"):
        jl.Network(hidden=(4,)).module  # noqa: B018


def test_validation_is_the_last_30_percent(fitted, blobs):
    net, history = fitted
    x, y = blobs
    last = net.evaluate(x[N_TRAIN:], y[N_TRAIN:])
    np.testing.assert_allclose(last["loss"], history.val_loss.iloc[-1], rtol=1e-5)
    np.testing.assert_allclose(last["accuracy"], history.val_accuracy.iloc[-1], rtol=1e-6)
    first = net.evaluate(x[: N - N_TRAIN], y[: N - N_TRAIN])
    assert not np.isclose(first["loss"], history.val_loss.iloc[-1], rtol=1e-3)


def test_predict_returns_class_probabilities(fitted, blobs):
    net, _ = fitted
    x, y = blobs
    p = net.predict(x)
    assert p.shape == (N, 3)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    acc = np.mean(p.argmax(1) == y)
    np.testing.assert_allclose(net.evaluate(x, y)["accuracy"], acc, rtol=1e-6)


def test_evaluate_returns_loss_and_metrics(fitted, blobs):
    net, _ = fitted
    x, y = blobs
    out = net.evaluate(x, y)
    assert set(out) == {"loss", "accuracy"}
    assert all(isinstance(v, float) for v in out.values())
    p = net.predict(x).astype(np.float64)
    np.testing.assert_allclose(out["loss"], -np.mean(np.log(p[np.arange(N), y])), rtol=1e-4)
    # one-hot labels, as fit() accepts them, evaluate the same
    assert net.evaluate(x, np.eye(3)[y]) == out


def test_fit_is_a_sweep_of_one(fitted, blobs):
    net, history = fitted
    x, y = blobs
    spec = jl.Sweep(model=jl.ModelConfig(hidden=(16,)),
                    train=jl.TrainConfig(optimizer="adam", learning_rate=1e-2,
                                         loss="sparse_categorical_crossentropy",
                                         metrics=("accuracy",), epochs=EPOCHS, batch_size=32))
    result = jl.run(spec, dataset=jl.from_arrays(x, y, validation_split=SPLIT),
                    compilation_cache=False)
    want, got = jax.tree.flatten(result.params(0)), jax.tree.flatten(net.params)
    assert got[1] == want[1]
    for a, b in zip(got[0], want[0], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(history.val_loss, result.history.val_loss)


def test_fit_with_validation_data_and_regression_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32)  # 1-D regression targets
    xv, yv = x[:40] + 0.1, y[:40]
    net = jl.Network(hidden=(8,)).compile(optimizer="adam", learning_rate=1e-2, loss="mse",
                                          metrics=["mae"])
    history = net.fit(x, y, epochs=2, batch_size=16, validation_data=(xv, yv))
    assert net.predict(xv).shape == (40, 1)
    for targets in (yv, yv[:, None]):  # (n,) must not broadcast against (n, 1) outputs
        got = net.evaluate(xv, targets)
        np.testing.assert_allclose(got["loss"], history.val_loss.iloc[-1], rtol=1e-5)
        np.testing.assert_allclose(got["mae"], history.val_mae.iloc[-1], rtol=1e-5)


def test_mistakes_are_config_errors():
    net = jl.Network(hidden=(4,)).compile(**COMPILE)
    with pytest.raises(ConfigError, match="Network.*fit"):
        net.predict(np.zeros((2, 2)))
    x, y = np.zeros((10, 2)), np.arange(10) % 2
    with pytest.raises(ConfigError, match="validation_split"):
        net.fit(x, y, validation_split=0.2, validation_data=(x, y))
    with pytest.warns(UserWarning, match="batch_size=64 with 10 samples"):  # Keras: one batch
        assert net.fit(x, y, batch_size=64, epochs=2).updates.tolist() == [1, 2]
    with pytest.raises(ConfigError, match=r"train\.learning_rate.*-1"):
        jl.Network().compile(learning_rate=-1).fit(x, y)

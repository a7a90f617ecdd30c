"""Tests for jaxlab.losses: every loss and metric against optax or a NumPy formula.

The references take the network's raw outputs through the output activation the loss
implies (softmax, sigmoid, tanh, linear), as Keras does with that activation on its last
layer, and compute the textbook formula in float64.
"""

from __future__ import annotations

import numpy as np
import optax
import pytest

from jaxlab.errors import ConfigError
from jaxlab.losses import LOSSES, make_objective

RNG = np.random.default_rng(0)
N, K = 12, 4
LOGITS = RNG.normal(scale=2.0, size=(N, K)).astype(np.float32)
LABELS = RNG.integers(0, K, N)
LABELS[:K] = np.arange(K)  # every class occurs
BIN_LOGITS = RNG.normal(scale=2.0, size=(N, 1)).astype(np.float32)
BIN_LABELS = np.arange(N) % 2
TARGETS = RNG.normal(size=(N, 3)).astype(np.float32)
PREDS = RNG.normal(size=(N, 3)).astype(np.float32)


def objective(loss, metrics=(), task="classification", n_classes=K, **kw):
    return make_objective(loss, metrics, task=task, n_classes=n_classes, **kw)


def loss_of(obj, z, y):
    return np.asarray(obj.per_sample_loss(z, obj.encode(y)), np.float64)


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, np.float64)))


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- classification


def test_categorical_crossentropy_is_optax_softmax_cross_entropy():
    obj = objective("categorical_crossentropy")
    onehot = np.eye(K)[LABELS]
    want = optax.softmax_cross_entropy(LOGITS, onehot)
    np.testing.assert_allclose(loss_of(obj, LOGITS, LABELS), want, rtol=1e-6)
    np.testing.assert_allclose(want, -np.log(softmax(LOGITS)[np.arange(N), LABELS]), rtol=1e-5)


def test_sparse_categorical_crossentropy_is_the_same_from_integer_labels():
    obj = objective("sparse_categorical_crossentropy")
    want = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS)
    np.testing.assert_allclose(loss_of(obj, LOGITS, LABELS), want, rtol=1e-6)
    dense = objective("categorical_crossentropy")
    np.testing.assert_allclose(loss_of(obj, LOGITS, LABELS), loss_of(dense, LOGITS, LABELS),
                               rtol=1e-6)


def test_kl_divergence_with_one_hot_equals_crossentropy_and_matches_numpy_on_soft_labels():
    kl = objective("kl_divergence")
    ce = objective("categorical_crossentropy")
    np.testing.assert_allclose(loss_of(kl, LOGITS, LABELS), loss_of(ce, LOGITS, LABELS),
                               rtol=1e-6)
    soft = RNG.dirichlet(np.ones(K), N)
    soft[0] = [0.5, 0.5, 0.0, 0.0]  # 0 * log 0 counts as 0
    p = softmax(LOGITS)
    want = np.sum(np.where(soft > 0, soft * np.log(np.where(soft > 0, soft, 1) / p), 0), -1)
    got = kl.per_sample_loss(LOGITS, soft.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(np.isfinite(got))


def test_binary_crossentropy_matches_numpy_on_sigmoid_outputs():
    obj = objective("binary_crossentropy", n_classes=2)
    p = sigmoid(BIN_LOGITS)[:, 0]
    y = BIN_LABELS
    want = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(loss_of(obj, BIN_LOGITS, BIN_LABELS), want, rtol=1e-5)
    # stable far out in the tails, where sigmoid(z) rounds to 0 or 1 in float32
    z = np.array([[40.0], [-40.0]], np.float32)
    np.testing.assert_allclose(loss_of(obj, z, np.array([0, 1])), [40.0, 40.0], rtol=1e-6)


@pytest.mark.parametrize("loss, power", [("hinge", 1), ("squared_hinge", 2)])
def test_hinge_losses_use_plus_minus_one_labels_and_tanh_outputs(loss, power):
    obj = objective(loss, n_classes=2)
    assert obj.output_activation == "tanh"
    y = 2.0 * BIN_LABELS - 1
    want = np.maximum(1 - y * np.tanh(BIN_LOGITS[:, 0].astype(np.float64)), 0) ** power
    # 1 - tanh(z) cancels in float32 for large z: absolute tolerance there
    np.testing.assert_allclose(loss_of(obj, BIN_LOGITS, BIN_LABELS), want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- regression


def test_mse_and_mae():
    for name, want in (("mse", np.mean((PREDS - TARGETS) ** 2, -1)),
                       ("mae", np.mean(np.abs(PREDS - TARGETS), -1))):
        obj = objective(name, task="regression", n_classes=None, n_targets=3)
        assert obj.output_activation == "linear" and obj.n_outputs == 3
        np.testing.assert_allclose(loss_of(obj, PREDS, TARGETS), want, rtol=1e-6)
    obj = objective("mse", task="regression", n_classes=None, n_targets=3)
    np.testing.assert_allclose(loss_of(obj, PREDS, TARGETS),
                               optax.l2_loss(PREDS, TARGETS).mean(-1) * 2, rtol=1e-6)


def test_msle_follows_keras():
    # keras.losses.mean_squared_logarithmic_error, with its epsilon = 1e-7
    y = TARGETS * 3  # some targets are below -1: Keras clamps them too
    assert y.min() < -1
    z = PREDS * 2  # some predictions are negative: Keras clips them
    eps = 1e-7
    want = np.mean((np.log(np.maximum(z.astype(np.float64), eps) + 1)
                    - np.log(np.maximum(y.astype(np.float64), eps) + 1)) ** 2, -1)
    obj = objective("msle", task="regression", n_classes=None, n_targets=3, y_train=y)
    np.testing.assert_allclose(loss_of(obj, z, y), want, rtol=1e-5, atol=1e-6)


def test_huber_with_delta_one_is_optax_huber():
    obj = objective("huber", task="regression", n_classes=None, n_targets=3)
    z = PREDS * 3  # errors on both sides of delta
    assert np.any(np.abs(z - TARGETS) > 1) and np.any(np.abs(z - TARGETS) < 1)
    want = optax.huber_loss(z, TARGETS, delta=1.0).mean(-1)
    np.testing.assert_allclose(loss_of(obj, z, TARGETS), want, rtol=1e-6)
    err = np.abs(z - TARGETS).astype(np.float64)
    by_hand = np.where(err <= 1, 0.5 * err**2, err - 0.5).mean(-1)
    np.testing.assert_allclose(loss_of(obj, z, TARGETS), by_hand, rtol=1e-5)


# ----------------------------------------------------------------------------- metrics


def metrics_of(obj, z, y):
    return {k: np.asarray(v, np.float64)
            for k, v in obj.per_sample_metrics(z, obj.encode(y)).items()}


def test_accuracy_and_probability_errors_for_classes():
    obj = objective("sparse_categorical_crossentropy", ("accuracy", "mae", "mse"))
    got = metrics_of(obj, LOGITS, LABELS)
    hit = (LOGITS.argmax(-1) == LABELS).astype(float)
    assert 0 < hit.mean() < 1  # both outcomes occur
    np.testing.assert_array_equal(got["accuracy"], hit)
    err = softmax(LOGITS) - np.eye(K)[LABELS]
    np.testing.assert_allclose(got["mae"], np.abs(err).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(got["mse"], (err**2).mean(-1), rtol=1e-5)
    same = objective("categorical_crossentropy", ("accuracy",))  # from one-hot targets
    np.testing.assert_array_equal(metrics_of(same, LOGITS, LABELS)["accuracy"], hit)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "hinge", "squared_hinge"])
def test_binary_accuracy_thresholds_the_single_output(loss):
    obj = objective(loss, ("binary_accuracy", "accuracy"), n_classes=2)
    got = metrics_of(obj, BIN_LOGITS, BIN_LABELS)
    # sigmoid > 0.5 and tanh > 0 are both z > 0
    want = ((BIN_LOGITS[:, 0] > 0) == (BIN_LABELS == 1)).astype(float)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(got["binary_accuracy"], want)
    np.testing.assert_array_equal(got["accuracy"], want)


def test_regression_metrics():
    obj = objective("huber", ("mae", "mse"), task="regression", n_classes=None, n_targets=3)
    got = metrics_of(obj, PREDS, TARGETS)
    np.testing.assert_allclose(got["mae"], np.abs(PREDS - TARGETS).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(got["mse"], ((PREDS - TARGETS) ** 2).mean(-1), rtol=1e-6)


# ----------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("loss, n_classes, shape, dtype, values", [
    ("sparse_categorical_crossentropy", K, (N,), np.int32, None),
    ("categorical_crossentropy", K, (N, K), np.float32, {0, 1}),
    ("kl_divergence", K, (N, K), np.float32, {0, 1}),
    ("categorical_crossentropy", 2, (N, 2), np.float32, {0, 1}),
    ("binary_crossentropy", 2, (N, 1), np.float32, {0, 1}),
    ("hinge", 2, (N, 1), np.float32, {-1, 1}),
    ("squared_hinge", 2, (N, 1), np.float32, {-1, 1}),
])
def test_encode_shapes(loss, n_classes, shape, dtype, values):
    labels = LABELS % n_classes
    obj = objective(loss, n_classes=n_classes)
    t = obj.encode(labels)
    assert t.shape == shape and t.dtype == dtype
    if values is None:
        np.testing.assert_array_equal(t, labels)
    else:
        assert set(np.unique(t)) == values
        np.testing.assert_array_equal(t.argmax(-1) if shape[1] > 1 else t[:, 0] > 0,
                                      labels if shape[1] > 1 else labels == 1)
    assert obj.n_outputs == shape[1] if len(shape) == 2 else obj.n_outputs == n_classes


@pytest.mark.parametrize("loss", ["mse", "mae", "msle", "huber"])
def test_encode_leaves_regression_targets_alone(loss):
    obj = objective(loss, task="regression", n_classes=None, n_targets=3, y_train=np.abs(TARGETS))
    np.testing.assert_array_equal(obj.encode(TARGETS), TARGETS)


def test_encode_refuses_labels_out_of_range():
    obj = objective("categorical_crossentropy")
    with pytest.raises(ConfigError, match=r"data\.y_train.*0\.\.3"):
        obj.encode(np.array([0, 1, K]))


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "kl_divergence", "binary_crossentropy", "hinge"])
def test_class_losses_refuse_regression_targets(loss):
    with pytest.raises(ConfigError, match=rf"train\.loss.*{loss}.*regression") as err:
        objective(loss, task="regression", n_classes=None, n_targets=1)
    assert err.value.field == "train.loss"


@pytest.mark.parametrize("loss", ["binary_crossentropy", "hinge", "squared_hinge"])
def test_binary_losses_refuse_three_classes(loss):
    with pytest.raises(ConfigError, match=rf"train\.loss.*{loss}.*3 classes"):
        objective(loss, n_classes=3)


def test_other_mismatches():
    with pytest.raises(ConfigError, match=r"train\.metrics.*accuracy"):
        objective("mse", ("accuracy",), task="regression", n_classes=None)
    with pytest.raises(ConfigError, match=r"train\.metrics.*binary_accuracy"):
        objective("categorical_crossentropy", ("binary_accuracy",))
    with pytest.raises(ConfigError, match=r"model\.output_activation.*sigmoid"):
        objective("categorical_crossentropy", output_activation="sigmoid")
    with pytest.raises(ConfigError, match=r"train\.loss.*'l3'"):
        objective("l3")


def test_keras_long_names_are_aliases():
    assert objective("mean_squared_error", task="regression", n_classes=None).loss == "mse"
    assert objective("kullback_leibler_divergence").loss == "kl_divergence"
    assert set(LOSSES) == {"categorical_crossentropy", "sparse_categorical_crossentropy",
                           "kl_divergence", "binary_crossentropy", "hinge", "squared_hinge",
                           "mse", "mae", "msle", "huber"}

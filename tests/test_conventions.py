"""Tests for jaxlab.conventions against plain loops written here, one variant at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxlab import conventions


def loop_final(xs, ran):
    done = [x for x, r in zip(xs, ran, strict=True) if r]
    return done[-1] if done else math.nan


def loop_best(xs, ran, maximize):
    best, epoch = math.nan, -1
    for e, (x, r) in enumerate(zip(xs, ran, strict=True)):
        if r and math.isfinite(x) and (epoch < 0 or (x > best if maximize else x < best)):
            best, epoch = x, e
    return best, epoch


@pytest.mark.parametrize("maximize", [False, True])
def test_final_and_best_match_a_loop_over_epochs(maximize):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (6, 40)).astype(float)  # small integers: ties are common
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.1] = np.inf
    ran = rng.random(x.shape) < 0.7
    final = conventions.final_value(x, ran)
    best, epoch = conventions.best_value(x, ran, maximize)
    for v in range(x.shape[1]):
        np.testing.assert_equal(final[v], loop_final(x[:, v], ran[:, v]))
        np.testing.assert_equal((best[v], epoch[v]), loop_best(x[:, v], ran[:, v], maximize))


def test_best_takes_one_direction_per_column_and_integers():
    x = np.array([[[1, 5]], [[3, 2]]])  # (E=2, V=1, M=2) int
    best, epoch = conventions.best_value(x, True, np.array([True, False]))
    assert best.tolist() == [[3.0, 2.0]] and epoch.tolist() == [[1, 1]]


def test_maximize_and_dtype():
    assert conventions.maximize("val_accuracy") and not conventions.maximize("val_loss")
    assert conventions.maximize("loss", "max") and not conventions.maximize("acc", "min")
    assert conventions.default_monitor(True) == "val_loss"
    assert conventions.default_monitor(False) == "loss"
    assert np.dtype(conventions.float_dtype("float64")).itemsize == 8
    assert np.dtype(conventions.float_dtype("float32")).itemsize == 4


def test_result_columns():
    cols = ["variant", "train.learning_rate", "model.width", "status", "final_loss",
            "final_val_accuracy", "best_loss", "best_epoch"]
    assert conventions.swept_axes(cols) == ["train.learning_rate", "model.width"]
    assert conventions.summarized(cols, "final") == ["loss", "val_accuracy"]
    assert conventions.summarized(cols, "best") == ["loss"]
    assert conventions.summary_column("best", "loss") == "best_loss"

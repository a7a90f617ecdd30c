"""Every vectorized axis against an independent plain Flax+Optax loop (tests/reference.py).

Same initial parameters, same data order, 3+ epochs; final parameters must agree to 1e-9
relative in float64 (an off-by-one batch or a wrong mask cannot hide there) and to 1e-5 in
float32 for SGD.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlab as jl
from jaxlab import models
from tests import reference

pytestmark = pytest.mark.xdist_group("exactness")


@pytest.fixture(autouse=True)
def x64(request):
    enable = "float32" not in request.node.name
    with jax.enable_x64(enable):
        yield


def blobs(dtype="float64", n_train=50):
    return jl.DataConfig("blobs", options=dict(n_samples=100, centers=3, n_features=4,
                                               cluster_std=2.0, random_state=2),
                         train_size=n_train, scale_x="standardize", dtype=dtype)


def spec_of(grid=None, zip=None, dtype="float64", **train):
    model = train.pop("model", {})
    defaults = dict(optimizer="sgd", learning_rate=0.1, epochs=4, batch_size=10, shuffle=False,
                    loss="categorical_crossentropy", metrics=("accuracy",), dtype=dtype)
    return jl.Sweep(data=blobs(dtype),
                    model=jl.ModelConfig(**{"hidden": (8,), "kernel_init": "he_uniform",
                                            **model}),
                    train=jl.TrainConfig(**{**defaults, **train}), grid=grid or {},
                    zip=zip or {})


def sgd_tx(v):
    t = v.train
    parts = []
    if t.clip_norm is not None:
        parts.append(optax.clip_by_global_norm(t.clip_norm))
    if t.clip_value is not None:
        parts.append(optax.clip(t.clip_value))
    if t.optimizer in ("sgd", "momentum", "nesterov"):
        parts.append(optax.sgd(t.learning_rate, momentum=t.momentum or None,
                               nesterov=t.optimizer == "nesterov"))
    elif t.optimizer == "adam":
        parts.append(optax.adam(t.learning_rate, b1=t.b1, b2=t.b2, eps=t.eps))
    elif t.optimizer == "adamw":
        parts.append(optax.adamw(t.learning_rate, b1=t.b1, b2=t.b2, eps=t.eps,
                                 weight_decay=t.weight_decay))
    elif t.optimizer == "rmsprop":
        parts.append(optax.rmsprop(t.learning_rate, decay=t.rho, eps=t.eps))
    elif t.optimizer == "adagrad":
        parts.append(optax.adagrad(t.learning_rate, initial_accumulator_value=t.initial_accumulator,
                                   eps=t.eps))
    return optax.chain(*parts)


def compare(spec, make_tx=sgd_tx, rtol=1e-9, check_stats=False, batch_size=None):
    """Run ``spec`` with jaxlab and every variant with the reference; compare final params."""
    plan = jl.plan(spec)
    init = plan.initial_params()
    result = jl.run(spec, compilation_cache=False)
    worst = 0.0
    for gi, g in enumerate(plan.groups):
        ds = g.dataset
        y = np.eye(ds.n_classes)[ds.y_train].astype(ds.x_train.dtype)
        for j, v in enumerate(g.variants):
            p0 = models.slice_params(jax.tree.map(lambda a, j=j: np.asarray(a[j]), init[gi]),
                                     v.model.widths, len(v.model.widths), ds.n_features)
            t = v.train
            stats0 = None
            if v.model.batch_norm != "none":
                stats0 = {"norms": {l: {"mean": np.zeros(w), "var": np.ones(w)}
                                    for l, w in enumerate(v.model.widths)}}
            ref, ref_stats, _ = reference.train(
                p0, ds.x_train, y, tx=make_tx(v), widths=v.model.widths,
                activation=v.model.activation, epochs=t.epochs,
                batch_size=batch_size(v) if batch_size else t.batch_size,
                seed=t.seed, shuffle=t.shuffle, dropout=v.model.dropout, l2=t.l2,
                batch_norm=None if v.model.batch_norm == "none" else v.model.batch_norm,
                stats=stats0)
            got = result.params(v.index)
            worst = max(worst, _assert_close(got, ref, rtol, f"variant {v.index} {v.values}"))
            if check_stats:
                m = result.models[v.index]
                stats = {l: {k: a[:w] for k, a in m.batch_stats["norms"][l].items()}
                         for l, w in enumerate(v.model.widths)}
                _assert_close(stats, ref_stats["norms"], rtol, f"stats of {v.index}")
    return result, worst


def _assert_close(got, want, rtol, what):
    g_leaves, g_tree = jax.tree.flatten(got)
    w_leaves, w_tree = jax.tree.flatten(want)
    assert g_tree == w_tree, f"{what}: structure {g_tree} != {w_tree}"
    worst = 0.0
    # A leaf that is ~0 in exact arithmetic (a bias in front of batch norm gets no gradient)
    # is compared relative to 1e-3 of the model's largest parameter instead of itself.
    floor = 1e-3 * max(np.max(np.abs(np.asarray(b))) for b in w_leaves)
    for a, b in zip(g_leaves, w_leaves, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
        scale = max(np.max(np.abs(b)), floor)
        err = np.max(np.abs(a - b)) / scale if a.size else 0.0
        worst = max(worst, err)
        assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol}"
    # The parameters moved: the comparison is not between two initial states.
    return worst


def test_batch_size_ragged_last_batch_float64():
    # N = 50: 7 and 16 leave ragged last batches (1 and 2 samples); 50 is full-batch, and
    # 80 > N is one batch of everything too (Keras), with a warning; the reference loop
    # slices x[0:80] of 50 rows, its own full batch.
    with pytest.warns(UserWarning, match="batch_size=80 with 50 samples"):
        result, _ = compare(spec_of(grid={"batch_size": [5, 7, 16, 50, 80]}, shuffle=True),
                            batch_size=lambda v: v.values["train.batch_size"])
    h = result.history
    last = h[h.epoch == 4].set_index("variant")
    assert list(last.updates) == [4 * 10, 4 * 8, 4 * 4, 4 * 1, 4 * 1]
    assert set(last.examples) == {200}
    assert list(result.variants["train.batch_size"]) == [5, 7, 16, 50, 80]


def test_width_float64():
    compare(spec_of(grid={"width": [1, 3, 8, 17]}, model={"activation": "sigmoid"}))


def test_depth_float64():
    compare(spec_of(grid={"depth": [1, 2, 3]}, model={"width": 6, "hidden": None,
                                                     "activation": "tanh"}))


def test_uneven_hidden_widths_float64():
    compare(spec_of(grid={"hidden": [[5], [9, 3], [4, 7, 2]]}))


def test_dropout_float64():
    compare(spec_of(grid={"dropout": [0.0, 0.25, 0.5]}, shuffle=True, seed=3))


def test_clipping_float64():
    # 0.05 clips every step, 100 never does.
    compare(spec_of(grid={"clip_norm": [0.05, 1.0, 100.0]}, learning_rate=0.5))
    compare(spec_of(grid={"clip_value": [0.01, 0.1, 10.0]}, learning_rate=0.5))


def test_momentum_and_nesterov_float64():
    compare(spec_of(grid={"momentum": [0.0, 0.5, 0.9], "optimizer": ["sgd", "nesterov"]}))


@pytest.mark.parametrize("family", ["adam", "adamw", "rmsprop", "adagrad"])
def test_adaptive_optimizers_float64(family):
    grid = {"learning_rate": [1e-3, 3e-2]}
    if family in ("adam", "adamw"):
        grid["b1"] = [0.8, 0.95]
    compare(spec_of(grid=grid, optimizer=family, batch_size=16))


def test_learning_rate_and_seed_with_shuffling_float64():
    compare(spec_of(grid={"learning_rate": [0.01, 0.3], "seed": [0, 1]}, shuffle=True))


def test_l2_float64():
    compare(spec_of(grid={"l2": [0.0, 1e-3, 1e-2]}, batch_size=16))


def test_batch_norm_single_batch_size_float64():
    compare(spec_of(grid={"learning_rate": [0.05, 0.2]}, batch_size=16,
                    model={"batch_norm": "before"}), check_stats=True)
    compare(spec_of(grid={"width": [3, 8]}, batch_size=12, model={"batch_norm": "after"}),
            check_stats=True)


def scheduled_sgd(schedule):
    """Plain SGD with a schedule, written out: optax's scale_by_schedule casts the step
    size to float32 even under x64, which would make the reference the inexact side."""

    def init(params):
        return jnp.zeros((), jnp.int32)

    def update(grads, count, params=None):
        lr = schedule(count.astype(jnp.float64))  # int32 / int would be float32
        return jax.tree.map(lambda g: -lr * g, grads), count + 1

    return optax.GradientTransformation(init, update)


def test_learning_rate_schedules_float64():
    def scheduled(v):
        # Keras' ExponentialDecay and CosineDecay, written out.
        t = v.train
        if t.schedule == "exponential":
            def sched(count):
                return t.learning_rate * t.decay_rate ** (count / t.decay_steps)
        else:
            def sched(count):
                frac = jnp.minimum(count, t.decay_steps) / t.decay_steps
                return t.learning_rate * ((1 - t.alpha) * 0.5 * (1 + jnp.cos(jnp.pi * frac))
                                          + t.alpha)
        return scheduled_sgd(sched)

    compare(spec_of(grid={"decay_rate": [0.5, 0.9], "decay_steps": [3, 7]},
                    schedule="exponential"), scheduled)
    compare(spec_of(grid={"decay_steps": [5, 30], "alpha": [0.0, 0.2]}, schedule="cosine"),
            scheduled)


def test_sgd_float32():
    _, worst = compare(spec_of(grid={"batch_size": [7, 16], "width": [4, 8]}, dtype="float32"),
                       rtol=1e-5)
    assert worst < 1e-5


def test_adam_float32():
    # Adam divides by sqrt(v) + eps: float32 rounding in the padded/microbatched sums is
    # amplified where v is tiny. Measured worst relative error here: 6.8e-6; we allow 5e-5.
    _, worst = compare(spec_of(grid={"learning_rate": [1e-3, 1e-2], "batch_size": [7, 16]},
                               optimizer="adam", dtype="float32"), rtol=5e-5)
    print(f"adam float32 worst relative error {worst:.3g}")


def test_uniform_bounds_deep_tanh_output_and_bias_init_float64():
    """Keras' RandomUniform(0, 1) on the hidden kernels of a deep tanh net (the course's
    failing vanishing-gradient net), the output at glorot_uniform or the same init, and
    Keras' bias initializers (ones, RandomUniform on the kernels' bounds, a constant lo = hi,
    RandomNormal(0, 0.05)): bounds and kinds are per-variant data (one program), the draws
    lie within them, padded biases stay 0, and training matches the plain loop."""
    bounds = [(0.0, 1.0), (-0.3, 0.3), (0.0, 1.0), (0.0, 1.0), (0.5, 0.5)]
    spec = spec_of(zip={"init_min": [lo for lo, _ in bounds], "init_max": [hi for _, hi in bounds],
                        "output_init": ["glorot_uniform", "glorot_uniform", "same",
                                        "glorot_uniform", "glorot_uniform"],
                        "bias_init": ["zeros", "ones", "normal", "uniform", "uniform"],
                        "hidden": [(6,) * 4, (6,) * 4, (6,) * 4, (6, 3, 6, 6), (6,) * 4]},
                   model={"hidden": None, "activation": "tanh", "kernel_init": "uniform"},
                   learning_rate=0.05)
    plan = jl.plan(spec)
    assert len(plan.groups) == 1
    init = plan.initial_params()[0]
    glorot_out = np.sqrt(6 / (6 + 3))
    for j, (lo, hi) in enumerate(bounds[:4]):
        for l in range(4):
            k = np.asarray(init["hidden"][l]["kernel"][j])[:, : 3 if (j, l) == (3, 1) else 6]
            assert lo <= k.min() and k.max() <= hi and k.max() - k.min() > 0.6 * (hi - lo)
        out = np.asarray(init["out"]["kernel"][j])
        if j != 2:
            assert np.abs(out).max() <= glorot_out and out.min() < 0
        else:
            assert out.min() >= 0 and out.max() <= 1
    b = [np.concatenate([np.asarray(init["hidden"][l]["bias"][j]) for l in range(4)]
                        + [np.asarray(init["out"]["bias"][j])]) for j in range(5)]
    np.testing.assert_array_equal(b[0], 0.0)
    np.testing.assert_array_equal(b[1], 1.0)
    real = np.r_[b[3][:9], b[3][12:]]
    assert 0.0 <= real.min() and real.max() <= 1.0 and np.ptp(real) > 0.5
    np.testing.assert_array_equal(b[3][9:12], 0.0)  # layer 1's padded units (width 3 of 6)
    np.testing.assert_array_equal(b[4], 0.5)
    assert 0.01 < b[2].std() < 0.1 and b[2].min() < 0 < b[2].max()
    compare(spec)


def test_bias_init_is_validated():
    with pytest.raises(jl.ConfigError, match="model.bias_init"):
        jl.plan(spec_of(model={"bias_init": "he_uniform"}))
    with pytest.raises(jl.ConfigError, match=r"model.init_min.*1\.0.*must not exceed"):
        jl.plan(spec_of(model={"bias_init": "uniform", "init_min": 1.0, "init_max": 0.0}))

"""A user module's own variables and noise: nnx.BatchNorm statistics and nnx.Dropout masks
work per variant; batch norm is exact against a plain NNX + Optax loop when every batch is
whole (one batch size dividing N)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxlab as jl
from tests.models_for_tests import NormDropNet

pytestmark = pytest.mark.xdist_group("exactness")
DATA = dict(name="blobs", options=dict(n_samples=96, centers=3, n_features=5, cluster_std=2.0,
                                       random_state=3), train_size=48, scale_x="standardize")


def spec_of(rate, grid, dtype="float32", **train):
    t = dict(optimizer="sgd", learning_rate=0.1, momentum=0.9, epochs=3, batch_size=16,
             shuffle=True, loss="categorical_crossentropy", metrics=("accuracy",), dtype=dtype)
    return jl.Sweep(data=jl.DataConfig(**DATA, dtype=dtype),
                    model=jl.ModelConfig(module=NormDropNet, options={"rate": rate}),
                    train=jl.TrainConfig(**{**t, **train}), grid=grid)


def leaves_close(a, b, rtol):
    return all(np.allclose(x, y, rtol=rtol, atol=1e-6)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_dropout_is_per_variant_and_a_variant_is_itself_in_any_sweep():
    sweep = jl.run(spec_of(0.3, {"dropout_seed": [0, 1, 2]}))
    alone = jl.run(spec_of(0.3, {"dropout_seed": [1]}))
    p = [sweep.params(i) for i in range(3)]
    assert not leaves_close(p[0], p[1], 1e-3), "other dropout seeds must draw other masks"
    # The same variant trained alone: the same numbers (to float32 rounding, another program).
    assert leaves_close(p[1], alone.params(0), 1e-5)
    # Inference is deterministic: no dropout, running statistics.
    x = jl.load(jl.DataConfig(**DATA)).x_val[:7]
    np.testing.assert_array_equal(sweep.predict(x, 1), sweep.predict(x, 1))
    stats = sweep.models[0].batch_stats["norm"]
    assert np.abs(stats["mean"]).max() > 1e-3, "batch norm statistics must have moved"


def make_step(graphdef, tx):
    """One plain NNX + Optax training step with batch statistics carried by hand."""

    def copy(tree):
        return jax.tree.map(lambda a: a, tree)  # fresh variables at this trace level

    @jax.jit
    def step(params, rest, opt, xb, yb):
        def loss(p):
            m = nnx.merge(graphdef, p, copy(rest))
            out = m(xb, train=True)
            stats = nnx.to_pure_dict(nnx.state(m, nnx.BatchStat))
            return optax.softmax_cross_entropy(out, yb).mean(), stats

        (_, stats), g = jax.value_and_grad(loss, has_aux=True)(params)
        new_rest = copy(rest)
        nnx.replace_by_pure_dict(new_rest, stats)
        u, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, u), new_rest, opt

    return step


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_user_batch_norm_matches_a_plain_loop_float64(x64):
    spec = spec_of(0.0, {"learning_rate": [0.05, 0.2]}, dtype="float64")
    plan = jl.plan(spec)
    init = plan.initial_params()[0]
    result = jl.run(spec)
    ds = plan.groups[0].dataset
    x = np.asarray(ds.x_train, np.float64)
    y = np.eye(ds.n_classes)[ds.y_train]
    for j, v in enumerate(plan.groups[0].variants):
        model = NormDropNet(x.shape[1], ds.n_classes, rate=0.0, rngs=nnx.Rngs(0))
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        nnx.replace_by_pure_dict(params, jax.tree.map(lambda a, j=j: jnp.asarray(a[j]), init))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        rest = jax.tree.map(lambda a: a.astype(jnp.float64)
                            if jnp.issubdtype(a.dtype, jnp.floating) else a, rest)
        tx = optax.sgd(v.train.learning_rate, momentum=0.9)
        opt = tx.init(params)

        step = make_step(graphdef, tx)

        for epoch in range(3):
            key = jax.random.fold_in(jax.random.PRNGKey(v.train.seed), 2)
            order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), len(x)))
            for start in range(0, len(x), 16):
                idx = order[start: start + 16]
                params, rest, opt = step(params, rest, opt, x[idx], y[idx])
        want = nnx.to_pure_dict(params)
        got = result.params(j)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
        want_stats = nnx.to_pure_dict(nnx.state(nnx.merge(graphdef, params, rest),
                                                nnx.BatchStat))
        got_stats = result.models[j].batch_stats
        for a, b in zip(jax.tree.leaves(want_stats), jax.tree.leaves(got_stats), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)

"""The instruments beyond the course: sharpness and the gradient noise scale.

Each against an independent reference computed here: the dense Hessian (``jax.hessian``)
of a plain NNX model's loss, per-example gradients (``vmap(grad)``) of the same. The
studies' claims (``edge-of-stability``, ``critical-batch-size``) are asserted on their
``--quick`` runs with intervals over seeds; their default runs are ``slow``.
"""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlab as jl


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def blobs(n_train=40, dtype="float64"):
    return jl.DataConfig("blobs", options=dict(n_samples=80, centers=3, n_features=3,
                                               cluster_std=2.0, random_state=2),
                         train_size=n_train, scale_x="standardize", dtype=dtype)


def mlp(params, x, activation=jnp.tanh):
    """A plain MLP on jaxlab's (sliced) pure-dict parameters: ``(b, n_in) -> (b, n_out)``."""
    for l in range(len(params["hidden"])):
        layer = params["hidden"][l]
        x = activation(x @ layer["kernel"] + layer["bias"])
    return x @ params["out"]["kernel"] + params["out"]["bias"]


def ref_loss(params, x, y, l2=0.0):
    """``(loss(theta), theta)``: the mean cross-entropy (+ L2) as a function of the flat
    parameter vector."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    def loss(theta):
        q = unravel(theta)
        pen = sum(jnp.sum(q["hidden"][l]["kernel"] ** 2) for l in q["hidden"])
        pen += jnp.sum(q["out"]["kernel"] ** 2)
        return jnp.mean(optax.softmax_cross_entropy(mlp(q, x), y)) + l2 * pen

    return loss, flat


# -- sharpness ------------------------------------------------------------------------------------
def test_sharpness_is_the_top_eigenvalue_of_the_dense_hessian(x64):
    """Several variants (seeds, widths, learning rates, an L2 weight) in one program,
    measured every 2nd epoch; the last epoch's sharpness against
    ``eigvalsh(jax.hessian(loss))[-1]`` at the final parameters, 1e-6 relative."""
    n = 30  # the first 30 of 40 training samples, in chunks of 8 (a ragged last chunk)
    spec = jl.Sweep(
        data=blobs(),
        model=jl.ModelConfig(activation="tanh"),
        train=jl.TrainConfig(optimizer="sgd", batch_size=10, epochs=4, dtype="float64",
                             loss="categorical_crossentropy", sharpness_every=2,
                             sharpness_iters=40, sharpness_examples=n, eval_batch_size=8),
        zip={"width": [3, 5, 4], "learning_rate": [0.1, 0.5, 0.2], "seed": [0, 1, 2],
             "l2": [0.0, 0.0, 0.01]})
    result = jl.run(spec, compilation_cache=False)
    plan = jl.plan(spec)
    assert len(plan.groups) == 1  # one program
    ds = plan.groups[0].dataset
    x, y = ds.x_train[:n], np.eye(ds.n_classes)[ds.y_train[:n]]
    h = result.history
    measured = h.groupby("epoch").sharpness.apply(lambda s: s.notna().all())
    assert list(measured) == [False, True, False, True]  # every 2nd epoch, NaN between
    for v in plan.variants:
        loss, flat = ref_loss(result.params(v.index), x, y, v.train.l2)
        want = float(np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(loss))(flat)))[-1])
        got = float(h[(h.variant == v.index) & (h.epoch == 4)].sharpness.iloc[0])
        assert got == pytest.approx(want, rel=1e-6), (v.values, got, want)
    off = jl.plan(jl.Sweep(data=blobs())).groups[0].program
    assert off.sharpness is None  # off by default: the epoch program has no trace of it


def test_sharpness_settings_are_checked_before_compiling():
    with pytest.raises(jl.ConfigError, match="train.sharpness_examples"):
        jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(sharpness_every=1,
                                                            sharpness_examples=41)))
    with pytest.raises(jl.ConfigError, match="train.sharpness_iters"):
        jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(sharpness_every=1,
                                                            sharpness_iters=0)))
    with pytest.raises(jl.ConfigError, match="train.sharpness_every"):
        jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(sharpness_every=-1)))


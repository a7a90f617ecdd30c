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


def blobs(n_train=40, dtype="float64", n_samples=80):
    return jl.DataConfig("blobs", options=dict(n_samples=n_samples, centers=3, n_features=3,
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



# -- the gradient noise scale ---------------------------------------------------------------------
def test_noise_scale_matches_per_example_gradients(x64):
    """At fixed parameters (learning rate 1e-30), 60 epochs of 128 steps (batch 16 of 2048
    samples, microbatches of 4): the averages of both estimators against their exact
    expectations from per-example gradients (``vmap(grad)``), and B_simple against
    ``tr(Sigma) / |G|^2``. Sampling without replacement makes the expectations
    ``tr(Sigma) N/(N-1)`` and ``|G|^2 - tr(Sigma)/(N-1)`` (:mod:`jaxlab.noise_scale`); the
    tolerance is 4 standard errors of the mean over epochs (the estimator's own spread)."""
    n = 2048
    spec = jl.Sweep(
        data=blobs(n_train=n, n_samples=2100),
        model=jl.ModelConfig(activation="tanh", width=6),
        train=jl.TrainConfig(optimizer="sgd", learning_rate=1e-30, batch_size=16, microbatch=4,
                             epochs=60, dtype="float64", loss="categorical_crossentropy",
                             noise_scale=True),
        grid={"seed": [0, 1, 2]})
    result = jl.run(spec, compilation_cache=False)
    ds = jl.plan(spec).groups[0].dataset
    x, y = ds.x_train, np.eye(ds.n_classes)[ds.y_train]
    h = result.history

    def loss(p, xi, yi):
        return optax.softmax_cross_entropy(mlp(p, xi[None]), yi[None])[0]

    @jax.jit
    def per_example(params, x, y):  # (N, P) flat per-example gradients
        per = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
        return jax.vmap(lambda d: jax.flatten_util.ravel_pytree(d)[0])(per)

    for v in result.variants.variant:
        flat = per_example(result.params(v), x, y)
        g = flat.mean(0)
        trace = float(jnp.sum((flat - g) ** 2) / n)  # tr(Sigma)
        g2 = float(g @ g)
        rows = h[h.variant == v]
        for col, want in (("gns_trace", trace * n / (n - 1)), ("gns_g2", g2 - trace / (n - 1))):
            vals = rows[col].to_numpy()
            se = vals.std(ddof=1) / np.sqrt(len(vals))
            assert abs(vals.mean() - want) < 4 * se, (v, col, vals.mean(), want, se)
            # A meaningful comparison: 4 standard errors are below 12% (measured: 1.5% and
            # 0.3%), so a 5% error in either gradient norm fails it.
            assert se < 0.03 * abs(want)
        t, q = rows.gns_trace.to_numpy(), rows.gns_g2.to_numpy()
        b = t.mean() / q.mean()
        # The ratio's standard error by the delta method over epochs.
        se_b = (t / q.mean() - b * q / q.mean()).std(ddof=1) / np.sqrt(len(t))
        want_b = (trace * n / (n - 1)) / (g2 - trace / (n - 1))
        assert abs(b - want_b) < 4 * se_b, (v, b, want_b, se_b)
        assert abs(want_b - trace / g2) < 0.1 * trace / g2  # the finite-N factors are small
        assert np.allclose(rows.noise_scale, rows.gns_trace / rows.gns_g2)


def test_noise_scale_is_checked_and_off_by_default():
    base = dict(batch_size=16, microbatch=4, noise_scale=True)
    assert jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(**base))).groups[0] \
        .program.noise_scale
    assert not jl.plan(jl.Sweep(data=blobs())).groups[0].program.noise_scale
    with pytest.raises(jl.ConfigError, match="train.noise_scale.*microbatch"):
        jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(batch_size=8, noise_scale=True)))
    with pytest.raises(jl.ConfigError, match="train.noise_scale.*l2"):
        jl.plan(jl.Sweep(data=blobs(), train=jl.TrainConfig(**base, l2=0.1)))


# -- the studies: their claims on the --quick runs -----------------------------------------------
def run_quick(name, tmp_path):
    from jaxlab import course
    from tests.test_experiments import check_files

    outcome = course.run_experiment(name, course.Options(quick=True, out=str(tmp_path),
                                                         progress=False))
    check_files(outcome)
    return outcome.findings.numbers, outcome


def test_edge_of_stability_sharpness_rises_to_two_over_lr_and_hovers(tmp_path):
    from jaxlab.course.edge_of_stability import BAND

    n, outcome = run_quick("edge-of-stability", tmp_path)
    assert outcome.programs == 1  # every learning rate and seed in one program
    for lr in (4, 5):
        # Late: sharpness / (2/lr) about 1, the whole 95% interval over seeds in the band.
        assert BAND[0] < n[f"late_ratio_at_lr_{lr}_ci_low"], n
        assert n[f"late_ratio_at_lr_{lr}_ci_high"] < BAND[1], n
        # Early: below 2/lr (it has to rise to get there).
        assert n[f"early_ratio_at_lr_{lr}_ci_high"] < 1.0, n
        # Meanwhile the loss does not fall monotonically.
        assert n[f"loss_rises_at_lr_{lr}_ci_low"] > 0.0, n
    assert outcome.findings.holds


def test_critical_batch_size_diminishing_returns_at_the_noise_scale(tmp_path):
    from jaxlab.course.critical_batch_size import AGREE

    n, outcome = run_quick("critical-batch-size", tmp_path)
    assert outcome.programs == 1  # batch size x learning rate x seed in one program
    # Steps to the target fall with the batch size, ever less (paired by seed).
    steps = [n[f"steps_at_{b}"] for b in (16, 64, 256, 1000)]
    assert steps == sorted(steps, reverse=True), steps
    assert n["log_speedup_first_minus_last_ci_low"] > 0, n
    # The critical batch size lies inside the batch sizes tried: perfect scaling below it
    # (4 x the smallest), diminishing returns above.
    assert 64 < n["b_crit_ci_low"] and n["b_crit_ci_high"] < 1000, n
    # The measured noise scale predicts it within a factor AGREE.
    assert -np.log(AGREE) < n["log_b_crit_over_b_simple_ci_low"], n
    assert n["log_b_crit_over_b_simple_ci_high"] < np.log(AGREE), n
    assert n["b_simple_ci_low"] > 0, n
    assert outcome.findings.holds

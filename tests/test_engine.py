"""Engine properties: isolation of diverged variants, early stopping, no recompiles."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import jaxlab as jl
from jaxlab import engine, models, sweep


def blobs(n_train=60):
    return jl.DataConfig("blobs", options=dict(n_samples=120, centers=3, n_features=4,
                                               cluster_std=2.0, random_state=2),
                         train_size=n_train, scale_x="standardize")


def spec_of(grid=None, **train):
    model = train.pop("model", {})
    base = dict(optimizer="sgd", learning_rate=0.05, epochs=6, batch_size=8,
                loss="categorical_crossentropy", metrics=("accuracy",))
    return jl.Sweep(data=blobs(), model=jl.ModelConfig(**{"hidden": (12,), **model}),
                    train=jl.TrainConfig(**{**base, **train}), grid=grid or {})


def params_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                                     strict=True))


def test_diverged_variant_never_changes_the_others():
    lrs = [0.01, 0.1, 1e6, 0.05]
    bad = jl.run(spec_of({"learning_rate": lrs, "seed": [0, 1]}, momentum=0.9))
    harmless = jl.run(spec_of({"learning_rate": [0.01, 0.1, 0.02, 0.05], "seed": [0, 1]},
                              momentum=0.9))
    status = bad.variants.status
    diverged = set(status[status == "diverged"].index)
    assert diverged == {4, 5}  # lr 1e6 with both seeds
    assert (bad.variants.loc[list(diverged), "stop_epoch"] >= 1).all()
    for i in range(len(bad)):
        if i in diverged:
            # Frozen at its last finite parameters.
            assert all(np.isfinite(x).all() for x in jax.tree.leaves(bad.params(i)))
            continue
        assert params_equal(bad.params(i), harmless.params(i)), i
        h1 = bad.history[bad.history.variant == i].drop(columns=["train.learning_rate"])
        h2 = harmless.history[harmless.history.variant == i].drop(
            columns=["train.learning_rate"])
        np.testing.assert_array_equal(h1.to_numpy(), h2.to_numpy())


def keras_early_stopping(values, patience, min_delta=0.0):
    """Keras' EarlyStopping(monitor=val_loss, mode=min) over a full curve, written out."""
    best, best_epoch, wait = np.inf, -1, 0
    for epoch, value in enumerate(values):
        wait += 1
        if value - min_delta < best:  # Keras: monitor_op(current - min_delta, best)
            best, best_epoch, wait = value, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch, best_epoch
    return None, best_epoch


def test_early_stopping_matches_keras_rule_and_restores_best_weights():
    base = dict(learning_rate=0.3, momentum=0.9, epochs=25, batch_size=4)
    grid = {"seed": [0, 1, 2]}
    full = jl.run(spec_of(grid, **base))
    stopped = jl.run(spec_of(grid, **base, early_stopping=True, monitor="val_loss",
                             patience=2, restore_best_weights=True))
    saw_stop = False
    for i in range(3):
        curve = full.curve("val_loss", i)
        stop, best = keras_early_stopping(curve, patience=2)
        row = stopped.variants.loc[i]
        if stop is None:
            assert row.status == "ok"
            continue
        saw_stop = True
        assert row.status == "stopped" and row.stop_epoch == stop + 1
        # The curve up to the stop is the same computation as without early stopping.
        np.testing.assert_array_equal(stopped.curve("val_loss", i), curve[: stop + 1])
        # Restored weights are those at the end of the best epoch.
        # (Same sweep shape, so the same compiled program: bit-identical.)
        at_best = jl.run(spec_of(grid, **{**base, "epochs": best + 1}))
        assert params_equal(stopped.params(i), at_best.params(i))
    assert saw_stop, "the settings should make at least one variant stop early"


def test_changing_swept_values_does_not_retrace(monkeypatch):
    traces = []
    original = engine.microstep

    def counting(*args, **kwargs):
        traces.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "microstep", counting)
    # An unusual width makes this program new to the process's compilation cache.
    a = spec_of({"learning_rate": [0.01, 0.2], "momentum": [0.0, 0.9]}, model={"hidden": (13,)},
                clip_norm=1.0, dropout_seed=1)
    jl.run(dataclasses.replace(a, model=dataclasses.replace(a.model, dropout=0.1)))
    assert len(traces) == 1
    b = spec_of({"learning_rate": [0.5, 0.03], "momentum": [0.5, 0.6]},
                model={"hidden": (13,)}, clip_norm=3.0, seed=7, epochs=3, dropout_seed=2)
    jl.run(dataclasses.replace(b, model=dataclasses.replace(b.model, dropout=0.3)))
    assert len(traces) == 1, "new hyperparameter values must not retrace the epoch program"


def test_initial_params_do_not_depend_on_the_rest_of_the_sweep():
    alone = jl.plan(spec_of({"width": [5]})).initial_params()[0]
    mixed = jl.plan(spec_of({"width": [20, 5]})).initial_params()[0]
    small = models.slice_params(jax.tree.map(lambda a: np.asarray(a[0]), alone), (5,), 1, 4)
    padded = models.slice_params(jax.tree.map(lambda a: np.asarray(a[1]), mixed), (5,), 1, 4)
    assert params_equal(small, padded)
    # ...and padded entries are exactly zero.
    assert np.all(np.asarray(mixed["hidden"][0]["kernel"][1, :, 5:]) == 0)
    assert np.all(np.asarray(mixed["out"]["kernel"][1, 5:]) == 0)


@pytest.mark.parametrize("kind,expected_std", [
    ("he_uniform", lambda fi, fo: np.sqrt(2 / fi)),
    ("he_normal", lambda fi, fo: np.sqrt(2 / fi)),
    ("glorot_uniform", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("glorot_normal", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("lecun_normal", lambda fi, fo: np.sqrt(1 / fi)),
])
def test_initializers_use_the_variants_own_fan_in(kind, expected_std):
    arch = models.Arch(n_in=400, width=300, depth=1, n_out=3)
    for w in (100, 300):
        p = models.init_params(arch, jax.random.PRNGKey(0), np.array([w]), 1, 1.0,
                               kernel_init=kind)
        k = np.asarray(p["hidden"][0]["kernel"])[:, :w]
        np.testing.assert_allclose(k.std(), expected_std(400, w), rtol=0.03)
        out = np.asarray(p["out"]["kernel"])[:w]
        np.testing.assert_allclose(out.std(), expected_std(w, 3), rtol=0.1)


def test_init_params_can_be_set():
    spec = spec_of({"learning_rate": [0.1, 0.2]}, epochs=1)
    init = jl.plan(spec).initial_params()[0]
    zeroed = jax.tree.map(np.zeros_like, init)
    result = jl.run(spec, init_params=zeroed)
    # All-zero weights give zero hidden activations: only the output bias can move.
    p = result.params(0)
    assert np.all(p["hidden"][0]["kernel"] == 0) and np.all(p["out"]["kernel"] == 0)
    assert np.any(p["out"]["bias"] != 0)
    with pytest.raises(jl.ConfigError, match="init_params"):
        jl.run(spec, init_params=jax.tree.map(lambda a: a[:1], init))


def test_microstep_locations_cover_every_sample_once():
    n, m = 23, 4
    for b in (4, 5, 7, 23):
        seen, updates = [], 0
        for s in range(sweep._n_micro(n, b, m)):
            pos, mask, last, blen, valid = engine.locate(s, b, n, m)
            assert bool(valid)
            seen += list(np.asarray(pos)[np.asarray(mask)])
            updates += int(last)
        assert seen == list(range(n)), b
        assert updates == -(-n // b)


def test_padded_entries_of_given_params_are_ignored():
    spec = spec_of({"width": [3, 9]}, epochs=2)
    init = jl.plan(spec).initial_params()[0]
    rng = np.random.default_rng(0)
    noisy = jax.tree.map(lambda a: np.asarray(a) + rng.normal(size=a.shape).astype(a.dtype), init)
    # By hand: keep only the 3-wide variant's real entries (4 inputs, 3 units, 3 classes).
    clean = jax.tree.map(np.copy, noisy)
    clean["hidden"][0]["kernel"][0, :, 3:] = 0
    clean["hidden"][0]["bias"][0, 3:] = 0
    clean["out"]["kernel"][0, 3:] = 0
    a, b = jl.run(spec, init_params=noisy), jl.run(spec, init_params=clean)
    assert params_equal(a.params(0), b.params(0)) and params_equal(a.params(1), b.params(1))


def test_output_layer_has_its_own_initializer():
    """Keras code that sets he_uniform on hidden layers leaves the output Dense at
    glorot_uniform: ``model.output_init`` says so; limits are the closed-form ones."""
    spec = spec_of({"model.output_init": ["same", "glorot_uniform"]},
                   model={"hidden": (40,), "kernel_init": "he_uniform"}, epochs=1)
    plan = jl.plan(spec)
    assert len(plan.groups) == 1  # an initializer is data, not structure
    init = plan.initial_params()[0]
    n_in, width, n_out = 4, 40, 3
    he_hidden = np.sqrt(6 / n_in)
    he_out, glorot_out = np.sqrt(6 / width), np.sqrt(6 / (width + n_out))
    for j in (0, 1):
        hidden = np.abs(np.asarray(init["hidden"][0]["kernel"][j]))
        assert hidden.max() <= he_hidden and hidden.max() > 0.8 * he_hidden
    same, glorot = (np.abs(np.asarray(init["out"]["kernel"][j])) for j in (0, 1))
    assert glorot.max() <= glorot_out < same.max() <= he_out
    # The same draws, scaled: the two output kernels differ only by the ratio of the limits.
    np.testing.assert_allclose(same * glorot_out / he_out, glorot, rtol=1e-5)

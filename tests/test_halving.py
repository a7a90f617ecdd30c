"""Successive halving: rungs keep the best 1/eta, pruned variants keep their history, and the
survivors train exactly as they would have in the full grid.

Compaction compiles the program for fewer variants, so survivors are compared with the full
grid in float64 to 1e-9 relative (see :mod:`jaxlab.sweep`, "Numerics").
"""

from __future__ import annotations

import dataclasses
import os
import signal

import jax
import numpy as np
import pandas as pd
import pytest

import jaxlab as jl
from jaxlab import checkpoint, halving
from jaxlab.errors import ConfigError
from tests import procs

EPOCHS, EVERY, ETA = 7, 2, 2


def spec(dtype="float64", **train) -> jl.Sweep:
    """Learning rate x batch size, 12 variants: 12 -> 6 -> 3 -> 1 after epochs 2, 4, 6."""
    base = dict(optimizer="adam", epochs=EPOCHS, batch_size=8, dtype=dtype,
                halving_every=EVERY, halving_eta=ETA)
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80, dtype=dtype),
        model=jl.ModelConfig(hidden=(8,)), train=jl.TrainConfig(**{**base, **train}),
        grid={"learning_rate": [1.0, 0.3, 0.1, 0.03, 0.01, 0.003], "batch_size": [8, 40]})


@pytest.fixture(scope="module")
def runs():
    with jax.enable_x64(True):
        full = jl.run(spec(halving_every=0), compilation_cache=False)
        halved = jl.run(spec(), compilation_cache=False)
    return full, halved


def test_rungs_keep_the_best_by_the_metric(runs):
    full, halved = runs
    v = halved.variants
    assert (v.status == "pruned").sum() == 11 and (v.status == "ok").sum() == 1
    assert sorted(v.epochs_run.value_counts().items()) == [(2, 6), (4, 3), (6, 2), (7, 1)]
    h = halved.history
    for rung in (2, 4, 6):
        at = h[h.epoch == rung].set_index("variant").val_loss
        going_on = set(h[h.epoch == rung + 1].variant)
        pruned_here = set(v.index[(v.status == "pruned") & (v.stop_epoch == rung)])
        assert going_on and pruned_here and going_on.isdisjoint(pruned_here)
        assert len(going_on) == len(at) // ETA
        assert at[list(going_on)].max() <= at[list(pruned_here)].min()
    # Compiled for 12 variants, then 8 (6, 3 and 1 survivors padded: below 8 a smaller
    # program is not worth a compilation).
    assert halved.timing[0]["programs"] == 2


def test_survivors_train_exactly_as_in_the_full_grid(runs):
    full, halved = runs
    h, f = halved.history, full.history
    cols = [c for c in h.columns if c in f.columns]
    for i, row in halved.variants.iterrows():
        mine = h[h.variant == i][cols].reset_index(drop=True)
        theirs = f[f.variant == i][cols].head(row.epochs_run).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-9, atol=1e-12)
    best = int(halved.variants.index[halved.variants.status == "ok"][0])
    for a, b in zip(jax.tree.leaves(halved.params(best)), jax.tree.leaves(full.params(best)),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_preempted_after_a_rung_resumes_exactly(tmp_path):
    whole = jl.run(spec("float32"), compilation_cache=False)

    def sigterm(report):
        if report.epoch == 2:  # after the first rung's compaction
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(checkpoint.Preempted):
        jl.run(spec("float32"), compilation_cache=False, checkpoint_dir=str(tmp_path),
               callbacks=[sigterm])
    resumed = jl.run(spec("float32"), compilation_cache=False, checkpoint_dir=str(tmp_path),
                     resume=True)
    procs.assert_same(resumed, whole)


def test_from_the_cli(tmp_path):
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=4, dtype="float32"))
    out = tmp_path / "out"
    proc = procs.jaxlab("sweep", str(spec_file), "--out", str(out), "--no-tensorboard",
                        "--set", "train.halving_every=2", "--set", "train.halving_eta=3",
                        "--set", "train.halving_metric=val_accuracy")
    assert proc.returncode == 0, proc.stderr
    assert "4 pruned" in proc.stderr
    v = jl.Result.load(str(out)).variants
    assert (v.status == "pruned").sum() == 4 and (v.epochs_run == 4).sum() == 2


@pytest.mark.parametrize("field, value, message", [
    ("halving_eta", 1.0, "must be > 1"),
    ("halving_every", -1, "integer >= 0"),
    ("halving_metric", "val_f1", "expected 'auto' or one of"),
])
def test_bad_settings_are_refused_before_compiling(field, value, message):
    with pytest.raises(ConfigError, match=f"train.{field}.*{message}"):
        jl.plan(dataclasses.replace(spec("float32"), train=dataclasses.replace(
            spec("float32").train, **{field: value})))


def test_schedule_counts_variant_epochs():
    # 12 variants for 2 epochs, 6 for 2, 3 for 2, 1 for 1: 24 + 12 + 6 + 1 = 43 of 84.
    assert halving.schedule(12, ETA, EVERY, EPOCHS) == [(2, 12), (2, 6), (2, 3), (1, 1)]
    rung = halving.Halving(2, 3.0, "val_accuracy", True)
    keep = rung.survivors(np.array([0.5, np.nan, 0.9, 0.7, 0.1, 0.2]),
                          np.array([True, True, True, True, True, False]))
    assert keep.tolist() == [False, False, True, False, False, False]  # floor(5/3) = 1

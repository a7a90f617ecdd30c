"""Tests for jaxlab.results: the tidy history, the summary, parameters, save/load, atomic files."""

from __future__ import annotations

import math
import os
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from flax import nnx

import jaxlab as jl
from jaxlab import recipes
from jaxlab.errors import ConfigError
from jaxlab.results import Result, atomic_open, atomic_write_text

EPOCHS = 3
FILES = {"history.csv", "variants.csv", "spec.toml", "params.npz", "result.json"}


def blobs() -> jl.DataConfig:
    return jl.DataConfig("blobs", options={"n_samples": 150, "n_features": 2, "centers": 3},
                         train_size=100)


@pytest.fixture(scope="module")
def result() -> Result:
    """Learning rate x width, 2 x 2, one compiled program."""
    spec = jl.Sweep(data=blobs(), model=jl.ModelConfig(kernel_init="he_uniform"),
                    train=jl.TrainConfig(epochs=EPOCHS, batch_size=16),
                    grid={"learning_rate": [0.1, 0.02], "width": [3, 7]})
    return jl.run(spec, compilation_cache=False)


@pytest.fixture(scope="module")
def mixed() -> Result:
    """Depths and widths in one program; the middle variant diverges in its first epoch."""
    spec = jl.Sweep(data=blobs(), train=jl.TrainConfig(epochs=EPOCHS, batch_size=16),
                    zip={"learning_rate": [0.05, 1e30, 0.01], "hidden": [[4, 5], [3], [6]]})
    return jl.run(spec, compilation_cache=False)


@pytest.fixture(scope="module")
def data():
    return jl.load(blobs())


# ----------------------------------------------------------------------------- history


def test_history_has_one_row_per_variant_and_epoch(result):
    h = result.history
    assert len(h) == 4 * EPOCHS
    assert sorted(zip(h.variant, h.epoch, strict=True)) == [
        (v, e) for v in range(4) for e in range(1, EPOCHS + 1)]
    for col in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.isfinite(h[col]).all(), col


def test_history_columns_hold_each_variants_hyperparameters(result):
    h = result.history
    assert {"train.learning_rate", "model.width"} <= set(h.columns)
    want = {0: (0.1, 3), 1: (0.1, 7), 2: (0.02, 3), 3: (0.02, 7)}
    for v, (lr, width) in want.items():
        rows = h[h.variant == v]
        assert (rows["train.learning_rate"] == lr).all()
        assert (rows["model.width"] == width).all()
    # distinct settings really trained differently
    final = h[h.epoch == EPOCHS].set_index("variant")
    assert final.loss.nunique() == 4


def test_variants_summary(result):
    s = result.variants
    assert list(s.variant) == [0, 1, 2, 3]
    assert list(s["train.learning_rate"]) == [0.1, 0.1, 0.02, 0.02]
    assert list(s["model.width"]) == [3, 7, 3, 7]
    assert list(s.status) == ["ok"] * 4
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert {f"final_{name}", f"best_{name}"} <= set(s.columns)
    h = result.history
    for v in range(4):
        rows = h[h.variant == v].sort_values("epoch")
        row = s.loc[v]
        assert row.final_val_loss == rows.val_loss.iloc[-1]
        assert row.best_val_loss == rows.val_loss.min()
        assert row.best_accuracy == rows.accuracy.max()  # accuracy: higher is better
        assert row.best_epoch == rows.epoch.iloc[rows.val_loss.argmin()]
        assert row.epochs_run == EPOCHS and row.stop_epoch == -1


def test_final_weights_reproduce_the_final_validation_loss(result, data):
    for v in range(4):
        got = result.evaluate(data.x_val, data.y_val, variant=v)
        row = result.variants.loc[v]
        np.testing.assert_allclose(got["loss"], row.final_val_loss, rtol=1e-5)
        np.testing.assert_allclose(got["accuracy"], row.final_val_accuracy, rtol=1e-6)


# ----------------------------------------------------------------------------- parameters


def test_params_have_each_variants_own_widths(result, data):
    n_in, n_out = data.n_features, data.n_classes
    for v, width in enumerate([3, 7, 3, 7]):
        p = result.params(v)
        assert list(p["hidden"]) == [0]
        assert p["hidden"][0]["kernel"].shape == (n_in, width)
        assert p["hidden"][0]["bias"].shape == (width,)
        assert p["out"]["kernel"].shape == (width, n_out)
        assert p["out"]["bias"].shape == (n_out,)


def test_params_have_each_variants_own_depth(mixed, data):
    n_in, n_out = data.n_features, data.n_classes
    p = mixed.params(0)  # hidden (4, 5)
    assert [p["hidden"][l]["kernel"].shape for l in p["hidden"]] == [(n_in, 4), (4, 5)]
    assert p["out"]["kernel"].shape == (5, n_out)
    p = mixed.params(2)  # hidden (6,)
    assert [p["hidden"][l]["kernel"].shape for l in p["hidden"]] == [(n_in, 6)]
    assert p["out"]["kernel"].shape == (6, n_out)
    # the sliced network is the network: its outputs are the full model's outputs
    x = data.x_val
    h = x
    for l in p["hidden"]:
        h = np.maximum(h @ p["hidden"][l]["kernel"] + p["hidden"][l]["bias"], 0)
    logits = h @ p["out"]["kernel"] + p["out"]["bias"]
    np.testing.assert_allclose(mixed.predict(x, variant=2), jax.nn.softmax(logits),
                               rtol=1e-5, atol=1e-6)


def test_module_gives_each_variants_network_as_an_nnx_module(mixed, data, tmp_path):
    x = data.x_val
    loaded = Result.load(mixed.save(str(tmp_path / "r")))
    for r in (mixed, loaded):
        for v in (0, 2):  # hidden (4, 5): its narrower layer masked; hidden (6,)
            module = r.module(v)
            assert isinstance(module, nnx.Module)
            assert module.widths == tuple(mixed.models[v].widths)
            np.testing.assert_allclose(np.asarray(module(x)), mixed.models[v].logits(x),
                                       rtol=1e-5, atol=1e-6)


def test_module_of_batch_norm_and_user_modules_carries_the_batch_stats(data):
    from tests.models_for_tests import NormDropNet

    x = data.x_val
    for model in (jl.ModelConfig(hidden=(5,), batch_norm="before"),
                  jl.ModelConfig(module=NormDropNet, options={"hidden": 6})):
        spec = jl.Sweep(data=blobs(), model=model, train=jl.TrainConfig(epochs=2, batch_size=16))
        r = jl.run(spec, compilation_cache=False)
        module = r.module(0)
        stats = nnx.to_pure_dict(nnx.state(module, nnx.BatchStat))
        for a, b in zip(jax.tree.leaves(stats), jax.tree.leaves(r.models[0].batch_stats),
                        strict=True):
            np.testing.assert_array_equal(a, b)
        means = [a for path, a in jax.tree_util.tree_leaves_with_path(stats)
                 if getattr(path[-1], "key", None) == "mean"]
        assert means and all(np.any(a != 0) for a in means)  # trained, not the initial 0
        np.testing.assert_allclose(np.asarray(module(x, train=False)), r.models[0].logits(x),
                                   rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- divergence


def test_diverged_variant_is_marked_and_skipped_by_best(mixed):
    s = mixed.variants
    assert list(s.status) == ["ok", "diverged", "ok"]
    assert s.loc[1, "stop_epoch"] == 1 and s.loc[1, "epochs_run"] == 1
    assert (mixed.history.variant == 1).sum() == 1
    # No final or best value for a diverged variant, however finite its history row is.
    summaries = [c for c in s if c.startswith(("final_", "best_"))]
    assert {"final_loss", "best_val_accuracy", "best_epoch"} <= set(summaries)
    h = mixed.history[mixed.history.variant == 1]
    assert np.isfinite(h.val_accuracy).all()  # measured on the restored weights
    assert s.loc[1, summaries].isna().all()
    assert s.drop(index=1)[summaries].notna().all().all()
    ok = s.drop(index=1)
    assert mixed.best() == ok.final_val_loss.idxmin()
    assert mixed.best("val_accuracy") == ok.final_val_accuracy.idxmax()
    assert mixed.best("loss", mode="max") == ok.final_loss.idxmax()
    # Even when the diverged variant has the best finite number, it is never chosen.
    rigged = Result(mixed.spec, mixed.history, s.copy(), mixed.models)
    rigged.variants.loc[1, ["final_val_loss", "final_val_accuracy"]] = [0.0, 1.0]
    assert rigged.best() != 1 and rigged.best("val_accuracy") != 1
    with pytest.raises(ConfigError, match="metric.*f1"):
        mixed.best("f1")


# ----------------------------------------------------------------------------- save / load


def test_save_load_round_trip(result, data, tmp_path):
    out = tmp_path / "results"
    assert result.save(str(out)) == str(out)
    entries = set(os.listdir(out))  # and no temporary files left behind
    versions = {e for e in entries if e.startswith("v-")}  # the folder result.json names
    assert entries - versions == FILES and len(versions) == 1
    assert set(os.listdir(out / versions.pop())) == FILES - {"result.json"}
    loaded = Result.load(str(out))
    pd.testing.assert_frame_equal(loaded.history, result.history)
    pd.testing.assert_frame_equal(loaded.variants, result.variants)
    assert [v.values for v in loaded.spec.variants()] == [v.values for v in
                                                          result.spec.variants()]
    assert len(loaded) == 4
    for v in range(4):
        np.testing.assert_array_equal(loaded.predict(data.x_val, variant=v),
                                      result.predict(data.x_val, variant=v))
        jax.tree.map(np.testing.assert_array_equal, loaded.params(v), result.params(v))
        assert loaded.evaluate(data.x_val, data.y_val, variant=v) == result.evaluate(
            data.x_val, data.y_val, variant=v)
    # Saving again over the same directory replaces the files, still without leftovers.
    result.save(str(out))
    entries = set(os.listdir(out))
    assert len({e for e in entries if e.startswith("v-")}) == 1  # the old version removed
    assert {e for e in entries if not e.startswith("v-")} == FILES


def test_save_load_round_trip_of_list_valued_axes_and_a_diverged_variant(mixed, tmp_path):
    mixed.save(str(tmp_path))
    loaded = Result.load(str(tmp_path))
    pd.testing.assert_frame_equal(loaded.history, mixed.history)
    pd.testing.assert_frame_equal(loaded.variants, mixed.variants)
    assert loaded.best() == mixed.best()
    # "3" and "7" must stay the text they were written as, not become integers
    spec = jl.Sweep(data=blobs(), train=jl.TrainConfig(epochs=1, batch_size=32),
                    grid={"hidden": [[3], [7]]})
    single = jl.run(spec, compilation_cache=False)
    assert list(single.variants["model.hidden"]) == ["3", "7"]
    single.save(str(tmp_path / "single"))
    loaded = Result.load(str(tmp_path / "single"))
    pd.testing.assert_frame_equal(loaded.history, single.history)
    pd.testing.assert_frame_equal(loaded.variants, single.variants)


def test_load_result_is_result_load(mixed, tmp_path):
    path = mixed.save(str(tmp_path / "r"))
    for loaded in (jl.load_result(path), jl.load_result(tmp_path / "r")):
        assert isinstance(loaded, Result)
        pd.testing.assert_frame_equal(loaded.history, Result.load(path).history)
    with pytest.raises(ConfigError, match="results"):
        jl.load_result(str(tmp_path / "nothing"))


def test_repr_is_a_short_summary(mixed, result):
    text = repr(mixed)
    assert len(text.splitlines()) <= 6 and len(text) < 500
    assert text.splitlines()[0].startswith("Result ") and "3 variants in 1 group" in text
    assert "1-3 epochs" in text  # the diverged variant stopped after its first
    assert "train.learning_rate, model.hidden" in text
    assert "metrics: accuracy, loss, val_accuracy, val_loss" in text
    assert "status: 2 ok, 1 diverged" in text
    best = mixed.best("val_accuracy")
    value = mixed.variants.loc[best, "final_val_accuracy"]
    assert f"best: v{best} (" in text and f"final val_accuracy {value:.4g}" in text
    assert "4 variants in 1 group, 3 epochs" in repr(result)
    assert str(result) == repr(result)


def test_saved_files_get_ordinary_permissions(result, tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    result.save(str(tmp_path))
    for name in FILES:
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o666 & ~umask, name


def test_load_refuses_a_directory_without_a_manifest(tmp_path):
    with pytest.raises(ConfigError, match="results.*result.json"):
        Result.load(str(tmp_path))


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "history.csv"
    atomic_write_text(str(target), "old content\n")
    with pytest.raises(RuntimeError, match="mid-way"):
        with atomic_open(str(target)) as f:
            f.write("new content, half written")
            f.flush()
            raise RuntimeError("mid-way")
    assert target.read_text() == "old content\n"
    assert os.listdir(tmp_path) == ["history.csv"]  # no .tmp left
    with atomic_open(str(target), "wb") as f:
        f.write(b"new\n")
    assert target.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["history.csv"]


def test_atomic_open_creates_nothing_when_the_first_write_fails(tmp_path):
    target = tmp_path / "sub" / "variants.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(str(target)) as f:
            f.write("x")
            raise KeyboardInterrupt
    assert not target.exists() and os.listdir(tmp_path / "sub") == []


def test_curve_is_the_history_column(result):
    c = result.curve("val_loss", 2)
    assert c.shape == (EPOCHS,)
    assert math.isclose(c[-1], result.variants.loc[2, "final_val_loss"])


def test_load_detects_a_file_replaced_after_the_manifest(result, tmp_path):
    path = str(tmp_path / "r")
    result.save(path)
    with open(os.path.join(path, "history.csv"), "a") as f:
        f.write("\n")  # as if a newer save had replaced it meanwhile
    with pytest.raises(ConfigError, match="history.csv"):
        Result.load(path)


def test_unset_values_in_an_axis_survive_save_and_load(tmp_path):
    spec = jl.Sweep(data=blobs(), model=jl.ModelConfig(hidden=(4,)),
                    train=jl.TrainConfig(epochs=1, learning_rate=0.05),
                    grid={"clip_norm": [None, 1.0]})
    r = jl.run(spec)
    path = r.save(str(tmp_path / "r"))
    loaded = Result.load(path)
    assert [v.train.clip_norm for v in loaded.spec.variants()] == [None, 1.0]


def test_recipes_say_when_a_stage_continues_from_a_diverged_variant(mixed):
    with pytest.warns(RuntimeWarning, match=r"stage X: variant\(s\) \[1\] diverged"):
        recipes.warn_diverged(mixed, [0, 1, 2], "stage X")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recipes.warn_diverged(mixed, [0, 2], "stage X")  # the others trained: silent


def test_greedy_pretraining_says_it_continues_from_a_diverged_stage():
    spec = jl.Sweep(data=blobs(), model=jl.ModelConfig(width=4),
                    train=jl.TrainConfig(epochs=2, batch_size=32),
                    grid={"learning_rate": [0.05, 1e30]})
    with pytest.warns(RuntimeWarning, match=r"depth 1: variant\(s\) \[2\] diverged"):
        out = recipes.greedy_pretraining(spec, depth=2, arms=("supervised", "scratch"))
    s = out.summary.set_index(["depth", "arm"])
    assert s.loc[(1, "supervised"), "status"].tolist() == ["ok", "diverged"]


# ----------------------------------------------------------------------------- test part


def test_test_part_is_evaluated_once_on_the_final_restored_weights(tmp_path):
    """``test_*`` columns: every variant's final weights (early stopping's restored best
    ones) on the test part, chunked (37 rows in chunks of 8); a test part equal to the
    validation part gives back the best epoch's validation values; a numpy forward pass of
    the saved parameters gives the same numbers; they survive save/load."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(117, 4))
    y = (x[:, 0] + x[:, 1] ** 2 > 0.8).astype(int)
    ds = jl.from_arrays(x[:80], y[:80], x[80:], y[80:], x_test=x[80:], y_test=y[80:])
    train = jl.TrainConfig(epochs=30, batch_size=8, learning_rate=0.5, momentum=0.9,
                           early_stopping=True, patience=2, restore_best_weights=True,
                           eval_batch_size=8, loss="sparse_categorical_crossentropy",
                           metrics=("accuracy",))
    spec = jl.Sweep(data=jl.DataConfig("arrays"), model=jl.ModelConfig(width=16), train=train,
                    grid={"seed": [0, 1, 2]})
    r = jl.run(spec, dataset=ds, compilation_cache=False)
    s = r.variants
    assert (s.status == "stopped").any()
    np.testing.assert_allclose(s.test_loss, s.best_val_loss, rtol=1e-5)
    at_best = r.history.set_index(["variant", "epoch"]).val_accuracy
    np.testing.assert_allclose(s.test_accuracy, [at_best[i, e] for i, e in s.best_epoch.items()],
                               rtol=1e-6)
    stopped = s[s.status == "stopped"]
    assert (stopped.final_val_loss > stopped.best_val_loss + 1e-6).all()
    for i in range(len(r)):
        p = r.params(i)
        h = np.maximum(ds.x_test @ p["hidden"][0]["kernel"] + p["hidden"][0]["bias"], 0)
        z = h @ p["out"]["kernel"] + p["out"]["bias"]
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -logp[np.arange(len(z)), ds.y_test].mean()
        np.testing.assert_allclose(s.loc[i, "test_loss"], loss, rtol=1e-4)
        assert s.loc[i, "test_accuracy"] == pytest.approx((z.argmax(1) == ds.y_test).mean())
    loaded = Result.load(r.save(str(tmp_path / "r")))
    pd.testing.assert_series_equal(loaded.variants.test_loss, s.test_loss, check_dtype=False)

"""Tests for jaxlab.config: sweep composition, axis names, TOML, overrides, validation.

Every invalid spec must be refused before anything is compiled, with a message that names
the field and the value.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

import jax
import numpy as np
import pytest

import jaxlab as jl
from jaxlab import compiled
from jaxlab.config import Sweep, TrainConfig, apply_overrides, resolve_key
from jaxlab.errors import ConfigError

BLOBS = {"n_samples": 120, "centers": 3, "n_features": 2, "random_state": 0}


def blobs(**kw) -> jl.DataConfig:
    return jl.DataConfig("blobs", options=BLOBS, **kw)


def raises(field: str, value: str):
    """Expect a ConfigError whose message names ``field`` and then ``value``."""
    return pytest.raises(ConfigError, match=rf"{field}.*{value}")


# ----------------------------------------------------------------------------- composition


def test_grid_is_the_cartesian_product_grid_major():
    spec = Sweep(grid={"learning_rate": [0.1, 0.01, 0.001], "batch_size": [8, 16]})
    points = spec.points()
    assert len(points) == 6
    want = [{"train.learning_rate": lr, "train.batch_size": b}
            for lr, b in itertools.product([0.1, 0.01, 0.001], [8, 16])]
    assert points == want
    variants = spec.variants()
    assert [(v.train.learning_rate, v.train.batch_size) for v in variants] == [
        (p["train.learning_rate"], p["train.batch_size"]) for p in want]
    assert [v.index for v in variants] == list(range(6))


def test_zip_takes_equal_length_axes_together():
    spec = Sweep(zip={"learning_rate": [0.1, 0.2, 0.3], "momentum": [0.0, 0.5, 0.9]})
    assert [(v.train.learning_rate, v.train.momentum) for v in spec.variants()] == [
        (0.1, 0.0), (0.2, 0.5), (0.3, 0.9)]


def test_zip_of_unequal_lengths_is_an_error_naming_sweep_zip():
    spec = Sweep(zip={"learning_rate": [0.1, 0.2, 0.3], "momentum": [0.0, 0.5]})
    with pytest.raises(ConfigError, match=r"sweep\.zip") as err:
        spec.points()
    assert err.value.field == "sweep.zip"
    assert "3" in str(err.value) and "2" in str(err.value)


RANDOM = {"n": 40, "seed": 7, "learning_rate": {"log_uniform": [1e-4, 1e-1]},
          "momentum": {"uniform": [0.5, 0.9]}, "batch_size": {"choice": [8, 16, 32]}}


def test_random_samples_respect_their_ranges():
    points = Sweep(random=RANDOM).points()
    assert len(points) == 40
    lr = np.array([p["train.learning_rate"] for p in points])
    mom = np.array([p["train.momentum"] for p in points])
    bs = [p["train.batch_size"] for p in points]
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    assert mom.min() >= 0.5 and mom.max() <= 0.9
    assert set(bs) <= {8, 16, 32} and len(set(bs)) > 1
    # log-uniform: about as many samples per decade; uniform would put ~90% in the last one
    assert np.sum(lr < 1e-2) >= 15
    assert np.sum(mom < 0.7) >= 10 and np.sum(mom > 0.7) >= 10


def test_random_samples_are_reproducible_by_seed():
    first, again = Sweep(random=RANDOM).points(), Sweep(random=RANDOM).points()
    other = Sweep(random={**RANDOM, "seed": 8}).points()
    assert first == again
    assert first != other
    assert [p["train.learning_rate"] for p in first] != [p["train.learning_rate"] for p in other]


def test_random_needs_n_and_known_distributions():
    with raises(r"sweep\.random\.n", "None"):
        Sweep(random={"learning_rate": {"uniform": [0.1, 0.2]}}).points()
    with raises(r"sweep\.random\.learning_rate", "normal"):
        Sweep(random={"n": 2, "learning_rate": {"normal": [0.1, 0.2]}}).points()
    with raises(r"sweep\.random\.learning_rate", r"\[0\.2, 0\.1\]"):
        Sweep(random={"n": 2, "learning_rate": {"uniform": [0.2, 0.1]}}).points()


def test_grid_zip_and_random_compose_as_a_product():
    spec = Sweep(grid={"width": [4, 8], "seed": [0, 1, 2]},
                 zip={"learning_rate": [0.1, 0.01], "momentum": [0.0, 0.9]},
                 random={"n": 5, "seed": 0, "dropout": {"uniform": [0.0, 0.5]}})
    variants = spec.variants()
    assert len(variants) == 2 * 3 * 2 * 5
    assert spec.axes() == ["model.width", "train.seed", "train.learning_rate",
                           "train.momentum", "model.dropout"]
    combos = {(v.model.width, v.train.seed, v.train.learning_rate, v.train.momentum)
              for v in variants}
    assert len(combos) == 2 * 3 * 2  # every grid x zip combination, 5 random points each
    assert all((lr, m) in {(0.1, 0.0), (0.01, 0.9)}
               for _, _, lr, m in combos)
    assert len({v.model.dropout for v in variants}) == 5


# ----------------------------------------------------------------------------- axis names


def test_short_axis_names_resolve():
    assert resolve_key("learning_rate") == "train.learning_rate"
    assert resolve_key("width") == "model.width"
    assert resolve_key("train.batch_size") == "train.batch_size"
    assert resolve_key("data.n_samples") == "data.n_samples"
    spec = Sweep(grid={"learning_rate": [0.5], "width": [7]})
    (v,) = spec.variants()
    assert v.train.learning_rate == 0.5 and v.model.widths == (7,)
    assert dict(v.values) == {"train.learning_rate": 0.5, "model.width": 7}


@pytest.mark.parametrize("axis", ["learnin_rate", "train.widht", "optim.learning_rate",
                                  "dtype"])  # dtype: in data and train, ambiguous
def test_unknown_or_ambiguous_axis_is_an_error(axis):
    with raises("sweep axis", axis):
        Sweep(grid={axis: [1]}).points()
    with raises("sweep axis", axis):
        Sweep.from_dict({"sweep": {"grid": {axis: [1]}}})


def test_data_options_can_be_swept():
    spec = Sweep(data=blobs(train_size=60), grid={"data.n_samples": [100, 150]})
    variants = spec.variants()
    assert [v.data.options["n_samples"] for v in variants] == [100, 150]
    assert all(v.data.options["centers"] == 3 for v in variants)  # the rest is kept
    p = jl.plan(spec)
    assert len(p.groups) == 2  # different data: different programs
    assert [g.dataset.n_val for g in p.groups] == [40, 90]


def test_width_axis_overrides_explicit_hidden():
    spec = Sweep(model=jl.ModelConfig(hidden=(5, 5)), grid={"width": [3]})
    assert spec.variants()[0].model.widths == (3,)


# ----------------------------------------------------------------------------- TOML

SPEC_TOML = """\
name = "everything"

[data]
name = "blobs"
n_samples = 120
centers = 3
train_size = 80

[model]
hidden = [6]
activation = "tanh"

[train]
optimizer = "momentum"
momentum = 0.9
metrics = ["accuracy"]
epochs = 2

[sweep.grid]
learning_rate = [0.1, 0.01]
hidden = [[4], [3, 2]]

[sweep.zip]
seed = [0, 1, 2]
batch_size = [8, 16, 32]

[sweep.random]
n = 2
seed = 3
dropout = { uniform = [0.0, 0.5] }
init_scale = { log_uniform = [0.5, 2.0] }
"""


def _summary(spec: Sweep):
    return [(v.data, v.model, v.train, dict(v.values)) for v in spec.variants()]


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC_TOML)
    return path


def test_toml_spec_with_every_section_loads(spec_file):
    spec = Sweep.from_toml(spec_file)
    assert spec.name == "everything"
    assert spec.data.name == "blobs" and spec.data.options == {"n_samples": 120, "centers": 3}
    assert spec.model.activation == "tanh" and spec.train.optimizer == "momentum"
    assert spec.train.metrics == ("accuracy",)
    variants = spec.variants()
    assert len(variants) == 2 * 2 * 3 * 2
    assert {v.model.widths for v in variants} == {(4,), (3, 2)}
    assert {(v.train.seed, v.train.batch_size) for v in variants} == {(0, 8), (1, 16), (2, 32)}
    assert all(0 <= v.model.dropout <= 0.5 and 0.5 <= v.model.init_scale <= 2.0
               for v in variants)


def test_to_toml_round_trips(spec_file, tmp_path):
    spec = Sweep.from_toml(spec_file)
    again = tmp_path / "again.toml"
    again.write_text(spec.to_toml())
    assert _summary(Sweep.from_toml(again)) == _summary(spec)
    # And a spec built in Python, with values TOML must write exactly.
    py = Sweep(data=blobs(validation_split=0.25), model=jl.ModelConfig(width=3, depth=2),
               train=jl.TrainConfig(learning_rate=1 / 3, clip_norm=1e-7, metrics=("accuracy",)),
               grid={"learning_rate": [0.1, 1 / 3]}, name='a "quoted" name')
    again.write_text(py.to_toml())
    loaded = Sweep.from_toml(again)
    assert loaded.name == py.name
    assert _summary(loaded) == _summary(py)


def test_set_overrides(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[data]\nname = "blobs"\nn_samples = 120\n'
                    '[train]\nepochs = 5\n[sweep.grid]\nwidth = [3, 4]\n')
    spec = Sweep.from_toml(path, ["train.epochs=3", "sweep.grid.batch_size=[4,8]",
                                  "learning_rate=0.5", "data.n_samples=100"])
    assert spec.train.epochs == 3 and spec.train.learning_rate == 0.5
    assert spec.data.options["n_samples"] == 100
    variants = spec.variants()
    assert [(v.model.width, v.train.batch_size) for v in variants] == [
        (3, 4), (3, 8), (4, 4), (4, 8)]
    assert {(v.train.learning_rate, v.train.epochs) for v in variants} == {(0.5, 3)}
    spec = Sweep.from_toml(path, ["sweep.grid.width=[9]", "name=renamed"])
    assert [v.model.widths for v in spec.variants()] == [(9,)] and spec.name == "renamed"
    with raises("sweep axis", "learnin_rate"):
        Sweep.from_toml(path, ["learnin_rate=0.5"])
    with raises("--set", "epochs"):
        Sweep.from_toml(path, ["train.epochs"])


def test_an_axis_declared_twice_is_an_error():
    with raises("sweep", r"train\.learning_rate.*twice"):
        Sweep(grid={"learning_rate": [0.1], "train.learning_rate": [0.2]}).points()
    with raises("sweep", r"train\.batch_size.*twice"):
        Sweep(grid={"batch_size": [4, 8]}, zip={"batch_size": [16, 32]}).points()


def test_set_on_a_spec_written_by_to_toml(tmp_path):
    # to_toml nests generator options in [data.options]; --set data.n_samples must still work.
    path = tmp_path / "s.toml"
    path.write_text(Sweep(data=blobs()).to_toml())
    assert Sweep.from_toml(path, ["data.n_samples=90"]).data.options["n_samples"] == 90


def test_apply_overrides_does_not_mutate_its_input():
    d = {"train": {"epochs": 5}, "sweep": {"grid": {"width": [1]}}}
    out = apply_overrides(d, ["train.epochs=3", "sweep.grid.width=[2]"])
    assert d == {"train": {"epochs": 5}, "sweep": {"grid": {"width": [1]}}}
    assert out["train"]["epochs"] == 3 and out["sweep"]["grid"]["width"] == [2]


@pytest.mark.parametrize("text, field, value", [
    ("[trian]\nepochs = 1\n", "spec", "trian"),
    ("[train]\nepoch = 1\n", "train", "epoch"),
    ("[sweep.grids]\nwidth = [1]\n", "sweep", "grids"),
    ("[sweep]\ngrid = 5\n", r"sweep\.grid", "5"),
    ("[model]\nhidden = 64\n", r"model\.hidden", "64"),
    ("[train]\nmetrics = 5\n", r"train\.metrics", "5"),
    ("[sweep.grid]\nlearning_rate = 0.1\n", r"sweep\.grid\.learning_rate", "0.1"),
    ("[model]\nhidden = []\n", r"model\.hidden", r"\(\)"),
    ("[model]\ndepth = \"two\"\n", r"model\.depth", "two"),
    ("[model]\nactivation = [\"relu\"]\n", r"model\.activation", "relu"),
    ("[train]\nloss = [\"mse\"]\n", r"train\.loss", "mse"),
    ("[train]\nshuffle = \"no\"\n", r"train\.shuffle", "no"),
    ("[train]\nearly_stopping = true\nmonitor = 5\n", r"train\.monitor", "5"),
    ("name = [1]\n", "name", r"\[1\]"),
    ("[sweep.random]\nn = 2\nseed = \"x\"\n", r"sweep\.random\.seed", "x"),
    ("[sweep.random]\nn = 2\nlearning_rate = { uniform = [\"a\", \"b\"] }\n",
     r"sweep\.random\.learning_rate", "'a'"),
])
def test_malformed_spec_files_are_config_errors(tmp_path, text, field, value):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with raises(field, value):
        Sweep.from_toml(path).variants()


def test_unreadable_spec_files_are_config_errors(tmp_path):
    with raises("sweep file", "missing.toml"):
        Sweep.from_toml(tmp_path / "missing.toml")
    with raises("sweep file", str(tmp_path)):
        Sweep.from_toml(tmp_path)  # a directory
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 1\n")
    with raises("sweep file", "bad.toml.*invalid TOML"):
        Sweep.from_toml(bad)
    bad.write_bytes(b"name = \xff\n")
    with raises("sweep file", "bad.toml.*invalid TOML"):
        Sweep.from_toml(bad)


def test_a_single_metric_name_is_one_metric():
    assert jl.TrainConfig(metrics="accuracy").metrics == ("accuracy",)
    assert jl.TrainConfig(metrics=["accuracy", "mse"]).metrics == ("accuracy", "mse")


# ----------------------------------------------------------------------------- validation


def _spec(model=None, grid=None, data=None, **train):
    return Sweep(data=data or blobs(train_size=80), model=jl.ModelConfig(**(model or {})),
                 train=jl.TrainConfig(**{"epochs": 2, "batch_size": 16, **train}),
                 grid=grid or {})


@pytest.fixture
def no_compiling(monkeypatch):
    """Make any compilation fail loudly: an error that comes out instead came first."""

    class Refuse:
        def lower(self, *args, **kwargs):
            raise AssertionError("compiled before the spec was validated")

        __call__ = lower

    # jaxlab.compiled is the one module that compiles: refuse all of its programs.
    for name in ("epoch_program", "probe_epoch", "init_params", "init_state", "finish"):
        monkeypatch.setattr(compiled, name, Refuse())


INVALID = [
    # (model, train, field, value shown in the message)
    ({"activation": "relux"}, {}, r"model\.activation", "relux"),
    ({"kernel_init": "he"}, {}, r"model\.kernel_init", "'he'"),
    ({}, {"optimizer": "adamax"}, r"train\.optimizer", "adamax"),
    ({}, {"loss": "cross_entropy"}, r"train\.loss", "cross_entropy"),
    ({}, {"metrics": ("accuracy", "f1")}, r"train\.metrics", "f1"),
    ({}, {"learning_rate": 0}, r"train\.learning_rate", "=0"),
    ({}, {"learning_rate": -1}, r"train\.learning_rate", "-1"),
    ({}, {"learning_rate": float("nan")}, r"train\.learning_rate", "nan"),
    ({}, {"batch_size": 0}, r"train\.batch_size", "=0"),
    ({}, {"batch_size": 81, "microbatch": 81}, r"train\.microbatch", "81.*80"),  # 80 samples
    ({"width": 0}, {}, r"model\.width", "=0"),
    ({"hidden": (4, 0)}, {}, r"model\.hidden", "=0"),
    ({"dropout": 1.0}, {}, r"model\.dropout", "1.0"),
    ({"dropout": -0.1}, {}, r"model\.dropout", "-0.1"),
    ({}, {"momentum": 1.0}, r"train\.momentum", "1.0"),
    ({}, {"weight_decay": 0.01}, r"train\.weight_decay", "0.01.*adamw"),
    ({}, {"epochs": 0}, r"train\.epochs", "=0"),
    ({}, {"loss": "categorical_crossentropy", "metrics": ("binary_accuracy",)},
     r"train\.metrics", "binary_accuracy"),
]


@pytest.mark.parametrize("model, train, field, value", INVALID,
                         ids=[f"{f}={v}" for _, _, f, v in INVALID])
def test_invalid_settings_are_refused_before_compiling(no_compiling, model, train, field,
                                                       value):
    with raises(field, value):
        jl.run(_spec(model, **train), compilation_cache=False)


def test_an_invalid_variant_deep_in_the_grid_is_named(no_compiling):
    spec = _spec(grid={"learning_rate": [0.1, -0.5], "width": [3, 4]})
    with raises(r"train\.learning_rate", r"-0\.5.*variant 2"):
        jl.run(spec, compilation_cache=False)


def test_empty_grid_axis_is_refused(no_compiling):
    with raises(r"sweep\.grid\.learning_rate", r"\[\]"):
        jl.run(_spec(grid={"learning_rate": []}), compilation_cache=False)
    with raises(r"sweep\.zip\.width", r"\[\]"):
        Sweep(zip={"width": []}).variants()


def test_loss_that_does_not_fit_the_labels(no_compiling):
    regression = jl.DataConfig("regression", options={"n_samples": 60, "n_features": 3},
                               train_size=40)
    with raises(r"train\.loss", "categorical_crossentropy.*regression"):
        jl.run(_spec(data=regression, loss="categorical_crossentropy"),
               compilation_cache=False)
    with raises(r"train\.metrics", "accuracy"):
        jl.plan(_spec(data=regression, loss="mse", metrics=("accuracy",)))
    with raises(r"train\.loss", "binary_crossentropy.*3 classes"):
        jl.run(_spec(loss="binary_crossentropy"), compilation_cache=False)
    with raises(r"train\.loss", "hinge.*3 classes"):
        jl.plan(_spec(loss="hinge"))


def test_monitoring_validation_loss_without_validation_data(no_compiling):
    spec = _spec(data=blobs(), early_stopping=True, monitor="val_loss")
    with raises(r"train\.monitor", "val_loss.*validation"):
        jl.run(spec, compilation_cache=False)
    with raises(r"train\.monitor", "val_accuracy"):  # a metric that is not computed either
        jl.plan(_spec(data=blobs(), early_stopping=True, monitor="val_accuracy"))


def test_float64_needs_x64(no_compiling):
    with jax.enable_x64(False):
        with raises(r"train\.dtype", "float64.*x64"):
            jl.run(_spec(dtype="float64"), compilation_cache=False)


def test_bad_arrays_are_refused_by_from_arrays(no_compiling):
    x = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    x_nan = x.copy()
    x_nan[4, 1] = np.nan
    with raises(r"data\.x_train", "nan"):
        jl.from_arrays(x_nan, y)
    x_inf = x.copy()
    x_inf[0, 0] = -np.inf
    with raises(r"data\.x_val", "-inf"):
        jl.from_arrays(x, y, x_inf, y)
    with raises(r"data\.y_train", r"\(19,\).*19 samples.*20"):
        jl.from_arrays(x, y[:19])
    with raises(r"data\.x_val", r"\(20, 2\).*2 features.*3"):
        jl.from_arrays(x, y, x[:, :2], y)
    # and Network.fit goes through the same checks before compiling anything
    with raises(r"data\.x_train", "nan"):
        jl.Network(hidden=(4,)).compile(optimizer="sgd").fit(x_nan, y, epochs=1)


def test_valid_spec_passes_through_plan_without_compiling(no_compiling):
    p = jl.plan(_spec(grid={"learning_rate": [0.1, 0.01], "width": [3, 5]}))
    assert len(p.variants) == 4 and len(p.groups) == 1
    assert all(math.isfinite(v.train.learning_rate) for v in p.variants)
    with pytest.raises(AssertionError, match="compiled before"):  # the guard does guard
        jl.run(p.spec, compilation_cache=False)


def test_set_on_a_swept_field_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[train]\nepochs = 1\n[sweep.grid]\nlearning_rate = [0.1, 0.2]\n')
    with pytest.raises(ConfigError, match="sweep axis"):
        Sweep.from_toml(path, ["train.learning_rate=0.5"])
    assert len(Sweep.from_toml(path, ["sweep.grid.learning_rate=[0.3]"]).variants()) == 1


def test_none_is_written_as_none_and_read_back(tmp_path):
    spec = Sweep(grid={"clip_norm": [None, 2.0]}, train=TrainConfig(clip_value=None))
    text = spec.to_toml()
    assert '"none"' in text
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert [v.train.clip_norm for v in Sweep.from_toml(path).variants()] == [None, 2.0]


def test_readme_lists_every_axis_as_the_fields_declare_them():
    """The README's "Every axis" table is generated from the fields; it must be current."""
    from jaxlab import config, hparams

    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    table = hparams.markdown(hparams.table(("model", config.ModelConfig),
                                           ("train", config.TrainConfig)))
    assert table in readme, "regenerate the table in README.md (see its 'Every axis')"


def test_every_train_field_has_a_range_a_role_and_a_meaning():
    from jaxlab import hparams

    for cls in (jl.ModelConfig, jl.TrainConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("role") in hparams.ROLES and f.metadata.get("doc"), f.name

"""Tests for jaxlab.tblog: TensorBoard's own readers get back exactly the result's history,
and its HParams backend lists every variant with its hyperparameters and final metrics."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups
from tensorboardX.record_writer import RecordWriter

import jaxlab as jl
from jaxlab import labels, sweep, tblog

COLUMNS = ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm"]


def tiny_spec(**train) -> jl.Sweep:
    # lr 0.01 trains, 0.3 stalls and stops early, 30 diverges.
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 300, "random_state": 2},
                           train_size=150),
        model=jl.ModelConfig(hidden=(8,)),
        train=jl.TrainConfig(optimizer="sgd", momentum=0.9, epochs=8,
                             loss="categorical_crossentropy", metrics=("accuracy",),
                             early_stopping=True, patience=2, **train),
        grid={"batch_size": [8, 32], "learning_rate": [0.01, 0.3, 30.0]}, name="tiny")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("tb"))
    result = jl.run(tiny_spec(), tensorboard=logdir, compilation_cache=False)
    return logdir, result


def run_dirs(logdir: str) -> list[str]:
    return sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d)))


def session_groups(logdir: str):
    """What TensorBoard's HParams dashboard asks its backend for."""
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    ctx = base_plugin.TBContext(logdir=logdir, multiplexer=mux,
                                data_provider=data_provider.MultiplexerDataProvider(mux, logdir))
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=1000, allowed_statuses=[
        api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE,
        api_pb2.STATUS_RUNNING])
    return list_session_groups.Handler(context.RequestContext(),
                                       backend_context.Context(ctx), "", request).run()


def test_the_sweep_has_ok_stopped_and_diverged_variants(logged):
    _, result = logged
    assert set(result.variants.status) == {"ok", "stopped", "diverged"}


def test_one_run_directory_per_variant_named_from_its_hyperparameters(logged):
    logdir, result = logged
    expect = [labels.run_name(i, {"train.batch_size": b, "train.learning_rate": lr},
                              n_variants=6)
              for i, (b, lr) in enumerate((b, lr) for b in (8, 32) for lr in (0.01, 0.3, 30.0))]
    assert run_dirs(logdir) == expect
    assert expect[0] == "v000_bs=8_lr=0.01"
    for d in expect:  # one event file each, no add_hparams-style timestamped sub-runs
        assert [f for f in os.listdir(os.path.join(logdir, d))] == [
            f for f in os.listdir(os.path.join(logdir, d)) if f.startswith("events.out.tfevents")]
        assert len(os.listdir(os.path.join(logdir, d))) == 1


def test_event_files_read_back_equal_the_history(logged):
    logdir, result = logged
    h = result.history
    for v, d in enumerate(run_dirs(logdir)):
        acc = EventAccumulator(os.path.join(logdir, d), size_guidance={"scalars": 0})
        acc.Reload()
        rows = h[h.variant == v].sort_values("epoch")
        for col in COLUMNS:
            events = acc.Scalars(tblog.tag(col))
            assert [e.step for e in events] == rows.epoch.tolist(), (d, col)
            # TensorBoard stores float32; the history holds the float32 values as floats.
            np.testing.assert_array_equal(np.float32([e.value for e in events]),
                                          np.float32(rows[col]), err_msg=f"{d} {col}")


def test_hparams_lists_every_variant_with_values_and_final_metrics(logged):
    logdir, result = logged
    response = session_groups(logdir)
    assert response.total_size == len(result.variants)
    groups = {g.name: g for g in response.session_groups}
    assert sorted(groups) == run_dirs(logdir)
    for v, d in enumerate(run_dirs(logdir)):
        row = result.variants.loc[v]
        hp = groups[d].hparams
        assert hp["variant"].number_value == v
        assert hp["batch_size"].number_value == row["train.batch_size"]
        assert hp["learning_rate"].number_value == pytest.approx(row["train.learning_rate"])
        assert hp["status"].string_value == row["status"]
        metrics = {m.name.tag: m.value for m in groups[d].metric_values}
        # Every run declares the same metrics, NaN where a value is missing.
        assert set(metrics) == {f"{k}/{m}" for k in ("final", "best")
                                for m in ("loss", "accuracy", "val_loss", "val_accuracy")
                                } | {"final/epochs_run"}
        for key, value in metrics.items():
            if key == "final/epochs_run":
                assert value == row["epochs_run"]
                continue
            kind, name = key.split("/")
            expect = float(np.float32(row[f"{kind}_{name}"]))
            assert value == expect or (math.isnan(value) and math.isnan(expect)), (d, key)


def test_hparams_experiment_declares_every_hyperparameter_domain(logged):
    logdir, _ = logged
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    from tensorboard.plugins.hparams import metadata

    content = mux.PluginRunToTagToContent("hparams")
    experiments = {c[metadata.EXPERIMENT_TAG] for c in content.values()}
    assert len(experiments) == 1  # identical in every run
    exp = metadata.parse_experiment_plugin_data(experiments.pop())
    domains = {h.name: [v.number_value or v.string_value for v in h.domain_discrete.values]
               for h in exp.hparam_infos}
    assert domains["batch_size"] == [8, 32]
    assert domains["learning_rate"] == [0.01, 0.3, 30.0]
    assert domains["status"] == ["ok", "stopped", "diverged", "pruned", "interrupted"]


# -- without training ---------------------------------------------------------------------------
def reports(plan, epochs: int, stop_after: int | None = None):
    """Synthetic per-epoch reports for the plan's one group (all variants trained)."""
    v = len(plan.variants)
    for e in range(epochs):
        rec = {k: np.full(v, 0.5 + e, np.float32) for k in COLUMNS}
        rec.update(trained=np.ones(v, bool), stopped=np.zeros(v, bool),
                   diverged=np.zeros(v, bool), updates=np.full(v, e), examples=np.full(v, e))
        active = np.full(v, e + 1 < (stop_after or epochs))
        yield sweep.EpochReport(0, list(range(v)), e, epochs, rec, active,
                                np.zeros(v, bool), np.full(v, -1))


@pytest.mark.parametrize("background", [True, False])
def test_interrupted_sweep_closes_runs_as_interrupted(tmp_path, background):
    plan = jl.plan(tiny_spec())
    logger = tblog.TensorBoardLogger(str(tmp_path), plan, background=background)
    for r in list(reports(plan, 8))[:3]:  # interrupted after three of eight epochs
        logger(r)
    logger.close()
    groups = session_groups(str(tmp_path)).session_groups
    assert len(groups) == 6
    assert {g.hparams["status"].string_value for g in groups} == {"interrupted"}
    assert {m.value for g in groups for m in g.metric_values
            if m.name.tag == "final/epochs_run"} == {3}


def test_rerun_into_the_same_logdir_replaces_the_runs(tmp_path):
    plan = jl.plan(tiny_spec())
    for _ in range(2):
        logger = tblog.TensorBoardLogger(str(tmp_path), plan)
        for r in reports(plan, 2):
            logger(r)
        logger.close()
    for d in run_dirs(str(tmp_path)):
        assert len(os.listdir(tmp_path / d)) == 1


@pytest.mark.parametrize("background", [True, False])
def test_a_write_error_reaches_the_caller(tmp_path, background):
    plan = jl.plan(tiny_spec())
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    # Run directories cannot be made under a file.
    logger = tblog.TensorBoardLogger(str(blocker), plan, background=background)
    with pytest.raises(OSError):
        for r in reports(plan, 3):
            logger(r)
        logger.close()


def test_framing_is_byte_identical_to_tensorboardx(tmp_path):
    rng = np.random.default_rng(0)
    records = [rng.bytes(n) for n in [0, 1, 7, 300, *([135] * 40), *([136] * 20)]]
    path = str(tmp_path / "records")
    w = RecordWriter(path)
    for r in records:
        w.write(r)
    w.close()
    with open(path, "rb") as f:
        assert f.read() == tblog.frame(records)


def test_hparam_table_gives_each_column_one_type():
    rows = tblog.hparam_table([
        {"lr": 0.1, "hidden": (50, 50), "bn": True, "clip": None, "act": "relu"},
        {"lr": 1, "hidden": (8,), "bn": False, "clip": 1.0, "act": "tanh"}])
    assert rows[0] == {"lr": 0.1, "hidden": "50x50", "bn": True, "clip": "none", "act": "relu"}
    assert rows[1] == {"lr": 1, "hidden": "8", "bn": False, "clip": "1", "act": "tanh"}


def test_writer_follows_the_writer_interface(tmp_path):
    from jaxlab.writers import Writer

    w = tblog.TensorBoardWriter(str(tmp_path / "run"))
    assert isinstance(w, Writer)
    w.write_scalars(1, {"a": 1.5})
    w.write_scalars(2, {"a": 2.5})
    w.write_hparams({"lr": 0.1, "act": "relu"})
    w.close()
    acc = EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("a")] == [(1, 1.5), (2, 2.5)]
    groups = session_groups(str(tmp_path)).session_groups
    assert groups[0].hparams["act"].string_value == "relu"

"""Tests for jaxlab.loggers: W&B (offline) and MLflow (a local file store) read back with
their own formats and client get exactly the result's history, the variants'
hyperparameters and statuses; a diverging variant does not break them; ``jaxlab sweep --log``
works end to end. No network: W&B runs in offline mode."""

from __future__ import annotations

import glob
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import jaxlab as jl
from jaxlab import labels, loggers, sweep

wandb = pytest.importorskip("wandb")
mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402
from wandb.proto import wandb_internal_pb2  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm"]
LRS = [0.01, 0.3, 1e6]  # trains, trains fast, diverges at once


def tiny_spec(epochs: int = 3) -> jl.Sweep:
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 200, "random_state": 2},
                           train_size=120),
        model=jl.ModelConfig(hidden=(8,)),
        train=jl.TrainConfig(optimizer="sgd", epochs=epochs, batch_size=32,
                             metrics=("accuracy",)),
        grid={"learning_rate": LRS}, name="tiny-loggers")


def offline_env(tmp) -> dict[str, str]:
    return {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp), "WANDB_SILENT": "true",
            "MLFLOW_TRACKING_URI": f"file://{tmp}/mlruns", "MLFLOW_ALLOW_FILE_STORE": "true"}


@pytest.fixture(autouse=True)
def file_store(monkeypatch):
    """MLflow 3 opens a ``file:`` store only when allowed (the tests' readers too)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One sweep logged to W&B, MLflow and TensorBoard at once."""
    tmp = tmp_path_factory.mktemp("loggers")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in offline_env(tmp).items():
            mp.setenv(k, v)
        result = jl.run(tiny_spec(), loggers=["wandb", "mlflow"],
                        tensorboard=str(tmp / "tb"), progress=False)
    return tmp, result


# -- reading W&B's offline files ----------------------------------------------------------------
def wandb_records(path: str):
    """The records of a ``.wandb`` file: W&B's header, then LevelDB-log framed protos."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B"
    block, pos, chunks = 32768, 7, []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += block - pos % block
            continue
        chunks.append(data[pos + 7:pos + 7 + n])
        pos += 7 + n
        if kind in (1, 4):  # a FULL record, or the LAST piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            yield record


def wandb_runs(wandb_dir) -> dict[str, dict]:
    """Run name -> group, config, history (step -> {key: value}) and summary."""
    runs = {}
    for path in glob.glob(os.path.join(wandb_dir, "wandb", "offline-run-*", "run-*.wandb")):
        run = {"history": {}, "summary": {}}
        for r in wandb_records(path):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                run["name"], run["group"] = r.run.display_name, r.run.run_group
                run["config"] = {u.key: json.loads(u.value_json) for u in r.run.config.update
                                 if u.key != "_wandb"}
            elif kind == "history":
                items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                         for i in r.history.item}
                run["history"][items.pop("_step")] = items
            elif kind == "summary":
                run["summary"].update({"/".join(u.nested_key) or u.key: json.loads(u.value_json)
                                       for u in r.summary.update})
            elif kind == "exit":
                run["exit_code"] = r.exit.exit_code
        runs[run["name"]] = run
    return runs


def same(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- W&B ----------------------------------------------------------------------------------------
def test_the_sweep_has_a_diverged_variant(logged):
    _, result = logged
    assert list(result.variants.status) == ["ok", "ok", "diverged"]


def test_wandb_one_run_per_variant_in_the_sweeps_group(logged):
    tmp, result = logged
    runs = wandb_runs(tmp)
    names = {labels.run_name(i, {"train.learning_rate": lr}, n_variants=3): i
             for i, lr in enumerate(LRS)}
    assert sorted(runs) == sorted(names)
    for name, i in names.items():
        run = runs[name]
        assert run["group"] == "tiny-loggers"
        assert run["config"] == {"variant": i, "learning_rate": LRS[i]}
        assert run["summary"]["status"] == result.variants.status[i]
        assert run["exit_code"] == 0


def test_wandb_history_equals_the_results_history(logged):
    tmp, result = logged
    runs = wandb_runs(tmp)
    for i, lr in enumerate(LRS):
        run = runs[labels.run_name(i, {"train.learning_rate": lr}, n_variants=3)]
        rows = result.history[result.history.variant == i]
        assert sorted(run["history"]) == list(rows.epoch)  # step = epoch, trained epochs only
        for _, row in rows.iterrows():
            logged_row = run["history"][row.epoch]
            for col in COLUMNS:
                assert same(float(logged_row[loggers.tag(col)]), row[col]), (i, row.epoch, col)


def test_wandb_summary_has_final_and_best_values(logged):
    tmp, result = logged
    runs = wandb_runs(tmp)
    for i, lr in enumerate(LRS):
        summary = runs[labels.run_name(i, {"train.learning_rate": lr}, n_variants=3)]["summary"]
        v = result.variants.loc[i]
        assert summary["final/epochs_run"] == v.epochs_run
        for m in ("loss", "val_accuracy"):
            assert same(float(summary[f"final/{m}"]), v[f"final_{m}"])
            assert same(float(summary[f"best/{m}"]), v[f"best_{m}"])


# -- MLflow -------------------------------------------------------------------------------------
def mlflow_children(tmp):
    client = MlflowClient(tracking_uri=f"file://{tmp}/mlruns")
    exp = client.get_experiment_by_name("tiny-loggers")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "tiny-loggers"
    assert parents[0].info.status == "FINISHED"
    children = {r.info.run_name: r for r in runs if r not in parents}
    assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {
        parents[0].info.run_id}
    return client, children


def test_mlflow_one_child_run_per_variant_with_its_params_and_status(logged):
    tmp, result = logged
    _, children = mlflow_children(tmp)
    assert len(children) == 3
    for i, lr in enumerate(LRS):
        run = children[labels.run_name(i, {"train.learning_rate": lr}, n_variants=3)]
        assert run.data.params == {"variant": str(i), "learning_rate": str(lr)}
        assert float(run.data.params["learning_rate"]) == result.variants["train.learning_rate"][i]
        assert run.data.tags["status"] == result.variants.status[i]
        assert run.info.status == "FINISHED"


def test_mlflow_metric_histories_equal_the_results_history(logged):
    tmp, result = logged
    client, children = mlflow_children(tmp)
    for i, lr in enumerate(LRS):
        run = children[labels.run_name(i, {"train.learning_rate": lr}, n_variants=3)]
        rows = result.history[result.history.variant == i]
        for col in COLUMNS:
            history = sorted(client.get_metric_history(run.info.run_id, loggers.tag(col)),
                             key=lambda m: m.step)
            assert [m.step for m in history] == list(rows.epoch)
            assert all(same(m.value, x) for m, x in zip(history, rows[col], strict=True)), col
        v = result.variants.loc[i]
        assert same(run.data.metrics["final/val_loss"], v.final_val_loss)
        assert run.data.metrics["final/epochs_run"] == v.epochs_run


def test_tensorboard_alongside(logged):
    tmp, _ = logged
    assert len(os.listdir(tmp / "tb")) == 3


# -- the interface ------------------------------------------------------------------------------
def test_an_unknown_logger_is_a_config_error_naming_loggers():
    with pytest.raises(jl.ConfigError, match=r"loggers='neptune': unknown logger"):
        jl.run(tiny_spec(), loggers=["wandb", "neptune"])


def test_a_missing_package_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(loggers.BACKENDS, "wandb",
                        ("jaxlab.log_wandb", "WandbLogger", "no_such_package_jl", "wandb"))
    with pytest.raises(jl.ConfigError, match=r"pip install 'jaxlab\[wandb\]'"):
        loggers.make_loggers(["wandb"], None, jl.plan(tiny_spec()))


def test_every_backend_is_a_logger(tmp_path, monkeypatch):
    for k, v in offline_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    made = loggers.make_loggers(["tensorboard", "wandb", "mlflow"], str(tmp_path),
                                jl.plan(tiny_spec()))
    assert [type(x).__name__ for x in made] == ["TensorBoardLogger", "WandbLogger",
                                                "MLflowLogger"]
    assert all(isinstance(x, loggers.Logger) for x in made)
    assert made[0].logdir == str(tmp_path / "tensorboard")
    for x in made:
        x.close()  # nothing was logged: nothing to end


def test_an_interrupted_sweep_ends_its_runs_as_interrupted(tmp_path):
    plan = jl.plan(tiny_spec(epochs=8))
    uri = f"file://{tmp_path}/mlruns"
    from jaxlab.log_mlflow import MLflowLogger

    logger = MLflowLogger(plan, tracking_uri=uri, background=False)
    v = len(plan.variants)
    for e in range(2):  # two of eight epochs, then Ctrl-C
        rec = {k: np.full(v, 0.5 + e, np.float32) for k in COLUMNS}
        rec.update(trained=np.ones(v, bool), stopped=np.zeros(v, bool),
                   diverged=np.zeros(v, bool))
        logger(sweep.EpochReport(0, list(range(v)), e, 8, rec, np.ones(v, bool),
                                 np.zeros(v, bool), np.full(v, -1)))
    logger.close()
    runs = MlflowClient(tracking_uri=uri).search_runs([logger.experiment_id])
    assert {r.info.status for r in runs} == {"KILLED"}
    assert [r.data.tags.get("status") for r in runs].count("interrupted") == v
    assert {r.data.metrics.get("final/epochs_run") for r in runs} == {2.0, None}


def test_cli_log_wandb_and_mlflow(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text('name = "cli-loggers"\n[data]\nname = "blobs"\nn_samples = 120\n'
                    'train_size = 80\n[model]\nhidden = [8]\n[train]\nepochs = 2\n'
                    'batch_size = 16\n[sweep.grid]\nlearning_rate = [0.1, 0.01]\n')
    out = tmp_path / "out"
    env = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0", "PYTHONPATH": ROOT,
           **offline_env(tmp_path)}
    del env["WANDB_DIR"]  # then W&B writes under OUT
    proc = subprocess.run([sys.executable, "-m", "jaxlab.cli", "sweep", str(spec), "--out",
                           str(out), "--log", "wandb,mlflow", "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "tensorboard").exists()  # --log replaces the default
    runs = wandb_runs(out)
    result = jl.Result.load(str(out))
    assert len(runs) == 2
    for run in runs.values():
        rows = result.history[result.history.variant == run["config"]["variant"]]
        assert [run["history"][e]["train/loss"] for e in rows.epoch] == pytest.approx(
            list(rows.loss), rel=1e-12)
    client = MlflowClient(tracking_uri=f"file://{tmp_path}/mlruns")
    exp = client.get_experiment_by_name("cli-loggers")
    assert len(client.search_runs([exp.experiment_id])) == 3  # the sweep and two variants

    bad = subprocess.run([sys.executable, "-m", "jaxlab.cli", "sweep", str(spec), "--out",
                          str(out), "--log", "tensorboard,comet"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "loggers='comet'" in bad.stderr

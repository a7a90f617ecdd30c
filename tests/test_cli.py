"""End-to-end tests of ``jaxlab sweep``: a results directory on success; on a user mistake,
exit status 2, one ``error:`` line naming the field, no traceback, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

FILES = {"history.csv", "variants.csv", "spec.toml", "params.npz", "result.json"}

SPEC = """\
name = "tiny"

[data]
name = "blobs"
n_samples = 120
train_size = 80

[model]
hidden = [8]

[train]
optimizer = "momentum"
learning_rate = 0.05
epochs = 5
batch_size = 16

[sweep.grid]
momentum = [0.0, 0.9]
batch_size = [8, 16, 40]
"""


def jaxlab(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0"}  # leave the user's cache alone
    return subprocess.run([sys.executable, "-m", "jaxlab.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def test_sweep_writes_the_results_directory(spec, tmp_path):
    out = tmp_path / "runs" / "tiny"
    proc = jaxlab("sweep", str(spec), "--out", str(out), "--set", "train.epochs=2",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = {f for f in os.listdir(out) if os.path.isfile(out / f)}
    assert files == FILES  # and no temporary files (other folders, e.g. logs, may exist)
    variants = pd.read_csv(out / "variants.csv")
    assert len(variants) == 2 * 3
    assert sorted(zip(variants["train.momentum"], variants["train.batch_size"],
                      strict=True)) == sorted((m, b) for m in (0.0, 0.9) for b in (8, 16, 40))
    assert (variants.status == "ok").all()
    history = pd.read_csv(out / "history.csv")
    assert sorted(history.epoch.unique()) == [1, 2]  # --set train.epochs=2 took effect
    assert len(history) == 6 * 2
    assert "epochs = 2" in (out / "spec.toml").read_text()  # the spec that ran


def _mistake_args(tmp_path, args):
    (tmp_path / "bad.toml").write_text("[train\nepochs = 2\n")
    return ["sweep", *args, "--out", str(tmp_path / "out")]


def _assert_one_error_line(code, stderr, field, out):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:") and field in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert not out.exists()  # a failed run leaves no half-written results directory


@pytest.mark.parametrize("args, field", [
    (["missing.toml"], "sweep file"),
    (["bad.toml"], "sweep file"),
    (["spec.toml", "--set", "train.learning_rate=-1"], "train.learning_rate"),
    (["spec.toml", "--set", "sweep.grid.learnin_rate=[0.1]"], "sweep axis"),
], ids=["missing", "bad-toml", "lr", "axis"])
def test_user_mistakes_exit_2_with_one_error_line(spec, tmp_path, args, field):
    proc = jaxlab(*_mistake_args(tmp_path, args), cwd=tmp_path)
    _assert_one_error_line(proc.returncode, proc.stderr, field, tmp_path / "out")


# The same contract in-process (no interpreter start-up per case): an exception that is not
# a clean user error would propagate out of main() and fail the test.
@pytest.mark.parametrize("args, field", [
    (["spec.toml", "--set", "sweep.grid.microbatch=[8, 5000]"], "train.microbatch"),
    (["spec.toml", "--set", "model.hidden=8"], "model.hidden"),
    (["spec.toml", "--set", "train.loss=categorical_crossentropi"], "train.loss"),
    (["spec.toml", "--set", "train.shuffle=maybe"], "train.shuffle"),
    (["spec.toml", "--set", "train.epochs"], "--set"),
    (["."], "sweep file"),  # a directory
], ids=["microbatch", "hidden", "loss", "shuffle", "set-without-value", "directory"])
def test_more_user_mistakes_in_process(spec, tmp_path, monkeypatch, capsys, args, field):
    from jaxlab import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAXLAB_COMPILATION_CACHE", "0")
    code = cli.main(_mistake_args(tmp_path, args))
    _assert_one_error_line(code, capsys.readouterr().err, field, tmp_path / "out")

"""Checkpoint and resume: a sweep killed mid-run and resumed equals one never interrupted.

A resumed run trains with the same program layout as the uninterrupted one, so the results
are compared bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal

import numpy as np
import pytest

import jaxlab as jl
from jaxlab import checkpoint
from jaxlab.errors import ConfigError
from tests import procs

pytestmark = pytest.mark.xdist_group("processes")


def spec(epochs=8, **train) -> jl.Sweep:
    """Dropout, shuffling and early stopping: every kind of state a resume must restore."""
    base = dict(optimizer="adam", epochs=epochs, batch_size=8, early_stopping=True,
                patience=2, restore_best_weights=True)
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80),
        model=jl.ModelConfig(hidden=(8,), dropout=0.1),
        train=jl.TrainConfig(**{**base, **train}),
        grid={"learning_rate": [0.3, 0.03, 0.003], "batch_size": [8, 40]})


def sigterm_at(epoch: int):
    """A callback that sends this process SIGTERM at the end of ``epoch`` (0-based)."""

    def cb(report):
        if report.epoch == epoch:
            os.kill(os.getpid(), signal.SIGTERM)

    return cb


@pytest.fixture(scope="module")
def uninterrupted():
    return jl.run(spec(), compilation_cache=False)


def preempt(tmp_path, at: int, s=None, **kw):
    """SIGTERM at the end of epoch ``at``, seen there: one epoch per call (a call's epochs
    run before the host sees a signal; ``tests/test_dispatch.py`` covers longer calls)."""
    kw.setdefault("epochs_per_call", 1)
    with pytest.raises(checkpoint.Preempted) as info:
        jl.run(s or spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
               callbacks=[sigterm_at(at)], **kw)
    return info.value


def test_sigterm_saves_then_resume_is_exact(tmp_path, uninterrupted):
    stopped = preempt(tmp_path, at=2, checkpoint_every=100)
    assert stopped.epoch == 3 and stopped.directory == str(tmp_path)
    seen = []
    resumed = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path), resume=True,
                     callbacks=[lambda r: seen.append(r.epoch)])
    procs.assert_same(resumed, uninterrupted)
    assert resumed.timing[0]["resumed_at_epoch"] == 3
    # The callbacks see the saved epochs again, then the new ones, each once.
    assert seen == list(range(len(seen))) and len(seen) == uninterrupted.history.epoch.max()


def test_unfinished_saves_are_removed_and_the_last_complete_one_resumed(tmp_path, uninterrupted,
                                                                         capfd):
    """A save cut short (a second Ctrl-C, a kill) leaves orbax's temporary folder: the next
    run removes it, says so in one line, and resumes from the last complete checkpoint; a
    user's entries with orbax's suffix in their names are not touched."""
    preempt(tmp_path, at=2, checkpoint_every=100)  # checkpoint 3
    # Saves of step 4 cut short, named as orbax 0.12 and older versions name them: a copy of
    # checkpoint 3 with an item still under its temporary name and a data file cut short.
    unfinished = ["4.orbax-checkpoint-tmp", "4.orbax-checkpoint-tmp-1764547200"]
    for name in unfinished:
        shutil.copytree(tmp_path / "3", tmp_path / name)
        (tmp_path / name / "meta").rename(tmp_path / name / "meta.orbax-checkpoint-tmp")
        data = max((p for p in (tmp_path / name).rglob("*") if p.is_file()),
                   key=lambda p: p.stat().st_size)
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    (tmp_path / "5.orbax-checkpoint-tmp").mkdir()  # a user's folder: it holds their file
    (tmp_path / "5.orbax-checkpoint-tmp" / "notes.txt").write_text("mine")
    (tmp_path / "notes.orbax-checkpoint-tmp").write_text("mine too")
    capfd.readouterr()
    resumed = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path), resume=True,
                     checkpoint_every=100)
    err = [line for line in capfd.readouterr().err.splitlines() if "unfinished" in line]
    assert err == [f"warning: removed 2 unfinished checkpoint saves in {tmp_path} "
                   f"({', '.join(unfinished)}), left by an interrupted run"]
    assert resumed.timing[0]["resumed_at_epoch"] == 3
    procs.assert_same(resumed, uninterrupted)
    assert not any((tmp_path / name).exists() for name in unfinished)
    assert (tmp_path / "5.orbax-checkpoint-tmp" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "notes.orbax-checkpoint-tmp").read_text() == "mine too"


def test_keeps_the_last_two(tmp_path):
    preempt(tmp_path, at=4, checkpoint_every=1)
    assert sorted(int(d) for d in os.listdir(tmp_path) if d.isdigit()) == [4, 5]


# Orbax's asyncio helpers may leave a callback behind when a read fails: not ours to fix.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("damage", ["truncate", "flip", "metadata"])
def test_a_damaged_checkpoint_is_skipped(tmp_path, uninterrupted, damage):
    preempt(tmp_path, at=4, checkpoint_every=1)
    latest = tmp_path / "5"
    files = sorted(p for p in latest.rglob("*") if p.is_file())
    if damage == "truncate":  # every data file cut in half, as by a full disk
        for p in files:
            if "arrays" in p.parts:
                p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif damage == "flip":  # silent corruption inside the array data files
        for p in files:
            if p.parent.name == "d":
                raw = bytearray(p.read_bytes())
                raw[len(raw) // 2] ^= 0xFF
                p.write_bytes(bytes(raw))
    else:
        (latest / "meta" / "metadata").write_text("{not json")
    with pytest.warns(UserWarning, match="checkpoint 5 .* damaged"):
        resumed = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
                         resume=True, checkpoint_every=1)
    procs.assert_same(resumed, uninterrupted)


def test_resume_with_a_changed_spec_is_refused(tmp_path):
    preempt(tmp_path, at=1)
    changed = dataclasses.replace(spec(), grid={"learning_rate": [0.3, 0.03, 0.001],
                                                "batch_size": [8, 40]})
    with pytest.raises(ConfigError, match=r"sweep\.grid\.learning_rate.*differs from the "
                                          r"checkpoint"):
        jl.run(changed, compilation_cache=False, checkpoint_dir=str(tmp_path), resume=True)
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        jl.run(spec(epochs=9), compilation_cache=False, checkpoint_dir=str(tmp_path),
               resume=True)
    # A data option changes the arrays too: the error names the option, not their checksum.
    other = spec()
    other = dataclasses.replace(other, data=dataclasses.replace(
        other.data, options={**other.data.options, "cluster_std": 3.0}))
    with pytest.raises(ConfigError, match=r"^data\.options\.cluster_std=3\.0"):
        jl.run(other, compilation_cache=False, checkpoint_dir=str(tmp_path), resume=True)


def test_without_resume_a_run_starts_afresh(tmp_path, uninterrupted, capfd):
    preempt(tmp_path, at=1)
    shutil.copytree(tmp_path / "2", tmp_path / "3.orbax-checkpoint-tmp")  # a save cut short
    capfd.readouterr()
    fresh = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path))
    procs.assert_same(fresh, uninterrupted)
    assert "removed 1 unfinished checkpoint save in" in capfd.readouterr().err
    assert not (tmp_path / "3.orbax-checkpoint-tmp").exists()


def test_sigkill_mid_run_then_resume(tmp_path):
    """A real ``jaxlab sweep`` killed with SIGKILL after its first checkpoint, resumed."""
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=40, dtype="float32"))
    args = ["sweep", str(spec_file), "--no-tensorboard", "--quiet", "--checkpoint-every", "2"]
    full = procs.jaxlab(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    proc = procs.start(*args, "--out", str(out))
    try:
        procs.wait_for_checkpoint(out, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert not (out / "result.json").exists(), "killed before the end"
    steps = sorted(int(d) for d in os.listdir(out / "checkpoints") if d.isdigit())
    assert steps[-1] < 40

    resumed = procs.jaxlab(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    result = jl.Result.load(str(out))
    assert result.timing[0]["resumed_at_epoch"] == steps[-1]  # not a fresh start
    procs.assert_same(result, jl.Result.load(str(tmp_path / "full")))


def test_changed_spec_from_the_cli_is_one_error_line(tmp_path):
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=3, dtype="float32"))
    out = tmp_path / "out"
    jl.run(jl.Sweep.from_toml(spec_file), compilation_cache=False,
           checkpoint_dir=str(out / "checkpoints"), checkpoint_every=1)
    proc = procs.jaxlab("sweep", str(spec_file), "--out", str(out), "--resume",
                        "--set", "train.optimizer=sgd")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("error: train.optimizer='sgd': differs"), lines


def test_checksums_and_fingerprints():
    a = {"x": np.arange(4.0), "y": {"z": np.ones(2, np.int32)}}
    assert checkpoint.checksums(a) == checkpoint.checksums({"x": np.arange(4.0),
                                                            "y": {"z": np.ones(2, np.int32)}})
    fp = checkpoint.fingerprint({"train": {"epochs": 3}})
    assert fp == {"train.epochs": 3}
    with pytest.raises(ConfigError, match="train.epochs=4"):
        checkpoint.check_same(fp, checkpoint.fingerprint({"train": {"epochs": 4}}), "dir")

"""Devices and hosts: a sweep sharded over 4 devices, and over 2 processes, equals one device.

Each device runs the same per-variant arithmetic, but XLA compiles a different program for a
different number of variants per device (see :mod:`jaxlab.sweep`, "Numerics"), so runs on
different device counts are compared in float64 to 1e-9 relative (float rounding, ~1e-15 per
operation; an error in padding, order or randomness shows at 1e-2), with every discrete
outcome equal. Two processes with one device each run the very program of one process with
two devices: those are compared bit for bit.
"""

from __future__ import annotations

import os
import signal

import jax
import numpy as np
import pytest

import jaxlab as jl
from jaxlab import distributed
from jaxlab.errors import ConfigError
from tests import procs

pytestmark = pytest.mark.xdist_group("processes")
EPOCHS = 5


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny.toml"
    path.write_text(procs.SPEC.format(epochs=EPOCHS, dtype="float64"))
    return path


@pytest.fixture(scope="module")
def one_device(spec_file):
    """The reference: this process, one device."""
    with jax.enable_x64(True):
        return jl.run(jl.Sweep.from_toml(spec_file), compilation_cache=False)


def test_four_devices_equal_one(spec_file, one_device, tmp_path):
    out = tmp_path / "four"
    proc = procs.jaxlab("sweep", str(spec_file), "--out", str(out), "--no-tensorboard",
                        "--quiet", environ=procs.env(devices=4, x64=True))
    assert proc.returncode == 0, proc.stderr
    four = jl.Result.load(str(out))
    # 6 variants padded to 8 (2 per device) with inactive copies, dropped from the results.
    assert four.timing[0]["devices"] == 4 and four.timing[0]["chunk_size"] == 8
    assert len(four) == 6 and set(four.history.variant) == set(range(6))
    procs.assert_same(four, one_device, rtol=1e-9)


def test_two_processes_equal_one(spec_file, one_device, tmp_path):
    port = procs.free_port()
    out = tmp_path / "two"
    common = ["sweep", str(spec_file), "--out", str(out), "--checkpoint-every", "2",
              "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    workers = [procs.start(*common, "--process-id", str(i), environ=procs.env(x64=True))
               for i in (1, 0)]
    try:
        outs = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err
    # Process 0 alone reports and writes (process 1 prints only gloo's own banner).
    assert "wrote" in outs[1][1] and "wrote" not in outs[0][1]
    assert not [line for line in outs[0][1].splitlines() if "Gloo" not in line]
    two = jl.Result.load(str(out))
    assert two.timing[0]["devices"] == 2
    assert (out / "tensorboard").is_dir() and (out / "checkpoints").is_dir()

    # The same sweep in one process with two devices: the same program, bit for bit.
    ref = tmp_path / "one"
    proc = procs.jaxlab("sweep", str(spec_file), "--out", str(ref), "--no-tensorboard",
                        "--quiet", environ=procs.env(devices=2, x64=True))
    assert proc.returncode == 0, proc.stderr
    procs.assert_same(two, jl.Result.load(str(ref)))
    procs.assert_same(two, one_device, rtol=1e-9)


def two_processes(args, environ, port):
    return [procs.start(*args, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                        "--process-id", str(i), environ=environ) for i in (1, 0)]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("JAXLAB_SLOW") != "1", reason="set JAXLAB_SLOW=1")
def test_two_processes_preempted_then_resumed(tmp_path):
    """SIGTERM to one process stops both after one checkpoint (they agree on the epoch);
    process 0 alone reads it on resume and hands it to process 1."""
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=30, dtype="float32"))
    out = tmp_path / "out"
    args = ["sweep", str(spec_file), "--out", str(out), "--no-tensorboard",
            "--checkpoint-every", "2"]
    workers = two_processes(args, procs.env(), procs.free_port())
    try:
        procs.wait_for_checkpoint(out, *workers)
        workers[0].send_signal(signal.SIGTERM)  # process 1 only
        codes = [w.wait(timeout=120) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert codes == [143, 143]
    assert not (out / "result.json").exists()

    workers = two_processes([*args, "--resume"], procs.env(), procs.free_port())
    try:
        outs = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0], outs
    assert "resumed at epoch" in outs[1][1]
    ref = tmp_path / "ref"
    proc = procs.jaxlab("sweep", str(spec_file), "--out", str(ref), "--no-tensorboard",
                        "--quiet", environ=procs.env(devices=2))
    assert proc.returncode == 0, proc.stderr
    procs.assert_same(jl.Result.load(str(out)), jl.Result.load(str(ref)))


def test_initialize_needs_all_three_settings(monkeypatch):
    for name in distributed.ENV:
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() is False  # nothing set: a single-process sweep
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1234")
    with pytest.raises(ConfigError, match="--num-processes"):
        distributed.initialize()
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ConfigError, match="JAX_NUM_PROCESSES"):
        distributed.initialize()
    with pytest.raises(ConfigError, match="process-id"):
        distributed.initialize("127.0.0.1:1234", 2, 2)


def test_padding_repeats_the_last_row():
    tree = {"a": np.arange(3), "b": np.ones((3, 2))}
    padded = distributed.pad_rows(tree, 4)
    np.testing.assert_array_equal(padded["a"], [0, 1, 2, 2])
    assert padded["b"].shape == (4, 2)
    assert distributed.padded_size(6, 4) == 8 and distributed.padded_size(8, 4) == 8

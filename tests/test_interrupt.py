"""Ctrl-C (SIGINT): the sweep stops at the end of the epoch (of the call, when one call runs
several epochs), saves a checkpoint, writes no result, and resumes exactly; a second Ctrl-C
aborts at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import jaxlab as jl
from jaxlab import checkpoint
from jaxlab.errors import ConfigError
from tests import procs
from tests.test_checkpoint import spec

pytestmark = pytest.mark.xdist_group("processes")


def sigint_at(epoch: int, times: int = 1):
    """A callback that sends this process SIGINT ``times`` times at the end of ``epoch``."""

    def cb(report):
        if report.epoch == epoch:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)

    return cb


def test_ctrl_c_in_python_saves_then_raises_keyboard_interrupt(tmp_path):
    seen = []
    with pytest.raises(KeyboardInterrupt) as info:
        jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
               checkpoint_every=100, callbacks=[sigint_at(2), lambda r: seen.append(r.epoch)],
               epochs_per_call=1)  # the host sees every epoch's end (the default: a call's)
    stopped = info.value
    assert isinstance(stopped, checkpoint.Interrupted)
    assert stopped.epoch == 3 and stopped.directory == str(tmp_path)
    assert seen == [0, 1, 2]  # stopped at the end of that epoch, not later
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert sorted(d for d in os.listdir(tmp_path) if d.isdigit()) == ["3"]  # saved on Ctrl-C
    resumed = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
                     resume=True)
    assert resumed.timing[0]["resumed_at_epoch"] == 3
    procs.assert_same(resumed, jl.run(spec(), compilation_cache=False))


def test_ctrl_c_without_checkpoints_still_stops(tmp_path):
    with pytest.raises(checkpoint.Interrupted, match="no checkpoint directory"):
        jl.run(spec(), compilation_cache=False, callbacks=[sigint_at(1)], epochs_per_call=1)


def test_a_second_ctrl_c_aborts_at_once(tmp_path):
    seen = []
    with pytest.raises(KeyboardInterrupt) as info:
        jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
               checkpoint_every=100, callbacks=[sigint_at(2, times=2),
                                                lambda r: seen.append(r.epoch)])
    assert not isinstance(info.value, checkpoint.Interrupted)  # Python's own, raised at once
    assert seen == [0, 1]  # epoch 2 reached no later callback: aborted at once
    assert not any(d.isdigit() for d in os.listdir(tmp_path))  # nothing was saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_on_the_command_line_then_resume(tmp_path):
    """A real ``jaxlab sweep`` sent SIGINT after its first checkpoint: exit 130, one line
    naming --resume, no result; ``--resume`` then finishes it as if never interrupted."""
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=400, dtype="float32"))
    args = ["sweep", str(spec_file), "--no-tensorboard", "--quiet", "--checkpoint-every", "5"]
    out = tmp_path / "stopped"
    proc = procs.start(*args, "--out", str(out))
    try:
        procs.wait_for_checkpoint(out, proc)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=120)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0] and lines[0].startswith("interrupted:"), err
    assert waited < 30, waited  # an epoch here takes milliseconds: it did not train on
    assert not (out / "result.json").exists() and not (out / "history.csv").exists()
    steps = sorted(int(d) for d in os.listdir(out / "checkpoints") if d.isdigit())
    assert 5 <= steps[-1] < 400 and f"after epoch {steps[-1]} " in lines[0]

    resumed = procs.jaxlab(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    result = jl.Result.load(str(out))
    assert result.timing[0]["resumed_at_epoch"] == steps[-1]  # not a fresh start
    full = procs.jaxlab(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    procs.assert_same(result, jl.Result.load(str(tmp_path / "full")))


# -- one run per --out ---------------------------------------------------------------------------
def test_a_second_run_into_the_same_out_is_refused(tmp_path):
    """Two ``jaxlab sweep`` into one --out: the second exits 2 with one line naming the first's
    pid, before compiling; the first is unharmed."""
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(procs.SPEC.format(epochs=400, dtype="float32"))
    args = ["sweep", str(spec_file), "--no-tensorboard", "--quiet", "--checkpoint-every", "5",
            "--out", str(tmp_path / "out")]
    first = procs.start(*args)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "out" / ".jaxlab.lock").exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first run took no lock"
            time.sleep(0.02)
        t = time.monotonic()
        second = procs.jaxlab(*args)
        assert time.monotonic() - t < 60
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip() == (
            f"error: {tmp_path / 'out'} is in use by another jaxlab run (pid {first.pid}); "
            "wait for it to end or choose another --out"), second.stderr
        assert first.poll() is None  # still training
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, err  # stopped by us, not by the second run
    assert not (tmp_path / "out" / ".jaxlab.lock").exists()  # released and removed


def test_the_lock_is_released_on_exit_and_by_a_killed_holder(tmp_path):
    from jaxlab import lock

    out = tmp_path / "out"
    with lock.hold(str(out)):
        with pytest.raises(lock.InUse, match=f"pid {os.getpid()}"):
            with lock.hold(str(out)):
                pass
    assert not out.exists()  # created for the run, left empty: removed
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaxlab import lock\n"
         "with lock.hold(sys.argv[1]):\n print('held', flush=True); time.sleep(600)",
         str(out)], env=procs.env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(lock.InUse, match=f"pid {holder.pid}"):
            with lock.hold(str(out)):
                pass
        holder.kill()
        holder.wait(timeout=60)
    finally:
        holder.kill()
    with lock.hold(str(out)):  # the killed run's file is left, its lock is not
        pass


# The first run of the test below. Its training is stood in by a wait (compiling it would cost
# seconds and prove nothing more): ``run_plan`` says it is training, then waits for a line.
HOLDER = """\
import sys
import jaxlab as jl
from jaxlab import sweep
from tests.test_checkpoint import spec

def training(*args, **kwargs):
    print("training", flush=True)
    sys.stdin.readline()
    raise SystemExit(0)

sweep.run_plan = training
jl.run(spec(), compilation_cache=False, checkpoint_dir=sys.argv[1])
"""


def test_a_second_python_run_into_the_same_checkpoint_dir_is_refused(tmp_path):
    """``jl.run(spec, checkpoint_dir=D)`` while another process trains into ``D``: one line
    naming the first's pid, raised before anything is compiled; the first is unharmed."""
    import jax

    from jaxlab import lock

    ckpts = tmp_path / "ckpts"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(ckpts)], env=procs.env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    compiled: list[str] = []

    def listener(event, duration, **kwargs):
        if event.startswith("/jax/core/compile/"):
            compiled.append(event)

    try:
        assert first.stdout.readline() == "training\n", first.communicate()[1]
        assert (ckpts / lock.NAME).exists()
        jax.monitoring.register_event_duration_secs_listener(listener)
        try:
            with pytest.raises(lock.InUse) as info:
                jl.run(spec(), compilation_cache=False, checkpoint_dir=str(ckpts))
        finally:
            jax.monitoring.unregister_event_duration_listener(listener)
        assert str(info.value) == (
            f"{ckpts} is in use by another jaxlab run (pid {first.pid}); wait for it to end "
            "or choose another checkpoint_dir")
        assert compiled == []  # refused before compiling
        assert first.poll() is None  # still training
        _, err = first.communicate("\n", timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert not ckpts.exists()  # lock released and removed; the folder it made, empty, too
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ConfigError, match=r"^checkpoint_dir=.*exists and is not a directory"):
        jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path / "file"))
    with pytest.raises(ConfigError, match=r"^checkpoint_dir=.*cannot be created \(Not a dir"):
        jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path / "file" / "sub"))
    assert (tmp_path / "file").read_text() == "mine"

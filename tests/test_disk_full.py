"""A full disk while saving results or checkpoints: one clear error, the temporary files
removed, the previous result and the last good checkpoint kept intact."""

from __future__ import annotations

import errno
import os

import numpy as np
import pandas as pd
import pytest

from jaxlab import checkpoint
from jaxlab.atomic import atomic_open, atomic_write_text
from jaxlab.errors import DiskFull, JaxlabError
from jaxlab.results import Result
from tests.fake_results import fake_result


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def entries(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "file.txt"
    atomic_write_text(str(target), "old\n")
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", no_space)  # where a delayed allocation fails
    with pytest.raises(DiskFull, match=f"disk full while writing {target}: the previous file "
                                       "is kept"):
        atomic_write_text(str(target), "new\n" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)

    class Full:  # a file object whose write fails with EDQUOT, the quota's ENOSPC
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.EDQUOT, "Disk quota exceeded")

    with pytest.raises(DiskFull) as info, atomic_open(str(target), kept="it stays") as f:
        Full(f).write("new")
    assert isinstance(info.value, JaxlabError) and isinstance(info.value, OSError)
    assert str(info.value) == f"disk full while writing {target}: it stays"
    assert target.read_text() == "old\n"
    assert entries(tmp_path) == ["file.txt"]  # no temporary file left


@pytest.mark.parametrize("where", ["params", "manifest"])
def test_disk_full_while_saving_a_result_keeps_the_previous(tmp_path, monkeypatch, where):
    out = tmp_path / "out"
    fake_result("old").save(str(out))
    before = Result.load(str(out))
    listing = entries(out)
    if where == "params":
        monkeypatch.setattr(np, "savez", no_space)
    else:  # the switch itself: result.json's temporary file cannot be written out
        real_fsync = os.fsync

        def fsync(fd):
            if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".result.json"):
                no_space()
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFull, match=r"disk full while writing .*: the previous result is "
                                       r"kept$"):
        fake_result("new", shift=0.5).save(str(out))
    monkeypatch.undo()
    assert entries(out) == listing  # no new version folder, no temporary file
    after = Result.load(str(out))
    assert after.spec.name == "old"
    pd.testing.assert_frame_equal(after.history, before.history, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), before.history,
                                  check_exact=True)


def test_disk_full_while_checkpointing_keeps_the_last_good_one(tmp_path, monkeypatch):
    from orbax.checkpoint._src.handlers import json_checkpoint_handler as handler

    store = checkpoint.Store(str(tmp_path))
    good = {"w": np.arange(6.0)}
    store.save(1, good, {"epoch": 1})

    async def half_written(self, x, directory):  # orbax's own metadata write fails midway
        (directory / self._filename).write_text('{"epo')
        no_space()

    monkeypatch.setattr(handler.JsonCheckpointHandler, "_save_fn", half_written)
    with pytest.raises(DiskFull, match=f"disk full while writing {tmp_path / '2'}: the last "
                                       "good checkpoint is kept"):
        store.save(2, {"w": np.arange(6.0) + 1}, {"epoch": 2})
    monkeypatch.undo()
    assert entries(tmp_path) == ["1"]  # the partial one is gone
    step, arrays, meta = checkpoint.Store(str(tmp_path)).latest()
    assert step == 1 and meta["epoch"] == 1
    np.testing.assert_array_equal(arrays["w"], good["w"])
    store.save(2, {"w": np.arange(6.0) + 1}, {"epoch": 2})  # with room again, saves go on
    assert entries(tmp_path) == ["1", "2"]
    store.close()


def test_disk_full_on_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    from jaxlab import cli
    from tests.procs import SPEC

    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(SPEC.format(epochs=2, dtype="float32"))
    out = tmp_path / "out"
    monkeypatch.setenv("JAXLAB_COMPILATION_CACHE", "0")
    args = ["sweep", str(spec_file), "--out", str(out), "--no-tensorboard", "--quiet"]
    assert cli.main(args) == 0
    before = Result.load(str(out))
    capsys.readouterr()
    monkeypatch.setattr(np, "savez", no_space)
    assert cli.main([*args, "--set", "train.epochs=3"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: disk full while writing {out}") and lines[0].endswith(
        "the previous result is kept"), lines[0]
    monkeypatch.undo()
    after = Result.load(str(out))
    pd.testing.assert_frame_equal(after.history, before.history, check_exact=True)
    assert after.history.epoch.max() == 2

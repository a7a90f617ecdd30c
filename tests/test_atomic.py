"""Tests for jaxlab.atomic: written files get the mode a plain open() gives."""

from __future__ import annotations

import os

from jaxlab.atomic import atomic_open, atomic_write_text


def test_files_get_the_mode_open_gives_under_any_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with open(tmp_path / "plain", "w") as f:
            f.write("x")
        atomic_write_text(str(tmp_path / "text"), "x")
        with atomic_open(str(tmp_path / "bytes"), "wb") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    modes = {n: os.stat(tmp_path / n).st_mode & 0o777 for n in ("plain", "text", "bytes")}
    assert modes == {"plain": 0o640, "text": 0o640, "bytes": 0o640}
    assert sorted(os.listdir(tmp_path)) == ["bytes", "plain", "text"]  # no temporary left


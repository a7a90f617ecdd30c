"""The README's Python examples run as written, top to bottom, as a reader would paste them."""

from __future__ import annotations

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_the_readme_has_its_examples():
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any("jl.Network" in b for b in blocks) and any("nnx.Module" in b for b in blocks)


def test_every_readme_python_block_runs(tmp_path):
    # One interpreter, the blocks in order (the Network block uses the first block's import);
    # the working directory is a temporary one, so whatever the examples write lands there.
    code = "\n\n".join(python_blocks())
    script = tmp_path / "readme_examples.py"
    script.write_text(code)
    env = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

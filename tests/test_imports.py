"""Importing jaxlab changes no global state and defers heavy libraries until they are used."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(__file__))


def run(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_importing_jaxlab_never_touches_the_umask():
    run("import os\n"
        "def refuse(*a): raise AssertionError('os.umask called at import')\n"
        "os.umask = refuse\n"
        "import jaxlab, jaxlab.results, jaxlab.plotting, jaxlab.tblog, jaxlab.atomic\n")


def test_heavy_libraries_wait_until_they_are_used():
    run("import sys\n"
        "import jaxlab, jaxlab.data, jaxlab.plotting\n"
        "for lib in ('sklearn', 'matplotlib', 'tensorflow_datasets'):\n"
        "    assert lib not in sys.modules, lib + ' imported with jaxlab'\n"
        "jaxlab.load(jaxlab.DataConfig('blobs'))\n"
        "assert 'sklearn' in sys.modules\n")


def test_the_cli_answers_help_and_list_without_jax():
    """``jaxlab --help``, ``jaxlab list`` and ``import jaxlab`` load no JAX (start-up time)."""
    run("import sys\n"
        "import jaxlab, jaxlab.cli, jaxlab.course\n"
        "for lib in ('jax', 'optax', 'flax', 'matplotlib', 'sklearn'):\n"
        "    assert lib not in sys.modules, lib + ' imported'\n"
        "assert len(jaxlab.course.EXPERIMENTS) >= 18\n")
    proc = subprocess.run([sys.executable, "-m", "jaxlab.cli", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0 and "sweep" in proc.stdout

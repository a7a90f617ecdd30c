"""The package stands alone: the wheel installs only ``jaxlab``; ``jaxlab list`` and ``jaxlab
run`` work from any directory, also one holding its own ``experiments`` package; ``jaxlab
sweep`` loads neither matplotlib nor the course; and only the command line turns on JAX's
persistent compilation cache (process-wide state), never a plain ``jaxlab.run``."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import zipfile

import jax
import pytest

import jaxlab as jl
from jaxlab import course

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = """\
name = "tiny"

[data]
name = "blobs"
n_samples = 120
train_size = 80

[model]
hidden = [8]

[train]
epochs = 2
batch_size = 16

[sweep.grid]
learning_rate = [0.1, 0.01]
"""


def jaxlab(*args: str, cwd, env=None, code: str | None = None) -> subprocess.CompletedProcess:
    """``python -m jaxlab.cli ARGS`` (or ``python -c CODE ARGS``) in ``cwd``.

    Both put ``cwd`` first on ``sys.path``, so an ``import experiments`` anywhere in jaxlab
    would find the user's package there.
    """
    env = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0", "PYTHONPATH": ROOT, **(env or {})}
    command = ["-c", code] if code else ["-m", "jaxlab.cli"]
    return subprocess.run([sys.executable, *command, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def foreign(tmp_path):
    """A working directory with its own ``experiments`` package, which fails on import."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text(
        'raise RuntimeError("the user\'s own experiments package was imported")\n')
    return tmp_path


def test_the_wheel_installs_only_the_jaxlab_package(tmp_path):
    # Build from a copy: setuptools builds in the source tree (build/, *.egg-info).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src)
    shutil.copytree(os.path.join(ROOT, "jaxlab"), src / "jaxlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--wheel-dir", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode and "satisfies the requirement setuptools" in proc.stderr:
        pytest.skip("pip cannot get setuptools to build the wheel (offline)")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"jaxlab"}
    assert {"jaxlab/course/__init__.py", "jaxlab/course/framework.py",
            "jaxlab/course/batch_size.py", "jaxlab/course/problems.py"} <= set(names)
    assert "jaxlab/py.typed" in names  # PEP 561: type checkers use jaxlab's hints
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in meta  # the SPDX field, no license table
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: flax>=0.12" in requires
    capped = [r for r in requires if "<" in r.split(";")[0]]
    assert not capped, f"upper caps without a stated reason: {capped}"
    (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")] or [None]
    if top_level:  # setuptools writes it; the names Python may import from this wheel
        assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["jaxlab"]


def test_list_from_a_directory_with_its_own_experiments(foreign):
    proc = jaxlab("list", cwd=foreign)
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names[:3] == ["capacity-nodes", "capacity-layers", "batch-size"]
    assert names == list(course.EXPERIMENTS)


def test_run_from_a_directory_with_its_own_experiments_uses_the_cache(foreign):
    # A cache of its own, so that the user's is left alone: `jaxlab run` turns it on.
    cache = foreign / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "JAXLAB_COMPILATION_CACHE": "1"}
    proc = jaxlab("run", "batch-size", "--quick", "--out", str(foreign / "runs"), cwd=foreign,
                  env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("batch-size: ")
    doc = json.loads((foreign / "runs" / "batch-size" / "findings.json").read_text())
    assert doc["experiment"] == "batch-size" and doc["numbers"]
    assert os.listdir(cache / "jaxlab" / "xla")  # the persistent compilation cache


def test_sweep_loads_neither_matplotlib_nor_the_course(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    code = ("import sys\nfrom jaxlab import cli\nrc = cli.main(sys.argv[1:])\n"
            "print(sorted(m for m in ('matplotlib', 'jaxlab.course', 'jaxlab.plotting') "
            "if m in sys.modules))\nsys.exit(rc)")
    proc = jaxlab("sweep", str(spec), "--out", str(tmp_path / "out"), cwd=tmp_path, code=code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "tensorboard").is_dir()  # TensorBoard logs without matplotlib


def test_a_python_run_leaves_the_compilation_cache_alone(tmp_path, monkeypatch):
    assert inspect.signature(jl.run).parameters["compilation_cache"].default is False
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("JAXLAB_COMPILATION_CACHE", "1")
    before = jax.config.jax_compilation_cache_dir
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    jl.run(jl.Sweep.from_toml(str(spec)))
    assert jax.config.jax_compilation_cache_dir == before
    assert not (tmp_path / "jaxlab").exists()


def test_the_demo_sweep_of_make_demo_plans():
    spec = jl.Sweep.from_toml(os.path.join(ROOT, "experiments", "sweeps", "demo.toml"))
    assert len(jl.plan(spec).variants) == 12

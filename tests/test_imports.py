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


def test_plotting_is_a_lazy_attribute_and_load_result_loads_a_result():
    run("import sys\n"
        "import jaxlab as jl\n"
        "assert 'jaxlab.plotting' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "assert 'plotting' in dir(jl) and 'load_result' in jl.__all__\n"
        "import jaxlab.plotting\n"
        "assert jl.plotting is sys.modules['jaxlab.plotting']\n"
        "assert callable(jl.plotting.curves) and 'matplotlib' not in sys.modules\n"
        "from jaxlab.results import Result\n"
        "assert jl.load_result.__module__ == 'jaxlab.results'\n")
    run("import sys\n"
        "import jaxlab as jl\n"
        "assert callable(jl.plotting.heatmap)  # no import statement needed\n"
        "assert 'matplotlib' not in sys.modules\n")


def test_tensorflow_datasets_waits_for_a_tfds_data_set():
    run("import sys\n"
        "import jaxlab.data\n"
        "from jaxlab import datasets_mnist\n"
        "ds = jaxlab.data.load(jaxlab.data.DataConfig('digits', validation_split=0.2))\n"
        "assert ds.x_train.shape == (1437, 64)\n"
        "assert 'tensorflow_datasets' not in sys.modules, 'digits imported tfds'\n"
        "assert 'tensorflow' not in sys.modules\n")

"""The example notebooks run top to bottom with the installed jaxlab (nbclient, a fresh
kernel each), show their figures inline, and are committed as the generator writes them:
without outputs."""

from __future__ import annotations

import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def test_there_are_notebooks():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "lr_batch_study.ipynb", "single_model.ipynb",
            "own_model.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_and_shows_figures(path, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXLAB_COMPILATION_CACHE", "0")  # the kernel inherits it
    nb = nbformat.read(path, as_version=4)
    # The notebook's working directory is a temporary one: its runs/ land there.
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no inline figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebooks_match_their_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebooks", os.path.join(ROOT, "notebooks", "make_notebooks.py"))
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for name, cells in make.NOTEBOOKS.items():
        with open(os.path.join(ROOT, "notebooks", f"{name}.ipynb")) as f:
            committed = nbformat.read(f, as_version=4)
        assert committed == make.notebook(name, cells), (
            f"{name}.ipynb is stale: run python notebooks/make_notebooks.py")

"""The API reference builds from the docstrings with no warning (``make docs``)."""

from __future__ import annotations

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_api_reference_builds_without_warnings(tmp_path):
    spec = importlib.util.spec_from_file_location("build_api",
                                                  os.path.join(ROOT, "docs", "build_api.py"))
    build_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_api)
    pages = build_api.build(str(tmp_path))  # warnings are errors inside
    for module in [*build_api.MODULES, "jaxlab.plotting"]:
        page = module.replace(".", "/") + ".html"
        assert page in pages, page
    text = (tmp_path / "jaxlab" / "hparams.html").read_text()
    assert "def hparam" in text or "hparam(" in text  # generated from the code itself

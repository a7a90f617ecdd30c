"""experiments/catalogue.py: the README catalogue rebuilt from the studies' findings."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "catalogue", os.path.join(ROOT, "experiments", "catalogue.py"))
catalogue = importlib.util.module_from_spec(_spec)
sys.modules["catalogue"] = catalogue  # dataclasses look their module up there
_spec.loader.exec_module(catalogue)

OLD = """# Title

Text before.

<!-- catalogue: begin -->
The numbers below are from the default runs.

| experiment | figure | finding measured | time, compiles |
|---|---|---|---|
| `capacity-nodes` | `loss_by_width.png` | old nodes line | 9 s, 1 |
| `momentum` | [curves](figs/momentum.png) | old momentum line | 8 s, 1 |
| `batch-size` | `accuracy_by_batch_size.png` | old batch line | 11 s, 1 |
<!-- catalogue: end -->

Text after.
"""
ORDER = ["capacity-nodes", "batch-size", "momentum", "dropout-mnist"]


def fake(holds, summary, figures=("fig.png",), wall_s=12.4, programs=2) -> dict:
    """A findings.json document as the course writes it (no training)."""
    return {"holds": holds, "summary": summary, "figures": list(figures), "wall_s": wall_s,
            "programs": programs, "numbers": {}, "claim": "c"}


def test_rewrite_replaces_run_rows_keeps_the_others_links_and_the_text_around():
    rows = [catalogue.Row.of("momentum", fake(False, "loss 0.80 | 0.45 at 0.9")),
            catalogue.Row.of("capacity-nodes", fake(True, "test accuracy\n0.95 at 6 nodes")),
            catalogue.Row.of("dropout-mnist", fake(True, "gap shrinks"), note="on digits")]
    when = datetime.datetime(2026, 12, 1, 1, 2, tzinfo=datetime.UTC)
    stamp = catalogue.stamp("python experiments/catalogue.py --only momentum", when, rows)
    text = catalogue.rewrite(OLD, rows, stamp, ORDER)
    assert text.startswith("# Title\n\nText before.\n\n<!-- catalogue: begin -->\n")
    assert text.endswith("<!-- catalogue: end -->\n\nText after.\n")
    assert "The numbers below are from the default runs." not in text
    assert "`python experiments/catalogue.py --only momentum` on 2026-12-01 01:02 UTC" in text
    table = [l for l in text.splitlines() if l.startswith("| `")]
    assert table == [
        "| `capacity-nodes` | holds | `fig.png` | test accuracy 0.95 at 6 nodes | 12 s, 2 |",
        "| `batch-size` |  | `accuracy_by_batch_size.png` | old batch line | 11 s, 1 |",
        "| `momentum` | not shown in this run | [curves](figs/momentum.png) | "
        "loss 0.80 \\| 0.45 at 0.9 | 12 s, 2 |",
        "| `dropout-mnist` | holds | `fig.png` | gap shrinks (on digits) | 12 s, 2 |"]
    assert catalogue.HEADER in text
    # Idempotent on its own output: a second rewrite with the same rows changes nothing.
    assert catalogue.rewrite(text, rows, stamp, ORDER) == text
    failed = catalogue.rewrite(text, [catalogue.Row("batch-size", None, "ValueError: x")],
                               stamp, ORDER)
    assert "| `batch-size` | **failed** | `accuracy_by_batch_size.png` | ValueError: x |" \
        in failed
    with pytest.raises(ValueError, match="catalogue markers"):
        catalogue.rewrite("# no markers\n", rows, stamp, ORDER)


def test_the_readmes_have_one_catalogue_naming_every_study():
    from jaxlab import course

    for path in catalogue.READMES:
        text = open(path).read()
        assert text.count(catalogue.BEGIN) == 1 and text.count(catalogue.END) == 1
        block = text[text.index(catalogue.BEGIN): text.index(catalogue.END)]
        assert list(catalogue._old_rows(block)) == list(course.EXPERIMENTS)


def test_quick_run_of_one_study_rewrites_a_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(OLD)
    out = tmp_path / "runs"
    assert catalogue.main(["--quick", "--only", "momentum", "--out", str(out),
                           "--readme", str(readme)]) == 0
    doc = json.load(open(out / "momentum" / "findings.json"))
    text = readme.read_text()
    line = next(l for l in text.splitlines() if l.startswith("| `momentum`"))
    verdict = "holds" if doc["holds"] else "not shown in this run"
    assert line.startswith(f"| `momentum` | {verdict} | [curves](figs/momentum.png) | ")
    assert catalogue._cell(doc["summary"]) in line
    assert "old nodes line" in text and "old momentum line" not in text
    assert "`python experiments/catalogue.py --quick --only momentum --out" in text
    assert "momentum: " in capsys.readouterr().out

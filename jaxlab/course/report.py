"""An experiment's report: ``findings.md`` (for people) and ``findings.json`` (for scripts).

:func:`jaxlab.course.framework.run` writes both into the experiment's directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jaxlab.atomic import atomic_write_text

if TYPE_CHECKING:  # the framework imports this module
    from jaxlab.course.framework import Outcome, RunInfo


def _fmt(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return str(x)
        return f"{x:.4g}"
    return str(x)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (index dropped), numbers to 4 digits."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _versions() -> str:
    import flax
    import jax
    import optax

    return (f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}, "
            f"Python {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} CPU cores")


def findings_markdown(outcome: Outcome) -> str:
    """The text of ``findings.md``."""
    exp, f = outcome.experiment, outcome.findings
    verdict = "**holds**" if f.holds else "**not shown in this run**"
    lines = [f"# {exp.name}: {exp.title}", "",
             f"Course: {exp.course}", "",
             f"**Claim.** {f.claim}", "",
             f"**Measured in this run** ({verdict}). {f.summary}", ""]
    if f.numbers:
        lines += ["## Numbers", "", markdown_table(pd.DataFrame(
            {"measure": list(f.numbers), "value": list(f.numbers.values())})), ""]
    for title, table in f.tables.items():
        lines += [f"## {title}", "", markdown_table(table), ""]
    if f.figures:
        lines += ["## Figures", ""] + [f"![{name}]({name})" for name in f.figures] + [""]
    runs = pd.DataFrame([{"sweep": r.name, "variants": r.variants, "groups": r.groups,
                          "compiled programs": r.programs, "compile s": r.compile_s,
                          "train s": r.train_s, "wall s": r.wall_s} for r in outcome.runs])
    lines += ["## Runs", "",
              "Each sweep is one vectorized program per structural group (repeats over seeds "
              "are variants of it); results in `results/<sweep>/`, TensorBoard logs in "
              "`tensorboard/<sweep>/`.", ""]
    if not runs.empty:
        lines += [markdown_table(runs), ""]
    lines += ["## Reproduce", "",
              f"`{outcome.command}` "
              f"(total {outcome.wall_s:.1f} s, {outcome.programs} compiled programs). "
              f"{_versions()}.", ""]
    return "\n".join(lines)


def write_findings(outcome: Outcome) -> None:
    """Write ``findings.md`` and ``findings.json`` into the experiment's directory."""
    f = outcome.findings
    atomic_write_text(os.path.join(outcome.out, "findings.md"), findings_markdown(outcome))
    doc = {"experiment": outcome.experiment.name, "claim": f.claim, "holds": bool(f.holds),
           "summary": f.summary, "numbers": {k: _json_number(v) for k, v in f.numbers.items()},
           "figures": list(f.figures), "wall_s": outcome.wall_s, "programs": outcome.programs,
           "command": outcome.command,
           "runs": [{k: v for k, v in dataclasses.asdict(r).items() if k != "result"}
                    for r in _shallow(outcome.runs)]}
    atomic_write_text(os.path.join(outcome.out, "findings.json"), json.dumps(doc, indent=1))


def _shallow(runs: Sequence[RunInfo]) -> list[RunInfo]:
    # dataclasses.asdict would deep-copy the results; drop them first.
    return [dataclasses.replace(r, result=None) for r in runs]


def _json_number(v: Any):
    v = float(v)
    return v if math.isfinite(v) else str(v)

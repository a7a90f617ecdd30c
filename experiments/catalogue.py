"""Regenerate the README's catalogue of the course's studies from one run of every study.

Runs every study of :mod:`jaxlab.course` (its default settings; ``--quick``: the small
version, a fast check; ``--only NAME...``: some of them) and rewrites the catalogue between
the markers ``<!-- catalogue: begin -->`` and ``<!-- catalogue: end -->`` of ``README.md``
and ``experiments/README.md``: one row per study with its verdict (``holds`` or ``not shown
in this run``), its first figure (a cell holding a link is kept as it is), the summary line
of its findings, its time and compiled programs, and a stamp with the command and the date.
Rows of the studies not run are kept. An MNIST study with no MNIST on the machine runs on
scikit-learn's digits instead (``--set data.name=digits``) and says so in its row.

Usage::

  python experiments/catalogue.py                       # every study, default settings
  python experiments/catalogue.py --quick --only batch-size momentum
  python experiments/catalogue.py --data-dir ~/mnist --readme README.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence

BEGIN, END = "<!-- catalogue: begin -->", "<!-- catalogue: end -->"
HEADER = ("| experiment | verdict | figure | finding measured | time, compiles |\n"
          "|---|---|---|---|---|")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READMES = (os.path.join(ROOT, "README.md"), os.path.join(ROOT, "experiments", "README.md"))
DIGITS = "data.name=digits"


@dataclasses.dataclass(frozen=True)
class Row:
    """One study's line of the catalogue, from its ``findings.json`` (or a failure)."""

    name: str
    holds: bool | None  # None: the study failed
    summary: str
    figures: tuple[str, ...] = ()
    wall_s: float = 0.0
    programs: int = 0
    note: str = ""  # e.g. "on digits: no MNIST on this machine"

    @classmethod
    def of(cls, name: str, findings: Mapping, note: str = "") -> Row:
        """The row of a ``findings.json`` document."""
        return cls(name, bool(findings["holds"]), str(findings["summary"]),
                   tuple(findings.get("figures", ())), float(findings.get("wall_s", 0.0)),
                   int(findings.get("programs", 0)), note)


def _cell(text: str) -> str:
    """``text`` as one markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render(row: Row, old_figure: str | None = None) -> str:
    """The markdown table line of ``row``; ``old_figure``: the figure cell it replaces,
    kept when it holds a link."""
    if row.holds is None:
        verdict = "**failed**"
    else:
        verdict = "holds" if row.holds else "not shown in this run"
    if old_figure and "](" in old_figure:
        figure = old_figure
    else:
        figure = f"`{row.figures[0]}`" if row.figures else (old_figure or "")
    summary = row.summary + (f" ({row.note})" if row.note else "")
    when = f"{row.wall_s:.0f} s, {row.programs}" if row.holds is not None else ""
    return f"| `{row.name}` | {verdict} | {figure} | {_cell(summary)} | {when} |"


def _old_rows(block: str) -> dict[str, list[str]]:
    """Cells of the table lines of an existing catalogue, by experiment name."""
    rows = {}
    for line in block.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
    return rows


def _figure_cell(cells: list[str]) -> str | None:
    """The figure cell of an old row (4 columns before this script, 5 after)."""
    return cells[2] if len(cells) == 5 else cells[1] if len(cells) == 4 else None


def rewrite(text: str, rows: Sequence[Row], stamp: str, order: Sequence[str]) -> str:
    """``text`` with the catalogue between :data:`BEGIN` and :data:`END` rebuilt: ``rows``
    replace their studies' lines, the other studies' lines are kept, in ``order``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no catalogue markers ({BEGIN} ... {END}) in the text")
    old = _old_rows(text[start + len(BEGIN): end])
    new = {r.name: r for r in rows}
    lines = []
    for name in [*order, *(n for n in old if n not in order)]:
        if name in new:
            lines.append(render(new[name], _figure_cell(old.get(name, []))))
        elif name in old:
            cells = old[name]
            if len(cells) == 4:  # a line of the earlier layout: no verdict column
                cells = [cells[0], "", *cells[1:]]
            lines.append("| " + " | ".join(cells) + " |")
    block = "\n".join([BEGIN, stamp, "", HEADER, *lines, END])
    return text[:start] + block + text[end + len(END):]


def stamp(command: str, when: datetime.datetime, rows: Sequence[Row]) -> str:
    """The paragraph above the table: where the numbers come from."""
    from jaxlab import course

    names = ", ".join(f"`{r.name}`" for r in rows)
    every = {r.name for r in rows} >= set(course.EXPERIMENTS)
    which = "Every row is" if every else f"The rows of {names} are"
    return (f"{which} from `{command}` on {when:%Y-%m-%d %H:%M} UTC "
            f"({os.cpu_count()} CPU cores, the studies' "
            f"{'--quick' if '--quick' in command else 'default'} settings)"
            + ("" if every else "; the other rows keep their earlier numbers") + ". "
            "Verdict: whether that run shows the course's claim "
            "beyond the seed noise. Time is the whole run, compiles the number of compiled "
            "programs.")


def _run_one(name: str, options) -> Row:
    """Run study ``name``; an MNIST study without MNIST runs on digits instead."""
    from jaxlab import course
    from jaxlab.errors import ConfigError

    try:
        outcome = course.run_experiment(name, options)
        note = ""
    except ConfigError as e:
        if e.field != "data.name" or "mnist" not in str(e.value):
            raise
        options = dataclasses.replace(options, overrides=(*options.overrides, DIGITS))
        outcome = course.run_experiment(name, options)
        note = "on digits: no MNIST on this machine"
    with open(os.path.join(outcome.out, "findings.json")) as f:
        return Row.of(name, json.load(f), note)


def main(argv: Sequence[str] | None = None) -> int:
    from jaxlab import course

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the small version of every study")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these studies")
    p.add_argument("--out", default="runs/catalogue", help="where the studies write")
    p.add_argument("--data-dir", help="offline MNIST files (IDX or mnist.npz)")
    p.add_argument("--readme", action="append", help="the file(s) to rewrite "
                   "(default: README.md and experiments/README.md)")
    args = p.parse_args(argv)
    names = list(args.only or course.EXPERIMENTS)
    for name in names:
        course.get(name)  # an unknown name fails before anything runs
    options = course.Options(quick=args.quick, out=args.out, data_dir=args.data_dir,
                             progress=False, compilation_cache=False)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            rows.append(_run_one(name, options))
        except Exception as e:  # noqa: BLE001 -- one failing study must not lose the others
            rows.append(Row(name, None, f"{type(e).__name__}: {e}"))
        r = rows[-1]
        verdict = {True: "holds", False: "not shown", None: "FAILED"}[r.holds]
        print(f"{name}: {verdict} ({time.perf_counter() - t0:.0f} s) {r.summary}", flush=True)
    command = " ".join(["python experiments/catalogue.py",
                        *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    text_stamp = stamp(command, datetime.datetime.now(datetime.UTC), rows)
    for path in args.readme or READMES:
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(rewrite(text, rows, text_stamp, list(course.EXPERIMENTS)))
        print(f"rewrote the catalogue of {path}")
    return 0 if all(r.holds is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

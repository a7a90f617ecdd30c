"""``jaxlab`` command line: a thin layer over the library.

  jaxlab sweep FILE.toml --out DIR [--set key=value ...]

A user mistake (bad spec, bad value, missing file) prints one line, ``error: ...``, and exits
with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jaxlab.errors import JaxlabError


def _sweep(args: argparse.Namespace) -> int:
    from jaxlab import api
    from jaxlab.config import Sweep

    spec = Sweep.from_toml(args.file, args.set)
    plan = api.plan(spec)  # every check happens here, before anything is compiled
    n = len(plan.variants)
    if not args.quiet:
        print(f"{spec.name}: {n} variant{'s' * (n != 1)} in {len(plan.groups)} compiled "
              f"program{'s' * (len(plan.groups) != 1)}", file=sys.stderr)
    result = api.run(spec, compilation_cache=not args.no_cache)
    result.save(args.out)
    if not args.quiet:
        counts = result.variants.status.value_counts().to_dict()
        print(f"wrote {args.out} ({', '.join(f'{v} {k}' for k, v in counts.items())})",
              file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sweep", help="run a sweep file and write a results directory")
    p.add_argument("file", help="sweep spec (TOML)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value, e.g. train.epochs=5 or "
                        "sweep.grid.learning_rate=[0.1,0.01]")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the persistent compilation cache")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except JaxlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

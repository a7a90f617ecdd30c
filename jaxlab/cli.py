"""``jaxlab`` command line: a thin layer over the library.

  jaxlab sweep FILE.toml --out DIR [--set key=value ...] [--log tensorboard,wandb,mlflow]
               [--no-tensorboard] [--progress|--quiet]
               [--resume] [--checkpoint-every N] [--memory-budget 2GB]
               [--coordinator HOST:PORT --num-processes N --process-id I]
  jaxlab plot RESULTS_DIR [--kind curves|sensitivity|heatmap|compare] [--metric val_accuracy]
              [--facet AXIS] [--color AXIS] [--x epoch|updates|examples] [--out DIR]
  jaxlab run NAME [--quick] [--set key=value ...] [--out DIR] [--data-dir DIR] [--no-cache]
  jaxlab list

Each command imports what it needs when it runs (``jaxlab sweep`` never loads matplotlib or
the course's studies, :mod:`jaxlab.course`). ``sweep`` and ``run`` use JAX's persistent
compilation cache (``--no-cache`` or ``JAXLAB_COMPILATION_CACHE=0``: off).

A user mistake (bad spec, bad value, missing file), a full disk, or a second ``jaxlab sweep``
into an ``--out`` in use prints one line, ``error: ...``, and exits with status 2; no
traceback. Ctrl-C stops ``jaxlab sweep`` at the end of the epoch, saves a checkpoint, says
how to resume and exits with 130 (a second Ctrl-C aborts at once); SIGTERM likewise, 143.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from jaxlab.errors import JaxlabError


def _sweep(args: argparse.Namespace) -> int:
    from jaxlab import distributed, lock
    from jaxlab import loggers as loggers_lib
    from jaxlab.config import Sweep
    from jaxlab.memory import parse_bytes

    spec = Sweep.from_toml(args.file, args.set)
    names = loggers_lib.check_names([n.strip() for n in args.log.split(",") if n.strip()])
    if args.no_tensorboard and "tensorboard" in names:
        names.remove("tensorboard")
    budget = parse_bytes(args.memory_budget, "--memory-budget")
    # Before anything touches a device: join the other processes, if any.
    distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                           auto=args.distributed)
    main = distributed.is_main()  # only process 0 prints and writes
    if main:  # a results directory that cannot be written is refused before compiling
        _check_out(args.out, tensorboard=not args.no_tensorboard)
    # One run per OUT: a second one is refused here, before compiling (released on exit).
    with lock.hold(args.out) if main else contextlib.nullcontext():
        return _train(args, spec, names, budget, main)


def _train(args: argparse.Namespace, spec, names: list[str], budget, main: bool) -> int:
    from jaxlab import api
    from jaxlab import loggers as loggers_lib
    from jaxlab.checkpoint import Interrupted, Preempted

    args.quiet = args.quiet or not main
    plan = api.plan(spec)  # every check happens here, before anything is compiled
    n = len(plan.variants)
    if not args.quiet:
        print(f"{spec.name}: {n} variant{'s' * (n != 1)} in {len(plan.groups)} compiled "
              f"program{'s' * (len(plan.groups) != 1)}", file=sys.stderr)
    tensorboard = os.path.join(args.out, "tensorboard") if "tensorboard" in names else None
    # Made from this plan by process 0 only; local files (W&B's) go under OUT.
    loggers = loggers_lib.make_loggers([n for n in names if n != "tensorboard"], args.out,
                                       plan) if main else []
    # The bar: off with --quiet, on with --progress, else only on a terminal.
    progress = False if args.quiet else (True if args.progress else None)
    try:
        result = api.run(spec, compilation_cache=not args.no_cache, tensorboard=tensorboard,
                         loggers=loggers, progress=progress, memory_budget=budget,
                         checkpoint_dir=os.path.join(args.out, "checkpoints"),
                         checkpoint_every=args.checkpoint_every, resume=args.resume)
    except Preempted as e:
        if main:
            print(f"preempted: {e}", file=sys.stderr)
        return 143  # 128 + SIGTERM, as if the signal had ended the process
    except Interrupted as e:  # the first Ctrl-C: saved at the end of the epoch, no results
        if main:
            where = (f"checkpoint saved in {e.directory}; continue with the same command and "
                     "--resume" if e.directory else "no checkpoint saved")
            print(f"interrupted: stopped by Ctrl-C after epoch {e.epoch} of group "
                  f"{e.group + 1}; {where}", file=sys.stderr)
        return 130  # 128 + SIGINT
    if main:
        result.save(args.out)
    if not args.quiet and args.resume:
        at = [(g, t["resumed_at_epoch"]) for g, t in enumerate(result.timing)
              if "resumed_at_epoch" in t]
        print(f"resumed at epoch {at[0][1]} of group {at[0][0] + 1}" if at else
              "no checkpoint to resume from: trained from the start", file=sys.stderr)
    if not args.quiet:
        counts = result.variants.status.value_counts().to_dict()
        print(f"wrote {args.out} ({', '.join(f'{v} {k}' for k, v in counts.items())})",
              file=sys.stderr)
        _print_best(result)
        if tensorboard:
            print(f"view with: tensorboard --logdir {tensorboard}", file=sys.stderr)
    return 0


def _check_out(out: str, *, tensorboard: bool) -> None:
    """Refuse an ``--out`` that is a file, has a file where a folder goes (``checkpoints``,
    ``tensorboard``), or lies in a folder this process cannot write: a probe file is created
    and removed in ``out``, or in its nearest existing parent when ``out`` does not exist."""
    from jaxlab.errors import ConfigError

    for sub in ("", "checkpoints", "tensorboard" if tensorboard else None):
        if sub is None:
            continue
        path = os.path.join(out, sub) if sub else out
        if os.path.exists(path) and not os.path.isdir(path):
            raise ConfigError("--out", out, f"{path} exists and is not a directory")
    folder = os.path.abspath(out)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ConfigError("--out", out, f"{folder} is a file, not a directory")
    probe = os.path.join(folder, f".jaxlab-probe-{os.getpid()}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as e:
        raise ConfigError("--out", out, f"cannot write in {folder} "
                                        f"({e.strerror or type(e).__name__})") from None


def _print_best(result) -> None:
    """One line: the best variant by final validation (else training) loss, and its values."""
    metric = "val_loss" if "final_val_loss" in result.variants else "loss"
    try:
        best = result.best(metric)
    except JaxlabError:
        return
    row = result.variants.loc[best]
    values = ", ".join(f"{a.split('.')[-1]}={row[a]}" for a in result.axes)
    scores = ", ".join(f"{c[6:]} {row[c]:.4g}" for c in result.variants.columns
                       if c.startswith("final_") and not c.startswith("final_grad")
                       and "norm" not in c and "dead" not in c and "saturated" not in c)
    print(f"best: variant {best}{' (' + values + ')' if values else ''}: {scores}",
          file=sys.stderr)


def _plot(args: argparse.Namespace) -> int:
    from jaxlab import labels, plotting
    from jaxlab.errors import ConfigError
    from jaxlab.results import Result

    kind = args.kind or ("compare" if len(args.results) > 1 else "curves")
    if kind != "compare" and len(args.results) > 1:
        raise ConfigError("--kind", kind, "takes one results directory; use --kind compare "
                                          "to draw several")
    results = [Result.load(d) for d in args.results]
    first = results[0]
    a = {k: getattr(args, k) and labels.short(getattr(args, k))  # short names for file names
         for k in ("facet", "color", "aggregate", "vs", "rows", "cols")}
    if kind == "curves":
        fig = plotting.curves(first, args.metric, facet=args.facet, color=args.color, x=args.x,
                              aggregate=args.aggregate, band=args.band, variants=args.variants,
                              logy=args.logy)
        parts = [a["facet"] and f"by-{a['facet']}", a["color"] and f"color-{a['color']}",
                 a["aggregate"] and f"mean-{a['aggregate']}"]
    elif kind == "sensitivity":
        fig = plotting.sensitivity(first, args.metric, axis=args.vs, value=args.value,
                                   color=args.color, aggregate=args.aggregate, band=args.band)
        parts = [args.value, a["vs"] and f"vs-{a['vs']}"]
    elif kind == "bars":
        fig = plotting.bars(first, args.metric, axis=args.vs, value=args.value, color=args.color)
        parts = [args.value, a["vs"] and f"vs-{a['vs']}", a["color"] and f"color-{a['color']}"]
    elif kind == "heatmap":
        fig = plotting.heatmap(first, args.metric, x=args.cols, y=args.rows, value=args.value)
        parts = [args.value, a["rows"] and f"rows-{a['rows']}", a["cols"] and f"cols-{a['cols']}"]
    else:
        fig = plotting.compare(results, args.metric, variants=args.variants, x=args.x,
                               aggregate=args.aggregate, band=args.band, train=args.train,
                               logy=args.logy)
        parts = [args.variants and "v" + "-".join(map(str, args.variants)),
                 a["aggregate"] and f"mean-{a['aggregate']}"]
    if kind in ("curves", "compare") and args.x != "epoch":
        parts.append(f"x-{args.x}")
    name = "_".join([kind, args.metric, *(p for p in parts if p)])
    out = args.out or os.path.join(args.results[0], "plots")
    path = plotting.save(fig, os.path.join(out, f"{name}.{args.format}"), dpi=args.dpi)
    print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    from jaxlab import course

    options = course.Options(quick=args.quick, overrides=tuple(args.set), out=args.out,
                             data_dir=args.data_dir, tensorboard=not args.no_tensorboard,
                             progress=True if args.progress else None,
                             compilation_cache=not args.no_cache)
    outcome = course.run_experiment(args.name, options)
    f = outcome.findings
    print(f"{outcome.experiment.name}: {'holds' if f.holds else 'DOES NOT HOLD'}: {f.summary}")
    print(f"wrote {outcome.out} ({outcome.wall_s:.1f} s, {outcome.programs} compiled "
          f"programs); see {os.path.join(outcome.out, 'findings.md')}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from jaxlab import course

    width = max(len(n) for n in course.EXPERIMENTS)
    for name, exp in course.EXPERIMENTS.items():
        print(f"{name:<{width}}  {exp.title}")
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
    p.add_argument("--log", default="tensorboard", metavar="NAMES",
                   help="experiment loggers, comma-separated: tensorboard (OUT/tensorboard), "
                        "wandb, mlflow; one run per variant (default: tensorboard)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="do not write TensorBoard logs (default: OUT/tensorboard)")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in OUT/checkpoints (refused if the "
                        "spec changed); without it a run starts afresh")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="N",
                   help="save the sweep to OUT/checkpoints every N epochs (and on SIGTERM or "
                        "Ctrl-C); 0: only then (default: 10)")
    p.add_argument("--memory-budget", metavar="BYTES",
                   help="device memory the sweep may use, e.g. 2GB or 512MiB; a larger sweep "
                        "runs in chunks (default: the device's memory where known)")
    group = p.add_argument_group(
        "several processes (jax.distributed; default: JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES, JAX_PROCESS_ID)")
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0's coordination service")
    group.add_argument("--num-processes", type=int, metavar="N", help="number of processes")
    group.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1")
    group.add_argument("--distributed", action="store_true",
                       help="detect the cluster (SLURM, Open MPI, Kubernetes, TPU pod) and join "
                            "it")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("plot", help="draw figures from results directories")
    p.add_argument("results", nargs="+", help="results directory (several with --kind compare)")
    p.add_argument("--kind", choices=("curves", "sensitivity", "heatmap", "bars", "compare"),
                   help="curves (default), final metric vs one axis, heatmap over two axes, "
                        "bars per value of one axis (95%% CI over seeds), or compare "
                        "results/variants (default for several directories)")
    p.add_argument("--metric", default="val_accuracy", help="history column to plot")
    p.add_argument("--facet", help="curves: one panel per value of this axis")
    p.add_argument("--color", help="curves, sensitivity, bars: colour lines (bars) by this "
                                   "axis")
    p.add_argument("--aggregate", help="curves, sensitivity, compare: mean and band over this "
                                       "axis (repeats, e.g. seed)")
    p.add_argument("--band", choices=("ci", "std", "minmax", "none"), default="ci",
                   help="with --aggregate: 95%% confidence interval of the mean (default), "
                        "± std, min-max or none")
    p.add_argument("--x", choices=("epoch", "updates", "examples"), default="epoch",
                   help="curves, compare: the x axis")
    p.add_argument("--vs", metavar="AXIS", help="sensitivity, bars: the axis on x "
                                                "(default: learning rate)")
    p.add_argument("--rows", metavar="AXIS", help="heatmap rows (default: learning rate)")
    p.add_argument("--cols", metavar="AXIS", help="heatmap columns (default: batch size)")
    p.add_argument("--value", choices=("final", "best"), default="final",
                   help="sensitivity, heatmap, bars: final or best value of the metric")
    p.add_argument("--variants", type=int, nargs="+", metavar="I",
                   help="only these variants (curves, compare)")
    p.add_argument("--train", action="store_true",
                   help="compare: also draw the training counterpart, fainter")
    p.add_argument("--logy", action="store_true", help="log y axis")
    p.add_argument("--out", help="output folder (default: RESULTS_DIR/plots)")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png")
    p.add_argument("--dpi", type=float, default=100)
    p.set_defaults(func=_plot)

    p = sub.add_parser("run", help="run one of the course's experiments (see jaxlab list)")
    p.add_argument("name", help="experiment name, e.g. capacity-nodes (see jaxlab list)")
    p.add_argument("--quick", action="store_true", help="a small version (seconds)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override every sweep of the experiment, e.g. train.epochs=5, "
                        "sweep.grid.seed=[0,1], data.name=digits")
    p.add_argument("--out", default="runs", help="parent directory (writes OUT/NAME)")
    p.add_argument("--data-dir", help="offline MNIST files (IDX or mnist.npz) or a "
                                      "tensorflow-datasets directory")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the persistent compilation cache")
    p.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    p.add_argument("--progress", action="store_true",
                   help="progress bars even when stderr is not a terminal")
    p.set_defaults(func=_run)
    p = sub.add_parser("list", help="list the course's experiments")
    p.set_defaults(func=_list)
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

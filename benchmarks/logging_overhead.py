"""What TensorBoard logging costs: the course's batch-size sweep with and without it.

The sweep: blobs (1000 samples, 3 centers, 2 features, cluster_std 2, random_state 2, the
first 500 for training), an MLP [50] relu he_uniform, SGD lr 0.01 momentum 0.9, categorical
cross-entropy, 200 epochs, batch sizes 4, 8, 16, 32, 64, 128, 256, 450: eight variants in
one compiled program, about 7 ms an epoch on a laptop-class CPU, so 8 events to log every
7 ms. Three settings run in this one process, interleaved, ``--repeats`` times: no
logging, TensorBoard logging as ``jl.run(spec, tensorboard=DIR)`` does it (a worker thread
builds and writes the events), and the same work done synchronously in the training loop.

Printed: training times (compilation excluded; median and fastest), the seconds the
training loop spends in the logging callback (plus the final wait in ``close()``), and the
overhead as a share of training time: measured directly (loop seconds over training time
without logging) and end to end (median with over median without). On a shared machine
the end-to-end figure carries the run-to-run noise (~5-10%), so both are shown.
Target: below 5% of training time.

  python benchmarks/logging_overhead.py [--epochs 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jaxlab as jl
from jaxlab import tblog

BATCH_SIZES = [4, 8, 16, 32, 64, 128, 256, 450]


def course_spec(epochs: int = 200) -> jl.Sweep:
    """The course's batch-size sweep."""
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 1000, "centers": 3, "n_features": 2,
                                             "cluster_std": 2.0, "random_state": 2},
                           train_size=500),
        model=jl.ModelConfig(hidden=(50,), activation="relu", kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, epochs=epochs,
                             loss="categorical_crossentropy", metrics=("accuracy",)),
        grid={"batch_size": BATCH_SIZES},
        name="batch_size")


class Timed:
    """A callback wrapper that adds up the seconds spent in ``callback``."""

    def __init__(self, callback):
        self.callback, self.seconds = callback, 0.0

    def __call__(self, report) -> None:
        t = time.perf_counter()
        self.callback(report)
        self.seconds += time.perf_counter() - t


def train_seconds(result: jl.Result) -> float:
    return sum(t["train_s"] for t in result.timing)


def logged_run(spec: jl.Sweep, logdir: str, background: bool) -> tuple[float, float]:
    """Train with a TensorBoard logger; returns (training seconds, seconds in the logger)."""
    logger = Timed(tblog.TensorBoardLogger(logdir, jl.plan(spec), background=background))
    result = jl.run(spec, callbacks=[logger], progress=False)
    t = time.perf_counter()
    logger.callback.close()
    return train_seconds(result), logger.seconds + time.perf_counter() - t


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    spec = course_spec(args.epochs)
    jl.run(spec, progress=False)  # warm-up: fills the compilation cache
    times: dict[str, list[float]] = {"none": [], "background": [], "synchronous": []}
    inside: dict[str, list[float]] = {"background": [], "synchronous": []}
    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(args.repeats):
            times["none"].append(train_seconds(jl.run(spec, progress=False)))
            for mode in inside:
                t, cb = logged_run(spec, logdir, background=mode == "background")
                times[mode].append(t)
                inside[mode].append(cb)
    base, fastest = statistics.median(times["none"]), min(times["none"])
    n_events = len(BATCH_SIZES) * args.epochs
    print(f"course batch-size sweep: {len(BATCH_SIZES)} variants x {args.epochs} epochs = "
          f"{n_events} (variant, epoch) events, {args.repeats} repeats")
    print(f"  {'logging':<12} {'train s: median':>16} {'fastest':>8} {'in loop s':>10} "
          f"{'in loop %':>10} {'e2e median %':>13} {'e2e fastest %':>14}")
    for mode, ts in times.items():
        cb = statistics.median(inside[mode]) if mode in inside else 0.0
        print(f"  {mode:<12} {statistics.median(ts):>16.3f} {min(ts):>8.3f} {cb:>10.4f} "
              f"{100 * cb / base:>10.2f} {100 * (statistics.median(ts) / base - 1):>+13.1f} "
              f"{100 * (min(ts) / fastest - 1):>+14.1f}")
    cb = statistics.median(inside["background"])
    print(f"logging overhead of jl.run(spec, tensorboard=DIR): {100 * cb / base:.2f}% of "
          f"training time spent in the loop; end to end "
          f"{100 * (min(times['background']) / fastest - 1):+.1f}% (fastest runs), "
          f"{100 * (statistics.median(times['background']) / base - 1):+.1f}% (medians); "
          f"target < 5%")

if __name__ == "__main__":
    main()

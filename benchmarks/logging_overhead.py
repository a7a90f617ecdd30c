"""What TensorBoard logging costs: the course's batch-size sweep with and without it.

The sweep: blobs (1000 samples, 3 centers, 2 features, cluster_std 2, random_state 2, the
first 500 for training), an MLP [50] relu he_uniform, SGD lr 0.01 momentum 0.9, categorical
cross-entropy, 200 epochs, batch sizes 4, 8, 16, 32, 64, 128, 256, 450: eight variants in
one compiled program. Both settings run in this one process, alternately, ``--repeats``
times. Training times (compilation excluded) on a shared 2-core machine vary by ~10% from
run to run, more than the cost being measured, so the headline figure is measured directly:
the seconds spent inside the logging callback (building, framing and writing every event,
and the HParams at the end) over the training time without logging. The end-to-end ratios
(fastest with / fastest without, and medians) are printed beside it.
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    spec = course_spec(args.epochs)
    jl.run(spec, progress=False)  # warm-up: fills the compilation cache
    plain, logged, inside = [], [], []
    with tempfile.TemporaryDirectory() as logdir:
        for _ in range(args.repeats):
            plain.append(train_seconds(jl.run(spec, progress=False)))
            logger = Timed(tblog.TensorBoardLogger(logdir, jl.plan(spec)))
            result = jl.run(spec, callbacks=[logger], progress=False)
            t = time.perf_counter()
            logger.callback.close()
            logger.seconds += time.perf_counter() - t
            logged.append(train_seconds(result))
            inside.append(logger.seconds)
        n_events = len(result.history)
    base, with_tb = statistics.median(plain), statistics.median(logged)
    cb = statistics.median(inside)
    print(f"course batch-size sweep: {len(BATCH_SIZES)} variants x {args.epochs} epochs, "
          f"{n_events} (variant, epoch) events logged, {args.repeats} repeats")
    print(f"  training without logging:  median {base:.3f} s, fastest {min(plain):.3f} s")
    print(f"  training with TensorBoard: median {with_tb:.3f} s, fastest {min(logged):.3f} s")
    print(f"  inside the logging callback: {cb:.3f} s ({1e6 * cb / n_events:.0f} us per "
          f"variant-epoch)")
    print(f"  logging overhead: {100 * cb / base:.2f}% of training time (target < 5%); "
          f"end to end: {100 * (min(logged) / min(plain) - 1):+.1f}% fastest, "
          f"{100 * (with_tb / base - 1):+.1f}% median")

if __name__ == "__main__":
    main()

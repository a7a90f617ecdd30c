"""batch-size: small batches give noisier learning curves (and learn more per epoch).

Better Deep Learning, "Control the stability with batch size": 3-class blobs, one hidden
layer of 50 ReLU nodes, SGD(0.01, momentum 0.9), 200 epochs, batch sizes 4..450 (the
course's minibatch sizes), 5 seeds. Every variant updates with exactly its own batch size
in one compiled program (microbatches of the smallest batch, gradients accumulated; see
:mod:`jaxlab.engine`).

The noise of a curve is its mean absolute second difference after the first quarter of
training (:func:`jaxlab.course.framework.roughness`); the claim holds when the rank
correlation of batch size and noise (one per seed) has an interval below 0. The noise falls
from batch 4 to 32 and is flat beyond; at 450 every epoch ends with a partial batch of 50
(as in Keras), whose step makes the curve rough again, so over all eight sizes the default
run does not show the trend beyond the seed noise (the quick run's 4, 32, 256 does).
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

SIZES = [4, 8, 16, 32, 64, 128, 256, 450]
EARLY = 5  # the epoch at which "learns more per epoch" is measured


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=200),
        grid={"batch_size": [4, 32, 256] if quick else SIZES,
              "seed": problems.seeds(quick, small=5)},
        name="batch-size")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    start = int(result.history.epoch.max()) // 4  # past the first descent
    result = stats.with_columns(result,
                                jitter=ex.roughness(result, "val_accuracy", start=start),
                                early=stats.at_epoch(result, "val_accuracy", EARLY))
    sizes = sorted(result.variants["train.batch_size"].unique())
    lo, hi = sizes[0], sizes[-1]
    noise = stats.trend(result, "jitter", "batch_size")
    early = stats.difference(result, "early", "batch_size", lo, hi)
    jitter = {b: stats.at(result, "jitter", "batch_size", b) for b in sizes}
    seed0 = result.variants[result.variants["train.seed"] == result.variants["train.seed"].min()]
    frames = {}
    for _, row in seed0.sort_values("train.batch_size").iterrows():
        h = result.history[result.history.variant == row.variant].set_index("epoch")
        frames[f"batch={int(row['train.batch_size'])}"] = pd.DataFrame(
            {"train": h.accuracy, "test": h.val_accuracy})
    by = stats.by_axis(result, "jitter", "batch_size")
    figures = (
        ctx.figure(ex.panels(frames, ylabel="accuracy", title="train and test accuracy by "
                             "batch size (first seed), as in the course"),
                   "accuracy_by_batch_size.png"),
        ctx.figure(ex.bars(pd.DataFrame({"jitter": by["mean"],
                                         "jitter_std": (by["high"] - by["low"]) / 2}),
                           ylabel=f"jitter of test accuracy after epoch {start}",
                           title=f"noise of the learning curve by batch size (mean, 95% CI "
                                 f"over {noise.n} seeds)"), "noise_by_batch_size.png"),
        ctx.figure(plotting.curves(result, "val_accuracy", color="batch_size",
                                   aggregate="seed", title="test accuracy by batch size "
                                   "(mean and band over seeds)"), "test_accuracy_curves.png"),
    )
    numbers = {}
    for b in sizes:
        numbers |= jitter[b].numbers(f"noise_at_{b}")
        numbers |= stats.at(result, "early", "batch_size", b).numbers(
            f"test_accuracy_epoch_{EARLY}_at_{b}")
        numbers |= stats.at(result, "final_val_accuracy", "batch_size", b).numbers(
            f"final_test_accuracy_at_{b}")
    numbers |= noise.numbers("rank_correlation_batch_noise")
    numbers |= early.numbers(f"test_accuracy_epoch_{EARLY}_difference_{lo}_minus_{hi}")
    numbers["seeds"] = noise.n
    holds = noise.below(0)
    return ex.Findings(
        claim="Smaller batches give noisier gradient estimates: their learning curves are "
              "noisier (and they learn more per epoch); large batches give smooth curves.",
        holds=holds,
        summary=f"rank correlation of batch size and the jitter of "
                f"the test-accuracy curve {noise:.2f} over {noise.n} seeds (jitter "
                f"{jitter[lo]:.4f} at batch {lo}, {jitter[hi]:.4f} at {hi}); learning per "
                f"epoch ({stats.verdict(early.above(0))}): test accuracy at epoch {EARLY}, "
                f"batch {lo} minus batch {hi}, {early:.3f}",
        numbers=numbers,
        tables={"By batch size (mean and 95% CI over seeds)": stats.table(result, {
            "curve jitter": "jitter", f"test accuracy, epoch {EARLY}": "early",
            "final test accuracy": "final_val_accuracy"}, "batch_size")},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="batch-size",
    title="blobs (3 centers, 2 features): batch sizes 4..450; small batches give noisier "
          "curves",
    course="Better Deep Learning, ch. 'Control the stability with batch size'",
    run=run)

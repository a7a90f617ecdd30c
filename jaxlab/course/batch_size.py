"""batch-size: small batches give noisier learning curves (and learn more per epoch).

Better Deep Learning, "Control the stability with batch size": 3-class blobs, one hidden
layer of 50 ReLU nodes, SGD(0.01, momentum 0.9), 200 epochs, batch sizes 4..450. Every
variant updates with exactly its own batch size in one compiled program (microbatches of
the smallest batch, gradients accumulated; see :mod:`jaxlab.engine`).
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems

SIZES = [4, 8, 16, 32, 64, 128, 256, 450]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=200),
        grid={"batch_size": [4, 32, 256] if quick else SIZES, "seed": problems.seeds(quick)},
        name="batch-size")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    epochs = int(result.history.epoch.max())
    start = epochs // 4  # past the first descent: the noise around the trend
    v = result.variants.assign(jitter=ex.roughness(result, "val_accuracy", start=start))
    noise = v.groupby("train.batch_size").jitter.mean()
    early = ex.at_epoch(result, "val_accuracy", 5, "batch_size")
    final = ex.by_axis(result, "final_val_accuracy", "batch_size")
    sizes = list(noise.index)
    lo, hi, smooth = sizes[0], sizes[-1], noise.idxmin()
    rank = float(noise.rank().corr(noise.index.to_series().rank())) if len(sizes) > 2 else -1.0
    first_seed = v[v["train.seed"] == v["train.seed"].min()]
    frames = {}
    for _, row in first_seed.sort_values("train.batch_size").iterrows():
        h = result.history[result.history.variant == row.variant].set_index("epoch")
        frames[f"batch={int(row['train.batch_size'])}"] = pd.DataFrame(
            {"train": h.accuracy, "test": h.val_accuracy})
    figures = (
        ctx.figure(ex.panels(frames, ylabel="accuracy", title="train and test accuracy by "
                             "batch size (first seed), as in the course"),
                   "accuracy_by_batch_size.png"),
        ctx.figure(ex.bars(noise.rename("jitter").to_frame(), ylabel="jitter of test "
                           f"accuracy after epoch {start}",
                           title="noise of the learning curve by batch size"),
                   "noise_by_batch_size.png"),
    )
    numbers = {f"noise_at_{b}": ex.number(noise[b]) for b in sizes}
    numbers |= {f"test_accuracy_epoch_5_at_{b}": ex.number(early[b]) for b in sizes}
    numbers |= {f"final_test_accuracy_at_{b}": ex.number(final[b]) for b in sizes}
    numbers["rank_correlation_batch_noise"] = rank
    holds = noise.idxmax() == lo and noise[lo] > 2 * noise.min()
    return ex.Findings(
        claim="Smaller batches give noisier gradient estimates: their learning curves are "
              "noisier (and they learn more per epoch); large batches give smooth curves.",
        holds=holds,
        summary=f"jitter of the test-accuracy curve {noise[lo]:.4f} at batch {lo} (the "
                f"noisiest) vs {noise[smooth]:.4f} at batch {smooth} (rank correlation with "
                f"batch size {rank:.2f}); test accuracy after 5 epochs "
                f"{early[lo]:.2f} at batch {lo} vs {early[hi]:.2f} at {hi}",
        numbers=numbers,
        tables={"By batch size (mean over seeds)": (
            noise.rename("curve jitter").to_frame()
            .join(early.rename("test accuracy, epoch 5"))
            .join(final.rename("final test accuracy")).reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="batch-size",
    title="blobs (3 centers, 2 features): batch sizes 4..450; small batches give noisier "
          "curves",
    course="Better Deep Learning, ch. 'Control the stability with batch size'",
    run=run)

"""capacity-nodes: a wider hidden layer learns the problem better.

Better Deep Learning, "Configure capacity with nodes and layers", the book's code: one
hidden ReLU layer (he_uniform) of 1..7 nodes -> a softmax output at Keras' default
glorot_uniform, on 20-class blobs, SGD(0.01, momentum 0.9), categorical cross-entropy, 100
epochs, batch 32. Beyond the course: widths 10 and 25. The width is vectorized (padded and
masked), so every width and every seed is one compiled program.

**Seeds: 30 by default** (5 with ``--quick``). At 6 nodes a third of the runs end with two
classes merged (85-96% test accuracy), in Keras as in jaxlab: over 100 seeds Keras 3 gives
0.968 [0.960, 0.977] and jaxlab 0.966 [0.957, 0.974] (``benchmarks/keras_reference``). With
that spread (sd about 0.045 a seed) a mean needs about 30 seeds for a 95% interval of
+-0.016, narrow enough to place the course's 0.97 against 0.95; five seeds give +-0.05.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

COURSE = [1, 2, 3, 4, 5, 6, 7]  # the book's widths; the claim is over these
WIDTHS = [*COURSE, 10, 25]
SEEDS = 30  # see the module's docstring


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs20(),
        # The course: he_uniform hidden layers, the output Dense at Keras' glorot_uniform.
        model=jl.ModelConfig(kernel_init="he_uniform", output_init="glorot_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=20 if quick else 100),
        grid={"width": [1, 3, 7] if quick else WIDTHS,
              "seed": problems.seeds(quick, default=SEEDS, small=5)},
        name="capacity-nodes")


def _trend(result: jl.Result, column: str) -> stats.Estimate:
    """Rank correlation of width (the course's 1..7 only) and ``column``, over seeds."""
    table = stats.per_seed(result, column, "width")
    table = table[table.index <= max(COURSE)]
    return stats.mean_ci([stats.spearman(table.index, table[s]) for s in table.columns])


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    loss = stats.by_axis(result, "final_loss", "width")
    acc = stats.by_axis(result, "final_val_accuracy", "width")
    widths = list(acc.index)
    acc_trend, loss_trend = _trend(result, "final_val_accuracy"), _trend(result, "final_loss")
    top = [w for w in (6, 7) if w in widths] or [max(w for w in widths if w <= 7)]
    at = {w: stats.at(result, "final_val_accuracy", "width", w) for w in widths}
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="width", aggregate="seed",
                                   title="training loss by hidden-layer width (mean, band "
                                         "over seeds)"), "loss_by_width.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="width",
                                        aggregate="seed"), "test_accuracy_by_width.png"),
    )
    numbers = {}
    for w in widths:
        numbers |= stats.at(result, "final_loss", "width", w).numbers(f"loss_at_{w}")
        numbers |= at[w].numbers(f"test_accuracy_at_{w}")
    numbers |= acc_trend.numbers("rank_correlation_width_accuracy")
    numbers |= loss_trend.numbers("rank_correlation_width_loss")
    numbers["seeds"] = float(acc.n.min())
    holds = acc_trend.above(0) and loss_trend.below(0)
    beyond = [w for w in widths if w > max(COURSE)]
    return ex.Findings(
        claim="As the number of nodes in the hidden layer grows (1 to 7), the model learns "
              "the problem better: test accuracy rises and the training loss falls with width.",
        holds=holds,
        summary="test accuracy "
                + ", ".join(f"{at[w]:.2f} at {w}" for w in sorted({widths[0], *top}))
                + f" node(s) (mean [95% CI] over {int(acc.n.min())} seeds); rank correlation "
                f"of width (1..7) with test accuracy {acc_trend:.2f}, with training loss "
                f"{loss_trend:.2f}"
                + (f"; beyond the course: {', '.join(f'{at[w]:.2f} at {w}' for w in beyond)}"
                   if beyond else ""),
        numbers=numbers,
        tables={"Final values by width (mean and 95% CI over seeds)": (
            loss[["mean", "low", "high"]].add_prefix("train loss ")
            .join(acc[["mean", "low", "high"]].add_prefix("test accuracy "))
            .rename_axis("width").reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="capacity-nodes",
    title="blobs (20 centers, 100 features): 1..7 nodes (and 10, 25); test accuracy rises "
          "with width",
    course="Better Deep Learning, ch. 'Configure capacity with nodes and layers'",
    run=run)

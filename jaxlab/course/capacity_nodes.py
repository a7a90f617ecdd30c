"""capacity-nodes: a wider hidden layer learns the training set better.

Better Deep Learning, "Configure capacity with nodes and layers": one hidden ReLU layer of
1..7 nodes (and wider) on 20-class blobs, SGD(0.01, momentum 0.9), 100 epochs. The width
is vectorized (padded and masked), so every width and every seed is one compiled program.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

WIDTHS = [1, 2, 3, 4, 5, 6, 7, 10, 25]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs20(),
        # The course: he_uniform hidden layers, the output Dense at Keras' glorot_uniform.
        model=jl.ModelConfig(kernel_init="he_uniform", output_init="glorot_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=20 if quick else 100),
        grid={"width": [1, 3, 7] if quick else WIDTHS, "seed": problems.seeds(quick)},
        name="capacity-nodes")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    loss = ex.by_axis(result, "final_loss", "width")
    acc = ex.by_axis(result, "final_val_accuracy", "width")
    widths = list(loss.index)
    lo, hi = widths[0], widths[-1]
    rank = float(loss.rank().corr(loss.index.to_series().rank())) if len(widths) > 2 else -1.0
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="width", aggregate="seed",
                                   title="training loss by hidden-layer width (mean ± std "
                                         "over seeds)"), "loss_by_width.png"),
        ctx.figure(plotting.sensitivity(result, "val_accuracy", axis="width",
                                        aggregate="seed"), "test_accuracy_by_width.png"),
    )
    numbers = {f"loss_at_{w}": ex.number(loss[w]) for w in widths}
    numbers |= {f"test_accuracy_at_{w}": ex.number(acc[w]) for w in widths}
    numbers["rank_correlation_width_loss"] = rank
    holds = loss[hi] < loss[lo] and rank < -0.8
    return ex.Findings(
        claim="As the number of nodes in the hidden layer grows, the model learns the "
              "training set better: the training loss falls with width.",
        holds=holds,
        summary=f"final training loss {loss[lo]:.3g} at {lo} node(s) vs {loss[hi]:.3g} at "
                f"{hi}" + (f" ({loss[7]:.3g} at 7)" if 7 in loss.index and hi != 7 else "")
                + f"; test accuracy {acc[lo]:.2f} vs "
                f"{acc[hi]:.2f}; rank correlation of width and loss {rank:.2f}",
        numbers=numbers,
        tables={"Final values by width (mean over seeds)": (
            loss.rename("train loss").to_frame().join(acc.rename("test accuracy"))
            .reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="capacity-nodes",
    title="blobs (20 centers, 100 features): 1..7 nodes and beyond; train loss falls as "
          "width grows",
    course="Better Deep Learning, ch. 'Configure capacity with nodes and layers'",
    run=run)

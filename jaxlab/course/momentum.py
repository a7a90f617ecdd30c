"""momentum: momentum 0.9 reaches a lower loss sooner than plain SGD.

Better Deep Learning, "Understand the impact of learning rate" (momentum dynamics): 3-class
blobs, one hidden layer of 50 ReLU nodes, SGD(0.01) with momentum 0, 0.5, 0.9, 0.99. The
momentum is optimizer-state data: one compiled program.
"""

from __future__ import annotations

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

AT = 20  # the epoch at which losses are compared


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=AT if quick else 200),
        grid={"momentum": [0.0, 0.5, 0.9, 0.99], "seed": problems.seeds(quick)},
        name="momentum")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    at = ex.at_epoch(result, "loss", AT, "momentum")
    at5 = ex.at_epoch(result, "loss", 5, "momentum")
    final = ex.by_axis(result, "final_loss", "momentum")
    rough = result.variants.assign(r=ex.roughness(result, "val_accuracy")).groupby(
        "train.momentum").r.mean()
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="momentum", aggregate="seed",
                                   title="training loss by momentum (SGD, lr 0.01)"),
                   "loss_by_momentum.png"),
        ctx.figure(plotting.curves(result, "val_accuracy", facet="momentum",
                                   aggregate="seed", title="test accuracy by momentum"),
                   "test_accuracy_by_momentum.png"),
    )
    ms = list(at.index)
    numbers = {f"loss_at_epoch_{AT}_momentum_{m:g}": ex.number(at[m]) for m in ms}
    numbers |= {f"loss_at_epoch_5_momentum_{m:g}": ex.number(at5[m]) for m in ms}
    numbers |= {f"final_loss_momentum_{m:g}": ex.number(final[m]) for m in ms}
    numbers |= {f"test_accuracy_noise_momentum_{m:g}": ex.number(rough[m]) for m in ms}
    holds = at[0.9] < at[0.0]
    return ex.Findings(
        claim="Momentum accelerates SGD: with momentum 0.9 the training loss falls faster "
              "than without.",
        holds=holds,
        summary=f"training loss at epoch {AT}: {at[0.0]:.3f} without momentum, "
                f"{at.get(0.5, float('nan')):.3f} at 0.5, {at[0.9]:.3f} at 0.9, "
                f"{at.get(0.99, float('nan')):.3f} at 0.99 (test-accuracy noise "
                f"{rough.get(0.99, float('nan')):.3f} at 0.99 vs {rough[0.0]:.3f} at 0)",
        numbers=numbers,
        tables={"By momentum (mean over seeds)": (
            at5.rename("loss, epoch 5").to_frame().join(at.rename(f"loss, epoch {AT}"))
            .join(final.rename("final loss")).join(rough.rename("test accuracy noise"))
            .reset_index())},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="momentum",
    title="momentum 0, 0.5, 0.9, 0.99: momentum speeds SGD up",
    course="Lesson 'Improving training performance' (momentum); Better Deep Learning, ch. "
           "'Understand the impact of learning rate'",
    run=run)

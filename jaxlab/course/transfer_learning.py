"""transfer-learning: reuse a network trained on problem 1 for problem 2.

Better Deep Learning, "Jump-start training with transfer learning": two 3-class blobs
problems (``random_state`` 1 and 2: different but related), 5 hidden layers of 5 ReLU
nodes (He init), SGD(0.01, momentum 0.9), 100 epochs. The source network (the best of a
few seeds, as the course saves one model) seeds the target network's hidden layers; the
output layer is new. Arms: from scratch, fine-tuned (all layers trainable) and the first k
layers fixed; every arm and every repeat is one program (:func:`jaxlab.recipes.transfer`).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

import jaxlab as jl
from jaxlab import plotting, recipes
from jaxlab.course import framework as ex
from jaxlab.course import problems

FIXED = (1, 2, 3, 4, 5)


def specs(quick: bool) -> tuple[jl.Sweep, jl.Sweep]:
    source = jl.Sweep(
        data=problems.blobs3(random_state=1),
        model=jl.ModelConfig(width=5, depth=5, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=100),
        grid={"seed": problems.seeds(quick, default=10, small=4)},
        name="transfer-source")
    target = dataclasses.replace(
        source, data=problems.blobs3(random_state=2), name="transfer-target",
        train=dataclasses.replace(source.train, epochs=20 if quick else 100),
        grid={"seed": list(range(100, 110 if quick else 130))})
    return source, target


def run(ctx: ex.Context) -> ex.Findings:
    source, target = (ctx.configure(s) for s in specs(ctx.quick))
    fixed = (1, 3, 5) if ctx.quick else FIXED
    out = recipes.transfer(source, target, fixed=fixed, run=ctx.run)
    table = out.summary
    ctx.table(table, "summary.csv")
    order = [recipes.SCRATCH, recipes.FINE_TUNED, *(recipes.fixed_name(k) for k in fixed)]
    g = table.groupby("arm")
    mean = g.final_val_accuracy.mean().reindex(order)
    std = g.final_val_accuracy.std().reindex(order)
    loss = g.final_loss.mean().reindex(order)
    n = int(g.size().iloc[0])
    src_acc = float(out.source.variants.final_val_accuracy[out.chosen])
    early = ex.at_epoch(out.target, "val_accuracy", 5, "recipe.arm").reindex(order)
    figures = (
        ctx.figure(ex.bars(pd.DataFrame({"test accuracy": mean, "test accuracy_std": std}),
                           ylabel=f"final test accuracy (mean ± std, {n} repeats)",
                           title="problem 2: from scratch, fine-tuned, first k layers fixed"),
                   "accuracy_by_arm.png"),
        ctx.figure(plotting.curves(out.target, "val_accuracy", color="arm",
                                   aggregate="seed", title="test accuracy on problem 2 "
                                   f"(mean ± std over {n} repeats)"),
                   "curves_by_arm.png"),
    )
    numbers = {f"mean_{a}": ex.number(mean[a]) for a in order}
    numbers |= {f"std_{a}": ex.number(std[a]) for a in order}
    numbers |= {f"val_accuracy_epoch_5_{a}": ex.number(early[a]) for a in order}
    numbers |= {"repeats": n, "source_test_accuracy": src_acc}
    holds = mean[recipes.FINE_TUNED] >= mean[recipes.SCRATCH]
    return ex.Findings(
        claim="Weights learned on a related problem give a better start: fine-tuning them "
              "on the new problem does at least as well on average as training from "
              "scratch, with less variance between repeats; fixing more of the transferred "
              "layers trades accuracy for speed.",
        holds=holds,
        summary=f"over {n} repeats, test accuracy on problem 2: from scratch "
                f"{mean[recipes.SCRATCH]:.3f} ± {std[recipes.SCRATCH]:.3f}, fine-tuned "
                f"{mean[recipes.FINE_TUNED]:.3f} ± {std[recipes.FINE_TUNED]:.3f}, "
                + ", ".join(f"{k} fixed {mean[recipes.fixed_name(k)]:.3f}" for k in fixed)
                + f" (source model: {src_acc:.3f} on problem 1)",
        numbers=numbers,
        tables={"Problem 2 by arm": pd.DataFrame({
            "test accuracy (mean)": mean, "std": std, "test accuracy at epoch 5": early,
            "final train loss": loss}).rename_axis("arm").reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="transfer-learning",
    title="blobs problem 1 → problem 2: fixed vs fine-tuned vs scratch, many repeats",
    course="Better Deep Learning, ch. 'Jump-start training with transfer learning'",
    run=run)

"""transfer-learning: reuse a network trained on problem 1 for problem 2.

Better Deep Learning, "Jump-start training with transfer learning": two 3-class blobs
problems (``random_state`` 1 and 2: different but related), 5 hidden layers of 5 ReLU
nodes (He init), SGD(0.01, momentum 0.9), 100 epochs. As in the book, one source model is
trained and saved, and every target network starts from all of it (``load_model``: its
hidden layers and its output layer; :func:`jaxlab.recipes.transfer` with
``select="first"``, ``reuse_output=True``). Arms: from scratch, fine-tuned (all layers
trainable; the book's ``n_fixed=0``) and the first k layers fixed (1..5), 30 repeats each;
every arm and every repeat is one program. No model is chosen on test data.

Numbers are means with 95% intervals over the repeats. The claim holds when the test
accuracy of the fine-tuned network minus the network from scratch (paired by repeat) has
an interval above 0 and so has the difference of their absolute deviations from their
arm's median (Brown-Forsythe: less spread). The alternatives (a fresh output layer, the
best of several source models on validation data) are options of
:func:`jaxlab.recipes.transfer`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

import jaxlab as jl
from jaxlab import plotting, recipes
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

FIXED = (1, 2, 3, 4, 5)


def specs(quick: bool) -> tuple[jl.Sweep, jl.Sweep]:
    source = jl.Sweep(
        data=problems.blobs3(random_state=1),
        model=jl.ModelConfig(width=5, depth=5, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=100),
        grid={"seed": [0]},  # one source model, as the book saves one
        name="transfer-source")
    target = dataclasses.replace(
        source, data=problems.blobs3(random_state=2), name="transfer-target",
        grid={"seed": list(range(100, 130))})  # the book's 30 repeats, quick or not
    return source, target


def run(ctx: ex.Context) -> ex.Findings:
    source, target = (ctx.configure(s) for s in specs(ctx.quick))
    fixed = (1, 3, 5) if ctx.quick else FIXED
    out = recipes.transfer(source, target, fixed=fixed, run=ctx.run)
    ctx.table(out.summary, "summary.csv")
    order = [recipes.SCRATCH, recipes.FINE_TUNED, *(recipes.fixed_name(k) for k in fixed)]
    v = out.target.variants
    median = v.groupby(recipes.ARM).final_val_accuracy.transform("median")
    result = stats.with_columns(out.target, early=stats.at_epoch(out.target, "val_accuracy", 5),
                                spread=(v.final_val_accuracy - median).abs())
    acc = {a: stats.at(result, "final_val_accuracy", recipes.ARM, a) for a in order}
    early = {a: stats.at(result, "early", recipes.ARM, a) for a in order}
    gain = {a: stats.difference(result, "final_val_accuracy", recipes.ARM, a, recipes.SCRATCH)
            for a in order[1:]}
    tighter = stats.difference(result, "spread", recipes.ARM, recipes.SCRATCH,
                               recipes.FINE_TUNED)
    std = v.groupby(recipes.ARM).final_val_accuracy.std().reindex(order)
    n = acc[recipes.SCRATCH].n
    src_acc = float(out.source.variants.final_val_accuracy[out.chosen])
    by = stats.by_axis(result, "final_val_accuracy", recipes.ARM).reindex(order)
    figures = (
        ctx.figure(ex.bars(pd.DataFrame({"test accuracy": by["mean"],
                                         "test accuracy_std": (by["high"] - by["low"]) / 2}),
                           ylabel=f"final test accuracy (mean, 95% CI, {n} repeats)",
                           title="problem 2: from scratch, fine-tuned, first k layers fixed"),
                   "accuracy_by_arm.png"),
        ctx.figure(plotting.curves(out.target, "val_accuracy", color="arm",
                                   aggregate="seed", title="test accuracy on problem 2 "
                                   f"(mean and band over {n} repeats)"),
                   "curves_by_arm.png"),
    )
    numbers = {"repeats": n, "source_test_accuracy": src_acc}
    for a in order:
        numbers |= acc[a].numbers(f"mean_{a}")
        numbers |= early[a].numbers(f"val_accuracy_epoch_5_{a}")
        numbers[f"std_{a}"] = ex.number(std[a])
    for a, d in gain.items():
        numbers |= d.numbers(f"{a}_minus_scratch")
    numbers |= tighter.numbers("spread_scratch_minus_fine-tuned")
    better, less_spread = gain[recipes.FINE_TUNED].above(0), tighter.above(0)
    holds = better and less_spread
    return ex.Findings(
        claim="Weights learned on a related problem give a better start: fine-tuning them "
              "on the new problem does better on average than training from scratch, with "
              "less variance between repeats; fixing more of the transferred layers trades "
              "accuracy for speed.",
        holds=holds,
        summary=f"test accuracy on problem 2 (mean [95% CI] over {n} "
                f"repeats, one source model): from scratch {acc[recipes.SCRATCH]:.3f} (std "
                f"{std[recipes.SCRATCH]:.3f}), fine-tuned {acc[recipes.FINE_TUNED]:.3f} (std "
                f"{std[recipes.FINE_TUNED]:.3f}); fine-tuned minus scratch "
                f"{gain[recipes.FINE_TUNED]:.3f} ({stats.verdict(better)}); spread (absolute "
                f"deviation from the median) scratch minus fine-tuned {tighter:.3f} "
                f"({stats.verdict(less_spread)}); "
                + ", ".join(f"{k} fixed {acc[recipes.fixed_name(k)]:.3f}" for k in fixed)
                + f" (source model: {src_acc:.3f} on problem 1)",
        numbers=numbers,
        tables={"Problem 2 by arm (mean and 95% CI over repeats)": stats.table(result, {
            "test accuracy": "final_val_accuracy", "test accuracy at epoch 5": "early",
            "final train loss": "final_loss"}, recipes.ARM).set_index("arm").reindex(order)
            .assign(std=std).reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="transfer-learning",
    title="blobs problem 1 → problem 2: fixed vs fine-tuned vs scratch, many repeats",
    course="Better Deep Learning, ch. 'Jump-start training with transfer learning'",
    run=run)

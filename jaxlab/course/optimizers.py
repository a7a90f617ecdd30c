"""optimizers: SGD, momentum, RMSprop, Adagrad and Adam on one problem.

Better Deep Learning, "Understand the impact of learning rate" (adaptive learning rates) and
"Adam": 3-class blobs, one hidden layer of 50 ReLU nodes (He uniform), 200 epochs, 10 seeds,
each optimizer with Keras' default learning rate (plain SGD and momentum 0.9 with the
course's 0.01). The optimizer family changes the program (its state differs), so there is
one compiled program per family; SGD with and without momentum share one. Plain SGD's
loss varies much between seeds, hence 10 (with 5 the Adagrad and Adam intervals touch 0
at epoch 20). The claim holds when, for every other optimizer, plain SGD's training loss
at epoch 20 minus its loss (paired by seed) has an interval above 0.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

AT = 20
ARM = "study.optimizer"  # the column naming each variant's optimizer (momentum apart)
# (optimizer, momentum, learning rate): Keras' defaults; plain SGD uses the course's 0.01.
ARMS = [("sgd", 0.0, 0.01), ("sgd", 0.9, 0.01), ("rmsprop", 0.0, 0.001),
        ("adagrad", 0.0, 0.01), ("adam", 0.0, 0.001)]


def label(optimizer: str, momentum: float) -> str:
    return "momentum" if optimizer == "sgd" and momentum > 0 else optimizer


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.blobs3(),
        model=jl.ModelConfig(width=50, kernel_init="he_uniform"),
        train=problems.sgd(loss="categorical_crossentropy", epochs=AT if quick else 200),
        zip={"optimizer": [a[0] for a in ARMS], "momentum": [a[1] for a in ARMS],
             "learning_rate": [a[2] for a in ARMS]},
        grid={"seed": problems.seeds(quick, default=10, small=10)},
        name="optimizers")


def run(ctx: ex.Context) -> ex.Findings:
    result = ctx.sweep(spec(ctx.quick))
    v = result.variants
    arm = pd.Series([label(o, m) for o, m in zip(v["train.optimizer"], v["train.momentum"],
                                                  strict=True)], index=v.index)
    result = stats.with_columns(result, **{ARM: arm},
                                loss_at=stats.at_epoch(result, "loss", AT))
    arms = [label(o, m) for o, m, _ in ARMS]
    others = [a for a in arms if a != "sgd"]
    at = {a: stats.at(result, "loss_at", ARM, a) for a in arms}
    gain = {a: stats.difference(result, "loss_at", ARM, "sgd", a) for a in others}
    figures = (
        ctx.figure(plotting.curves(result, "loss", color="train.optimizer",
                                   facet="train.momentum", aggregate="seed", logy=True,
                                   title="training loss by optimizer (Keras' default learning "
                                         "rates; mean and band over seeds; panels: momentum)"),
                   "loss_by_optimizer.png"),
        ctx.figure(plotting.curves(result, "val_accuracy", color="train.optimizer",
                                   facet="train.momentum", aggregate="seed",
                                   title="test accuracy by optimizer"),
                   "test_accuracy_by_optimizer.png"),
    )
    numbers = {}
    for a in arms:
        numbers |= at[a].numbers(f"loss_at_epoch_{AT}_{a}")
        numbers |= stats.at(result, "final_loss", ARM, a).numbers(f"final_loss_{a}")
        numbers |= stats.at(result, "final_val_accuracy", ARM, a).numbers(f"test_accuracy_{a}")
    for a, d in gain.items():
        numbers |= d.numbers(f"loss_at_epoch_{AT}_sgd_minus_{a}")
    numbers["seeds"] = at["sgd"].n
    holds = all(d.above(0) for d in gain.values())
    return ex.Findings(
        claim="Momentum and the adaptive optimizers (RMSprop, Adagrad, Adam) train faster "
              "than plain SGD with the default settings.",
        holds=holds,
        summary=f"training loss at epoch {AT} (mean [95% CI] over "
                f"{at['sgd'].n} seeds) plain SGD {at['sgd']:.3f}; "
                + ", ".join(f"{a} {at[a]:.3f} (SGD minus it {gain[a]:.3f}, "
                            f"{stats.verdict(gain[a].above(0))})" for a in others),
        numbers=numbers,
        tables={"By optimizer (mean and 95% CI over seeds)": stats.table(result, {
            f"loss, epoch {AT}": "loss_at", "final loss": "final_loss",
            "test accuracy": "final_val_accuracy"}, ARM)},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="optimizers",
    title="SGD, momentum, RMSprop, Adagrad, Adam on one problem",
    course="Better Deep Learning, ch. 'Understand the impact of learning rate' and 'Adam'; "
           "lesson key lessons (Adam)",
    run=run)

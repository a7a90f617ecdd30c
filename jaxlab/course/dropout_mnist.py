"""dropout-mnist: dropout after each hidden Dense layer shrinks the train/validation gap.

Lesson "Improving training performance": add a Dropout layer after each Dense layer of the
MNIST classifier and try rates 0.2, 0.5 and 0.8 (and 0, the reference). The rate is
per-variant data (masks are drawn per sample), so every rate and seed is one program.
MNIST comes from tensorflow-datasets or ``--data-dir``; ``--set data.name=digits`` runs the
same study offline on scikit-learn's 8x8 digits.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems

RATES = [0.0, 0.2, 0.5, 0.8]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.mnist(limit_train=2000 if quick else 10000, limit_val=2000),
        model=jl.ModelConfig(hidden=(256, 256), kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="rmsprop", learning_rate=0.001, batch_size=128,
                             epochs=30),
        grid={"dropout": RATES, "seed": problems.seeds(quick, default=2)},
        name="dropout-mnist")


def generalization(result: jl.Result, data: jl.Dataset) -> pd.DataFrame:
    """Per variant: train and validation accuracy and loss in inference mode (no dropout)."""
    rows = []
    for i, model in enumerate(result.models):
        train = model.evaluate(data.x_train, data.y_train)
        val = model.evaluate(data.x_val, data.y_val)
        rows.append({"variant": i, "train_accuracy": train["accuracy"],
                     "val_accuracy": val["accuracy"], "train_loss": train["loss"],
                     "val_loss": val["loss"]})
    return pd.DataFrame(rows).set_index("variant")


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    data = jl.load(s.data)
    gen = generalization(result, data)
    v = result.variants.join(gen)
    v = v.assign(gap=v.train_accuracy - v.val_accuracy,
                 loss_gap=v.val_loss - v.train_loss,
                 curve_gap=v.final_accuracy - v.final_val_accuracy)
    g = v.groupby("model.dropout")
    gap, loss_gap, curve_gap = g.gap.mean(), g.loss_gap.mean(), g.curve_gap.mean()
    val, train = g.val_accuracy.mean(), g.train_accuracy.mean()
    rates = list(gap.index)
    figures = (
        ctx.figure(_gap_figure(result), "train_vs_validation_by_dropout.png"),
        ctx.figure(ex.bars(pd.DataFrame({"train": train, "validation": val}),
                           ylabel="accuracy (inference mode)",
                           title="train vs validation accuracy by dropout rate"),
                   "accuracy_by_dropout.png"),
    )
    numbers = {f"gap_at_{r:g}": ex.number(gap[r]) for r in rates}
    numbers |= {f"loss_gap_at_{r:g}": ex.number(loss_gap[r]) for r in rates}
    numbers |= {f"curve_gap_at_{r:g}": ex.number(curve_gap[r]) for r in rates}
    numbers |= {f"val_accuracy_at_{r:g}": ex.number(val[r]) for r in rates}
    test = g.test_accuracy.mean() if "test_accuracy" in v else None  # MNIST's test split
    if test is not None:
        numbers |= {f"test_accuracy_at_{r:g}": ex.number(test[r]) for r in rates}
    holds = loss_gap[0.5] < loss_gap[0.0] and loss_gap[rates[-1]] < loss_gap[0.0]
    return ex.Findings(
        claim="Dropout after each Dense layer makes the network more robust: the gap "
              "between training and validation performance shrinks as the rate grows (at "
              "0.8 the network starts to underfit).",
        holds=holds,
        summary=f"on {data.name} ({data.n_train} training images), validation loss minus "
                f"training loss (inference mode) {loss_gap[0.0]:.3f} without dropout, "
                + ", ".join(f"{loss_gap[r]:.3f} at {r:g}" for r in rates if r > 0)
                + f"; accuracy gap {gap[0.0]:.3f} vs {gap[0.5]:.3f} at 0.5; validation "
                  "accuracy " + ", ".join(f"{val[r]:.3f}" for r in rates)
                + ("" if test is None else f"; test accuracy ({data.n_test} test images) "
                   + ", ".join(f"{test[r]:.3f}" for r in rates)),
        numbers=numbers,
        tables={"By dropout rate (mean over seeds; train measured in inference mode)": (
            pd.DataFrame({"train accuracy": train, "validation accuracy": val,
                          "accuracy gap": gap, "loss gap": loss_gap,
                          "history gap (train mode)": curve_gap}).reset_index())},
        figures=figures)


def _gap_figure(result: jl.Result):
    train = ex.curve_mean(result, "accuracy", "dropout")
    val = ex.curve_mean(result, "val_accuracy", "dropout")
    frames = {f"dropout={r:g}": pd.DataFrame({"train (dropout on)": train[r],
                                              "validation": val[r]}) for r in train.columns}
    return ex.panels(frames, ylabel="accuracy", title="learning curves by dropout rate "
                     "(mean over seeds), as Keras' history shows them")


EXPERIMENT = ex.Experiment(
    name="dropout-mnist",
    title="dropout 0, 0.2, 0.5, 0.8 after each Dense on MNIST; the train/validation gap "
          "shrinks",
    course="Lesson 'Improving training performance' (dropout challenge)",
    run=run)

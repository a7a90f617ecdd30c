"""dropout-mnist: dropout after each hidden Dense layer shrinks the train/validation gap.

Lesson "Improving training performance": add a Dropout layer after each Dense layer of the
MNIST classifier and try rates 0.2, 0.5 and 0.8 (and 0, the reference). The rate is
per-variant data (masks are drawn per sample), so every rate and seed is one program.
MNIST comes from tensorflow-datasets or ``--data-dir``; ``--set data.name=digits`` runs the
same study offline on scikit-learn's 8x8 digits. 5 seeds; the claim holds when the rank
correlations of the rate and the train minus validation gap (inference mode, one per seed)
have intervals below 0, for the accuracy (what the lesson reads off Keras' history) and for
the loss; underfitting at 0.8 is reported with its own interval.
"""

from __future__ import annotations

import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

RATES = [0.0, 0.2, 0.5, 0.8]


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.mnist(limit_train=2000 if quick else 10000, limit_val=2000),
        model=jl.ModelConfig(hidden=(256, 256), kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="rmsprop", learning_rate=0.001, batch_size=128,
                             epochs=15 if quick else 30),
        grid={"dropout": RATES, "seed": problems.seeds(quick, small=5)},
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
    result = stats.with_columns(result, **gen, gap=v.train_accuracy - v.val_accuracy,
                                loss_gap=v.val_loss - v.train_loss,
                                curve_gap=v.final_accuracy - v.final_val_accuracy)
    rates = sorted(v["model.dropout"].unique())
    shrinks = stats.trend(result, "gap", "dropout")
    loss_shrinks = stats.trend(result, "loss_gap", "dropout")
    underfit = stats.difference(result, "val_accuracy", "dropout", 0.2, rates[-1])
    gap = {r: stats.at(result, "gap", "dropout", r) for r in rates}
    loss_gap = {r: stats.at(result, "loss_gap", "dropout", r) for r in rates}
    val = {r: stats.at(result, "val_accuracy", "dropout", r) for r in rates}
    by = {k: stats.by_axis(result, c, "dropout") for k, c in
          (("train", "train_accuracy"), ("validation", "val_accuracy"))}
    figures = (
        ctx.figure(_gap_figure(result), "train_vs_validation_by_dropout.png"),
        ctx.figure(ex.bars(pd.DataFrame({k: b["mean"] for k, b in by.items()}
                                        | {f"{k}_std": (b["high"] - b["low"]) / 2
                                           for k, b in by.items()}),
                           ylabel="accuracy (inference mode; mean, 95% CI)",
                           title="train vs validation accuracy by dropout rate"),
                   "accuracy_by_dropout.png"),
    )
    numbers = {"seeds": shrinks.n}
    for r in rates:
        numbers |= gap[r].numbers(f"gap_at_{r:g}")
        numbers |= loss_gap[r].numbers(f"loss_gap_at_{r:g}")
        numbers |= stats.at(result, "curve_gap", "dropout", r).numbers(f"curve_gap_at_{r:g}")
        numbers |= val[r].numbers(f"val_accuracy_at_{r:g}")
    numbers |= shrinks.numbers("rank_correlation_rate_gap")
    numbers |= loss_shrinks.numbers("rank_correlation_rate_loss_gap")
    numbers |= underfit.numbers(f"val_accuracy_0.2_minus_{rates[-1]:g}")
    test = None  # MNIST's test split, evaluated once on the final weights
    if "test_accuracy" in result.variants:
        test = {r: stats.at(result, "test_accuracy", "dropout", r) for r in rates}
        for r in rates:
            numbers |= test[r].numbers(f"test_accuracy_at_{r:g}")
    holds = shrinks.below(0) and loss_shrinks.below(0)
    return ex.Findings(
        claim="Dropout after each Dense layer makes the network more robust: the gap "
              "between training and validation performance shrinks as the rate grows (at "
              "0.8 the network starts to underfit).",
        holds=holds,
        summary=f"on {data.name} ({data.n_train} training images), "
                f"rank correlation of the dropout rate and the train minus validation "
                f"accuracy gap (inference mode) {shrinks:.2f} over {shrinks.n} seeds (gap "
                + ", ".join(f"{gap[r]:.3f} at {r:g}" for r in rates)
                + f"; {stats.verdict(shrinks.below(0))}); of the loss gap {loss_shrinks:.2f} "
                  f"({stats.verdict(loss_shrinks.below(0))}); validation accuracy at 0.2 "
                  f"minus at {rates[-1]:g} {underfit:.3f} (underfitting: "
                  f"{stats.verdict(underfit.above(0))})"
                + ("" if test is None else f"; test accuracy ({data.n_test} test images) "
                   + ", ".join(f"{test[r]:.3f}" for r in rates)),
        numbers=numbers,
        tables={"By dropout rate (mean and 95% CI over seeds; train measured in inference "
                "mode)": stats.table(result, {
                    "train accuracy": "train_accuracy", "validation accuracy": "val_accuracy",
                    "accuracy gap": "gap", "loss gap": "loss_gap",
                    "history gap (train mode)": "curve_gap"}, "dropout")},
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

"""loss-functions: regression, binary and multiclass losses on the course's problems.

Better Deep Learning, "Configure what to optimize with loss functions":

* regression (``make_regression``, inputs and targets standardized with statistics of the
  train part, for MSE, MSLE and MAE alike, as the book; MSLE clamps the targets below 0 at
  Keras' epsilon as Keras does): one hidden layer of 25 ReLU nodes, 100 epochs;
* binary (circles): binary cross-entropy (sigmoid output), hinge and squared hinge (tanh
  output, targets in {-1, 1}); 50 nodes, 200 epochs;
* multiclass (3-class blobs): categorical cross-entropy, sparse categorical cross-entropy,
  Kullback-Leibler divergence; 50 nodes, 100 epochs.

All with SGD(0.01, momentum 0.9). The loss changes the program (nine compiles: one per
loss), seeds are data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

REGRESSION = ["mse", "msle", "mae"]
BINARY = ["binary_crossentropy", "hinge", "squared_hinge"]
MULTICLASS = ["categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence"]


def specs(quick: bool) -> dict[str, jl.Sweep]:
    seeds = problems.seeds(quick, small=5)
    model = jl.ModelConfig(kernel_init="he_uniform")
    return {
        "regression": jl.Sweep(
            data=problems.regression(scale_x="standardize", scale_y="standardize"),
            model=jl.ModelConfig(width=25, kernel_init="he_uniform"),
            train=problems.sgd(epochs=50 if quick else 100, metrics=("mse", "mae")),
            grid={"loss": REGRESSION, "seed": seeds}, name="loss-regression"),
        "binary": jl.Sweep(
            data=problems.circles(), model=model,
            train=problems.sgd(epochs=40 if quick else 200, metrics=("binary_accuracy",)),
            grid={"loss": BINARY, "seed": seeds}, name="loss-binary"),
        "multiclass": jl.Sweep(
            data=problems.blobs3(), model=model,
            train=problems.sgd(epochs=20 if quick else 100, metrics=("accuracy",)),
            grid={"loss": MULTICLASS, "seed": seeds}, name="loss-multiclass"),
    }


def _curves(result: jl.Result, metrics: tuple[str, str]) -> dict[str, pd.DataFrame]:
    out = {}
    for loss, rows in result.variants.groupby("train.loss", sort=False):
        h = result.history[result.history.variant.isin(rows.variant)]
        mean = h.groupby("epoch")[list(metrics)].mean()
        out[loss] = mean.rename(columns={metrics[0]: "train", metrics[1]: "test"})
    return out


def run(ctx: ex.Context) -> ex.Findings:
    results = {k: ctx.sweep(s) for k, s in specs(ctx.quick).items()}
    reg, binary, multi = results["regression"], results["binary"], results["multiclass"]
    reg_var = float(np.var(jl.load(ctx.configure(specs(ctx.quick)["regression"]).data).y_val))
    reg_mse = _by_loss(reg, "final_val_mse")
    bin_acc = _by_loss(binary, "final_val_binary_accuracy")
    multi_acc = _by_loss(multi, "final_val_accuracy")

    # The three multiclass losses on one-hot targets are the same function of the logits
    # (KL = cross-entropy - entropy of a one-hot target = cross-entropy).
    h = multi.history.sort_values(["train.seed", "epoch"])
    curves = {loss: h[h["train.loss"] == loss].loss.to_numpy() for loss in MULTICLASS}
    ce = curves["categorical_crossentropy"]
    diff_sparse = float(np.max(np.abs(curves["sparse_categorical_crossentropy"] - ce)))
    diff_kl = float(np.max(np.abs(curves["kl_divergence"] - ce)))

    frames = {}
    for name, res, metrics in (("regression", reg, ("mse", "val_mse")),
                               ("binary", binary, ("binary_accuracy",
                                                   "val_binary_accuracy")),
                               ("multiclass", multi, ("accuracy", "val_accuracy"))):
        for loss, frame in _curves(res, metrics).items():
            frames[f"{name}: {loss}"] = frame
    figures = (ctx.figure(ex.panels(frames, ncols=3, sharey=False, ylabel="MSE / accuracy",
                                    title="train and test curves by loss (mean over seeds; "
                                          "regression: MSE of standardized targets)"),
                          "curves_by_loss.png"),)
    numbers = {"regression_target_variance": reg_var, "seeds": float(len(
        reg.variants["train.seed"].unique()))}
    for prefix, est in (("regression_val_mse", reg_mse), ("binary_val_accuracy", bin_acc),
                        ("multiclass_val_accuracy", multi_acc)):
        for k, e in est.items():
            numbers |= e.numbers(f"{prefix}_{k}")
    numbers |= {"max_loss_difference_sparse_vs_categorical": diff_sparse,
                "max_loss_difference_kl_vs_categorical": diff_kl}
    # Each loss learns its problem beyond the seed noise: the regression test MSE's interval
    # below half the targets' variance, the binary test accuracy's above 0.75.
    holds = (all(e.below(0.5 * reg_var) for e in reg_mse.values())
             and all(e.above(0.75) for e in bin_acc.values())
             and diff_sparse < 1e-5 and diff_kl < 1e-4)
    multi_mean = stats.mean_ci(multi.variants.final_val_accuracy)
    return ex.Findings(
        claim="Each problem type has its losses: MSE (or MSLE, MAE) for regression, "
              "cross-entropy (or hinge, squared hinge) for binary and categorical "
              "cross-entropy (sparse or KL, the same on one-hot targets) for multiclass "
              "classification; each of them learns its problem.",
        holds=holds,
        summary=f"(mean [95% CI] over {int(numbers['seeds'])} seeds) "
                f"regression test MSE (standardized targets, variance {reg_var:.3f}): "
                + ", ".join(f"{k} {e:.3f}" for k, e in reg_mse.items())
                + "; binary test accuracy: "
                + ", ".join(f"{k} {e:.3f}" for k, e in bin_acc.items())
                + f"; multiclass test accuracy {multi_mean:.3f} for all three "
                f"(loss curves equal to {max(diff_sparse, diff_kl):.1e})",
        numbers=numbers,
        tables={"Regression (mean and 95% CI over seeds)": _table(reg_mse, "test MSE"),
                "Binary": _table(bin_acc, "test accuracy"),
                "Multiclass": _table(multi_acc, "test accuracy")},
        figures=figures)


def _by_loss(result: jl.Result, column: str) -> dict[str, stats.Estimate]:
    """``column`` per loss, mean and interval over seeds."""
    return {k: stats.mean_ci(stats.per_seed(result, column, "loss").loc[k])
            for k in result.variants["train.loss"].unique()}


def _table(est: dict[str, stats.Estimate], name: str) -> pd.DataFrame:
    return pd.DataFrame({f"{name} {k}": [getattr(e, k) for e in est.values()]
                         for k in ("mean", "low", "high")}, index=list(est)) \
        .rename_axis("loss").reset_index()


EXPERIMENT = ex.Experiment(
    name="loss-functions",
    title="regression (MSE, MSLE, MAE), binary (BCE, hinge, squared hinge), multiclass (CE, "
          "sparse CE, KL)",
    course="Better Deep Learning, ch. 'Configure what to optimize with loss functions'",
    run=run)

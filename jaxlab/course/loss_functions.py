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
from jaxlab.course import problems

REGRESSION = ["mse", "msle", "mae"]
BINARY = ["binary_crossentropy", "hinge", "squared_hinge"]
MULTICLASS = ["categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence"]


def specs(quick: bool) -> dict[str, jl.Sweep]:
    seeds = problems.seeds(quick)
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
    reg_mse = reg.variants.groupby("train.loss").final_val_mse.mean()
    reg_var = float(np.var(jl.load(ctx.configure(specs(ctx.quick)["regression"]).data).y_val))
    bin_acc = binary.variants.groupby("train.loss").final_val_binary_accuracy.mean()
    multi_acc = multi.variants.groupby("train.loss").final_val_accuracy.mean()

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
    numbers = {f"regression_val_mse_{k}": ex.number(x) for k, x in reg_mse.items()}
    numbers["regression_target_variance"] = reg_var
    numbers |= {f"binary_val_accuracy_{k}": ex.number(x) for k, x in bin_acc.items()}
    numbers |= {f"multiclass_val_accuracy_{k}": ex.number(x) for k, x in multi_acc.items()}
    numbers |= {"max_loss_difference_sparse_vs_categorical": diff_sparse,
                "max_loss_difference_kl_vs_categorical": diff_kl}
    holds = (bool((reg_mse < 0.5 * reg_var).all()) and bool((bin_acc > 0.75).all())
             and diff_sparse < 1e-5 and diff_kl < 1e-4)
    return ex.Findings(
        claim="Each problem type has its losses: MSE (or MSLE, MAE) for regression, "
              "cross-entropy (or hinge, squared hinge) for binary and categorical "
              "cross-entropy (sparse or KL, the same on one-hot targets) for multiclass "
              "classification; each of them learns its problem.",
        holds=holds,
        summary="regression test MSE (scaled targets, variance "
                f"{reg_var:.4f}): " + ", ".join(f"{k} {x:.4f}" for k, x in reg_mse.items())
                + "; binary test accuracy: "
                + ", ".join(f"{k} {x:.3f}" for k, x in bin_acc.items())
                + f"; multiclass test accuracy {multi_acc.mean():.3f} for all three "
                f"(loss curves equal to {max(diff_sparse, diff_kl):.1e})",
        numbers=numbers,
        tables={"Regression (mean over seeds)": reg_mse.rename("test MSE").reset_index(),
                "Binary": bin_acc.rename("test accuracy").reset_index(),
                "Multiclass": multi_acc.rename("test accuracy").reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="loss-functions",
    title="regression (MSE, MSLE, MAE), binary (BCE, hinge, squared hinge), multiclass (CE, "
          "sparse CE, KL)",
    course="Better Deep Learning, ch. 'Configure what to optimize with loss functions'",
    run=run)

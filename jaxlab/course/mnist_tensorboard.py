"""mnist-tensorboard: the MNIST classifier, with TensorBoard logs of its training.

Lesson "Improving training performance", first challenge: connect TensorBoard to the MNIST
classifier and inspect the scalars tab (train and validation loss and accuracy per epoch)
to see whether the model under- or overfits. Three seeds, one program; the logs are in
``tensorboard/mnist-tensorboard`` (``tensorboard --logdir ...``), one run per seed.
MNIST comes from tensorflow-datasets or ``--data-dir``; ``--set data.name=digits`` runs it
offline.
"""

from __future__ import annotations

import glob
import os

import pandas as pd

import jaxlab as jl
from jaxlab.course import framework as ex
from jaxlab.course import problems


def spec(quick: bool) -> jl.Sweep:
    return jl.Sweep(
        data=problems.mnist(limit_train=2000 if quick else 20000, limit_val=2000),
        model=jl.ModelConfig(hidden=(128, 128), kernel_init="he_uniform"),
        train=jl.TrainConfig(optimizer="adam", learning_rate=0.001, batch_size=128,
                             epochs=20),
        grid={"seed": problems.seeds(quick, default=3)},
        name="mnist-tensorboard")


def read_scalars(run_dir: str) -> pd.DataFrame:
    """Every scalar of one TensorBoard run: columns tag, step, value (via tensorboard's
    own reader, as the TensorBoard UI reads them)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return pd.DataFrame([{"tag": t, "step": e.step, "value": e.value}
                         for t in acc.Tags()["scalars"] for e in acc.Scalars(t)])


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    h = result.history
    figures = (
        ctx.figure(ex.panels({
            "loss": ex.curve_mean(result, "loss", "seed").mean(axis=1).to_frame("train")
            .join(ex.curve_mean(result, "val_loss", "seed").mean(axis=1).rename("validation")),
            "accuracy": ex.curve_mean(result, "accuracy", "seed").mean(axis=1).to_frame("train")
            .join(ex.curve_mean(result, "val_accuracy", "seed").mean(axis=1)
                  .rename("validation"))}, ncols=2, sharey=False,
            title="what TensorBoard's scalars tab shows (mean over seeds)"),
            "scalars.png"),
    )
    numbers = {"val_accuracy": ex.number(result.variants.final_val_accuracy.mean()),
               "train_accuracy": ex.number(result.variants.final_accuracy.mean()),
               "val_loss": ex.number(result.variants.final_val_loss.mean()),
               "train_loss": ex.number(result.variants.final_loss.mean()),
               "epochs": int(h.epoch.max())}
    if "test_accuracy" in result.variants:  # MNIST's test split, on the final weights
        numbers["test_accuracy"] = ex.number(result.variants.test_accuracy.mean())
    logdir = os.path.join(ctx.out, "tensorboard", s.name)
    runs = sorted(d for d in glob.glob(os.path.join(logdir, "*")) if os.path.isdir(d))
    matched = 0
    if ctx.options.tensorboard and runs:
        scalars = read_scalars(runs[0])
        logged = scalars[scalars.tag == "val/accuracy"].sort_values("step").value.to_numpy()
        first = h[h.variant == 0].sort_values("epoch").val_accuracy.to_numpy()
        matched = int(len(logged) == len(first) and (abs(logged - first) < 1e-6).all())
        numbers["tensorboard_tags"] = int(scalars.tag.nunique())
    numbers |= {"tensorboard_runs": len(runs), "tensorboard_matches_history": matched}
    gap = numbers["train_accuracy"] - numbers["val_accuracy"]
    holds = (numbers["val_accuracy"] > 0.9 and
             (matched == 1 or not ctx.options.tensorboard))
    return ex.Findings(
        claim="TensorBoard shows the classifier's training graphs (loss and accuracy, train "
              "and validation, per epoch), from which under- or overfitting can be read.",
        holds=holds,
        summary=f"{len(runs)} TensorBoard runs (one per seed) with the per-epoch scalars "
                f"{'identical to' if matched else 'NOT matching'} the history; after "
                f"{numbers['epochs']} epochs train accuracy {numbers['train_accuracy']:.3f}, "
                f"validation {numbers['val_accuracy']:.3f} (gap {gap:.3f})"
                + (f", test {numbers['test_accuracy']:.3f}" if "test_accuracy" in numbers
                   else ""),
        numbers=numbers,
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="mnist-tensorboard",
    title="the MNIST classifier with TensorBoard logs (the course's first challenge)",
    course="Lesson 'Improving training performance' (TensorBoard challenge)",
    run=run)

"""early-stopping: stop when the validation loss stops improving, keep the best weights.

Better Deep Learning, "Halt training at the right time with early stopping", the book's
form: ``make_moons(100, noise=0.2, random_state=1)``, the first 30 samples train and the
other 70 validate, one hidden layer of 500 ReLU nodes -> sigmoid (Keras' default
glorot_uniform), Adam (0.001), 4000 epochs, one batch of the 30 samples per epoch (Keras'
batch 32 is larger than the training set: Keras takes one batch of everything, which
jaxlab refuses, so the batch is 30), ``EarlyStopping(monitor="val_loss",
patience=200)`` restoring the best weights, against no early stopping (a reference arm whose
patience is the whole run). Both arms and every seed are one compiled program (patience is
data). The DataCamp form (``validation_split=0.3``, ``patience=2``, 20 epochs, Adam) runs
with ``--set`` overrides of the same fields; it is not the default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

PATIENCE = 200


def spec(quick: bool) -> jl.Sweep:
    epochs = 2000 if quick else 4000
    return jl.Sweep(
        data=jl.DataConfig("moons", options=dict(n_samples=100, noise=0.2, random_state=1),
                           train_size=30),
        model=jl.ModelConfig(width=500),
        train=jl.TrainConfig(optimizer="adam", learning_rate=0.001, epochs=epochs,
                             batch_size=30, loss="binary_crossentropy",
                             metrics=("binary_accuracy",), early_stopping=True,
                             monitor="val_loss", restore_best_weights=True),
        grid={"patience": [PATIENCE, epochs], "seed": problems.seeds(quick, default=5)},
        name="early-stopping")


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    data = jl.load(s.data)
    v = result.variants.copy()
    v["restored_val_loss"] = [m.evaluate(data.x_val, data.y_val)["loss"]
                              for m in result.models]
    v["last_val_loss"] = v.final_val_loss  # at the stop epoch (history), before restoring
    patience = int(v["train.patience"].min())
    es = v[v["train.patience"] == patience]
    ref = v[v["train.patience"] != patience]
    epochs = int(result.history.epoch.max())
    stopped = float((es.status == "stopped").mean())
    rule = float((es.stop_epoch == es.best_epoch + patience).mean())
    restore_err = float(np.max(np.abs(es.restored_val_loss - es.best_val_loss)
                               / es.best_val_loss))
    ref_last = ref.groupby("train.seed").last_val_loss.mean()
    es_restored = es.groupby("train.seed").restored_val_loss.mean()
    figures = (
        ctx.figure(plotting.curves(result, "val_loss", color="patience",
                                   title=f"validation loss; o = stopped early (patience "
                                         f"{patience}), the reference trains on"),
                   "validation_loss_early_stopping.png"),
        ctx.figure(plotting.curves(result, "loss", color="patience",
                                   title="training loss"), "training_loss_early_stopping.png"),
    )
    numbers = {
        "stopped_fraction": stopped,
        "mean_stop_epoch": ex.number(es.stop_epoch.mean()),
        "mean_best_epoch": ex.number(es.best_epoch.mean()),
        "epochs": epochs,
        "stop_equals_best_plus_patience": rule,
        "restored_minus_best_relative": restore_err,
        "val_loss_at_stop": ex.number(es.last_val_loss.mean()),
        "val_loss_restored": ex.number(es.restored_val_loss.mean()),
        "val_loss_reference_end": ex.number(ref.last_val_loss.mean()),
        "val_accuracy_restored": ex.number(es.final_val_binary_accuracy.mean()),
        "reference_best_epoch": ex.number(ref.best_epoch.mean()),
        "epochs_saved_fraction": ex.number(1 - es.stop_epoch.mean() / epochs),
    }
    holds = (stopped == 1.0 and rule == 1.0 and restore_err < 1e-4
             and bool((es_restored < ref_last.reindex(es_restored.index)).all()))
    table = es[["train.seed", "stop_epoch", "best_epoch", "last_val_loss",
                "restored_val_loss"]].rename(columns={
                    "last_val_loss": "val loss at stop", "restored_val_loss":
                    "val loss, restored weights"})
    table = table.assign(**{f"reference val loss, epoch {epochs}":
                            ref.set_index("train.seed").last_val_loss.reindex(
                                table["train.seed"]).to_numpy()})
    return ex.Findings(
        claim=f"With patience {patience}, early stopping ends training {patience} epochs "
              "after the validation loss stopped improving, and the restored best weights "
              "generalize better than training on.",
        holds=holds,
        summary=f"every run stopped (epoch {es.stop_epoch.mean():.1f} on average, "
                f"{es.best_epoch.mean():.1f} + {patience}) out of {epochs}; restored weights "
                f"have validation loss {es.restored_val_loss.mean():.3f} (the best seen, "
                f"to {restore_err:.0e}) vs {es.last_val_loss.mean():.3f} at the stop and "
                f"{ref.last_val_loss.mean():.3f} after training all {epochs} epochs",
        numbers=numbers,
        tables={"Per seed": pd.DataFrame(table).reset_index(drop=True)},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="early-stopping",
    title="moons, 30 train, 500 nodes, Adam, patience 200 (the book's settings); the stop "
          "epoch and restored weights",
    course="Better Deep Learning, ch. 'Halt training at the right time with early "
           "stopping'; DataCamp 'Model validation' (EarlyStopping)",
    run=run)

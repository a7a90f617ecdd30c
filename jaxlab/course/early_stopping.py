"""early-stopping: stop when the validation loss stops improving, keep the best weights.

DataCamp "Model validation": ``validation_split=0.3`` and ``EarlyStopping(patience=2)``
with Adam, on scikit-learn's 8x8 digits (a small training set, so the network overfits and
the validation loss turns up). A reference arm with patience as long as the run trains on
to the end; both arms and every seed are one compiled program (patience is data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems

PATIENCE = 2


def spec(quick: bool) -> jl.Sweep:
    epochs = 30 if quick else 60
    return jl.Sweep(
        data=jl.DataConfig("digits", validation_split=0.3, limit_train=300),
        model=jl.ModelConfig(hidden=(100, 100)),
        train=jl.TrainConfig(optimizer="adam", learning_rate=0.01, epochs=epochs,
                             early_stopping=True, monitor="val_loss",
                             restore_best_weights=True),
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
                                   title="validation loss; o = stopped early (patience 2), "
                                         "the reference trains on"),
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
        "val_accuracy_restored": ex.number(es.final_val_accuracy.mean()),
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
        claim="With a validation split of 0.3 and patience 2, early stopping ends training "
              "two epochs after the validation loss stopped improving, and the restored "
              "best weights generalize better than training on.",
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
    title="validation split 0.3, patience 2 (the course's settings); the stop epoch and "
          "restored weights",
    course="DataCamp 'Model validation' (EarlyStopping); lesson key lessons (stopping "
           "criterion)",
    run=run)

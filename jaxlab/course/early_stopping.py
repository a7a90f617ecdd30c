"""early-stopping: stop when the validation loss stops improving, keep the best weights.

Better Deep Learning, "Halt training at the right time with early stopping", the book's
form: ``make_moons(100, noise=0.2, random_state=1)``, the first 30 samples train and the
other 70 validate, one hidden layer of 500 ReLU nodes -> sigmoid (Keras' default
glorot_uniform), Adam (0.001), 4000 epochs, one batch of the 30 samples per epoch (Keras'
batch 32 is larger than the training set: Keras takes one batch of everything, which
jaxlab refuses, so the batch is 30), ``EarlyStopping(monitor="val_loss",
patience=200)`` restoring the best weights, against no early stopping (a reference arm whose
patience is the whole run). Five seeds; both arms and every seed are one compiled program
(patience is data).

A second sweep runs the DataCamp form ("Model validation"): two hidden layers of 100 ReLU
nodes -> a softmax, categorical cross-entropy, Adam, batch 32, ``validation_split=0.3`` (the
last 30% validate), 20 epochs, ``EarlyStopping(patience=2)`` (monitoring ``val_loss``, the
last weights kept), against the same net trained all 20 epochs. The course's data (Titanic,
then MNIST) is not offline; scikit-learn's 8x8 digits stand in (a choice beyond the course:
on them the validation loss stops improving within the 20 epochs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab import plotting
from jaxlab.course import framework as ex
from jaxlab.course import problems, stats

PATIENCE = 200
DATACAMP_PATIENCE, DATACAMP_EPOCHS = 2, 20


def spec(quick: bool) -> jl.Sweep:
    """The book's form."""
    epochs = 2000 if quick else 4000
    return jl.Sweep(
        data=jl.DataConfig("moons", options=dict(n_samples=100, noise=0.2, random_state=1),
                           train_size=30),
        model=jl.ModelConfig(width=500),
        train=jl.TrainConfig(optimizer="adam", learning_rate=0.001, epochs=epochs,
                             batch_size=30, loss="binary_crossentropy",
                             metrics=("binary_accuracy",), early_stopping=True,
                             monitor="val_loss", restore_best_weights=True),
        grid={"patience": [PATIENCE, epochs], "seed": problems.seeds(quick, small=5)},
        name="early-stopping")


def datacamp_spec(quick: bool) -> jl.Sweep:
    """The DataCamp form: ``fit(validation_split=0.3, epochs=20,
    callbacks=[EarlyStopping(patience=2)])``; the reference arm's patience is the whole run."""
    return jl.Sweep(
        data=jl.DataConfig("digits", validation_split=0.3),
        model=jl.ModelConfig(width=100, depth=2),
        train=jl.TrainConfig(optimizer="adam", learning_rate=0.001, epochs=DATACAMP_EPOCHS,
                             batch_size=32, loss="sparse_categorical_crossentropy",
                             metrics=("accuracy",), early_stopping=True, monitor="val_loss"),
        grid={"patience": [DATACAMP_PATIENCE, DATACAMP_EPOCHS],
              "seed": problems.seeds(quick, small=5)},
        name="early-stopping-datacamp")


def _arms(result: jl.Result) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The early-stopping arm and the reference arm (rows indexed by seed), the patience."""
    v = result.variants.assign(last_val_loss=result.variants.final_val_loss)
    patience = int(v["train.patience"].min())
    es = v[v["train.patience"] == patience].set_index("train.seed")
    ref = v[v["train.patience"] != patience].set_index("train.seed")
    return es, ref, patience


def run(ctx: ex.Context) -> ex.Findings:
    s = ctx.configure(spec(ctx.quick))
    result = ctx.run(s)
    data = jl.load(s.data)
    es, ref, patience = _arms(result)
    es = es.assign(restored_val_loss=[result.models[i].evaluate(data.x_val, data.y_val)["loss"]
                                      for i in es.variant])
    epochs = int(result.history.epoch.max())
    stopped = float((es.status == "stopped").mean())
    rule = float((es.stop_epoch == es.best_epoch + patience).mean())
    restore_err = float(np.max(np.abs(es.restored_val_loss - es.best_val_loss)
                               / es.best_val_loss))
    at_stop = stats.mean_ci(es.last_val_loss)
    restored = stats.mean_ci(es.restored_val_loss)
    reference = stats.mean_ci(ref.last_val_loss)
    stop_epoch = stats.mean_ci(es.stop_epoch)
    gain = stats.diff_ci(ref.last_val_loss, es.restored_val_loss)  # > 0: restored is better
    gain_at_stop = stats.diff_ci(es.last_val_loss, es.restored_val_loss)
    accuracy = stats.diff_ci(es.final_val_binary_accuracy, ref.final_val_binary_accuracy)

    camp = ctx.sweep(datacamp_spec(ctx.quick))
    c_es, c_ref, c_patience = _arms(camp)
    c_stopped = float((c_es.status == "stopped").mean())
    c_done = c_es[c_es.status == "stopped"]
    c_rule = float((c_done.stop_epoch == c_done.best_epoch + c_patience).mean()) \
        if len(c_done) else float("nan")
    c_stop = stats.mean_ci(c_es.stop_epoch.where(c_es.status == "stopped", DATACAMP_EPOCHS))
    c_cost = stats.diff_ci(c_es.last_val_loss, c_ref.last_val_loss)  # > 0: stopping cost
    c_acc = stats.diff_ci(c_es.final_val_accuracy, c_ref.final_val_accuracy)

    figures = (
        ctx.figure(plotting.curves(result, "val_loss", color="patience",
                                   title=f"validation loss; o = stopped early (patience "
                                         f"{patience}), the reference trains on"),
                   "validation_loss_early_stopping.png"),
        ctx.figure(plotting.curves(result, "loss", color="patience", aggregate="seed",
                                   title="training loss (mean, band over seeds)"),
                   "training_loss_early_stopping.png"),
        ctx.figure(plotting.curves(camp, "val_loss", color="patience",
                                   title=f"DataCamp form: validation loss (patience "
                                         f"{c_patience} vs all {DATACAMP_EPOCHS} epochs)"),
                   "validation_loss_datacamp.png"),
    )
    numbers = {
        "seeds": float(len(es)), "stopped_fraction": stopped, "epochs": epochs,
        "mean_best_epoch": ex.number(es.best_epoch.mean()),
        "stop_equals_best_plus_patience": rule, "restored_minus_best_relative": restore_err,
        "reference_best_epoch": ex.number(ref.best_epoch.mean()),
        "epochs_saved_fraction": ex.number(1 - es.stop_epoch.mean() / epochs),
        "datacamp_stopped_fraction": c_stopped,
        "datacamp_stop_equals_best_plus_patience": c_rule,
    }
    numbers |= (stop_epoch.numbers("mean_stop_epoch") | at_stop.numbers("val_loss_at_stop")
                | restored.numbers("val_loss_restored")
                | reference.numbers("val_loss_reference_end")
                | gain.numbers("val_loss_reference_minus_restored")
                | gain_at_stop.numbers("val_loss_at_stop_minus_restored")
                | accuracy.numbers("val_accuracy_restored_minus_reference")
                | stats.mean_ci(es.final_val_binary_accuracy).numbers("val_accuracy_restored")
                | c_stop.numbers("datacamp_stop_epoch")
                | c_cost.numbers("datacamp_val_loss_stopped_minus_full")
                | c_acc.numbers("datacamp_val_accuracy_stopped_minus_full"))
    # The book's claim: every run stops by Keras' rule, restores the best weights exactly,
    # and the restored weights beat training on, beyond the seed noise (paired by seed).
    # The DataCamp form: every run stops by the same rule, before the 20 epochs.
    holds = (stopped == 1.0 and rule == 1.0 and restore_err < 1e-4 and gain.above(0)
             and c_stopped == 1.0 and c_rule == 1.0 and c_stop.below(DATACAMP_EPOCHS))
    table = es[["stop_epoch", "best_epoch", "last_val_loss", "restored_val_loss"]].rename(
        columns={"last_val_loss": "val loss at stop",
                 "restored_val_loss": "val loss, restored weights"})
    table[f"reference val loss, epoch {epochs}"] = ref.last_val_loss.reindex(table.index)
    camp_table = pd.DataFrame({
        "stop epoch": c_es.stop_epoch, "best epoch": c_es.best_epoch,
        "val loss, stopped": c_es.last_val_loss,
        f"val loss, all {DATACAMP_EPOCHS} epochs": c_ref.last_val_loss.reindex(c_es.index)})
    return ex.Findings(
        claim=f"With patience {patience}, early stopping ends training {patience} epochs "
              "after the validation loss stopped improving, and the restored best weights "
              f"generalize better than training on; in the DataCamp form (patience "
              f"{c_patience}, {DATACAMP_EPOCHS} epochs) training stops {c_patience} epochs "
              f"after the best epoch, before the {DATACAMP_EPOCHS} epochs.",
        holds=holds,
        summary=f"(mean [95% CI] over {len(es)} seeds) "
                f"{stopped:.0%} of the runs stopped, at epoch {stop_epoch:.0f} of {epochs} "
                f"(best + {patience} in {rule:.0%}); validation loss of the restored weights "
                f"{restored:.3f} (the best seen, to {restore_err:.0e}) vs {at_stop:.3f} at the "
                f"stop and {reference:.3f} after all {epochs} epochs (reference minus "
                f"restored {gain:.3f}). DataCamp form (patience {c_patience}, "
                f"{DATACAMP_EPOCHS} epochs, digits): {c_stopped:.0%} stopped, at epoch "
                f"{c_stop:.1f} (best + {c_patience} in {c_rule:.0%}); validation loss stopped "
                f"minus trained all {DATACAMP_EPOCHS} epochs {c_cost:.3f}, accuracy "
                f"{c_acc:.3f}",
        numbers=numbers,
        tables={"Per seed": table.reset_index(),
                "DataCamp form, per seed": camp_table.rename_axis("train.seed").reset_index()},
        figures=figures)


EXPERIMENT = ex.Experiment(
    name="early-stopping",
    title="moons, 30 train, 500 nodes, Adam, patience 200 (the book's settings); the stop "
          "epoch and restored weights; the DataCamp form (patience 2, 20 epochs, digits)",
    course="Better Deep Learning, ch. 'Halt training at the right time with early "
           "stopping'; DataCamp 'Model validation' (EarlyStopping)",
    run=run)

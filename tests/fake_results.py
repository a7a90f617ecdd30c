"""A sweep result made without training, for the plotting and CLI plot tests.

Curves are smooth closed forms of (batch size, learning rate, seed, epoch); one variant
diverges (its loss explodes to 1e20, then NaN), one stops early, as the engine reports them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

import jaxlab as jl
from jaxlab.results import Result

BATCH_SIZES = (4, 16, 64)
LEARNING_RATES = (0.001, 0.01, 0.1)
SEEDS = (0, 1)
EPOCHS = 8
N_TRAIN = 500
DIVERGED = {"train.batch_size": 4, "train.learning_rate": 0.1, "train.seed": 1}
STOPPED = {"train.batch_size": 64, "train.learning_rate": 0.001, "train.seed": 0}
DIVERGE_EPOCH, STOP_EPOCH = 3, 5


def fake_result(name: str = "fake", shift: float = 0.0) -> Result:
    """A 3 x 3 x 2 (batch size x learning rate x seed) result; ``shift`` moves every curve."""
    spec = jl.Sweep(data=jl.DataConfig("blobs"), train=jl.TrainConfig(epochs=EPOCHS),
                    grid={"batch_size": list(BATCH_SIZES), "learning_rate": list(LEARNING_RATES),
                          "seed": list(SEEDS)}, name=name)
    rows, summary = [], []
    for i, (bs, lr, seed) in enumerate(itertools.product(BATCH_SIZES, LEARNING_RATES, SEEDS)):
        values = {"train.batch_size": bs, "train.learning_rate": lr, "train.seed": seed}
        status, stop = "ok", -1
        last = EPOCHS
        if values == DIVERGED:
            status, stop, last = "diverged", DIVERGE_EPOCH, DIVERGE_EPOCH
        elif values == STOPPED:
            status, stop, last = "stopped", STOP_EPOCH, STOP_EPOCH
        rate = 0.2 + lr * 3 + 0.05 * seed
        for e in range(1, last + 1):
            loss = 1.1 * math.exp(-rate * e) + 0.3 + 0.01 * math.log2(bs) + shift
            acc = 0.9 - 0.5 * math.exp(-rate * e) - 0.01 * math.log2(bs) - shift
            if status == "diverged":
                loss = 1e20 if e < last else math.nan
                acc = 0.33
            rows.append({"variant": i, "epoch": e, **values, "accuracy": acc + 0.02,
                         "examples": e * N_TRAIN, "grad_norm": 1.0 / e, "loss": loss,
                         "lr": lr, "updates": e * math.ceil(N_TRAIN / bs),
                         "val_accuracy": acc, "val_loss": loss + 0.05})
        h = [r for r in rows if r["variant"] == i]
        s = {"variant": i, **values, "group": 0, "status": status, "stop_epoch": stop,
             "epochs_run": last}
        for m in ("accuracy", "loss", "val_accuracy", "val_loss"):
            series = np.array([r[m] for r in h])
            finite = series[np.isfinite(series)]
            s[f"final_{m}"] = series[-1]
            s[f"best_{m}"] = (finite.max() if "acc" in m else finite.min()) if finite.size \
                else math.nan
        s["best_epoch"] = float(np.nanargmin([r["val_loss"] for r in h]) + 1)
        summary.append(s)
    variants = pd.DataFrame(summary)
    variants.index = variants["variant"].to_numpy()
    return Result(spec, pd.DataFrame(rows), variants, models=[])


def n_variants() -> int:
    return len(BATCH_SIZES) * len(LEARNING_RATES) * len(SEEDS)


def index_of(values: dict) -> int:
    """The sweep index of the variant with ``values`` (grid-major order)."""
    combos = list(itertools.product(BATCH_SIZES, LEARNING_RATES, SEEDS))
    return combos.index((values["train.batch_size"], values["train.learning_rate"],
                         values["train.seed"]))

"""Keras side of the trajectory check (optional; needs ``pip install keras jax scikit-learn``).

Trains the book's width-6 model for seeds 0..9 with ``shuffle=False`` (a known batch order)
for 1 and 100 epochs and saves the initial and final weights and train/test accuracy to an
``.npz`` that ``trajectory.py`` replays in jaxlab and in plain JAX::

    KERAS_BACKEND=jax python benchmarks/keras_reference/keras_trajectory.py /tmp/keras_traj.npz
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from capacity_nodes import build, data  # noqa: E402

WIDTH, SEEDS, EPOCHS = 6, 10, (1, 100)


def main(path: str) -> None:
    trainX, trainy, testX, testy = data()
    out = {}
    for seed in range(SEEDS):
        for epochs in EPOCHS:
            keras.utils.set_random_seed(seed)
            model = build(WIDTH)
            out |= {f"s{seed}_init_{i}": w for i, w in enumerate(model.get_weights())}
            model.fit(trainX, trainy, epochs=epochs, verbose=0, shuffle=False)
            out |= {f"s{seed}_e{epochs}_{i}": w for i, w in enumerate(model.get_weights())}
            out[f"s{seed}_e{epochs}_acc"] = np.array(
                [model.evaluate(trainX, trainy, verbose=0)[1],
                 model.evaluate(testX, testy, verbose=0)[1]])
            print(seed, epochs, out[f"s{seed}_e{epochs}_acc"], flush=True)
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "keras_traj.npz")

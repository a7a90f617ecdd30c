"""Optional cross-check of the ``capacity-nodes`` study against Keras 3 itself.

Runs the book's code (Better Deep Learning, "Configure capacity with nodes and layers") with
Keras 3 over several seeds and prints per-seed train/test accuracy and the mean with a 95%
t confidence interval per width. NOT a project dependency and not run by the test suite; it
needs, in a separate environment::

    pip install keras jax scikit-learn
    KERAS_BACKEND=jax python benchmarks/keras_reference/capacity_nodes.py --seeds 20 --widths 5 6 7

Compare with ``jaxlab run capacity-nodes`` (``--set`` the same seed count).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402


def data():
    """The book's 20-class blobs, 500 train / 500 test, one-hot labels."""
    X, y = make_blobs(n_samples=1000, centers=20, n_features=100, cluster_std=2, random_state=2)
    y = keras.utils.to_categorical(y)
    return X[:500], y[:500], X[500:], y[500:]


def build(n_nodes: int) -> keras.Model:
    """The book's compiled model (initialized from Keras' current global seed)."""
    m = keras.Sequential([
        keras.Input((100,)),
        keras.layers.Dense(n_nodes, activation="relu", kernel_initializer="he_uniform"),
        keras.layers.Dense(20, activation="softmax"),
    ])
    m.compile(loss="categorical_crossentropy",
              optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
              metrics=["accuracy"])
    return m


def fit(n_nodes: int, seed: int, epochs: int = 100) -> tuple[float, float]:
    """(train accuracy, test accuracy) of the book's model at ``n_nodes``, seeded by ``seed``."""
    keras.utils.set_random_seed(seed)
    trainX, trainy, testX, testy = data()
    model = build(n_nodes)
    model.fit(trainX, trainy, epochs=epochs, verbose=0)
    _, train_acc = model.evaluate(trainX, trainy, verbose=0)
    _, test_acc = model.evaluate(testX, testy, verbose=0)
    return float(train_acc), float(test_acc)


def mean_ci(a) -> tuple[float, float, float]:
    """Mean and 95% t confidence interval."""
    a = np.asarray(a, float)
    half = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0
    return a.mean(), a.mean() - half, a.mean() + half


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--first", type=int, default=0, help="the first seed")
    p.add_argument("--widths", type=int, nargs="+", default=[5, 6, 7])
    p.add_argument("--epochs", type=int, default=100)
    args = p.parse_args()
    print(f"keras {keras.__version__} backend {keras.backend.backend()}")
    for w in args.widths:
        seeds = range(args.first, args.first + args.seeds)
        runs = [fit(w, s, args.epochs) for s in seeds]
        for s, (tr, te) in zip(seeds, runs, strict=True):
            print(f"width {w} seed {s:2d}: train {tr:.3f} test {te:.3f}", flush=True)
        test = [te for _, te in runs]
        m, lo, hi = mean_ci(test)
        stuck = np.mean(np.asarray(test) < 0.95)
        print(f"width {w}: test accuracy {m:.3f} [{lo:.3f}, {hi:.3f}] over {len(test)} seeds; "
              f"below 0.95: {stuck:.2f}; train {mean_ci([tr for tr, _ in runs])[0]:.3f}",
              flush=True)


if __name__ == "__main__":
    main()

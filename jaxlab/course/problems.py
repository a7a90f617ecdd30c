"""The course's problems and standard settings ("Better Deep Learning" and the lessons).

Every data set is a scikit-learn generator with the course's fixed ``random_state``, split
as the course splits it (the first 500 samples train, the rest test), so every experiment
is reproducible. The test part is the validation data (``val_*`` columns).
"""

from __future__ import annotations

import jaxlab as jl


def blobs20() -> jl.DataConfig:
    """Capacity chapters: ``make_blobs(1000, centers=20, n_features=100, cluster_std=2,
    random_state=2)``, 500 train / 500 test."""
    return jl.DataConfig("blobs", options=dict(n_samples=1000, centers=20, n_features=100,
                                               cluster_std=2.0, random_state=2), train_size=500)


def blobs3(random_state: int = 2, **kw) -> jl.DataConfig:
    """Batch size, learning rate, momentum, losses, pretraining, transfer:
    ``make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)``,
    500 / 500."""
    return jl.DataConfig("blobs", options=dict(n_samples=1000, centers=3, n_features=2,
                                               cluster_std=2.0, random_state=random_state),
                         train_size=500, **kw)


def circles(**kw) -> jl.DataConfig:
    """Vanishing gradients, batch norm, binary losses:
    ``make_circles(1000, noise=0.1, random_state=1)``, 500 / 500."""
    return jl.DataConfig("circles", options=dict(n_samples=1000, noise=0.1, random_state=1),
                         train_size=500, **kw)


def regression(**kw) -> jl.DataConfig:
    """Clipping, data scaling, regression losses:
    ``make_regression(1000, n_features=20, noise=0.1, random_state=1)``, 500 / 500."""
    return jl.DataConfig("regression", options=dict(n_samples=1000, n_features=20, noise=0.1,
                                                    random_state=1), train_size=500, **kw)


def mnist(**kw) -> jl.DataConfig:
    """MNIST (tensorflow-datasets or ``--data-dir``): the last sixth of the training split
    validates, the test split is the held-out test part (``test_*`` columns, evaluated once
    on the final weights), ``limit_train`` keeps the runs to minutes on 2 CPU cores. The same
    settings work with ``--set data.name=digits`` (scikit-learn's 8x8 digits, offline, no
    test part)."""
    return jl.DataConfig("mnist", **{"validation_split": 1 / 6, **kw})


def sgd(**kw) -> jl.TrainConfig:
    """The book's optimizer: ``SGD(lr=0.01, momentum=0.9)``, Keras' batch size 32."""
    return jl.TrainConfig(**{"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9,
                             "batch_size": 32, **kw})


def seeds(quick: bool, default: int = 5, small: int = 2) -> list[int]:
    """The repeats: a ``seed`` axis of ``small`` (quick) or ``default`` values."""
    return list(range(small if quick else default))

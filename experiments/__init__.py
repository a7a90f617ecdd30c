"""The course's experiments, one module each; ``jaxlab run NAME`` and ``jaxlab list``.

:data:`EXPERIMENTS` maps each name to its :class:`jaxlab.experiments.Experiment`; it is
written out here, in the order of the course (nothing registers itself on import). The
runner, the output layout and the shared helpers live in :mod:`jaxlab.experiments`; the
course's data sets and settings in :mod:`experiments.problems`.
"""

from __future__ import annotations

from experiments import (
    activations_vanishing,
    batch_size,
    batchnorm,
    capacity_layers,
    capacity_nodes,
    data_scaling,
    dropout_mnist,
    dying_relu,
    early_stopping,
    exploding_clipping,
    initialization,
    layerwise_pretraining,
    learning_rate,
    loss_functions,
    mnist_tensorboard,
    momentum,
    optimizers,
    transfer_learning,
)

EXPERIMENTS = {e.name: e for e in (
    capacity_nodes.EXPERIMENT,
    capacity_layers.EXPERIMENT,
    batch_size.EXPERIMENT,
    learning_rate.EXPERIMENT,
    momentum.EXPERIMENT,
    optimizers.EXPERIMENT,
    dropout_mnist.EXPERIMENT,
    early_stopping.EXPERIMENT,
    activations_vanishing.EXPERIMENT,
    dying_relu.EXPERIMENT,
    exploding_clipping.EXPERIMENT,
    data_scaling.EXPERIMENT,
    loss_functions.EXPERIMENT,
    batchnorm.EXPERIMENT,
    initialization.EXPERIMENT,
    layerwise_pretraining.EXPERIMENT,
    transfer_learning.EXPERIMENT,
    mnist_tensorboard.EXPERIMENT,
)}

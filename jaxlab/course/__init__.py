"""The course's experiments, one module each; ``jaxlab run NAME`` and ``jaxlab list``.

:data:`EXPERIMENTS` maps each name to its :class:`~jaxlab.course.framework.Experiment`; it
is written out here, in the order of the course (nothing registers itself on import). The
runner and the helpers the studies share live in :mod:`jaxlab.course.framework`, the
``findings.md`` report in :mod:`jaxlab.course.report`, the course's data sets and settings in
:mod:`jaxlab.course.problems`.

Example:
  >>> from jaxlab import course
  >>> outcome = course.run_experiment("capacity-nodes",
  ...                                 course.Options(quick=True, out="/tmp/runs"))
  ...                                                                  # doctest: +SKIP
  >>> outcome.findings.holds, outcome.findings.numbers["loss_at_1"]    # doctest: +SKIP
"""

from __future__ import annotations

from jaxlab.course import (
    activations_vanishing,
    batch_size,
    batchnorm,
    capacity_layers,
    capacity_nodes,
    critical_batch_size,
    data_scaling,
    dropout_mnist,
    dying_relu,
    early_stopping,
    edge_of_stability,
    exploding_clipping,
    framework,
    initialization,
    layerwise_pretraining,
    learning_rate,
    loss_functions,
    mnist_tensorboard,
    momentum,
    mu_transfer,
    optimizers,
    transfer_learning,
)
from jaxlab.course.framework import (
    Context,
    Experiment,
    Findings,
    Options,
    Outcome,
    RunInfo,
    at_epoch,
    bars,
    by_axis,
    curve_mean,
    number,
    panels,
    roughness,
)
from jaxlab.course.report import findings_markdown, markdown_table, write_findings
from jaxlab.errors import ConfigError

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
    edge_of_stability.EXPERIMENT,
    critical_batch_size.EXPERIMENT,
    mu_transfer.EXPERIMENT,
)}


def get(name: str) -> Experiment:
    """The experiment called ``name`` (see ``jaxlab list``)."""
    if name not in EXPERIMENTS:
        raise ConfigError("experiment", name, f"unknown; expected one of {sorted(EXPERIMENTS)} "
                                              "(see jaxlab list)")
    return EXPERIMENTS[name]


def run_experiment(name: str, options: Options | None = None) -> Outcome:
    """Run experiment ``name`` and write its directory ``options.out/name``.

    Args:
      name: the experiment (``jaxlab list``).
      options: quick, overrides, output, data directory (default: :class:`Options`()).

    Returns:
      The :class:`Outcome` (see :func:`jaxlab.course.framework.run`).
    """
    return framework.run(get(name), Options() if options is None else options)


__all__ = [
    "EXPERIMENTS",
    "Context",
    "Experiment",
    "Findings",
    "Options",
    "Outcome",
    "RunInfo",
    "at_epoch",
    "bars",
    "by_axis",
    "curve_mean",
    "findings_markdown",
    "get",
    "markdown_table",
    "number",
    "panels",
    "roughness",
    "run_experiment",
    "write_findings",
]

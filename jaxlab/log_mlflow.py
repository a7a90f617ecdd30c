"""MLflow logging of a sweep: one experiment, a parent run for the sweep, a child per variant.

Layout in the tracking store (``MLFLOW_TRACKING_URI``, or ``tracking_uri=``)::

  experiment <sweep name>
    run <sweep name>                 the parent: tag jaxlab.variants = N
      run v000_lr=0.01_bs=4          a child (tag mlflow.parentRunId): one per variant
      run v001_lr=0.1_bs=4
      ...

Each child has the variant's hyperparameters as params (``variant`` and the swept values),
the scalars of :mod:`jaxlab.loggers` as metrics at ``step`` = the 1-based epoch (one
``log_batch`` per epoch; NaN and inf as MLflow stores them), ``final/...`` and ``best/...``
at its last epoch, a ``status`` tag, and ends ``FINISHED`` (``KILLED`` when the sweep was
interrupted).

It uses :class:`mlflow.tracking.MlflowClient` with explicit run ids, never MLflow's global
active run: many runs stay open at once, and a run that the caller has open is left alone.
The client is all it needs, so ``mlflow-skinny`` is enough. (MLflow 3 refuses a ``file:``
store unless ``MLFLOW_ALLOW_FILE_STORE=true``; a database or server URI needs nothing.)

Example:
  >>> result = jl.run(spec, loggers=["mlflow"])                      # doctest: +SKIP
  >>> # then: mlflow ui   (in the directory holding ./mlruns or mlflow.db)
"""

from __future__ import annotations

import time

from jaxlab.loggers import SweepLogger
from jaxlab.writers import HParams, Scalars

_MAX_PARAM = 6000  # MLflow's limit on a param value's length


def _millis() -> int:
    return int(time.time() * 1000)


class MLflowWriter:
    """A :class:`jaxlab.writers.Writer` for one MLflow run (by id, through a client)."""

    def __init__(self, client, run_id: str):
        from mlflow.entities import Metric, Param, RunTag

        self.client, self.run_id = client, run_id
        self._metric, self._param, self._tag = Metric, Param, RunTag
        self._status = "ok"
        self._params: set[str] = set()  # logged already: MLflow refuses changing a param

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        t = _millis()
        self.client.log_batch(self.run_id, metrics=[
            self._metric(k, float(v), t, int(step)) for k, v in scalars.items()])

    def write_hparams(self, hparams: HParams) -> None:
        """``status`` becomes a tag; params are logged once (MLflow refuses changing them)."""
        hparams = dict(hparams)
        self._status = hparams.pop("status", self._status)
        params = [self._param(k, str(v)[:_MAX_PARAM]) for k, v in hparams.items()
                  if k not in self._params]
        self._params.update(hparams)
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        self.client.set_tag(self.run_id, "status", self._status)

    def flush(self) -> None:
        """Every call is written when it returns; nothing to do."""

    def close(self) -> None:
        self.client.set_terminated(
            self.run_id, "KILLED" if self._status == "interrupted" else "FINISHED")


class MLflowLogger(SweepLogger):
    """Per-epoch sweep callback writing one nested MLflow run per variant (see module doc).

    Args:
      plan: the sweep's :class:`jaxlab.sweep.Plan`.
      tracking_uri: the tracking store (default: MLflow's, ``MLFLOW_TRACKING_URI``).
      experiment: the experiment's name (default: the sweep's name); made if missing.
      background: log on a worker thread (see :class:`jaxlab.loggers.SweepLogger`).
    """

    def __init__(self, plan, *, tracking_uri: str | None = None, experiment: str | None = None,
                 background: bool = True):
        super().__init__(plan, background=background, thread_name="jaxlab-mlflow")
        from mlflow.tracking import MlflowClient  # optional: pip install 'jaxlab[mlflow]'

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment = experiment or self.name
        self.n_variants = len(plan.variants)
        self.experiment_id: str | None = None
        self.parent_id: str | None = None

    def _parent(self) -> str:
        """The sweep's run (and its experiment), made when the first variant starts."""
        if self.parent_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            self.experiment_id = (found.experiment_id if found is not None
                                  else self.client.create_experiment(self.experiment))
            run = self.client.create_run(self.experiment_id, run_name=self.name, tags={
                "jaxlab.variants": str(self.n_variants)})
            self.parent_id = run.info.run_id
        return self.parent_id

    def open_writer(self, index: int) -> MLflowWriter:
        parent = self._parent()
        run = self.client.create_run(self.experiment_id, run_name=self.run_names[index], tags={
            "mlflow.parentRunId": parent, "jaxlab.variant": str(index)})
        writer = MLflowWriter(self.client, run.info.run_id)
        writer.write_hparams({**self.hparams[index], "status": "running"})
        return writer

    def end(self) -> None:
        if self.parent_id is not None:
            self.client.set_terminated(self.parent_id,
                                       "KILLED" if self.interrupted else "FINISHED")

"""TensorBoard logging of a sweep: one run per variant, per-epoch scalars, HParams.

Layout of a log directory (one run directory per variant, named from its swept values)::

  LOGDIR/v000_lr=0.01_bs=4/events.out.tfevents.<time>.<host>.jaxlab
  LOGDIR/v001_lr=0.1_bs=4/...

Every run holds, at ``step`` = the 1-based epoch (as in ``Result.history``):

* ``train/<name>`` for the training loss and metrics, ``val/<name>`` for the validation
  ones, ``optim/lr`` (the learning rate in effect at the end of the epoch) and
  ``optim/grad_norm`` (the epoch's mean global gradient norm);
* when the variant ends (its last epoch, early stop, divergence): ``final/<name>`` and
  ``best/<name>`` for the loss and every metric (``NaN`` where a value is missing, so that
  every run has the same keys), ``final/epochs_run``, and the HParams plugin's summaries:
  the swept values plus ``variant`` and ``status`` (``ok``, ``stopped``, ``diverged``).

TensorBoard's HParams tab then lists every variant with its hyperparameters and final
metrics. The experiment summary is written into each run's own directory (the same in
every run), which avoids ``SummaryWriter.add_hparams``' extra timestamped run per call.

Logging happens in the host's once-per-epoch look at the sweep (a :data:`sweep.Callback`),
never per step. Events are framed with tensorboardX's protos and checksums and buffered in
memory; a run's file is opened only to append (every ``flush_secs`` and when the variant
ends), so a sweep of thousands of variants holds no file handles and starts no threads.

Example:
  >>> result = jl.run(spec, tensorboard="runs/tb")               # doctest: +SKIP
  >>> # or, as an explicit callback:
  >>> plan = jl.plan(spec)                                       # doctest: +SKIP
  >>> logger = TensorBoardLogger("runs/tb", plan)                # doctest: +SKIP
  >>> result = jl.run(spec, callbacks=[logger]); logger.close()  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import math
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorboardX.proto import api_pb2, event_pb2, plugin_hparams_pb2, summary_pb2
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.summary import hparams as hparams_summaries

from jaxlab import labels
from jaxlab.writers import HParams, Scalars

STATUS = ("ok", "stopped", "diverged", "interrupted")
_PLUGIN = "hparams"
_EXPERIMENT_TAG = "_hparams_/experiment"
_SESSION_END_TAG = "_hparams_/session_end_info"
_OPTIM = ("lr", "grad_norm")
# Past this many distinct values an HParams domain is an interval rather than a list.
_MAX_DISCRETE = 32


def tag(name: str) -> str:
    """The TensorBoard tag of a history column: ``val_accuracy`` -> ``val/accuracy``."""
    if name in _OPTIM:
        return f"optim/{name}"
    if name.startswith("val_"):
        return f"val/{name[4:]}"
    return f"train/{name}"


# -- the writer ---------------------------------------------------------------------------------
class TensorBoardWriter:
    """A :class:`jaxlab.writers.Writer` for one TensorBoard run directory.

    Args:
      logdir: the run's directory (created).
      metrics: tags the HParams tab shows as metrics (they must be written as scalars).
      domains: every value each hyperparameter takes in the experiment (as written by
        :meth:`write_hparams`), so that every run declares the same experiment.
      flush_secs: append buffered events to the file at most this often.
      overwrite: delete event files already in ``logdir`` (a re-run of the same sweep).
    """

    def __init__(self, logdir: str, *, metrics: Sequence[str] = (),
                 domains: Mapping[str, Sequence[Any]] | None = None, flush_secs: float = 10.0,
                 overwrite: bool = False):
        os.makedirs(logdir, exist_ok=True)
        if overwrite:
            for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
                os.remove(old)
        self.logdir = logdir
        self.path = os.path.join(logdir, f"events.out.tfevents.{time.time():.6f}."
                                         f"{socket.gethostname()}.{os.getpid()}.jaxlab")
        self.metrics = tuple(metrics)
        self.domains = dict(domains or {})
        self.flush_secs = flush_secs
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        self._closed = False
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _add(self, event: event_pb2.Event) -> None:
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._buffer.append(header + struct.pack("<I", masked_crc32c(header)) + data
                            + struct.pack("<I", masked_crc32c(data)))

    def _summary(self, step: int, summary: summary_pb2.Summary) -> None:
        self._add(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        """Write ``tag -> value`` at ``step`` as one event."""
        self._summary(step, summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]))
        if time.monotonic() - self._last_flush > self.flush_secs:
            self.flush()

    def write_hparams(self, hparams: HParams) -> None:
        """Write the HParams experiment, session start (``hparams``) and session end."""
        domains = {k: self.domains.get(k, [v]) for k, v in hparams.items()}
        _, start, _ = hparams_summaries(dict(hparams), {})
        self._summary(0, experiment_summary(domains, self.metrics))
        self._summary(0, start)
        self._summary(0, _plugin_summary(_SESSION_END_TAG, plugin_hparams_pb2.HParamsPluginData(
            session_end_info=plugin_hparams_pb2.SessionEndInfo(
                status=api_pb2.Status.Value("STATUS_SUCCESS"), end_time_secs=time.time()))))
        self.flush()

    def flush(self) -> None:
        if self._buffer:
            with open(self.path, "ab") as f:
                f.write(b"".join(self._buffer))
            self._buffer.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True


def _plugin_summary(tag_: str, data: plugin_hparams_pb2.HParamsPluginData) -> summary_pb2.Summary:
    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name=_PLUGIN, content=data.SerializeToString()))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag_, metadata=meta)])


def experiment_summary(domains: Mapping[str, Sequence[Any]],
                       metrics: Sequence[str]) -> summary_pb2.Summary:
    """The HParams experiment: every hyperparameter with its domain, every metric tag.

    Args:
      domains: name -> the values it takes (all numbers, all strings or all bools).
      metrics: scalar tags shown as metric columns.
    """
    infos = []
    for name, values in domains.items():
        values = list(dict.fromkeys(values))
        info = api_pb2.HParamInfo(name=name)
        if all(isinstance(v, bool) for v in values):
            info.type = api_pb2.DataType.Value("DATA_TYPE_BOOL")
            info.domain_discrete.extend(values)
        elif all(isinstance(v, (int, float)) for v in values):
            info.type = api_pb2.DataType.Value("DATA_TYPE_FLOAT64")
            if len(values) <= _MAX_DISCRETE:
                info.domain_discrete.extend(sorted(float(v) for v in values))
            else:
                info.domain_interval.min_value = float(min(values))
                info.domain_interval.max_value = float(max(values))
        else:
            info.type = api_pb2.DataType.Value("DATA_TYPE_STRING")
            info.domain_discrete.extend(str(v) for v in values)
        infos.append(info)
    exp = api_pb2.Experiment(hparam_infos=infos, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m)) for m in metrics])
    return _plugin_summary(_EXPERIMENT_TAG, plugin_hparams_pb2.HParamsPluginData(experiment=exp))


def hparam_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Make ``rows`` (name -> value per run) HParams-ready, one type per column.

    Numbers stay numbers and bools stay bools; any other value (``None``, a tuple such as
    ``hidden=(50, 50)``), or a column that mixes kinds, becomes a string (``"50x50"``).
    """
    out = [dict() for _ in rows]
    for name in dict.fromkeys(k for r in rows for k in r):
        col = [_plain(r.get(name)) for r in rows]
        if all(isinstance(v, bool) for v in col):
            kind = bool
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col):
            kind = float
        else:
            kind = str
        for o, v in zip(out, col, strict=True):
            o[name] = labels.value(v) if kind is str else v
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# -- the sweep callback -------------------------------------------------------------------------
class TensorBoardLogger:
    """Per-epoch sweep callback writing one TensorBoard run per variant (see module doc).

    Args:
      logdir: the log directory (``tensorboard --logdir LOGDIR``).
      plan: the sweep's :class:`jaxlab.sweep.Plan` (names runs, lists every metric).
      flush_secs: how often each run's events are appended to its file.
      overwrite: delete event files left in a run's directory by an earlier sweep.
    """

    def __init__(self, logdir: str, plan, *, flush_secs: float = 10.0, overwrite: bool = True):
        self.logdir = logdir
        self.flush_secs = flush_secs
        self.overwrite = overwrite
        axes = plan.spec.axes()
        names = labels.short_names(axes)
        n = len(plan.variants)
        self.run_names = {v.index: labels.run_name(v.index, {a: v.values.get(a) for a in axes},
                                                   n_variants=n) for v in plan.variants}
        table = hparam_table([{"variant": v.index, **{names[a]: v.values.get(a) for a in axes}}
                              for v in plan.variants])
        self._hparams = {v.index: row for v, row in zip(plan.variants, table, strict=True)}
        self._domains = {k: [row[k] for row in table] for k in table[0]}
        self._domains["status"] = list(STATUS)
        self.metrics = labels.metric_names(plan)
        self._metric_tags = ([f"final/{m}" for m in self.metrics]
                             + [f"best/{m}" for m in self.metrics] + ["final/epochs_run"])
        self._writers: dict[int, TensorBoardWriter] = {}
        self._state: dict[int, dict] = {}

    def run_dir(self, index: int) -> str:
        """The run directory of variant ``index``."""
        return os.path.join(self.logdir, self.run_names[index])

    def _writer(self, index: int) -> TensorBoardWriter:
        if index not in self._writers:
            self._writers[index] = TensorBoardWriter(
                self.run_dir(index), metrics=self._metric_tags, domains=self._domains,
                flush_secs=self.flush_secs, overwrite=self.overwrite)
            self._state[index] = {"final": {}, "best": {}, "epoch": 0, "status": "ok"}
        return self._writers[index]

    def __call__(self, report) -> None:
        rec = report.record
        scalars = [k for k in rec if k not in ("trained", "stopped", "diverged", "updates",
                                               "examples")]
        tags = [tag(k) for k in scalars]
        # One host conversion per epoch; the per-variant loop only indexes Python lists.
        cols = [np.asarray(rec[k], np.float64).tolist() for k in scalars]
        trained, active = rec["trained"].tolist(), report.active.tolist()
        stopped, diverged = rec["stopped"].tolist(), rec["diverged"].tolist()
        step = report.epoch + 1
        for j, index in enumerate(report.indices):
            if not trained[j]:
                continue
            values = [c[j] for c in cols]
            self._writer(index).write_scalars(step, dict(zip(tags, values, strict=True)))
            st = self._state[index]
            st["epoch"] = step
            for k, v in zip(scalars, values, strict=True):
                if k in _OPTIM:
                    continue
                st["final"][k] = v
                best = st["best"].get(k, math.nan)
                if math.isfinite(v) and (math.isnan(best) or
                                         (v > best if "acc" in k else v < best)):
                    st["best"][k] = v
            if diverged[j]:
                st["status"] = "diverged"
            elif stopped[j]:
                st["status"] = "stopped"
            if not active[j]:
                self._finish(index)

    def _finish(self, index: int, status: str | None = None) -> None:
        st, w = self._state[index], self._writers.pop(index)
        summary = {f"final/{m}": st["final"].get(m, math.nan) for m in self.metrics}
        summary.update({f"best/{m}": st["best"].get(m, math.nan) for m in self.metrics})
        summary["final/epochs_run"] = st["epoch"]
        w.write_scalars(st["epoch"], summary)
        w.write_hparams({**self._hparams[index], "status": status or st["status"]})
        w.close()

    def close(self) -> None:
        """End every run still open (an interrupted sweep): status ``interrupted``."""
        for index in list(self._writers):
            self._finish(index, "interrupted")


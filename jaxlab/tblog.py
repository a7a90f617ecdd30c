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
never per step. The callback hands each epoch's report to one worker thread, which builds
and writes the events while the next epoch computes. Events are tensorboardX protos,
buffered in memory and framed (TFRecord lengths and CRC-32C checksums, vectorized over the
buffered events) when a run's file is opened to append: every ``flush_secs`` and when the
variant ends. A sweep of thousands of variants holds no file handles open.

Example:
  >>> result = jl.run(spec, tensorboard="runs/tb")               # doctest: +SKIP
  >>> # or, as an explicit callback:
  >>> plan = jl.plan(spec)                                       # doctest: +SKIP
  >>> logger = TensorBoardLogger("runs/tb", plan)                # doctest: +SKIP
  >>> result = jl.run(spec, callbacks=[logger]); logger.close()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import glob
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorboardX.crc32c import CRC_TABLE, crc32c
from tensorboardX.proto import api_pb2, event_pb2, plugin_hparams_pb2, summary_pb2
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.summary import hparams as hparams_summaries

from jaxlab import conventions
from jaxlab.loggers import SweepLogger, hparam_table, tag  # noqa: F401  (tblog.tag, as before)
from jaxlab.writers import HParams, Scalars

_PLUGIN = "hparams"
_EXPERIMENT_TAG = "_hparams_/experiment"
_SESSION_END_TAG = "_hparams_/session_end_info"
# Past this many distinct values an HParams domain is an interval rather than a list.
_MAX_DISCRETE = 32


# -- the writer ---------------------------------------------------------------------------------
class TensorBoardWriter:
    """A :class:`jaxlab.writers.Writer` for one TensorBoard run directory.

    Args:
      logdir: the run's directory (created).
      experiment: the HParams experiment (:func:`experiment_summary`: every hyperparameter's
        domain, the metric tags) that :meth:`write_hparams` declares, the same in every run
        of a sweep; default: one made of the run's own hyperparameters, without metrics.
      flush_secs: append buffered events to the file at most this often.
      overwrite: delete event files already in ``logdir`` (a re-run of the same sweep).

    Example:
      >>> w = TensorBoardWriter("runs/tb/a")                           # doctest: +SKIP
      >>> w.write_scalars(1, {"train/loss": 0.7}); w.write_hparams({"lr": 0.1}); w.close()
    """

    def __init__(self, logdir: str, *, experiment: summary_pb2.Summary | None = None,
                 flush_secs: float = 10.0, overwrite: bool = False):
        os.makedirs(logdir, exist_ok=True)
        if overwrite:
            for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
                os.remove(old)
        self.logdir = logdir
        self.path = os.path.join(logdir, f"events.out.tfevents.{time.time():.6f}."
                                         f"{socket.gethostname()}.{os.getpid()}.jaxlab")
        self.experiment = experiment
        self.flush_secs = flush_secs
        self._buffer: list[bytes] = []
        self._templates: dict[tuple[str, ...], event_pb2.Event] = {}
        self._last_flush = time.monotonic()
        self._closed = False
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _add(self, event: event_pb2.Event) -> None:
        self._buffer.append(event.SerializeToString())  # framed in batches by flush()

    def _summary(self, step: int, summary: summary_pb2.Summary) -> None:
        self._add(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def write_scalars(self, step: int, scalars: Scalars) -> None:
        """Write ``tag -> value`` at ``step`` as one event."""
        # A run writes the same tags every epoch: refilling one event proto is ~5x cheaper
        # than building a new one, which matters at thousands of events a second.
        tags = tuple(scalars)
        if tags not in self._templates:
            self._templates[tags] = event_pb2.Event(summary=summary_pb2.Summary(value=[
                summary_pb2.Summary.Value(tag=k, simple_value=0.0) for k in tags]))
        event = self._templates[tags]
        event.step, event.wall_time = int(step), time.time()
        for slot, v in zip(event.summary.value, scalars.values(), strict=True):
            slot.simple_value = float(v)
        self._add(event)
        if time.monotonic() - self._last_flush > self.flush_secs:
            self.flush()

    def write_hparams(self, hparams: HParams) -> None:
        """Write the HParams experiment, session start (``hparams``) and session end."""
        exp = self.experiment or experiment_summary({k: [v] for k, v in hparams.items()}, ())
        _, start, _ = hparams_summaries(dict(hparams), {})
        self._summary(0, exp)
        self._summary(0, start)
        self._summary(0, _plugin_summary(_SESSION_END_TAG, plugin_hparams_pb2.HParamsPluginData(
            session_end_info=plugin_hparams_pb2.SessionEndInfo(
                status=api_pb2.Status.Value("STATUS_SUCCESS"), end_time_secs=time.time()))))
        self.flush()

    def flush(self) -> None:
        if self._buffer:
            with open(self.path, "ab") as f:
                f.write(frame(self._buffer))
            self._buffer.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True


# -- TFRecord framing ----------------------------------------------------------------------------
_CRC_TABLE = np.asarray(CRC_TABLE, np.uint32)
_MIN_VECTOR = 16


def crc32c_many(records: Sequence[bytes]) -> np.ndarray:
    """CRC-32C of every record, ``(len(records),)`` uint32, vectorized across records.

    tensorboardX's own CRC is a Python loop per byte (~0.1 us a byte, most of the cost of
    an event); here records of equal length share one NumPy step per byte position.
    """
    out = np.zeros(len(records), np.uint32)
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_length.setdefault(len(r), []).append(i)
    for length, idx in by_length.items():
        if len(idx) < _MIN_VECTOR:  # NumPy's per-call cost beats a short Python loop
            out[idx] = [crc32c(records[i]) for i in idx]
            continue
        # (length, n): one contiguous row per byte position.
        data = np.frombuffer(b"".join(records[i] for i in idx), np.uint8)
        data = np.ascontiguousarray(data.reshape(len(idx), length).T).astype(np.uint32)
        crc = np.full(len(idx), 0xFFFFFFFF, np.uint32)
        for row in data:
            np.bitwise_xor(crc, row, out=row)
            np.bitwise_and(row, 0xFF, out=row)
            np.right_shift(crc, 8, out=crc)
            np.bitwise_xor(crc, _CRC_TABLE.take(row), out=crc)
        out[idx] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def _masked(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint64)
    return ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF).astype("<u4")


@functools.lru_cache(maxsize=4096)
def _header(length: int) -> bytes:
    header = struct.pack("<Q", length)
    return header + struct.pack("<I", masked_crc32c(header))


def frame(records: Sequence[bytes]) -> bytes:
    """TFRecord framing of serialized events: length, its masked CRC, data, data's masked CRC.

    The same bytes as tensorboardX's ``RecordWriter.write`` for each record.
    """
    crcs = _masked(crc32c_many(records)).tobytes()
    return b"".join(_header(len(r)) + r + crcs[4 * i: 4 * i + 4]
                    for i, r in enumerate(records))


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


# -- the sweep callback -------------------------------------------------------------------------
class TensorBoardLogger(SweepLogger):
    """Per-epoch sweep callback writing one TensorBoard run per variant (see module doc).

    Args:
      logdir: the log directory (``tensorboard --logdir LOGDIR``).
      plan: the sweep's :class:`jaxlab.sweep.Plan` (names runs, lists every metric).
      flush_secs: how often each run's events are appended to its file.
      overwrite: delete event files left in a run's directory by an earlier sweep.
      background: build and write events on one worker thread (see
        :class:`jaxlab.loggers.SweepLogger`); ``False``: in the calling thread.

    Call :meth:`close` after the sweep (``jl.run(spec, tensorboard=...)`` does): it waits
    for the worker and ends runs left open by an interrupted sweep.
    """

    def __init__(self, logdir: str, plan, *, flush_secs: float = 10.0, overwrite: bool = True,
                 background: bool = True):
        super().__init__(plan, background=background, thread_name="jaxlab-tensorboard")
        self.logdir = logdir
        self.flush_secs = flush_secs
        self.overwrite = overwrite
        table = list(self.hparams.values())
        domains = {k: [row[k] for row in table] for k in table[0]}
        domains["status"] = list(conventions.STATUS)
        self.experiment = experiment_summary(
            domains, [f"final/{m}" for m in self.metrics] + [f"best/{m}" for m in self.metrics]
            + ["final/epochs_run"])

    def run_dir(self, index: int) -> str:
        """The run directory of variant ``index``."""
        return os.path.join(self.logdir, self.run_names[index])

    def open_writer(self, index: int) -> TensorBoardWriter:
        return TensorBoardWriter(self.run_dir(index), experiment=self.experiment,
                                 flush_secs=self.flush_secs, overwrite=self.overwrite)

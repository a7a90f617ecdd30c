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

import collections
import dataclasses
import functools
import glob
import math
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from tensorboardX.crc32c import CRC_TABLE, crc32c
from tensorboardX.proto import api_pb2, event_pb2, plugin_hparams_pb2, summary_pb2
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.summary import hparams as hparams_summaries

from jaxlab import conventions, labels
from jaxlab.writers import HParams, Scalars

_PLUGIN = "hparams"
_EXPERIMENT_TAG = "_hparams_/experiment"
_SESSION_END_TAG = "_hparams_/session_end_info"
_OPTIM = ("lr", "grad_norm")
_NOT_SCALARS = ("trained", "stopped", "diverged", "pruned", "updates", "examples")
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
      background: build and write events on one worker thread (as CLU's ``AsyncWriter``),
        so that the training loop only hands each epoch's report over; its work overlaps
        the next epoch's computation. Reports are handled in order; a worker error is
        raised by the next call or by :meth:`close`. ``False``: in the calling thread.

    Call :meth:`close` after the sweep (``jl.run(spec, tensorboard=...)`` does): it waits
    for the worker and ends runs left open by an interrupted sweep.
    """

    def __init__(self, logdir: str, plan, *, flush_secs: float = 10.0, overwrite: bool = True,
                 background: bool = True):
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
        domains = {k: [row[k] for row in table] for k in table[0]}
        domains["status"] = list(conventions.STATUS)
        self.metrics = labels.metric_names(plan)
        self.experiment = experiment_summary(
            domains, [f"final/{m}" for m in self.metrics] + [f"best/{m}" for m in self.metrics]
            + ["final/epochs_run"])
        self._writers: dict[int, TensorBoardWriter] = {}
        self._groups: dict[int, _Track] = {}
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="jaxlab-tensorboard")
                      if background else None)
        self._pending: collections.deque[Future] = collections.deque()
        self._broken = False

    def run_dir(self, index: int) -> str:
        """The run directory of variant ``index``."""
        return os.path.join(self.logdir, self.run_names[index])

    def _writer(self, index: int) -> TensorBoardWriter:
        if index not in self._writers:
            self._writers[index] = TensorBoardWriter(
                self.run_dir(index), experiment=self.experiment, flush_secs=self.flush_secs,
                overwrite=self.overwrite)
        return self._writers[index]

    def __call__(self, report) -> None:
        if self._broken:
            return  # its error was raised already
        if self._pool is None:
            try:
                self._log(report)
            except BaseException:
                self._broken = True
                raise
            return
        self._check(wait=False)
        self._pending.append(self._pool.submit(self._log, report))

    def _check(self, wait: bool) -> None:
        """Raise the worker's error, if any, from the reports it finished (``wait``: all).

        Reports finish in order, so only the oldest pending ones need a look. After an error
        the logger is broken: the reports still queued are dropped.
        """
        while self._pending and (wait or self._pending[0].done()):
            try:
                self._pending.popleft().result()
            except BaseException:
                self._broken = True
                for f in self._pending:
                    f.cancel()
                self._pending.clear()
                raise

    def _log(self, report) -> None:
        rec = report.record
        if report.group not in self._groups:
            self._groups[report.group] = _Track.start(report)
        track = self._groups[report.group]
        values = track.update(report)  # (V, S) float64
        tags, rows, step = track.tags, values.tolist(), report.epoch + 1
        for j in np.flatnonzero(rec["trained"]):
            self._writer(report.indices[j]).write_scalars(step, dict(zip(tags, rows[j],
                                                                         strict=True)))
        for j in np.flatnonzero(rec["trained"] & ~report.active):
            self._finish(report.group, int(j))

    def _finish(self, group: int, j: int, status: str | None = None) -> None:
        track = self._groups[group]
        index = track.indices[j]
        w = self._writers.pop(index)
        final = dict(zip(track.metrics, track.final[j].tolist(), strict=True))
        best = dict(zip(track.metrics, track.best[j].tolist(), strict=True))
        summary = {f"final/{m}": final.get(m, math.nan) for m in self.metrics}
        summary.update({f"best/{m}": best.get(m, math.nan) for m in self.metrics})
        summary["final/epochs_run"] = int(track.epochs[j])
        w.write_scalars(int(track.epochs[j]), summary)
        w.write_hparams({**self._hparams[index], "status": status or track.status[j]})
        w.close()

    def close(self) -> None:
        """Wait for the worker, then end every run still open (an interrupted sweep) with
        status ``interrupted``."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._check(wait=True)
        if self._broken:
            return
        for group, track in self._groups.items():
            for j, index in enumerate(track.indices):
                if index in self._writers:
                    self._finish(group, j, "interrupted")


@dataclasses.dataclass
class _Track:
    """One group's per-variant summary so far: ``(V, M)`` final and best values.

    Final and best are :func:`jaxlab.conventions.final_value` and
    :func:`~jaxlab.conventions.best_value` (as in ``Result.variants``), folded one epoch at a
    time: the summary so far and the new epoch are two epochs of the same reduction.
    """

    indices: list[int]
    scalars: list[str]  # the record's per-epoch scalars (S)
    tags: list[str]
    metrics: list[str]  # loss and metrics, training and validation (M)
    columns: np.ndarray  # (M,) their positions among the scalars
    maximize: np.ndarray  # (M,) bool
    final: np.ndarray  # (V, M)
    best: np.ndarray  # (V, M)
    epochs: np.ndarray  # (V,) last epoch trained, 1-based
    status: list[str]  # (V,) ok | stopped | diverged

    @classmethod
    def start(cls, report) -> _Track:
        scalars = [k for k in report.record if k not in _NOT_SCALARS]
        metrics = [k for k in scalars if k not in _OPTIM]
        v, m = len(report.indices), len(metrics)
        return cls(list(report.indices), scalars, [tag(k) for k in scalars], metrics,
                   np.array([scalars.index(k) for k in metrics]),
                   np.array([conventions.maximize(k) for k in metrics], bool),
                   np.full((v, m), np.nan),
                   np.full((v, m), np.nan), np.zeros(v, np.int64), ["ok"] * v)

    def update(self, report) -> np.ndarray:
        """Fold in one epoch; returns the epoch's ``(V, S)`` scalars."""
        rec = report.record
        values = np.array([rec[k] for k in self.scalars], np.float64).T
        m = values[:, self.columns]
        ran = np.stack([np.broadcast_to((self.epochs > 0)[:, None], m.shape),
                        np.broadcast_to(rec["trained"][:, None], m.shape)])  # (2, V, M)
        self.final = conventions.final_value(np.stack([self.final, m]), ran)
        self.best = conventions.best_value(np.stack([self.best, m]), ran, self.maximize)[0]
        self.epochs[rec["trained"]] = report.epoch + 1
        for flag in ("stopped", "pruned", "diverged"):  # diverged wins: it is checked last
            if flag in rec and rec[flag].any():
                for j in np.flatnonzero(rec[flag]):
                    self.status[j] = flag
        return values

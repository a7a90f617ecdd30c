"""Checkpoints of a running sweep (orbax-checkpoint): save atomically, resume exactly.

A checkpoint holds everything needed to continue a sweep as if it had never stopped:

* every finished group's records and final state;
* the current group's :class:`~jaxlab.engine.TrainState` of every variant (parameters,
  optimizer states, RNG keys, early-stopping, divergence and halving flags), its records so
  far, and which variants are still being trained;
* the cursor (group, next epoch) and a fingerprint of the spec and the data.

Epoch ``e`` of a variant draws its shuffle order and dropout masks from
``fold_in(key, e)``, so the epochs after the cursor replay exactly. Arrays are stored on the
host without the padding dummies, so a checkpoint resumes on any number of devices.

Orbax writes each checkpoint into a temporary directory (``<step>.orbax-checkpoint-tmp...``)
and renames it into place, so a killed save leaves no checkpoint behind, only that folder.
The writer removes such folders when it opens the directory, saying so in one line, and only
those it recognises as its own unfinished saves (a step number, orbax's suffix, and nothing
inside but what a checkpoint holds); orbax's own clean-up, which would remove any folder
whose name has the suffix, is off. Each array's CRC-32 is kept in the metadata, and
the metadata carries the SHA-256 of its own canonical JSON (``sha256``): a checkpoint that
fails to load or to verify (a flipped bit in the epoch cursor included) is skipped (with a
warning) and the one before it used. The last :data:`KEEP` checkpoints are kept. Only the
main process touches the directory: it writes, and on resume it reads and hands the
checkpoint to the other processes, so the directory need not be shared between hosts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import warnings
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxlab.errors import ConfigError, DiskFull, JaxlabError, is_disk_full
from jaxlab.lock import NAME as LOCK

KEEP = 2  # checkpoints kept
FORMAT = 2  # 2: the metadata carries its own digest ("sha256"); 1 (read only): it does not


class Preempted(JaxlabError):
    """The sweep stopped on SIGTERM after saving a checkpoint; resume it with ``--resume``.

    (Ctrl-C raises :class:`Interrupted` instead, a :class:`KeyboardInterrupt`.)
    """

    def __init__(self, directory: str | None, epoch: int, group: int):
        self.directory, self.epoch, self.group = directory, epoch, group
        where = (f"checkpoint saved in {directory}; continue with --resume" if directory
                 else "no checkpoint directory: progress lost")
        super().__init__(f"stopped by SIGTERM after epoch {epoch} of group {group}; {where}")


# -- fingerprints -------------------------------------------------------------------------------
def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def fingerprint(spec_dict: Mapping, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What must not change between a run and its resumption: the spec (dotted fields) and
    ``extra`` entries such as checksums of in-memory data or initial parameters."""
    flat = _flatten(json.loads(json.dumps(spec_dict, default=str)))
    flat.update({k: v for k, v in (extra or {}).items()})
    return flat


def digest(fp: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()


def meta_digest(meta: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``meta`` without its
    ``sha256`` entry."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_same(saved: Mapping[str, Any], current: Mapping[str, Any], directory: str) -> None:
    """Refuse to resume when the spec changed, naming the first changed field.

    The spec's own fields come first: a changed data option is named as itself, not as the
    checksum of the arrays it changed (the ``extra`` entries have spaces in their names).
    """
    for key in sorted(set(saved) | set(current), key=lambda k: (" " in k, k)):
        old, new = saved.get(key, "<unset>"), current.get(key, "<unset>")
        if old != new:
            raise ConfigError(key, new, f"differs from the checkpoint in {directory} (was "
                                        f"{old!r}); resume with the spec that started the run, "
                                        "or start afresh without --resume")


def crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel())


def checksums(tree: Mapping) -> dict[str, int]:
    return {k: crc(np.asarray(v)) for k, v in _flatten(tree).items()}


# -- the store ----------------------------------------------------------------------------------
class Store:
    """A directory of numbered checkpoints (orbax ``CheckpointManager``), last :data:`KEEP` kept.

    Args:
      directory: where checkpoints live (created by the writer).
      writer: this process writes (the main process); the others only read.
    """

    def __init__(self, directory: str, *, writer: bool = True):
        self.directory = os.path.abspath(directory)
        self.writer = writer
        self._manager = None

    def _ocp(self):
        # Orbax is imported on first use: a sweep without checkpoints never loads it.
        import orbax.checkpoint as ocp

        logging.getLogger("absl").setLevel(logging.ERROR)  # orbax logs every save at INFO
        return ocp

    def manager(self):
        if self._manager is None:
            ocp = self._ocp()
            import jax

            me = jax.process_index()
            if self.writer:
                os.makedirs(self.directory, exist_ok=True)
                self.remove_unfinished()
            options = ocp.CheckpointManagerOptions(
                max_to_keep=KEEP, create=False, enable_async_checkpointing=False,
                cleanup_tmp_directories=False, read_only=not self.writer,
                # Each process acts alone: the writer saves host copies of the whole sweep,
                # the readers read them; no orbax barrier involves the other processes.
                multiprocessing_options=ocp.options.MultiprocessingOptions(
                    primary_host=me, active_processes={me}))
            self._manager = ocp.CheckpointManager(self.directory, options=options,
                                                  item_names=("arrays", "meta"))
        return self._manager

    def steps(self) -> list[int]:
        if not os.path.isdir(self.directory):
            return []
        return sorted(self.manager().all_steps())

    def save(self, step: int, arrays: Mapping, meta: Mapping) -> None:
        """Write checkpoint ``step`` atomically (the writer only).

        Raises:
          DiskFull: the disk or quota filled up; the partial checkpoint is removed and the
            ones before it stay.
        """
        if not self.writer:
            return
        ocp = self._ocp()
        meta = {**meta, "format": FORMAT, "crc32": checksums(arrays)}
        meta = json.loads(json.dumps(meta, default=str))  # as it will read back
        meta["sha256"] = meta_digest(meta)
        mgr = self.manager()
        if step in mgr.all_steps():  # a stale one, e.g. left by a run that was resumed earlier
            self.delete(step)
        try:
            mgr.save(step, args=ocp.args.Composite(arrays=ocp.args.PyTreeSave(dict(arrays)),
                                                   meta=ocp.args.JsonSave(dict(meta))),
                     force=True)
            mgr.wait_until_finished()
        except Exception as e:
            if not is_disk_full(e):
                raise
            self._discard(step)
            raise DiskFull(os.path.join(self.directory, str(step)),
                           "the last good checkpoint is kept") from e

    def remove_unfinished(self) -> list[str]:
        """Remove the temporary folders of saves that never finished (a second Ctrl-C, a
        kill or a crash during a save) and say so on stderr in one line (the writer only).

        Only folders named ``<step>.orbax-checkpoint-tmp[-<n>]`` that hold nothing but a
        checkpoint's entries are removed: anything else is left alone. Returns their names.
        """
        if not self.writer or not os.path.isdir(self.directory):
            return []
        ours, _ = _entries(self.directory)
        unfinished = [n for n in ours if _TMP_NAME.fullmatch(n)]
        for name in unfinished:
            shutil.rmtree(os.path.join(self.directory, name))
        if unfinished:
            import sys

            print(f"warning: removed {len(unfinished)} unfinished checkpoint save"
                  f"{'s' * (len(unfinished) != 1)} in {self.directory} "
                  f"({', '.join(unfinished)}), left by an interrupted run", file=sys.stderr)
        return unfinished

    def _discard(self, step: int) -> None:
        """Remove what a failed save of ``step`` left: its temporary folders (and the step
        itself, unfinished), so that the newest checkpoint is the last good one."""
        self.close()
        for name in os.listdir(self.directory):
            if re.fullmatch(rf"{step}{_TMP}", name):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def load(self, step: int) -> tuple[dict, dict]:
        """Read and verify checkpoint ``step``; raises on any damage."""
        ocp = self._ocp()
        out = self.manager().restore(step, args=ocp.args.Composite(
            arrays=ocp.args.PyTreeRestore(), meta=ocp.args.JsonRestore()))
        arrays, meta = out["arrays"], out["meta"]
        if not isinstance(meta, dict) or meta.get("format") not in (1, FORMAT):
            raise ValueError(f"unknown checkpoint format {meta.get('format')!r}")
        if "sha256" in meta or meta["format"] != 1:  # format 1 predates the digest
            if meta.get("sha256") != meta_digest(meta):
                raise ValueError("metadata digest mismatch (sha256 of its JSON)")
        arrays = _to_numpy(arrays)
        sums = checksums(arrays)
        if sums != meta["crc32"]:
            bad = sorted(k for k in set(sums) | set(meta["crc32"])
                         if sums.get(k) != meta["crc32"].get(k))
            raise ValueError(f"checksum mismatch in {bad[:3]}")
        return arrays, meta

    def latest_everywhere(self) -> tuple[int, dict, dict] | None:
        """:meth:`latest` as read by the main process, on every process."""
        import jax

        from jaxlab import distributed

        if jax.process_count() == 1:
            return self.latest()
        found = self.latest() if self.writer else None
        flat = None
        if found is not None:
            step, arrays, meta = found
            flat = _flatten(arrays)
        payload, flat = distributed.broadcast(
            None if found is None else {"step": found[0], "meta": found[2]}, flat)
        if payload is None:
            return None
        return payload["step"], _unflatten(flat), payload["meta"]

    def latest(self) -> tuple[int, dict, dict] | None:
        """The newest checkpoint that loads and verifies, as ``(step, arrays, meta)``.

        Damaged newer ones are reported and (by the writer) deleted, so that the run that
        resumes from an older step can save its own steps again.
        """
        for step in reversed(self.steps()):
            try:
                arrays, meta = self.load(step)
            except Exception as e:  # any damage: truncated, corrupt, partial
                warnings.warn(f"checkpoint {step} in {self.directory} is damaged "
                              f"({type(e).__name__}: {str(e)[:200]}); using the one before",
                              stacklevel=2)
                if self.writer:
                    self.delete(step)
                continue
            return step, arrays, meta
        return None

    def delete(self, step: int) -> None:
        if not self.writer:
            return
        try:
            self.manager().delete(step)
        except Exception:  # a damaged step orbax cannot parse: remove the folder itself
            shutil.rmtree(os.path.join(self.directory, str(step)), ignore_errors=True)
            self._manager = None  # re-read the steps

    def clear(self) -> None:
        """Remove every checkpoint (a fresh run in a directory that has some).

        Only what jaxlab (orbax) wrote is removed: the step folders and the temporary folders
        of unfinished saves. A directory that holds anything else is refused
        (:class:`ConfigError`) and left as it is.
        """
        if self.writer and os.path.isdir(self.directory):
            self.remove_unfinished()
            ours, foreign = _entries(self.directory)
            if foreign:
                raise ConfigError("checkpoint_dir", self.directory,
                                  f"holds files jaxlab did not write ({', '.join(foreign[:3])}"
                                  f"{', ...' if len(foreign) > 3 else ''}); move them, or "
                                  "continue the checkpointed run with --resume (resume=True)")
            for name in ours:
                shutil.rmtree(os.path.join(self.directory, name))
        self._manager = None

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None


# What orbax writes in a step folder (``<step>/``, or ``<step>.orbax-checkpoint-tmp[-<n>]/``
# while it is being saved): the two items and orbax's own markers.
_TMP = r"(\.orbax-checkpoint-tmp(-\d+)?)?"
_STEP_NAME = re.compile(r"\d+" + _TMP)
_TMP_NAME = re.compile(r"\d+\.orbax-checkpoint-tmp(-\d+)?")
_STEP_ENTRY = re.compile(r"(arrays|meta|_CHECKPOINT_METADATA|commit_success\.txt)" + _TMP)


def _entries(directory: str) -> tuple[list[str], list[str]]:
    """The entries of a checkpoint directory: (jaxlab's step folders, anything else)."""
    ours, foreign = [], []
    for name in sorted(os.listdir(directory)):
        if name == LOCK:  # the lock of the run that holds the directory (jaxlab.lock)
            continue
        path = os.path.join(directory, name)
        mine = (_STEP_NAME.fullmatch(name) is not None and os.path.isdir(path)
                and not os.path.islink(path)
                and all(_STEP_ENTRY.fullmatch(e) for e in os.listdir(path)))
        (ours if mine else foreign).append(name)
    return ours, foreign


def _unflatten(flat: Mapping[str, Any]) -> dict:
    """Inverse of :func:`_flatten` for a tree of dicts (dotted keys)."""
    out: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _to_numpy(tree):
    if isinstance(tree, Mapping):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)


# -- SIGTERM and SIGINT --------------------------------------------------------------------------
class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the sweep at the end of an epoch, after saving a checkpoint
    where checkpointing is on; resume it with ``--resume`` (``resume=True``).

    A :class:`KeyboardInterrupt`, so that ``except Exception`` does not swallow it.
    """

    def __init__(self, directory: str | None, epoch: int, group: int):
        self.directory, self.epoch, self.group = directory, epoch, group
        where = (f"checkpoint saved in {directory}; continue with --resume (resume=True)"
                 if directory else "no checkpoint directory: progress lost")
        super().__init__(f"stopped by Ctrl-C (SIGINT) after epoch {epoch} of group {group}; "
                         f"{where}")


@dataclasses.dataclass
class StopFlag:
    """Set by SIGTERM or SIGINT; the runner saves and stops at the end of the epoch."""

    requested: bool = False
    signum: int | None = None  # the signal that asked, in this process

    def stopped(self, directory: str | None, epoch: int, group: int) -> BaseException:
        """The exception that ends the sweep: :class:`Interrupted` after a Ctrl-C here,
        else :class:`Preempted` (SIGTERM here or in another process)."""
        cls = Interrupted if self.signum == signal.SIGINT else Preempted
        return cls(directory, epoch, group)


@contextlib.contextmanager
def on_stop_signals(*, sigterm: bool = True) -> Iterator[StopFlag]:
    """Within the block, SIGINT (Ctrl-C) and, with ``sigterm``, SIGTERM set the yielded flag
    instead of ending the process.

    After the first SIGINT the previous SIGINT handler is back (Python's raises
    :class:`KeyboardInterrupt`), so a second Ctrl-C aborts without waiting for the epoch to
    end or a checkpoint to be saved.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers live in the main thread; elsewhere the signals stay fatal
        return
    # What a second Ctrl-C does: the handler before ours, or Python's (KeyboardInterrupt)
    # where SIGINT was ignored (a background job of a shell script): a SIGINT sent on purpose
    # to such a job stops it too, rather than letting it finish as if nothing was asked.
    second = signal.getsignal(signal.SIGINT)
    if second in (signal.SIG_IGN, None):
        second = signal.default_int_handler

    def handler(signum, frame):
        flag.requested = True
        if flag.signum is None:
            flag.signum = signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, second)

    signums = [signal.SIGINT] + ([signal.SIGTERM] if sigterm else [])
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def on_sigterm() -> contextlib.AbstractContextManager[StopFlag]:
    """:func:`on_stop_signals` (SIGTERM and SIGINT)."""
    return on_stop_signals()


# -- layout: how a sweep's progress is laid out in a checkpoint -----------------------------------
def stack_records(records: list[dict]) -> dict:
    """Per-epoch records -> name -> ``(epochs, V)`` arrays."""
    return {k: np.stack([np.asarray(r[k]) for r in records]) for k in records[0]}


def unstack_records(stacked: dict, keys: list[str]) -> list[dict]:
    n_epochs = len(stacked[keys[0]])
    return [{k: np.asarray(stacked[k][e]) for k in keys} for e in range(n_epochs)]


def flatten_state(state) -> dict:
    """A state pytree as numbered leaves (``"0000"``, ``"0001"``...)."""
    import jax

    return {f"{i:04d}": np.asarray(a) for i, a in enumerate(jax.tree.leaves(state))}


def unflatten_state(template, flat: dict, directory: str):
    """The inverse of :func:`flatten_state` on a one-variant ``template`` of
    ``ShapeDtypeStruct`` leaves (the saved arrays add a leading variant axis)."""
    import jax

    leaves, treedef = jax.tree.flatten(template)
    saved = [flat[k] for k in sorted(flat)]
    ok = len(saved) == len(leaves) and all(
        a.shape[1:] == t.shape and a.dtype == t.dtype for a, t in zip(saved, leaves, strict=False))
    if not ok:
        raise ConfigError("resume", directory, "the checkpoint's state does not fit this "
                                               "program (written by another jaxlab version?)")
    return jax.tree.unflatten(treedef, [np.array(a) for a in saved])

"""Devices and hosts: the variant axis sharded over a mesh, and JAX's multi-controller runtime.

A sweep's variants are independent, so they are split over every device of every process
along one mesh axis, ``"variants"``; the data are replicated. Each device runs the same
compiled program on its share of the variants (``jax.shard_map`` in :mod:`jaxlab.sweep`), so
no collective runs inside an epoch. A group of ``V`` variants is padded to a multiple of the
device count with inactive copies of its last variant (an inactive variant never changes and
never touches the others), and the copies are dropped from the outputs.

Several hosts run the same program with :func:`jax.distributed.initialize` (one process per
host, or per GPU): every process builds the same plan, trains its devices' share of the
variants, and sees the whole sweep's per-epoch records (gathered once per call). Only the
main process (:func:`is_main`) writes results, logs and checkpoints.

Host-side copies are numpy arrays holding every variant, identical on every process:
:func:`shard` places them on the mesh and :func:`to_host` brings device arrays back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxlab.errors import ConfigError

AXIS = "variants"
ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> bool:
    """Join a multi-process sweep (``jax.distributed.initialize``), before any JAX computation.

    Every argument left ``None`` is read from ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. With none of them set, nothing happens
    unless ``auto``: then JAX detects the cluster itself (SLURM, Open MPI, Kubernetes, Cloud
    TPU pods). CPU processes exchange data over gloo.

    Args:
      coordinator: ``host:port`` of process 0's coordination service.
      num_processes: number of processes in the sweep.
      process_id: this process, ``0 <= process_id < num_processes``.
      auto: let JAX detect the cluster when nothing is given.

    Returns:
      whether this process now runs in a multi-process sweep.
    """
    coordinator = coordinator or os.environ.get(ENV[0]) or None
    num_processes = _int(num_processes, ENV[1], "--num-processes")
    process_id = _int(process_id, ENV[2], "--process-id")
    given = (coordinator, num_processes, process_id)
    if all(v is None for v in given) and not auto:
        return False
    if not auto and None in given:
        missing = [n for n, v in zip(("--coordinator", "--num-processes", "--process-id"), given,
                                     strict=True) if v is None]
        raise ConfigError("distributed", dict(zip(("coordinator", "num_processes",
                                                   "process_id"), given, strict=True)),
                          f"a multi-process sweep needs all three settings; missing {missing} "
                          f"(flags or {', '.join(ENV)})")
    if num_processes is not None and process_id is not None:
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ConfigError("--process-id", process_id,
                              f"must be in [0, {num_processes}) for --num-processes "
                              f"{num_processes}")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    # CPU devices of different processes talk over gloo (the default in recent JAX; set it
    # explicitly so that an older default cannot silently run without collectives).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    return jax.process_count() > 1


def _int(value: int | None, env: str, flag: str) -> int | None:
    if value is not None:
        return int(value)
    text = os.environ.get(env)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(env, text, f"must be an integer (or use {flag})") from None


def is_main() -> bool:
    """Whether this process writes results, logs and checkpoints (process 0)."""
    return jax.process_index() == 0


def multi_process() -> bool:
    return jax.process_count() > 1


def variant_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process), axis ``variants``."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.array(devices), (AXIS,))


def sharded(mesh: Mesh) -> NamedSharding:
    """Leading (variant) axis split over the mesh."""
    return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def shard(tree: Any, mesh: Mesh) -> Any:
    """Place host arrays (the same on every process) on the mesh, split along axis 0."""
    return jax.device_put(tree, sharded(mesh))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place host arrays (the same on every process) on every device of the mesh."""
    return jax.device_put(jax.tree.map(np.asarray, tree), replicated(mesh))


def to_host(tree: Any) -> Any:
    """Numpy copies of (possibly sharded, multi-process) arrays, whole on every process."""
    if multi_process():
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def any_process(flag: bool) -> bool:
    """``flag`` OR-ed over every process (a tiny collective; free with one process)."""
    if not multi_process():
        return bool(flag)
    return bool(np.any(multihost_utils.process_allgather(np.array(bool(flag)))))


def min_over_processes(value: int | None) -> int | None:
    """The smallest ``value`` over every process (``None`` where every process has none)."""
    if not multi_process():
        return value
    # In KiB as int32 (JAX's default integer): up to 2 TiB per device.
    kib = -1 if value is None else min(value // 1024, 2**31 - 1)
    values = multihost_utils.process_allgather(np.array(kib, np.int32))
    known = [int(v) * 1024 for v in np.ravel(values) if v >= 0]
    return min(known) if known else None


def broadcast(payload: dict | None, arrays: dict | None) -> tuple[dict | None, dict | None]:
    """Process 0's ``(payload, arrays)`` on every process (the others pass anything).

    ``payload`` is JSON-able; ``arrays`` a flat ``name -> numpy array`` dict. Lets process 0
    read a checkpoint from its own disk and hand it to the others.
    """
    if not multi_process():
        return payload, arrays
    main = is_main()
    layout = ([(k, list(a.shape), np.asarray(a).dtype.str) for k, a in arrays.items()]
              if main and arrays is not None else None)
    text = json.dumps({"payload": payload, "layout": layout}).encode() if main else b""
    size = int(multihost_utils.broadcast_one_to_all(np.array(len(text), np.int32)))
    raw = np.frombuffer(text, np.uint8) if main else np.zeros(size, np.uint8)
    head = json.loads(bytes(np.asarray(multihost_utils.broadcast_one_to_all(raw), np.uint8)))
    if head["layout"] is None:
        return head["payload"], None
    wire, kinds = {}, {}
    for key, shape, dtype in head["layout"]:
        dtype = kinds[key] = np.dtype(dtype)
        a = np.asarray(arrays[key]) if main else np.zeros(shape, dtype)
        wire[key] = a.view(np.uint8) if dtype.kind == "b" else a  # collectives move numbers
    got = multihost_utils.broadcast_one_to_all(wire)
    out = {}
    for key, dtype in kinds.items():
        a = np.asarray(got[key], wire[key].dtype)
        out[key] = a.view(bool) if dtype.kind == "b" else a
    return head["payload"], out


def barrier(name: str) -> None:
    """Wait until every process arrives here (no-op with one process)."""
    if multi_process():
        multihost_utils.sync_global_devices(name)


def pad_rows(tree: Any, n: int) -> Any:
    """Pad the leading axis of every leaf to ``n`` by repeating its last row."""

    def pad(a):
        a = np.asarray(a)
        if a.shape[0] == n:
            return a
        return np.concatenate([a, np.repeat(a[-1:], n - a.shape[0], axis=0)])

    return jax.tree.map(pad, tree)


def padded_size(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple``."""
    return -(-n // multiple) * multiple

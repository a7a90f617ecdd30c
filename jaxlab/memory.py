"""How many variants fit on a device: a per-variant memory estimate and the chunk size.

The bytes one variant costs (its training state, the activations and gradients of a
microstep, its evaluation) are measured from XLA's own accounting
(``compiled.memory_analysis()``) of the epoch program compiled for a few variants on one
device: what is not the replicated data, divided by the variant count. (XLA's figure is
linear in the variant count: for the course's blobs problem it is
``23,292 + 202,613 * n`` bytes, against ``20,000 + 203,436 * n`` estimated from ``n = 4``.)
Where XLA gives no analysis, :func:`analytic` counts the same things from the shapes.

A sweep whose variants do not fit in the budget (the device memory where JAX knows it, or a
budget given in bytes or as ``"2GB"``) is trained in *chunks*: equal-sized groups of variants
run one after the other within each epoch by the same compiled program. Chunks change no
result: variants never interact.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable

import jax
import numpy as np

from jaxlab import conventions, engine
from jaxlab.errors import ConfigError

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}
DEVICE_FRACTION = 0.9  # of a device's memory the sweep may plan for (XLA needs some slack)


def parse_bytes(value: int | float | str | None, field: str = "memory_budget") -> int | None:
    """``2_000_000``, ``"2GB"``, ``"512MiB"``, ``"1.5g"`` -> bytes (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        n = float(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", value.lower())
        if not m or m.group(2) not in _UNITS:
            raise ConfigError(field, value, "expected bytes, e.g. 2000000000, '2GB' or '512MiB'")
        n = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ConfigError(field, value, "expected bytes, e.g. 2000000000, '2GB' or '512MiB'")
    if not math.isfinite(n) or n <= 0:
        raise ConfigError(field, value, "must be > 0")
    return int(n)


def device_budget(device: jax.Device) -> int | None:
    """Bytes a sweep may use on ``device``: 90% of its memory limit less what is in use, or
    ``None`` where the backend reports no limit (CPU)."""
    try:
        stats = device.memory_stats()
    except Exception:  # backends without memory statistics
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(DEVICE_FRACTION * stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Memory of the epoch program on one device: ``fixed + per_variant * n`` bytes.

    Attributes:
      per_variant: bytes each variant adds.
      fixed: bytes that do not depend on the variant count (data, constants).
      source: ``"xla"`` (compiled memory analysis) or ``"analytic"``.
    """

    per_variant: int
    fixed: int
    source: str

    def bytes(self, n: int) -> int:
        return self.fixed + self.per_variant * n

    def capacity(self, budget: int) -> int:
        """The most variants that fit in ``budget`` bytes (0 if not even one)."""
        return max(0, (budget - self.fixed) // max(self.per_variant, 1))


def compiled_bytes(compiled) -> int | None:
    """Peak bytes of a compiled program (arguments + outputs + temporaries - aliased)."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # not implemented on some backends
        return None
    if m is None:
        return None
    total = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
             - m.alias_size_in_bytes)
    return int(total) if total > 0 else None


def _tree_bytes(tree) -> int:
    return sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree))


def analytic(prog: engine.Program, state_row, data) -> Estimate:
    """Count a variant's bytes from the shapes.

    Args:
      prog: the group's program.
      state_row: one variant's state (arrays or ``ShapeDtypeStruct``), no leading axis.
      data: the group's data arrays (the fixed cost).
    """
    item = np.dtype(conventions.float_dtype(prog.dtype)).itemsize
    a = prog.arch
    if a is None:  # a user module: its activations are unknown; XLA measures when it matters
        params = sum(math.prod(x.shape) for x in jax.tree.leaves(state_row.params))
        step = (prog.microbatch * 16 * (prog.net.n_in + prog.net.n_out) + 4 * params) * item
        evaluation = 2 * prog.eval_chunk * 16 * prog.net.n_out * item if prog.n_val else 0
    else:
        params = a.n_in * a.width + (a.depth - 1) * a.width ** 2 + a.width * a.n_out
        params += a.depth * a.width * 4 + a.n_out  # biases and norms, generously
        units = a.n_in + 3 * a.depth * a.width + 3 * a.n_out  # per sample, forward, backward
        step = (prog.microbatch * units * 3  # activations, their gradients, masks
                + 4 * params) * item  # gradient, updates, new parameters, select
        if prog.net.dropout:
            step += prog.microbatch * a.depth * a.width * item
        evaluation = (2 * prog.eval_chunk * (a.depth * a.width + a.n_out) * item
                      if prog.n_val else 0)
    per_variant = (2 * _tree_bytes(state_row)  # state in and out
                   + 2 * prog.n_train * 4  # the epoch's permutation (and its sort)
                   + step + evaluation + 64 * item)  # and the record
    return Estimate(int(per_variant), _tree_bytes(data), "analytic")


def measure(lower: Callable[[int], object], prog: engine.Program, state_row, data,
            n: int = 8) -> Estimate:
    """Measure with XLA: compile the epoch program for ``n`` variants on one device.

    Everything but the data counts as per-variant (a constant buffer of the program, if any,
    is then overestimated by ``1/n`` of itself: a safe error). One compilation.

    Args:
      lower: ``n -> jax.stages.Lowered`` of the epoch program for ``n`` variants.
      prog, state_row, data: for the analytic fallback.
      n: variants in the probe (1 is avoided: XLA simplifies a unit axis away).
    """
    total = compiled_bytes(lower(n).compile())
    fixed = _tree_bytes(data)
    if total is None or total <= fixed:
        return analytic(prog, state_row, data)
    return Estimate(-(-(total - fixed) // n), fixed, "xla")


def bucket(n: int) -> int:
    """``n`` rounded up to a program size: exact up to 16, then 8 sizes per octave (a
    multiple of ``2**(bit_length(n - 1) - 4)``), so at most 1/8 of a chunk is padding and
    sweeps whose sizes differ a little (100 and 103 variants) share one compiled program."""
    return -(-n // (step := 1 << max(0, (n - 1).bit_length() - 4))) * step


def chunk_layout(n: int, n_devices: int, capacity: int | None) -> tuple[int, int]:
    """``(n_chunks, chunk_size)`` for ``n`` variants on ``n_devices`` devices.

    Every chunk has the same size (a multiple of ``n_devices``), so one compiled program
    trains them all; the sizes are balanced (``ceil(n / n_chunks)`` rounded up to the
    devices) rather than filled greedily, which gives the same number of chunks with the
    least padding, then rounded up to a :func:`bucket` (within ``capacity``).

    Args:
      capacity: variants one device can hold (``None``: unbounded).
    """
    if capacity is not None and capacity < 1:
        raise ValueError("capacity must be >= 1")
    per_device = -(-n // n_devices)
    n_chunks = 1 if capacity is None else -(-per_device // capacity)
    per_device = -(-per_device // n_chunks)
    per_device = min(bucket(per_device), capacity or per_device * 2)
    return n_chunks, per_device * n_devices

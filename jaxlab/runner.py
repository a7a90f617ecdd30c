"""The host loop of a sweep: groups in turn, epochs in turn, chunks within an epoch.

``run_plan(plan)`` trains every group with its compiled epoch program
(:mod:`jaxlab.compiled`). One call of the program runs several epochs when they are cheap
(:meth:`_GroupRun.span`), then the host goes over them in order, as :meth:`_GroupRun.train`
does:

1. :meth:`~_GroupRun.train_chunks`: each chunk of variants runs the epochs of one call;
2. for each epoch, :meth:`~_GroupRun.halve`: at a successive-halving rung the worst variants
   stop;
3. the callbacks see an :class:`EpochReport` of every epoch;
4. :meth:`~_GroupRun.checkpoint`: every ``checkpoint_every`` epochs and on SIGTERM.

A call ends wherever the host must act between epochs (a rung, a checkpoint), and its
epochs are the same on every process; a SIGTERM is seen at the end of a call.

**Devices and hosts.** A group's variants are padded to a multiple of the device count with
inactive copies of its last variant and split over every device of every process
(:mod:`jaxlab.distributed`); the data are replicated; one program runs on every device.

**Chunks.** When a group does not fit in the memory budget (:mod:`jaxlab.memory`), its
variants are trained in equal chunks within each epoch, one after the other, by one compiled
program; between epochs a chunk's state waits in host memory. Every chunk sees the same
epochs, so halving rungs, callbacks and checkpoints see the whole group at once.

**Numerics.** A variant's arithmetic does not depend on the others, but XLA compiles a
different program for a different number of variants per device (and for an SPMD
partition), and may then order a reduction differently: results with other device counts,
chunk sizes or halving compactions agree to float rounding (about 1e-7 relative in float32
after a few epochs, 1e-15 in float64), not always to the bit. The same layout (for
instance a resumed run) is bit-identical.

(About 480 lines: the epoch loop and its parts, chunks, halving, checkpoints and callbacks,
are one concern, read in order.)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxlab import checkpoint as ckpt
from jaxlab import compiled, distributed, engine, keys, memory
from jaxlab import variants as var
from jaxlab.errors import ConfigError, check
from jaxlab.planning import Group, Plan


@dataclasses.dataclass
class EpochReport:
    """What callbacks see once per epoch of a group.

    Attributes:
      group: index of the group; ``indices``: sweep indices of its variants.
      epoch: 0-based epoch; ``epochs``: the group's largest epoch count.
      record: name -> ``(V,)`` numpy values of this epoch (see :func:`engine.end_epoch`).
      active: ``(V,)`` still training after this epoch; ``diverged``: ``(V,)``.
      compile_seconds: time spent compiling before the first epoch (0 afterwards).
    """

    group: int
    indices: list[int]
    epoch: int
    epochs: int
    record: dict
    active: np.ndarray
    diverged: np.ndarray
    stop_epoch: np.ndarray
    compile_seconds: float = 0.0


Callback = Callable[[EpochReport], None]
_MIN_COMPACT = 8  # variants per device below which halving does not recompile
#: Most epochs one call of the epoch program runs (the length of its record buffer).
SLOTS = 16
#: Multiply-adds of training per call below which epochs are batched into one call.
CALL_WORK = 1e9


def slots(chunk: int, n_examples: int, params_per_variant: int) -> int:
    """Epochs per call for a program of ``chunk`` variants: a power of two up to
    :data:`SLOTS` such that a call's work stays about :data:`CALL_WORK` (one epoch ~
    ``chunk * n_examples * params_per_variant`` multiply-adds). Deterministic, so every
    process of a sweep agrees."""
    per_epoch = max(1, chunk * n_examples * params_per_variant)
    n = 1
    while n < SLOTS and 2 * n * per_epoch <= CALL_WORK:
        n *= 2
    return n


def run_plan(p: Plan, *, init_params: Sequence | Any | None = None,
             callbacks: Sequence[Callback] = (), devices: Sequence[jax.Device] | None = None,
             memory_budget: int | str | None = None, checkpoint_dir: str | None = None,
             checkpoint_every: int = 10, resume: bool = False,
             epochs_per_call: int | None = None) -> list[dict]:
    """Train every group of ``p``; returns per group ``{"records", "state", "timing"}``.

    Args:
      p: the plan.
      init_params: initial parameters, one pytree per group with a leading variant axis.
      callbacks: called once per epoch per group with an :class:`EpochReport` (on every
        process of a multi-process sweep).
      devices: the devices to shard the variants over (default: all, of every process).
      memory_budget: bytes per device (or ``"2GB"``) a group may use; a larger group runs in
        chunks. Default: the device's memory where JAX reports it, else unbounded.
      checkpoint_dir: save the sweep there every ``checkpoint_every`` epochs and on SIGTERM
        (see :mod:`jaxlab.checkpoint`); ``None``: no checkpoints.
      resume: continue from the newest valid checkpoint in ``checkpoint_dir`` (refused if the
        spec changed); without it, existing checkpoints there are removed.
      epochs_per_call: the most epochs one compiled call runs before the host sees them
        (``None``: up to :data:`SLOTS` for a small model, see :func:`slots`; ``1``: every
        epoch, as a callback that must act at once, or a SIGTERM seen after the epoch it came
        in, want). The results do not depend on it.

    Returns:
      per group: ``records`` (one dict of ``(V,)`` numpy arrays per epoch run, in the group's
      variant order), ``state`` (the final :class:`engine.TrainState`, numpy, leading ``V``)
      and ``timing``.

    Raises:
      checkpoint.Preempted: SIGTERM arrived (the sweep was saved first when it could be).
      checkpoint.Interrupted: Ctrl-C (SIGINT) arrived: a :class:`KeyboardInterrupt`, raised
        at the end of the call's epochs, after the checkpoint was saved (a second Ctrl-C raises a
        plain one at once).
    """
    if init_params is not None and not isinstance(init_params, (list, tuple)):
        init_params = [init_params]
    check(init_params is None or len(init_params) == len(p.groups), "init_params",
          f"{len(init_params or [])} pytrees", f"expected one per group ({len(p.groups)})")
    check(isinstance(checkpoint_every, (int, np.integer)) and checkpoint_every >= 0,
          "checkpoint_every", checkpoint_every, "must be an integer >= 0 (0: only on SIGTERM)")
    check(epochs_per_call is None or (isinstance(epochs_per_call, (int, np.integer))
                                      and 1 <= epochs_per_call <= 1024),
          "epochs_per_call", epochs_per_call, "must be None or an integer in [1, 1024]")
    check(checkpoint_dir is not None or not resume, "resume", resume,
          "needs a checkpoint directory (checkpoint_dir, or jaxlab sweep --out)")
    mesh = distributed.variant_mesh(devices)
    budget = memory.parse_bytes(memory_budget)
    if budget is None:
        mine = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
        budget = memory.device_budget(mine[0]) if mine else None
        # Every process must cut the same chunks: the smallest device decides.
        budget = distributed.min_over_processes(budget)
    params0 = None
    if init_params is not None:
        params0 = [_given_params(g, init_params[gi]) for gi, g in enumerate(p.groups)]
    run = _Sweep(p, mesh, budget, params0, list(callbacks), int(checkpoint_every),
                 epochs_per_call)
    if checkpoint_dir is not None:
        run.store = ckpt.Store(checkpoint_dir, writer=distributed.is_main())
        run.fingerprint = ckpt.fingerprint(p.spec.to_dict(), _data_fingerprint(p, params0))
        if resume:
            run.restore()
        else:
            run.store.clear()
        distributed.barrier("jaxlab-checkpoints-ready")
    # Ctrl-C stops at the end of a call (after a checkpoint); SIGTERM too, with checkpoints.
    try:
        with ckpt.on_stop_signals(sigterm=checkpoint_dir is not None) as stop:
            run.stop = stop
            for gi, out in enumerate(run.outputs):  # resumed: the callbacks see every epoch
                run.replay(gi, out["records"], out["state"].active)
            for gi in range(len(run.outputs), len(p.groups)):
                run.outputs.append(_GroupRun(run, gi).train())
    finally:
        if run.store is not None:
            run.store.close()
    return run.outputs


def _given_params(g: Group, params):
    """User-given initial parameters of a group, checked, cast and padded entries zeroed."""
    expected = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                            var.init_params(g.program, g.variants)[0])
    params = var.check_params(params, expected)
    params = var.mask_params(g.program, params, var.shapes(g.program, g.variants))
    return jax.tree.map(np.asarray, jax.device_get(params))


def _data_fingerprint(p: Plan, params0) -> dict:
    """Checksums of what the spec does not name: the data arrays and given parameters."""
    out = {}
    for gi, g in enumerate(p.groups):
        ds = g.dataset
        parts = [ds.x_train, ds.y_train, ds.x_val, ds.y_val]
        out[f"data (group {gi} arrays)"] = [ckpt.crc(np.asarray(a)) for a in parts
                                            if a is not None]
    if params0 is not None:
        out["init_params"] = [ckpt.crc(a) for t in params0 for a in jax.tree.leaves(t)]
    return out


@dataclasses.dataclass
class _Chunk:
    """Variants trained together by one call of the compiled program."""

    idx: np.ndarray  # (k,) positions in the group, k <= size
    size: int  # padded variant count (a multiple of the device count)
    state: Any = None  # the device state while it stays on the devices

    @property
    def rows(self) -> np.ndarray:
        """``(size,)`` positions in the group, padded by repeating the last one."""
        return distributed.pad_rows(self.idx, self.size)


def _rows(tree, idx):
    return jax.tree.map(lambda a: a[idx], tree)


def _write_rows(host, idx, rows) -> None:
    for h, r in zip(jax.tree.leaves(host), jax.tree.leaves(rows), strict=True):
        h[idx] = r[: len(idx)]


class _Sweep:
    """What lasts over the groups of a sweep: settings, outputs, checkpoint store."""

    def __init__(self, p: Plan, mesh, budget, params0, callbacks, every: int,
                 epochs_per_call: int | None = None):
        self.p, self.mesh, self.budget = p, mesh, budget
        self.params0, self.callbacks, self.every = params0, callbacks, every
        self.epochs_per_call = epochs_per_call  # None: slots()
        self.store: ckpt.Store | None = None
        self.fingerprint: dict = {}
        self.stop = ckpt.StopFlag()
        self.outputs: list[dict] = []
        self.step = 0  # epochs completed over the sweep: the checkpoint number
        self.resumed: dict | None = None  # the current group's saved progress

    def restore(self) -> None:
        found = self.store.latest_everywhere()
        if found is None:
            if self.store.writer:  # said once, by the main process; one line, as the CLI's
                import sys

                print(f"warning: no checkpoint in {self.store.directory}: starting from the "
                      "beginning", file=sys.stderr)
            return
        step, arrays, meta = found
        ckpt.check_same(meta["fingerprint"], self.fingerprint, self.store.directory)
        self.step = step
        for gi in range(meta["group"]):
            saved = arrays["done"][str(gi)]
            state = self._unflatten(gi, saved["state"])
            g = self.p.groups[gi]
            self.outputs.append({
                "records": ckpt.unstack_records(saved["records"], meta["record_keys"][gi]),
                "state": state, "timing": meta["timing"][gi],
                "test": evaluate_test_part(g, state, len(g.variants))})
        if "current" in arrays:
            cur = arrays["current"]
            self.resumed = {
                "epoch": meta["epoch"], "working": np.asarray(meta["working"], np.int64),
                "records": ckpt.unstack_records(cur["records"],
                                                meta["record_keys"][meta["group"]]),
                "state": self._unflatten(meta["group"], cur["state"])}

    def _unflatten(self, gi: int, flat: dict):
        g = self.p.groups[gi]
        template = var.abstract_row(g.program, g.variants[0])
        return ckpt.unflatten_state(template, flat, self.store.directory)

    def save(self, gi: int, epoch: int, host, records, working) -> None:
        arrays: dict = {"current": {"state": ckpt.flatten_state(host),
                                    "records": ckpt.stack_records(records)}}
        if self.outputs:
            arrays["done"] = {str(i): {"state": ckpt.flatten_state(o["state"]),
                                       "records": ckpt.stack_records(o["records"])}
                              for i, o in enumerate(self.outputs)}
        meta = {"fingerprint": self.fingerprint, "group": gi, "epoch": epoch + 1,
                "working": [int(i) for i in working],
                "record_keys": [list(o["records"][0]) for o in self.outputs] + [list(records[0])],
                "timing": [o["timing"] for o in self.outputs]}
        self.store.save(self.step, arrays, meta)
        distributed.barrier(f"jaxlab-checkpoint-{self.step}")

    def replay(self, gi: int, records: list[dict], active_after) -> None:
        """Report the epochs a checkpoint holds to the callbacks, as they first ran."""
        g = self.p.groups[gi]
        epochs = max(v.train.epochs for v in g.variants)
        n = len(g.variants)
        diverged, stop_epoch = np.zeros(n, bool), np.full(n, -1, np.int32)
        for e, rec in enumerate(records):
            active = records[e + 1]["trained"] if e + 1 < len(records) else active_after
            ended = rec["stopped"] | rec["diverged"] | rec.get("pruned", False)
            diverged = diverged | rec["diverged"]
            stop_epoch = np.where(ended, e, stop_epoch)
            self.report(EpochReport(gi, g.indices, e, epochs, rec,
                                    np.asarray(active, bool).copy(), diverged.copy(),
                                    stop_epoch.copy()))

    def report(self, report: EpochReport) -> None:
        for cb in self.callbacks:
            cb(report)


class _GroupRun:
    """One group's epochs: the state on the host, chunks of it on the devices."""

    def __init__(self, sweep: _Sweep, gi: int):
        self.sweep, self.gi = sweep, gi
        self.g = g = sweep.p.groups[gi]
        self.prog, self.n = g.program, len(g.variants)
        self.epochs = max(v.train.epochs for v in g.variants)
        self.mesh = sweep.mesh
        self.programs: dict[int, Any] = {}
        self.compile_s = 0.0

    # -- setup ------------------------------------------------------------------------------------
    def capacity(self, data_host) -> tuple[int | None, memory.Estimate | None]:
        """Variants one device holds within the budget (``None``: no limit)."""
        budget = self.sweep.budget
        if budget is None:
            return None, None
        per_device = -(-self.n // self.mesh.size)
        est = memory_estimate(self.g, data_host, measure=False)
        if est.bytes(per_device) > budget // 4:  # it may matter: ask XLA
            est = memory_estimate(self.g, data_host)
        capacity = est.capacity(budget)
        if capacity < 1:
            raise ConfigError("memory_budget", budget,
                              f"group {self.gi} needs about {est.bytes(1)} bytes for one "
                              f"variant ({est.source} estimate); raise the budget")
        return capacity, est

    def chunks(self, working: np.ndarray, floor: int = 0) -> list[_Chunk]:
        n_chunks, size = memory.chunk_layout(len(working), self.mesh.size, self.cap)
        if n_chunks == 1:
            size = max(size, floor)
        step = -(-len(working) // n_chunks)
        return [_Chunk(working[i: i + step], size) for i in range(0, len(working), step)]

    def init_host(self, chunks: list[_Chunk]):
        """Every variant's initial state on the host, initialized one chunk at a time."""
        host = None
        params0 = self.sweep.params0
        for c in chunks:
            rows = var.init_rows(self.prog, [self.g.variants[i] for i in c.rows],
                                 None if params0 is None else _rows(params0[self.gi], c.rows))
            if host is None:
                host = jax.tree.map(lambda a: np.empty((self.n,) + a.shape[1:], a.dtype), rows)
            _write_rows(host, c.idx, rows)
        return host

    def upload(self, c: _Chunk):
        rows = _rows(self.host, c.rows)
        active = np.zeros(c.size, bool)
        active[: len(c.idx)] = self.host.active[c.idx]  # the padding copies never train
        return distributed.shard(rows.replace(active=active), self.mesh)

    def program(self, size: int, state):
        """The compiled epoch program for chunks of ``size`` variants (compiled on first use)."""
        if size not in self.programs:
            t = time.perf_counter()
            self.programs[size] = compiled.compile_epoch(self.prog, self.mesh, state,
                                                         self.data, self.slots)
            self.compile_s += time.perf_counter() - t
        return self.programs[size]

    def span(self, epoch: int, end: int) -> int:
        """Epochs the call from ``epoch`` runs: up to the program's slots and ``end``,
        ending at the first epoch the host must see the end of (a halving rung, a
        checkpoint)."""
        n = min(self.slots, end - epoch)
        halving, every = self.g.halving, self.sweep.every if self.sweep.store else 0
        for e in range(epoch, epoch + n):
            if (halving is not None and halving.is_rung(e)) or (every and (e + 1) % every == 0):
                return e - epoch + 1
        return n

    def sync(self) -> None:
        """Copy the chunks kept on the devices back into the host state."""
        for c in self.chunk_list:
            if c.state is not None:
                _write_rows(self.host, c.idx, distributed.to_host(c.state))

    # -- one epoch --------------------------------------------------------------------------------
    def train_chunks(self, epoch: int, count: int) -> list[dict]:
        """Run epochs ``epoch .. epoch + count - 1`` on every chunk, in one call each; per
        epoch the merged ``(n,)`` record, with the flags after it (``compiled.FLAGS``,
        prefixed ``_``)."""
        parts = []
        single = len(self.chunk_list) == 1
        for c in self.chunk_list:
            st = c.state if c.state is not None else self.upload(c)
            st, rows = self.program(c.size, st)(st, self.data, np.int32(epoch),
                                                np.int32(count), self.orders(c, epoch, count))
            if single:  # one chunk stays on the devices: only the records come back
                c.state, rows = st, distributed.to_host(rows)
            else:  # it waits on the host until the next call
                c.state = None
                st, rows = distributed.to_host((st, rows))
                _write_rows(self.host, c.idx, st)
            parts.append((c.idx, rows))
        return [_merge_records([(idx, {k: v[j] for k, v in rows.items()})
                                for idx, rows in parts], self.n) for j in range(count)]

    def orders(self, c: _Chunk, epoch: int, count: int):
        """``(size, slots, N)`` the sample orders of a call's epochs where the host draws them
        (``prog.host_order``; padding rows repeat the last variant), else ``None``."""
        if not self.prog.host_order:
            return None
        shuffle_keys = self.host.shuffle_key[c.rows]
        out = np.zeros((c.size, self.slots, self.prog.n_train), np.int32)
        for j in range(count):
            out[:, j] = keys.permutations(shuffle_keys, epoch + j, self.prog.n_train)
        return distributed.shard(out, self.mesh)

    def follow(self, rec: dict) -> None:
        """Take the flags after an epoch out of its record (variants still worked on only)."""
        for name, whole in zip(compiled.FLAGS, (self.active, self.diverged, self.stop_epoch),
                               strict=True):
            whole[self.working] = rec.pop(f"_{name}")[self.working]

    def halve(self, epoch: int, rec: dict) -> None:
        """At a successive-halving rung, stop all but the best ``1/eta`` still training."""
        halving = self.g.halving
        rec["pruned"] = np.zeros(self.n, bool)
        if not (halving.is_rung(epoch) and epoch + 1 < self.epochs):
            return
        keep = halving.survivors(rec[halving.metric], self.active)
        pruned = self.active & ~keep
        if not pruned.any():
            return
        self.sync()
        rec["pruned"] = pruned
        for flags in ((self.active, self.stop_epoch), (self.host.active, self.host.stop_epoch)):
            flags[0][pruned] = False
            flags[1][pruned] = epoch
        self.working = np.flatnonzero(self.active)  # compact: survivors only
        # Below 8 variants per device a smaller program saves next to nothing: keep that
        # size rather than compile again.
        floor = min(self.chunk_list[0].size, _MIN_COMPACT * self.mesh.size)
        self.chunk_list = self.chunks(self.working, floor)

    def checkpoint(self, epoch: int, done: bool) -> None:
        """Save every ``checkpoint_every`` epochs and on SIGTERM or SIGINT; then stop."""
        sw = self.sweep
        stop = (distributed.any_process(sw.stop.requested) if sw.store is not None
                else sw.stop.requested)
        if sw.store is not None and not done and (
                stop or (sw.every and (epoch + 1) % sw.every == 0)):
            self.sync()
            sw.save(self.gi, epoch, self.host, self.records, self.working)
        if stop and not done:
            raise sw.stop.stopped(sw.store and sw.store.directory, epoch + 1, self.gi)

    # -- the whole group --------------------------------------------------------------------------
    def train(self) -> dict:
        t0 = time.perf_counter()
        data_host = jax.tree.map(np.asarray, var.group_data(self.g))
        self.data = distributed.replicate(data_host, self.mesh)
        self.cap, est = self.capacity(data_host)
        resumed, self.sweep.resumed = self.sweep.resumed, None
        if resumed is None:
            first, self.working, self.records = 0, np.arange(self.n), []
            self.chunk_list = self.chunks(self.working)
            self.host = self.init_host(self.chunk_list)
        else:
            first, self.working = resumed["epoch"], resumed["working"]
            self.records = resumed["records"]
            self.host = jax.tree.map(np.array, resumed["state"])
            self.chunk_list = self.chunks(self.working)
            self.sweep.replay(self.gi, self.records, self.host.active)
        layout = {"chunks": len(self.chunk_list),
                  "chunk_size": self.chunk_list[0].size if self.chunk_list else 0}
        self.active = np.array(self.host.active)
        self.diverged = np.array(self.host.diverged)
        self.stop_epoch = np.array(self.host.stop_epoch)
        self.slots = self.sweep.epochs_per_call or slots(
            layout["chunk_size"] or 1, self.prog.n_train + self.prog.n_val,
            sum(a[0].size for a in jax.tree.leaves(self.host.params)))
        setup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        epoch, end = first, self.epochs if self.working.size else first
        while epoch < end and self.active.any():
            count = self.span(epoch, end)
            for e, rec in enumerate(self.train_chunks(epoch, count), start=epoch):
                self.follow(rec)
                if self.g.halving is not None:
                    self.halve(e, rec)
                self.records.append(rec)
                self.sweep.step += 1
                self.sweep.report(EpochReport(
                    self.gi, self.g.indices, e, self.epochs, rec, self.active.copy(),
                    self.diverged.copy(), self.stop_epoch.copy(),
                    setup_s + self.compile_s if e == first else 0.0))
                done = not self.active.any() or e + 1 == self.epochs
                if done or e + 1 == epoch + count:  # a call's epochs: the state is at its end
                    self.checkpoint(e, done)
                if done:
                    break
            epoch += count
        self.sync()
        if not self.records:
            raise ConfigError("resume", first, "the checkpoint holds no epoch of this group")
        size = max(c.size for c in self.chunk_list) if self.chunk_list else self.n
        state = _finish_host(self.prog, self.host, size)
        test = evaluate_test_part(self.g, state, size)
        # Programs compile on first use, inside the loop: count that time as compilation.
        timing = {"compile_s": setup_s + self.compile_s,
                  "train_s": time.perf_counter() - t1 - self.compile_s,
                  "devices": self.mesh.size, "programs": len(self.programs), **layout}
        if resumed is not None:
            timing["resumed_at_epoch"] = first
        if est is not None:
            timing["bytes_per_variant"] = est.per_variant
            timing["memory_estimate"] = est.source
        return {"records": self.records, "state": state, "timing": timing, "test": test}


def memory_estimate(g: Group, data_host: dict | None = None, *,
                    measure: bool = True) -> memory.Estimate:
    """Device bytes of ``g``'s epoch program: ``fixed + per_variant * n`` for ``n`` variants
    per device, from XLA's memory analysis of two small compilations (``measure``) or counted
    from the shapes (see :mod:`jaxlab.memory`).

    Example:
      >>> est = memory_estimate(jl.plan(spec).groups[0])       # doctest: +SKIP
      >>> est.capacity(2 * 10**9)                              # variants in 2 GB per device
    """
    prog = g.program
    if data_host is None:
        data_host = jax.tree.map(np.asarray, var.group_data(g))
    row = var.abstract_row(prog, g.variants[0])
    if not measure:
        return memory.analytic(prog, row, data_host)
    data_abs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data_host)

    def lower(k):
        state = jax.tree.map(lambda s: jax.ShapeDtypeStruct((k,) + s.shape, s.dtype), row)
        return compiled.probe_epoch.lower(prog, state, data_abs, np.int32(0))

    return memory.measure(lower, prog, row, data_host)


def _merge_records(parts, n: int) -> dict:
    """One ``(n,)`` array per entry from the chunks' records; variants in no chunk (pruned or
    finished earlier) get a record with ``trained`` false and placeholder values."""
    first = parts[0][1]
    out = {}
    for k, v in first.items():
        v = np.asarray(v)
        fill = np.nan if np.issubdtype(v.dtype, np.floating) else 0
        out[k] = np.full((n,) + v.shape[1:], fill, v.dtype)
    for idx, rec in parts:
        for k, v in rec.items():
            out[k][idx] = np.asarray(v)[: len(idx)]
    return out


def _finish_host(prog: engine.Program, host, size: int):
    """:func:`engine.finish` over the host state, ``size`` variants at a time."""
    es = prog.early_stopping
    if es is None or not es.restore:
        return host
    n = host.active.shape[0]
    for start in range(0, n, size):
        idx = np.arange(start, min(start + size, n))
        _write_rows(host, idx, jax.device_get(compiled.finish(prog, _rows(host, idx))))
    return host


def evaluate_test_part(g: Group, host, size: int) -> dict[str, np.ndarray]:
    """Loss and metrics ``(V,)`` of every variant's final weights (the restored best ones
    where early stopping restores them) on the group's test part, evaluated once, chunked
    as validation is, ``size`` variants at a time; ``{}`` without a test part."""
    ds, prog = g.dataset, g.program
    if not ds.n_test:
        return {}
    chunk = min(g.variants[0].train.eval_batch_size, ds.n_test)
    x, y = var.test_part(g, chunk)
    n = host.active.shape[0]
    parts = [jax.device_get(compiled.evaluate(prog, _rows(host, np.arange(s, min(s + size, n))),
                                              x, y, ds.n_test, chunk))
             for s in range(0, n, size)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}

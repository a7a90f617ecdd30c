"""Memory-aware chunking: a sweep over budget runs in equal chunks with unchanged results.

A chunk is compiled for fewer variants than the whole sweep, and XLA may then round a
reduction differently (see :mod:`jaxlab.sweep`, "Numerics"): chunked and unchunked runs are
compared in float64 to 1e-9 relative, with every discrete outcome equal.
"""

from __future__ import annotations

import jax
import pytest

import jaxlab as jl
from jaxlab import memory, sweep
from jaxlab.errors import ConfigError
from tests import procs


def spec(dtype="float64") -> jl.Sweep:
    """10 variants; early stopping with best weights restored (finished chunk by chunk)."""
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80, dtype=dtype),
        model=jl.ModelConfig(hidden=(8,)),
        train=jl.TrainConfig(optimizer="momentum", momentum=0.9, epochs=5, batch_size=8,
                             dtype=dtype, early_stopping=True, patience=1,
                             restore_best_weights=True),
        grid={"learning_rate": [0.3, 0.1, 0.03, 0.01, 0.003], "batch_size": [8, 40]})


@jax.enable_x64(True)
def test_chunked_equals_unchunked():
    whole = jl.run(spec(), compilation_cache=False)
    est = sweep.memory_estimate(jl.plan(spec()).groups[0])
    assert est.source == "xla"
    budget = est.bytes(4)  # four variants fit: 10 -> 3 chunks of 4, the last padded
    chunked = jl.run(spec(), compilation_cache=False, memory_budget=budget)
    t = chunked.timing[0]
    assert (t["chunks"], t["chunk_size"], t["programs"]) == (3, 4, 1)
    assert set(chunked.variants.status) >= {"stopped", "ok"}
    procs.assert_same(chunked, whole, rtol=1e-9)


def test_memory_estimate_is_linear_and_close_to_the_count():
    g = jl.plan(spec("float32")).groups[0]
    xla, counted = sweep.memory_estimate(g), sweep.memory_estimate(g, measure=False)
    assert xla.per_variant > 0 and xla.fixed >= 0
    assert xla.bytes(10) - xla.bytes(4) == 6 * xla.per_variant
    assert xla.capacity(xla.bytes(7)) == 7 and xla.capacity(xla.bytes(7) - 1) == 6
    # The analytic count is an approximation of the same quantity.
    assert 0.2 < counted.per_variant / xla.per_variant < 5, (counted, xla)


def test_a_budget_below_one_variant_is_refused():
    with pytest.raises(ConfigError, match="memory_budget"):
        jl.run(spec("float32"), compilation_cache=False, memory_budget="1kB")


@pytest.mark.parametrize("text, expected", [
    (2_000_000, 2_000_000), ("2GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5k", 1500),
    (" 3 gib ", 3 * 2**30), ("100", 100)])
def test_parse_bytes(text, expected):
    assert memory.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["2 parsecs", "-1GB", "0", True, [1]])
def test_parse_bytes_refuses(text):
    with pytest.raises(ConfigError, match="memory_budget"):
        memory.parse_bytes(text)


@pytest.mark.parametrize("n, devices, capacity, expected", [
    (10, 1, 4, (3, 4)),  # 4 + 4 + 2 real variants, the last chunk padded
    (10, 1, None, (1, 10)),
    (10, 4, None, (1, 12)),  # padded to a multiple of the devices
    (10_000, 1, 4096, (3, 3584)),  # 3 balanced chunks (3334) in a bucket, not 4096 * 3
    (7, 4, 1, (2, 4)),
    (100, 1, None, (1, 104)),  # 100 and 103 variants share one program size
    (103, 1, None, (1, 104)),
    (17, 2, None, (1, 18)),
])
def test_chunk_layout(n, devices, capacity, expected):
    n_chunks, size = memory.chunk_layout(n, devices, capacity)
    assert (n_chunks, size) == expected
    assert size % devices == 0 and n_chunks * size >= n
    assert capacity is None or size // devices <= capacity


def test_buckets_pad_at_most_an_eighth_and_are_exact_up_to_16():
    sizes = [memory.bucket(n) for n in range(1, 5000)]
    assert sizes[:16] == list(range(1, 17))
    assert all(n <= b <= n * 9 / 8 for n, b in zip(range(1, 5000), sizes, strict=True))
    assert all(memory.bucket(b) == b for b in sizes)  # a bucket is its own bucket
    assert len(set(sizes[1024:2048])) == 8  # 8 program sizes per octave


def test_sweeps_in_one_size_bucket_share_one_compiled_program():
    """100 and 103 variants both run as 104: the second sweep compiles nothing, and its
    first 100 variants train exactly as in the first sweep (padding never trains)."""
    def seeds(n):
        return jl.Sweep(data=jl.DataConfig("blobs", options={"n_samples": 60}, train_size=40),
                        model=jl.ModelConfig(hidden=(4,)),
                        train=jl.TrainConfig(epochs=2, batch_size=20),
                        grid={"seed": list(range(n))})

    compiles = []

    def listen(name, dur, **kw):
        if name.endswith("backend_compile_duration"):
            compiles.append(dur)

    first = jl.run(seeds(100), compilation_cache=False)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        second = jl.run(seeds(103), compilation_cache=False)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert first.timing[0]["chunk_size"] == second.timing[0]["chunk_size"] == 104
    assert compiles == []
    a = first.variants.set_index("variant")
    b = second.variants.set_index("variant").loc[a.index]
    assert (a.final_loss == b.final_loss).all() and (a.status == b.status).all()

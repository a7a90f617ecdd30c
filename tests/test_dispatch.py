"""Several epochs per compiled call: the same results and callbacks as one epoch per call,
fewer host round trips, calls that end where the host must act, and a SIGTERM seen at the
end of a call."""

from __future__ import annotations

import os
import signal

import pytest

import jaxlab as jl
from jaxlab import checkpoint, compiled, runner
from jaxlab.errors import ConfigError
from tests import procs

pytestmark = pytest.mark.xdist_group("processes")

EPOCHS = 40


def spec(**train) -> jl.Sweep:
    return jl.Sweep(
        data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80),
        model=jl.ModelConfig(hidden=(8,), dropout=0.1),
        train=jl.TrainConfig(**{"epochs": EPOCHS, "optimizer": "momentum", "momentum": 0.9,
                                "metrics": ("accuracy",), **train}),
        grid={"learning_rate": [0.3, 0.03, 0.003], "batch_size": [8, 40]})


def counted(monkeypatch) -> list[tuple[int, int]]:
    """Every call of a compiled epoch program, as ``(first epoch, epochs)``."""
    calls = []
    compile_epoch = compiled.compile_epoch

    def compile_counted(*args, **kwargs):
        fn = compile_epoch(*args, **kwargs)

        def call(state, data, first, count, orders):
            calls.append((int(first), int(count)))
            return fn(state, data, first, count, orders)

        return call

    monkeypatch.setattr(compiled, "compile_epoch", compile_counted)
    return calls


def seen_by_callbacks():
    reports = []
    return reports, lambda r: reports.append((r.epoch, r.record["loss"].copy(),
                                              r.active.copy()))


@pytest.fixture(scope="module")
def one_per_call():
    reports, cb = seen_by_callbacks()
    result = jl.run(spec(), compilation_cache=False, epochs_per_call=1, callbacks=[cb])
    return result, reports


@pytest.mark.parametrize("per_call, calls", [(None, [(0, 16), (16, 16), (32, 8)]),
                                             (3, [(e, min(3, EPOCHS - e))
                                                  for e in range(0, EPOCHS, 3)])])
def test_same_results_and_callbacks_in_fewer_calls(monkeypatch, one_per_call, per_call, calls):
    result, reports = one_per_call
    made = counted(monkeypatch)
    mine, cb = seen_by_callbacks()
    batched = jl.run(spec(), compilation_cache=False, epochs_per_call=per_call, callbacks=[cb])
    assert made == calls  # a small model: 16 epochs per call by default
    procs.assert_same(batched, result)  # bit for bit
    assert [e for e, *_ in mine] == list(range(EPOCHS))  # every epoch once, in order
    for (e1, loss1, active1), (e2, loss2, active2) in zip(mine, reports, strict=True):
        assert e1 == e2 and (loss1 == loss2).all() and (active1 == active2).all()


def test_early_stopping_ends_the_calls(monkeypatch):
    """Variants that all stop early end the sweep at the call where the last one stopped;
    the epochs that call ran after it change nothing."""
    early = {"early_stopping": True, "patience": 2, "min_delta": 0.5}
    made = counted(monkeypatch)
    batched = jl.run(spec(**early), compilation_cache=False)
    assert len(made) == 1  # every variant stops within the first call
    procs.assert_same(batched, jl.run(spec(**early), compilation_cache=False,
                                      epochs_per_call=1))
    assert (batched.variants.status == "stopped").all()


def test_calls_end_at_rungs_and_checkpoints(monkeypatch, tmp_path):
    made = counted(monkeypatch)
    jl.run(spec(halving_every=10, halving_eta=2, halving_metric="val_loss"),
           compilation_cache=False, checkpoint_dir=str(tmp_path), checkpoint_every=7)
    ends = {first + n for first, n in made}
    # After epoch e (1-based end e + 1): rungs at 10, 20, 30; checkpoints at 7, 14, 21, ...
    assert {7, 10, 14, 20, 21, 28, 30, 35} <= ends
    assert all(n <= 16 for _, n in made)


def test_sigterm_is_seen_at_the_end_of_the_call(tmp_path, one_per_call):
    def sigterm(report):
        if report.epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(checkpoint.Preempted) as info:
        jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
               checkpoint_every=100, callbacks=[sigterm])
    assert info.value.epoch == 16  # the first call ran epochs 0..15
    resumed = jl.run(spec(), compilation_cache=False, checkpoint_dir=str(tmp_path),
                     resume=True)
    assert resumed.timing[0]["resumed_at_epoch"] == 16
    procs.assert_same(resumed, one_per_call[0])


def test_slots_follow_the_work():
    assert runner.slots(8, 1000, 300) == runner.SLOTS  # W1: tiny, 16 epochs per call
    assert runner.slots(32, 14_000, 270_000) == 1  # an MNIST-sized MLP: one
    sizes = [runner.slots(v, 1000, 300) for v in (1, 64, 512, 4096, 65536)]
    assert sizes == sorted(sizes, reverse=True)
    assert all(n & (n - 1) == 0 and 1 <= n <= runner.SLOTS for n in sizes)


@pytest.mark.parametrize("value", [0, -1, 2.5, "16", 5000])
def test_bad_epochs_per_call_is_refused(value):
    with pytest.raises(ConfigError, match="epochs_per_call"):
        jl.run(spec(), compilation_cache=False, epochs_per_call=value)

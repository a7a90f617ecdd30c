"""Helpers for tests that start jaxlab processes and compare results.

Device counts and ``jax.distributed`` must be set before JAX starts, so those tests run
``jaxlab`` (or a snippet) in fresh subprocesses and compare what they wrote.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny learning-rate x batch-size sweep (6 variants, one program).
SPEC = """\
name = "tiny"

[data]
name = "blobs"
n_samples = 120
train_size = 80

[model]
hidden = [8]

[train]
optimizer = "adam"
learning_rate = 0.01
epochs = {epochs}
batch_size = 16
dtype = "{dtype}"

[sweep.grid]
learning_rate = [0.1, 0.01, 0.001]
batch_size = [8, 40]
"""


def env(devices: int | None = None, x64: bool = False, **extra: str) -> dict:
    out = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0", "PYTHONPATH": ROOT, **extra}
    out.pop("XLA_FLAGS", None)
    if devices:
        out["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    if x64:
        out["JAX_ENABLE_X64"] = "1"
    return out


def jaxlab(*args: str, environ: dict | None = None, cwd=None, timeout: float = 300,
           ) -> subprocess.CompletedProcess:
    """Run ``jaxlab ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "jaxlab.cli", *args], cwd=cwd,
                          env=environ or env(), capture_output=True, text=True, timeout=timeout)


def start(*args: str, environ: dict | None = None, cwd=None) -> subprocess.Popen:
    """Start ``jaxlab ARGS`` without waiting."""
    return subprocess.Popen([sys.executable, "-m", "jaxlab.cli", *args], cwd=cwd,
                            env=environ or env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out, *running: subprocess.Popen, timeout: float = 240) -> None:
    """Wait until ``out/checkpoints`` holds a saved epoch, while every process in ``running``
    is still alive (a dead one fails with its stderr)."""
    ckpts = os.path.join(out, "checkpoints")
    deadline = time.monotonic() + timeout
    while not os.path.isdir(ckpts) or not any(d.isdigit() for d in os.listdir(ckpts)):
        for proc in running:
            assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same(a, b, rtol: float | None = None) -> None:
    """Two :class:`jaxlab.Result` agree: bit for bit (``rtol=None``), or to ``rtol`` in every
    number with every discrete outcome (status, epochs run, stop epoch) equal."""
    exact = rtol is None
    for name in ("variants", "history"):
        x, y = getattr(a, name), getattr(b, name)
        assert list(x.columns) == list(y.columns), name
        if exact:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        else:
            pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=rtol, atol=rtol)
    for col in ("status", "epochs_run", "stop_epoch"):
        assert a.variants[col].tolist() == b.variants[col].tolist(), col
    assert len(a) == len(b)
    for i in range(len(a)):
        for x, y in zip(jax.tree.leaves(a.params(i)), jax.tree.leaves(b.params(i)), strict=True):
            if exact:
                np.testing.assert_array_equal(x, y)
            else:
                np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol)

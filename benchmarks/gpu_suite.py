"""Run the whole benchmark set on this machine's accelerator and write one JSON report.

Ready for a GPU (or TPU) machine: every benchmark runs in its own process (fresh device
memory), with sizes fit for an accelerator unless ``--quick``; the report holds the machine
(devices, memory, JAX version), each benchmark's numbers and its printed summary. A
benchmark that fails is recorded with its error and the suite goes on.

What it covers: the peers' W1 (the course's batch-size study) and W2 (the MNIST-shaped
32-variant sweep) side by side with their hand-written JAX peers when ``../shared/peers`` is
there; the matmul peak (``peak.py``) and every GFLOP/s figure as a fraction of it; the
microstep profile at 32 and 1,024 variants (the MNIST-MLP sweep); scaling to 4,096 variants
and beyond; chunking, halving, sharding and the Keras comparison.

Choices, documented here because they decide accelerator numbers: float32 parameters with
JAX's default matmul precision (on a GPU, TF32 where the hardware has it: set
``JAX_DEFAULT_MATMUL_PRECISION=highest`` for full float32); the epoch program donates its
state buffers (updated in place, ``jaxlab.compiled.epoch_program``); one compiled call
runs up to 16 epochs of a small model (``jaxlab.runner.slots``: about 10^9 multiply-adds
a call; one epoch a call for the MNIST-sized sweeps), the host reading the stacked records
once per call.

    python benchmarks/gpu_suite.py --out gpu_report.json
    python benchmarks/gpu_suite.py --quick --out cpu_report.json     # CPU-sized settings
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(os.path.dirname(HERE), "..", "shared", "peers")


# Scripts that print text only (the others write their numbers to --json FILE).
TEXT_ONLY = ("batch_size.py", "mnist_shaped.py", "logging_overhead.py")


def suite(quick: bool, n_devices: int) -> list[tuple[str, list[str]]]:
    """``(script, arguments)`` of every benchmark."""
    if quick:
        return [
            ("scaling.py", ["--sizes", "1", "8", "64", "512", "4096", "--epochs", "3"]),
            ("dispatch.py", ["--repeats", "1"]),
            ("many_variants.py", ["--variants", "10000", "--epochs", "3", "--budget", "32MB"]),
            ("sharding.py", ["--variants", "512", "--epochs", "5"]),
            ("halving.py", ["--epochs", "40", "--every", "5", "--eta", "2"]),
            ("keras_compare.py", ["--epochs", "20"]),
            ("batch_size.py", ["--epochs", "20"]),
            ("mnist_shaped.py", ["--n", "10000", "--epochs", "3"]),
            ("microstep_profile.py", ["--steps", "20", "--variants", "32"]),
        ]
    runs = [
        ("scaling.py", ["--sizes", "1", "8", "64", "512", "4096", "16384", "65536",
                        "--epochs", "5"]),
        ("dispatch.py", ["--repeats", "2"]),
        # The device's own memory is the budget: chunks appear only past it.
        ("many_variants.py", ["--variants", "10000", "--epochs", "10", "--budget", "none"]),
        ("many_variants.py", ["--variants", "1000000", "--epochs", "2", "--budget", "none"]),
        ("halving.py", ["--epochs", "200", "--every", "20", "--eta", "3"]),
        ("keras_compare.py", ["--epochs", "200"]),
        ("batch_size.py", ["--epochs", "200"]),
        ("mnist_shaped.py", ["--n", "60000", "--epochs", "10"]),
        ("microstep_profile.py", ["--steps", "50", "--variants", "32"]),
        ("microstep_profile.py", ["--steps", "50", "--variants", "1024"]),
    ]
    if n_devices > 1:  # real devices: the same sweep on all of them against one
        runs.append(("sharding.py", ["--variants", "65536", "--epochs", "5", "--devices",
                                     str(n_devices), "--real"]))
    return runs


def machine() -> dict:
    import jax

    devices = jax.devices()
    info = {"jax": jax.__version__, "backend": jax.default_backend(),
            "devices": [d.device_kind for d in devices], "host": platform.node(),
            "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        stats = devices[0].memory_stats() or {}
        info["device_memory_bytes"] = stats.get("bytes_limit")
    except Exception:  # backends without statistics
        pass
    return info


def run(script: str, args: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        extra = [] if script in TEXT_ONLY else ["--json", out]
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, os.path.join(HERE, script), *args, *extra],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"script": script, "args": args, "error": f"timed out after {timeout} s"}
        entry = {"script": script, "args": args, "seconds": time.perf_counter() - t,
                 "stdout": proc.stdout}
        if proc.returncode:
            entry["error"] = proc.stderr[-4000:]
        elif os.path.exists(out):
            with open(out) as f:
                entry["report"] = json.load(f)
        return entry


def peers(quick: bool, timeout: float) -> list[dict]:
    """The peers' matmul peak and W1/W2 side by side (jaxlab and its JAX peers), if present."""
    if not os.path.isdir(PEERS):
        return []
    out = []
    rounds = "1" if quick else "3"
    jobs = [("peak.py", ["--reps", "5" if quick else "15"]),
            ("bench.py", ["w1", "--rounds", rounds, "--peers", "w1_flax_scan", "w1_hand_vmap",
                          "w1_jaxlab", "w1_jaxlab_warm"]),
            ("bench.py", ["w2", "--rounds", rounds, "--peers", "w2_jax_vmap", "w2_jaxlab",
                          "--ref", "w2_jax_vmap"])]
    env = {**os.environ, "JAXLAB_PY": sys.executable, "PEERS_PY": sys.executable}
    for script, args in jobs:
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, os.path.join(PEERS, script), *args],
                                  capture_output=True, text=True, timeout=timeout, cwd=PEERS,
                                  env=env, check=False)
            entry = {"script": f"peers/{script}", "args": args, "stdout": proc.stdout,
                     "seconds": time.perf_counter() - t}
            if proc.returncode:
                entry["error"] = proc.stderr[-4000:]
        except subprocess.TimeoutExpired:
            entry = {"script": f"peers/{script}", "args": args,
                     "error": f"timed out after {timeout} s"}
        print(entry.get("stdout", "") + entry.get("error", ""), flush=True)
        out.append(entry)
    return out


def peak_gflops(entries: list[dict]) -> float | None:
    """The best XLA matmul GFLOP/s that ``peak.py`` printed (its 2048^3 row)."""
    best = None
    for e in entries:
        for line in e.get("stdout", "").splitlines():
            if line.startswith("{") and '"xla"' in line:
                row = json.loads(line)
                best = max(best or 0.0, row["gflops_median"])
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_report.json", help="the JSON report")
    parser.add_argument("--quick", action="store_true", help="CPU-sized settings")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run only these scripts")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args(argv)
    info = machine()
    report = {"suite": "jaxlab benchmarks", "started": datetime.datetime.now().isoformat(),
              "machine": info, "results": []}
    if not args.only:
        report["peers"] = peers(args.quick, args.timeout)
        report["matmul_peak_gflops"] = peak_gflops(report["peers"])
    for script, script_args in suite(args.quick, len(info["devices"])):
        if args.only and script not in args.only:
            continue
        print(f"== {script} {' '.join(script_args)}", flush=True)
        entry = run(script, script_args, args.timeout)
        print(entry.get("stdout", "") + (f"FAILED: {entry['error']}\n" if "error" in entry
                                          else ""), flush=True)
        peak = report.get("matmul_peak_gflops")
        if peak and "report" in entry and "rows" in entry["report"]:
            for row in entry["report"]["rows"]:
                if "gflops" in row:  # the throughput benchmarks' rows (not scaling's)
                    row["fraction_of_peak"] = row["gflops"] / peak
        report["results"].append(entry)
        with open(args.out, "w") as f:  # after each benchmark: a crash keeps what ran
            json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()

"""Run the whole benchmark set on this machine's accelerator and write one JSON report.

Ready for a GPU (or TPU) machine: every benchmark runs in its own process (fresh device
memory), with sizes fit for an accelerator unless ``--quick``; the report holds the machine
(devices, memory, JAX version), each benchmark's numbers and its printed summary. A
benchmark that fails is recorded with its error and the suite goes on.

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


# Scripts that print text only (the others write their numbers to --json FILE).
TEXT_ONLY = ("batch_size.py", "mnist_shaped.py", "logging_overhead.py")


def suite(quick: bool, n_devices: int) -> list[tuple[str, list[str]]]:
    """``(script, arguments)`` of every benchmark."""
    if quick:
        return [
            ("scaling.py", ["--sizes", "1", "8", "64", "512", "4096", "--epochs", "3"]),
            ("many_variants.py", ["--variants", "10000", "--epochs", "3", "--budget", "32MB"]),
            ("sharding.py", ["--variants", "512", "--epochs", "5"]),
            ("halving.py", ["--epochs", "40", "--every", "5", "--eta", "2"]),
            ("keras_compare.py", ["--epochs", "20"]),
            ("batch_size.py", ["--epochs", "20"]),
            ("mnist_shaped.py", ["--n", "10000", "--epochs", "3"]),
        ]
    runs = [
        ("scaling.py", ["--sizes", "1", "8", "64", "512", "4096", "16384", "65536",
                        "--epochs", "5"]),
        # The device's own memory is the budget: chunks appear only past it.
        ("many_variants.py", ["--variants", "10000", "--epochs", "10", "--budget", "none"]),
        ("many_variants.py", ["--variants", "1000000", "--epochs", "2", "--budget", "none"]),
        ("halving.py", ["--epochs", "200", "--every", "20", "--eta", "3"]),
        ("keras_compare.py", ["--epochs", "200"]),
        ("batch_size.py", ["--epochs", "200"]),
        ("mnist_shaped.py", ["--n", "60000", "--epochs", "10"]),
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
    for script, script_args in suite(args.quick, len(info["devices"])):
        if args.only and script not in args.only:
            continue
        print(f"== {script} {' '.join(script_args)}", flush=True)
        entry = run(script, script_args, args.timeout)
        print(entry.get("stdout", "") + (f"FAILED: {entry['error']}\n" if "error" in entry
                                          else ""), flush=True)
        report["results"].append(entry)
        with open(args.out, "w") as f:  # after each benchmark: a crash keeps what ran
            json.dump(report, f, indent=1)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()

"""Sharding overhead: the same sweep on 4 (simulated) devices against 1, one machine.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` splits this machine's CPU into 4
devices that share its cores, so the run measures what sharding the variant axis costs
(padding, the SPMD program, per-epoch gathering of the records), not a speed-up: on real
devices each one trains a quarter of the variants. Each setting runs in a fresh child
process (the device count is fixed when JAX starts), the sweep twice per child (the second
run, warm, is timed). Prints seconds per epoch and the ratio 4 devices / 1.

    python benchmarks/sharding.py                      # 512 variants, 5 epochs
    python benchmarks/sharding.py --variants 4096 --devices 8 --json out.json
    python benchmarks/sharding.py --real --variants 65536   # real devices: all against one

With ``--real`` (a machine with several GPUs or TPU cores) one process runs the sweep on the
first device, then on all of them: the ratio is then the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def child(n: int, epochs: int, devices=None) -> dict:
    import time

    import jax

    import jaxlab as jl

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from scaling import spec

    s = spec(n, epochs)
    jl.run(s, compilation_cache=False, devices=devices)  # compile and warm up
    t = time.perf_counter()
    result = jl.run(s, compilation_cache=False, devices=devices)
    total = time.perf_counter() - t
    timing = result.timing[0]
    epochs_run = int(result.history.epoch.max())
    return {"devices": len(devices or jax.devices()), "variants": n,
            "chunk_size": timing["chunk_size"], "train_s": timing["train_s"],
            "total_s": total, "s_per_epoch": timing["train_s"] / epochs_run}


def run_child(devices: int, n: int, epochs: int) -> dict:
    env = {**os.environ, "JAXLAB_COMPILATION_CACHE": "0",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--child", "--variants", str(n),
                           "--epochs", str(epochs)], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--real", action="store_true",
                        help="use this machine's devices, in this process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.variants, args.epochs)))
        return {}
    if args.real:
        import jax

        devices = jax.devices()[: args.devices]
        one = child(args.variants, args.epochs, devices[:1])
        many = child(args.variants, args.epochs, devices)
        where = f"{len(devices)} x {devices[0].device_kind}"
    else:
        one = run_child(1, args.variants, args.epochs)
        many = run_child(args.devices, args.variants, args.epochs)
        where = f"simulated CPU devices sharing {os.cpu_count()} cores"
    ratio = many["s_per_epoch"] / one["s_per_epoch"]
    print(f"{args.variants} blobs variants, {args.epochs} epochs, {where}")
    for r in (one, many):
        print(f"{r['devices']} device(s): {r['s_per_epoch'] * 1e3:.1f} ms/epoch "
              f"(padded to {r['chunk_size']} variants)")
    n = many["devices"]
    if args.real or ratio < 1:
        why = ("" if args.real else "; no overhead to see: XLA runs the simulated devices in "
               "parallel threads, on smaller, cache-resident blocks of variants")
        print(f"time per epoch, {n} devices / 1: {ratio:.2f}x (speed-up {1 / ratio:.2f}x{why})")
    else:
        print(f"time per epoch, {n} devices / 1: {ratio:.2f}x (sharding overhead "
              f"{100 * (ratio - 1):+.0f}% on the same cores)")
    report = {"benchmark": "sharding", "one": one, "many": many, "ratio": ratio}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()

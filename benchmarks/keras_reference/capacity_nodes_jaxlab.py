"""jaxlab's side of the Keras cross-check (``capacity_nodes.py`` here): the ``capacity-nodes``
study's sweep at the given widths x seeds, per-seed train/test accuracy of the final
weights and the mean with a 95% t interval, printed as the Keras script prints them::

    python benchmarks/keras_reference/capacity_nodes_jaxlab.py --seeds 20 --widths 5 6 7
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

import jaxlab as jl
from jaxlab.course import capacity_nodes, stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--widths", type=int, nargs="+", default=[5, 6, 7])
    args = p.parse_args()
    spec = capacity_nodes.spec(quick=False)
    spec = dataclasses.replace(spec, grid={"width": args.widths, "seed": list(range(args.seeds))})
    result = jl.run(spec)
    ds = jl.load(spec.data)
    v = result.variants
    for w in args.widths:
        rows = v.index[v["model.width"] == w]
        train = [result.evaluate(ds.x_train, ds.y_train, i)["accuracy"] for i in rows]
        test = [result.evaluate(ds.x_val, ds.y_val, i)["accuracy"] for i in rows]
        for i, tr, te in zip(rows, train, test, strict=True):
            print(f"width {w} seed {v.loc[i, 'train.seed']:2d}: train {tr:.3f} test {te:.3f}")
        print(f"width {w}: test accuracy {stats.mean_ci(test):.3f} over {len(test)} seeds; "
              f"below 0.95: {np.mean(np.asarray(test) < 0.95):.2f}; "
              f"train {np.mean(train):.3f}", flush=True)


if __name__ == "__main__":
    main()

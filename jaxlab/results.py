"""Sweep results: a tidy history, a per-variant summary, every variant's parameters.

A results directory holds:

* ``history.csv``: one row per variant and epoch trained, with the variant's swept values;
* ``variants.csv``: one row per variant: swept values, status (``ok``, ``stopped``,
  ``diverged``, ``pruned`` by successive halving), stop epoch, final and best metrics, best
  epoch;
* ``spec.toml``: the sweep spec (runnable with ``jaxlab sweep``);
* ``params.npz``: every variant's parameters at its own (unpadded) size, keys
  ``v{index}/hidden/{layer}/kernel`` ...; and ``result.json``, the manifest, written last.

Every file is written to a temporary name, flushed and renamed into place, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pandas as pd

from jaxlab import engine, models
from jaxlab.config import Sweep
from jaxlab.errors import ConfigError
from jaxlab.losses import Objective

STATUS = ("ok", "stopped", "diverged", "pruned")
RESULT_FILES = ("history.csv", "variants.csv", "spec.toml", "params.npz")


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None
# mkstemp creates 0600 files; results get the mode a plain open() would give them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


# -- atomic files -------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


# -- one trained variant ------------------------------------------------------------------------
@dataclasses.dataclass
class TrainedModel:
    """One variant's network, ready to predict.

    Attributes:
      arch: the variant's own architecture (width = its widest layer).
      objective: loss/metrics/output activation.
      dtype: ``float32`` or ``float64``.
      params, batch_stats: pure dicts at ``arch``'s size.
      widths, depth: the variant's hidden widths.
    """

    arch: models.Arch
    objective: Objective
    dtype: str
    params: dict
    batch_stats: dict
    widths: tuple[int, ...]
    depth: int

    def logits(self, x) -> np.ndarray:
        x = np.asarray(x, np.float64 if self.dtype == "float64" else np.float32)
        w = np.zeros(self.arch.depth, np.int32)
        w[: self.depth] = self.widths
        return np.asarray(_logits(self.arch, self.dtype, self.params, self.batch_stats, w,
                                  self.depth, x.reshape(len(x), -1)))

    def predict(self, x) -> np.ndarray:
        """Outputs after the output activation (probabilities for classification)."""
        return np.asarray(self.objective.predict(self.logits(x)))

    def evaluate(self, x, y) -> dict[str, float]:
        """Mean loss and metrics on ``(x, y)``; ``y``: labels ``(n,)`` or one-hot ``(n, k)``,
        or regression targets ``(n,)`` or ``(n, k)``."""
        z = self.logits(x)
        y = np.asarray(y)
        if self.objective.task == "regression":
            y = y.reshape(len(y), -1)  # (n,) against (n, 1) outputs would broadcast to (n, n)
        elif y.ndim == 2 and y.shape[1] > 1:
            y = y.argmax(1)  # one-hot, as fit() accepts it
        elif y.ndim == 2:
            y = y[:, 0]
        t = self.objective.encode(y, "y")
        out = {"loss": float(np.mean(self.objective.per_sample_loss(z, t)))}
        for name, v in self.objective.per_sample_metrics(z, t).items():
            out[name] = float(np.mean(v))
        return out


_logits = jax.jit(engine.logits, static_argnums=(0, 1))


def _take(tree, i: int):
    return jax.tree.map(lambda a: np.asarray(a[i]), tree)


def _shrink(pure: dict, width: int) -> dict:
    """Cut a padded pure dict to a network of width ``width`` (same depth)."""

    def cut(path, a):
        names = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
        if names[0] == "out" and names[-1] == "kernel":
            return a[:width]
        if names[0] in ("hidden", "norms"):
            if names[-1] == "kernel":
                return a[: (a.shape[0] if names[1] == 0 else width), :width]
            return a[:width]
        return a

    return jax.tree_util.tree_map_with_path(cut, pure)


# -- the result ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Result:
    """What a sweep produced.

    Attributes:
      spec: the sweep spec.
      history: tidy DataFrame, one row per (variant, epoch trained).
      variants: DataFrame, one row per variant (summary).
      models: one :class:`TrainedModel` per variant, in sweep order.
      timing: per-group compile and training seconds.
    """

    spec: Sweep
    history: pd.DataFrame
    variants: pd.DataFrame
    models: list[TrainedModel]
    timing: list[dict] = dataclasses.field(default_factory=list)

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.models)

    @property
    def axes(self) -> list[str]:
        return [c for c in self.variants.columns if "." in c]

    def params(self, i: int) -> dict:
        """Variant ``i``'s parameters at its true size (pure dict of numpy arrays)."""
        m = self.models[i]
        return models.slice_params(m.params, m.widths, m.depth, m.arch.n_in)

    def predict(self, x, variant: int = 0) -> np.ndarray:
        return self.models[variant].predict(x)

    def evaluate(self, x, y, variant: int = 0) -> dict[str, float]:
        return self.models[variant].evaluate(x, y)

    def best(self, metric: str = "val_loss", mode: str = "auto") -> int:
        """Index of the variant with the best final ``metric`` (diverged ones excluded)."""
        col = f"final_{metric}"
        if col not in self.variants:
            raise ConfigError("metric", metric, f"not in the results; have "
                              f"{[c[6:] for c in self.variants.columns if c.startswith('final_')]}")
        ok = self.variants[self.variants.status != "diverged"]
        ok = ok[np.isfinite(ok[col])]
        maximize = mode == "max" or (mode == "auto" and "acc" in metric)
        if ok.empty:
            raise ConfigError("metric", metric, "no variant has a finite value")
        return int(ok[col].idxmax() if maximize else ok[col].idxmin())

    def curve(self, metric: str, variant: int) -> np.ndarray:
        h = self.history
        return h[h.variant == variant].sort_values("epoch")[metric].to_numpy()

    # -- save / load ----------------------------------------------------------------------------
    def save(self, path: str) -> str:
        """Write the results directory (atomically, file by file; manifest last)."""
        os.makedirs(path, exist_ok=True)
        with atomic_open(os.path.join(path, "history.csv")) as f:
            self.history.to_csv(f, index=False)
        with atomic_open(os.path.join(path, "variants.csv")) as f:
            self.variants.to_csv(f, index=False)
        atomic_write_text(os.path.join(path, "spec.toml"), self.spec.to_toml())
        arrays = {}
        for i, m in enumerate(self.models):
            for prefix, tree in (("params", m.params), ("batch_stats", m.batch_stats)):
                for keypath, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                    names = "/".join(str(getattr(k, "key", getattr(k, "idx", k)))
                                     for k in keypath)
                    arrays[f"v{i}/{prefix}/{names}"] = np.asarray(leaf)
        with atomic_open(os.path.join(path, "params.npz"), "wb") as f:
            np.savez(f, **arrays)
        manifest = {
            "format": 1,
            # The manifest is written last and names the content of every file, so a reader
            # that finds a file replaced by a newer save meanwhile can tell (see load()).
            "files": {name: _sha256(os.path.join(path, name)) for name in RESULT_FILES},
            "n_variants": len(self.models),
            "timing": self.timing,
            "models": [{"arch": dataclasses.asdict(m.arch),
                        "objective": dataclasses.asdict(m.objective), "dtype": m.dtype,
                        "widths": list(m.widths), "depth": m.depth} for m in self.models],
        }
        atomic_write_text(os.path.join(path, "result.json"), json.dumps(manifest, indent=1))
        return path

    @classmethod
    def load(cls, path: str) -> Result:
        """Read a results directory written by :meth:`save`."""
        manifest_path = os.path.join(path, "result.json")
        if not os.path.exists(manifest_path):
            raise ConfigError("results", path, "not a jaxlab results directory (no result.json)")
        with open(manifest_path) as f:
            manifest = json.load(f)
        for name, digest in manifest.get("files", {}).items():
            if _sha256(os.path.join(path, name)) != digest:
                raise ConfigError("results", path, f"{name} does not match result.json (a save "
                                  "is in progress or the directory was edited); retry")
        spec = Sweep.from_toml(os.path.join(path, "spec.toml"))
        # List-valued axes (hidden = [3]) are written as text ("3", "4x5"); keep them text.
        points = spec.points()
        text = {a: str for a in spec.axes()
                if any(isinstance(p.get(a), (list, tuple)) for p in points)}
        history = pd.read_csv(os.path.join(path, "history.csv"), dtype=text)
        variants = pd.read_csv(os.path.join(path, "variants.csv"), dtype=text)
        variants.index = variants["variant"].to_numpy()
        trees: dict[int, dict] = {}
        with np.load(os.path.join(path, "params.npz")) as z:
            for key in z.files:
                v, prefix, *names = key.split("/")
                node = trees.setdefault(int(v[1:]), {"params": {}, "batch_stats": {}})[prefix]
                for name in names[:-1]:
                    node = node.setdefault(int(name) if name.isdigit() else name, {})
                node[names[-1]] = z[key]
        loaded = []
        for i, meta in enumerate(manifest["models"]):
            obj = dict(meta["objective"])
            obj["metrics"] = tuple(obj["metrics"])
            loaded.append(TrainedModel(
                arch=models.Arch(**meta["arch"]), objective=Objective(**obj),
                dtype=meta["dtype"], params=trees[i]["params"],
                batch_stats=trees[i]["batch_stats"], widths=tuple(meta["widths"]),
                depth=meta["depth"]))
        return cls(spec, history, variants, loaded, manifest.get("timing", []))


# -- building a result from the runner's output ---------------------------------------------
def build(plan, outputs: list[dict]) -> Result:
    """Assemble a :class:`Result` from :func:`jaxlab.sweep.run_plan` outputs."""
    axes = plan.spec.axes()
    n = len(plan.variants)
    rows, summary = [], [None] * n
    trained: list[Any] = [None] * n
    for g, out in zip(plan.groups, outputs, strict=True):
        prog = g.program
        state = out["state"]
        records = out["records"]
        metric_names = [k for k in records[0]
                        if k not in ("trained", "stopped", "diverged", "pruned")]
        all_params = state.params
        for j, v in enumerate(g.variants):
            values = {a: _cell(v.values.get(a)) for a in axes}
            status, stop_epoch, last = "ok", -1, None
            for e, rec in enumerate(records):
                if not rec["trained"][j]:
                    continue
                row = {"variant": v.index, "epoch": e + 1, **values}
                row.update({k: _scalar(rec[k][j]) for k in metric_names})
                rows.append(row)
                last = row
                if rec["diverged"][j]:
                    status, stop_epoch = "diverged", e + 1
                elif rec["stopped"][j]:
                    status, stop_epoch = "stopped", e + 1
                elif "pruned" in rec and rec["pruned"][j]:
                    status, stop_epoch = "pruned", e + 1
            s = {"variant": v.index, **values, "group": plan.groups.index(g), "status": status,
                 "stop_epoch": stop_epoch, "epochs_run": last["epoch"] if last else 0}
            for k in metric_names:
                if k in ("lr", "updates", "examples"):
                    continue
                series = [r[k][j] for r in records if r["trained"][j]]
                s[f"final_{k}"] = _scalar(series[-1]) if series else np.nan
                if k.startswith(_DIAGNOSTICS):  # final value only: "best" means nothing here
                    continue
                finite = [x for x in series if np.isfinite(x)]
                maximize = "acc" in k
                if finite:
                    best = max(finite) if maximize else min(finite)
                    s[f"best_{k}"] = _scalar(best)
                    if k == _monitor(v, metric_names):
                        s["best_epoch"] = series.index(best) + 1
                else:
                    s[f"best_{k}"] = np.nan
            s.setdefault("best_epoch", np.nan)
            summary[v.index] = s
            params = _take(all_params, j)
            stats = _take(state.batch_stats, j) if state.batch_stats else {}
            width = max(v.model.widths)
            arch = dataclasses.replace(prog.arch, width=width, depth=len(v.model.widths))
            trained[v.index] = TrainedModel(
                arch=arch, objective=prog.objective, dtype=prog.dtype,
                params=_shrink(_depth_cut(params, arch.depth), width),
                batch_stats=_shrink(_depth_cut(stats, arch.depth), width) if stats else {},
                widths=tuple(v.model.widths), depth=len(v.model.widths))
    history = pd.DataFrame(rows)
    if not history.empty:
        history = history[_column_order(list(history.columns), axes)]
        history = history.sort_values(["variant", "epoch"], kind="stable").reset_index(drop=True)
    variants = pd.DataFrame(summary)
    variants.index = variants["variant"].to_numpy()
    return Result(plan.spec, history, variants, trained, [o["timing"] for o in outputs])


_DIAGNOSTICS = ("grad_norm", "weight_norm", "dead", "saturated")


def _column_order(columns: list[str], axes: list[str]) -> list[str]:
    """variant, epoch, axes, loss and metrics, validation, then progress and diagnostics."""
    first = ["variant", "epoch", *axes]
    rest = [c for c in columns if c not in first]
    train = [c for c in rest if c == "loss" or not (c.startswith(("val_", *_DIAGNOSTICS))
                                                    or c in ("lr", "updates", "examples"))]
    val = [c for c in rest if c.startswith("val_")]
    steps = [c for c in ("lr", "updates", "examples") if c in rest]
    diag = [c for c in rest if c not in train + val + steps]
    return first + train + val + steps + diag


def _monitor(v, names) -> str:
    if v.train.early_stopping:
        return v.train.monitor
    return "val_loss" if "val_loss" in names else "loss"


def _depth_cut(pure: dict, depth: int) -> dict:
    out = dict(pure)
    for key in ("hidden", "norms"):
        if key in out:
            out[key] = {l: out[key][l] for l in range(depth)}
    return out


def _cell(value):
    if isinstance(value, (list, tuple)):
        return "x".join(str(x) for x in value)
    return value


def _scalar(x):
    x = np.asarray(x)
    return x.item()

"""Sweep results: a tidy history, a per-variant summary, every variant's parameters.

A results directory holds:

* ``history.csv``: one row per variant and epoch trained, with the variant's swept values;
* ``variants.csv``: one row per variant: swept values, status (``ok``, ``stopped``,
  ``diverged``, ``pruned`` by successive halving), stop epoch, final and best metrics (NaN
  for a diverged variant), best epoch, and with a test part (``Dataset.x_test``) the
  ``test_<metric>`` values of the final weights;
* ``spec.toml``: the sweep spec (runnable with ``jaxlab sweep``);
* ``params.npz``: every variant's parameters at its own (unpadded) size, keys
  ``v{index}/hidden/{layer}/kernel`` ...; and ``result.json``, the manifest, written last.

A save writes these files into a fresh version folder ``v-<id>/``, then atomically replaces
``result.json``, which names that folder and every file's SHA-256; the user-facing names
beside it are then re-pointed at the new files and the previous version folder removed.
:meth:`Result.load` reads the manifest, then only the files of the version it names, so a
reader never sees a mix of two saves (it may be told to retry). The flat layout of earlier
versions (the files beside a format-1 ``result.json``) still loads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import tomllib
import uuid
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from jaxlab import compiled, conventions, labels, models, networks, plugins
from jaxlab.atomic import atomic_open, atomic_write_text
from jaxlab.config import Sweep
from jaxlab.errors import ConfigError, DiskFull, is_disk_full
from jaxlab.losses import Objective

STATUS = conventions.STATUS  # a variant's ``status`` column takes these values
RESULT_FILES = ("history.csv", "variants.csv", "spec.toml", "params.npz")


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


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
      module: for a user module (``arch`` is then ``None``): ``factory`` (the callable, or
        its ``"module:name"`` after loading), ``options``, ``n_in``, ``n_out``.
    """

    arch: models.Arch | None
    objective: Objective
    dtype: str
    params: dict
    batch_stats: dict
    widths: tuple[int, ...]
    depth: int
    module: dict | None = None

    def net(self) -> tuple[networks.Net, dict]:
        """The network and this variant's structure arrays."""
        if self.module is None:
            net = networks.MLPNet(self.arch, self.dtype)
            return net, net.shape_of(self.widths)
        m = self.module
        factory = plugins.load("model.module", m["factory"])
        return networks.ModuleNet(factory, networks.freeze_options(m["options"]), m["n_in"],
                                  m["n_out"], self.dtype), {}

    def logits(self, x) -> np.ndarray:
        x = np.asarray(x, conventions.float_dtype(self.dtype))
        net, shape = self.net()
        return np.asarray(compiled.logits(net, self.params, self.batch_stats, shape,
                                          x.reshape(len(x), -1)))

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


def _nnx_module(m: TrainedModel) -> nnx.Module:
    """``m`` as an NNX module with its arrays (see :meth:`Result.module`)."""
    params = jax.tree.map(jnp.asarray, m.params)
    stats = jax.tree.map(jnp.asarray, m.batch_stats)
    if m.module is None:
        dtype = conventions.float_dtype(m.dtype, jnp)
        shape = nnx.eval_shape(lambda: models.VariantMLP(m.arch, m.widths, param_dtype=dtype,
                                                         rngs=nnx.Rngs(0)))
        graphdef, abs_params, abs_stats = nnx.split(shape, nnx.Param, nnx.BatchStat)
        return nnx.merge(graphdef, models.to_state(abs_params, params),
                         models.to_state(abs_stats, stats))
    net, _ = m.net()
    graphdef, own, rngs, rest = nnx.split(net.build(jax.random.PRNGKey(0)), nnx.Param,
                                          nnx.RngState, ...)
    return nnx.merge(graphdef, models.to_state(own, params), rngs,
                     models.to_state(rest, stats))


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

    def __repr__(self) -> str:
        """A few lines: size, groups, epochs, metrics, statuses, the best variant.

        Example::

          Result 'demo': 9 variants in 1 group, 50 epochs
            axes: train.learning_rate, train.batch_size
            metrics: loss, accuracy, val_loss, val_accuracy
            status: 8 ok, 1 diverged
            best: v4 (learning_rate=0.01, batch_size=32), final val_accuracy 0.934
        """
        table = self.variants
        n, name = len(self.models), self.spec.name
        groups = table["group"].nunique() if "group" in table else 0
        epochs = sorted({int(e) for e in table.get("epochs_run", [])})
        run = (f"{epochs[0]}" if len(epochs) == 1 else
               f"{epochs[0]}-{epochs[-1]}" if epochs else "0")
        lines = [f"Result {name!r}: {n} variant{'s' * (n != 1)} in {groups} group"
                 f"{'s' * (groups != 1)}, {run} epoch{'s' * (run != '1')}"]
        if self.axes:
            lines.append(f"  axes: {', '.join(self.axes)}")
        metrics = conventions.summarized(table.columns, "best")
        if metrics:
            lines.append(f"  metrics: {', '.join(metrics)}")
        if "status" in table and n:
            counts = table["status"].value_counts()
            lines.append("  status: " + ", ".join(f"{int(counts[s])} {s}" for s in STATUS
                                                  if s in counts))
        val = [m for m in metrics if m.startswith("val_")]
        watch = ([m for m in val if m != "val_loss"] or val or metrics or [None])[0]
        if watch is not None and n:
            try:
                best = self.best(watch)
            except ConfigError:
                lines.append(f"  best: none (no variant has a finite final {watch})")
            else:
                row = table.loc[best]
                what = labels.describe({a: row[a] for a in self.axes})
                value = row[conventions.summary_column("final", watch)]
                lines.append(f"  best: v{best}{f' ({what})' if what else ''}, final {watch} "
                             f"{value:.4g}")
        return "\n".join(lines)

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.models)

    @property
    def axes(self) -> list[str]:
        """The swept axes, dotted (``train.learning_rate``), in column order."""
        return conventions.swept_axes(self.variants.columns)

    def params(self, i: int) -> dict:
        """Variant ``i``'s parameters at its true size (pure dict of numpy arrays)."""
        m = self.models[i]
        if m.module is not None:
            return m.params
        return models.slice_params(m.params, m.widths, m.depth, m.arch.n_in)

    def module(self, i: int = 0) -> nnx.Module:
        """Variant ``i`` as a Flax NNX module holding its trained parameters and batch stats.

        The built-in MLP comes back as a :class:`jaxlab.models.VariantMLP` at the variant's
        own width and depth, called as ``module(x)`` (inference mode; ``train=True`` for
        batch statistics); a user module as its factory builds it, called as
        ``module(x, train=False)``. Either gives the raw outputs of
        ``result.models[i].logits(x)``. The module is a fresh copy: training it further
        leaves the result as it is.

        Example:
          >>> model = result.module(result.best("val_accuracy"))     # doctest: +SKIP
          >>> probs = jax.nn.softmax(model(x_val))                   # doctest: +SKIP
        """
        return _nnx_module(self.models[i])

    def predict(self, x, variant: int = 0) -> np.ndarray:
        return self.models[variant].predict(x)

    def evaluate(self, x, y, variant: int = 0) -> dict[str, float]:
        return self.models[variant].evaluate(x, y)

    def best(self, metric: str = "val_loss", mode: str = "auto") -> int:
        """Index of the variant with the best final ``metric`` (diverged ones excluded)."""
        col = conventions.summary_column("final", metric)
        if col not in self.variants:
            raise ConfigError("metric", metric, f"not in the results; have "
                              f"{conventions.summarized(self.variants.columns, 'final')}")
        ok = self.variants[self.variants.status != "diverged"]
        ok = ok[np.isfinite(ok[col])]
        if ok.empty:
            raise ConfigError("metric", metric, "no variant has a finite value")
        return int(ok[col].idxmax() if conventions.maximize(metric, mode) else ok[col].idxmin())

    def curve(self, metric: str, variant: int) -> np.ndarray:
        h = self.history
        return h[h.variant == variant].sort_values("epoch")[metric].to_numpy()

    # -- save / load ----------------------------------------------------------------------------
    def save(self, path: str) -> str:
        """Write the results directory: a new version folder, then a switch of the manifest.

        The files are written into a fresh ``path/v-<id>/``; then ``path/result.json`` (the
        manifest, naming that folder and every file's SHA-256) is replaced atomically, so a
        reader sees the whole old result or the whole new one, never a mix. The user-facing
        names ``path/history.csv`` etc. are then pointed at the new files (hard links where
        the file system allows, else copies), and the previous version folder is removed.
        """
        kept = "the previous result is kept"
        version = f"v-{uuid.uuid4().hex[:12]}"
        folder = os.path.join(path, version)
        try:
            os.makedirs(path, exist_ok=True)
            os.makedirs(folder)
            with atomic_open(os.path.join(folder, "history.csv"), kept=kept) as f:
                self.history.to_csv(f, index=False)
            with atomic_open(os.path.join(folder, "variants.csv"), kept=kept) as f:
                self.variants.to_csv(f, index=False)
            atomic_write_text(os.path.join(folder, "spec.toml"), self.spec.to_toml(),
                              kept=kept)
            arrays = {}
            for i, m in enumerate(self.models):
                for prefix, tree in (("params", m.params), ("batch_stats", m.batch_stats)):
                    for keypath, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                        names = "/".join(str(getattr(k, "key", getattr(k, "idx", k)))
                                         for k in keypath)
                        arrays[f"v{i}/{prefix}/{names}"] = np.asarray(leaf)
            with atomic_open(os.path.join(folder, "params.npz"), "wb", kept=kept) as f:
                np.savez(f, **arrays)
            manifest = {
                "format": 2,
                "version": version,  # the folder that holds this result's files
                # Every file's content, so that a file changed after the save is detected.
                "files": {name: _sha256(os.path.join(folder, name)) for name in RESULT_FILES},
                "n_variants": len(self.models),
                "timing": self.timing,
                "models": [{"arch": dataclasses.asdict(m.arch) if m.arch else None,
                            "module": _module_meta(m.module),
                            "objective": dataclasses.asdict(m.objective), "dtype": m.dtype,
                            "widths": list(m.widths), "depth": m.depth} for m in self.models],
            }
            manifest_path = os.path.join(path, "result.json")
            previous = _previous_version(manifest_path)
            atomic_write_text(manifest_path, json.dumps(manifest, indent=1),
                              kept=kept)  # the switch
        except BaseException as e:
            # Nothing of this save stays behind; result.json still names the previous one.
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(e, Exception) and not isinstance(e, DiskFull) and is_disk_full(e):
                raise DiskFull(folder, kept) from e
            raise
        for name in RESULT_FILES:  # result.json already names the new files: they load
            _link_beside(os.path.join(folder, name), os.path.join(path, name),
                         kept=f"{path} holds the new result (result.json names it), but "
                              f"{name} beside it still shows the previous one")
        if previous and previous != version:
            shutil.rmtree(os.path.join(path, previous), ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str) -> Result:
        """Read a results directory written by :meth:`save` (or by jaxlab before version
        folders, with its files beside ``result.json``).

        Raises :class:`ConfigError` ``results`` when the directory is not a complete result,
        or when a save replaced it while it was read ("retry").
        """
        manifest_path = os.path.join(path, "result.json")
        if not os.path.exists(manifest_path):
            raise ConfigError("results", path, "not a jaxlab results directory (no result.json)")
        manifest = _read_manifest(manifest_path, path)
        version = manifest.get("version")
        folder = path
        if version is not None:
            if not (isinstance(version, str) and version.startswith("v-")
                    and os.sep not in version and version not in (".", "..")):
                raise ConfigError("results", path, f"not a complete jaxlab result: "
                                                   f"result.json names the folder {version!r}")
            folder = os.path.join(path, version)
        try:
            # Every file is opened (and read) before anything is parsed: an open file stays
            # readable when a newer save removes its folder, so what is read is one version.
            raw = {}
            for name in RESULT_FILES:
                with open(os.path.join(folder, name), "rb") as f:
                    raw[name] = f.read()
        except FileNotFoundError as e:
            missing = os.path.relpath(e.filename, path)
            if version is None or _previous_version(manifest_path) == version:
                raise ConfigError("results", path, f"not a complete jaxlab result: {missing} "
                                                   "is missing") from None
            raise ConfigError("results", path, "a save is in progress (the version being "
                                               "read was replaced); retry") from None
        for name, digest in manifest["files"].items():
            if hashlib.sha256(raw[name]).hexdigest() != digest:
                raise ConfigError("results", path, f"{name} does not match result.json (a save "
                                  "is in progress or the directory was edited); retry")
        return cls._parse(raw, manifest)

    @classmethod
    def _parse(cls, raw: dict[str, bytes], manifest: dict) -> Result:
        try:
            spec = Sweep.from_dict(tomllib.loads(raw["spec.toml"].decode()))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError("results", "spec.toml", f"invalid TOML: {e}") from None
        # List-valued axes (hidden = [3]) are written as text ("3", "4x5"); keep them text.
        points = spec.points()
        text = {a: str for a in spec.axes()
                if any(isinstance(p.get(a), (list, tuple)) for p in points)}
        history = pd.read_csv(io.BytesIO(raw["history.csv"]), dtype=text)
        variants = pd.read_csv(io.BytesIO(raw["variants.csv"]), dtype=text)
        variants.index = variants["variant"].to_numpy()
        trees: dict[int, dict] = {}
        with np.load(io.BytesIO(raw["params.npz"])) as z:
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
                arch=models.Arch(**meta["arch"]) if meta["arch"] else None,
                objective=Objective(**obj), dtype=meta["dtype"], params=trees[i]["params"],
                batch_stats=trees[i]["batch_stats"], widths=tuple(meta["widths"]),
                depth=meta["depth"], module=meta.get("module")))
        return cls(spec, history, variants, loaded, manifest.get("timing", []))


def load_result(path: str | os.PathLike) -> Result:
    """Read a results directory (``result.save(path)``, ``jaxlab sweep --out path``): the same
    as :meth:`Result.load`. (``jaxlab.load`` loads a data set.)

    Example:
      >>> result = jl.load_result("runs/demo")                  # doctest: +SKIP
      >>> result.variants.head()                                # doctest: +SKIP
    """
    return Result.load(os.fspath(path))


def _previous_version(manifest_path: str) -> str | None:
    """The version folder the current manifest names, if any (a best effort)."""
    try:
        with open(manifest_path) as f:
            version = json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    ok = isinstance(version, str) and version.startswith("v-") and os.sep not in version
    return version if ok else None


def _link_beside(source: str, target: str, kept: str) -> None:
    """Make ``target`` the file ``source`` atomically: a hard link (or a copy) under a
    temporary name, renamed into place. A full disk raises :class:`DiskFull` saying
    ``kept``; the temporary copy is removed."""
    tmp = f"{target}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        try:
            os.link(source, tmp)
        except OSError:  # no hard links here (some network or FAT file systems)
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, Exception) and is_disk_full(e):
            raise DiskFull(target, kept) from e
        raise


_MODEL_KEYS = ("arch", "objective", "dtype", "widths", "depth")


def _read_manifest(manifest_path: str, path: str) -> dict:
    """``result.json``, checked to be whole: a truncated or foreign one is a
    :class:`ConfigError` naming ``results`` and the directory."""

    def incomplete(why: str) -> ConfigError:
        return ConfigError("results", path, f"not a complete jaxlab result: {why}")

    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise incomplete(f"result.json cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(manifest, dict):
        raise incomplete("result.json is not a JSON object")
    missing = [k for k in ("format", "files", "models") if k not in manifest]
    if missing:
        raise incomplete(f"result.json lacks {missing}")
    files, models_ = manifest["files"], manifest["models"]
    if not isinstance(files, dict) or set(files) != set(RESULT_FILES):
        named = sorted(files) if isinstance(files, dict) else files
        raise incomplete(f"result.json names the files {named}, expected "
                         f"{sorted(RESULT_FILES)}")
    if not isinstance(models_, list) or not all(
            isinstance(m, dict) and all(k in m for k in _MODEL_KEYS) for m in models_):
        raise incomplete(f"result.json's models are not a list of {list(_MODEL_KEYS)}")
    return manifest


# -- building a result from the runner's output ---------------------------------------------
def build(plan, outputs: list[dict]) -> Result:
    """Assemble a :class:`Result` from :func:`jaxlab.sweep.run_plan` outputs.

    Works on whole ``(epochs, V)`` arrays per group: a sweep of thousands of variants and
    hundreds of epochs builds its tables in array operations, not row by row.
    """
    axes = plan.spec.axes()
    frames, summaries = [], []
    trained: list[Any] = [None] * len(plan.variants)
    for gi, (g, out) in enumerate(zip(plan.groups, outputs, strict=True)):
        records = out["records"]
        names = [k for k in records[0] if k not in ("trained", "stopped", "diverged", "pruned")]
        stacked = {k: np.stack([np.asarray(r[k]) for r in records]) for k in records[0]}
        ran = stacked["trained"].astype(bool)  # (E, V)
        index = np.array(g.indices)
        values = {a: pd.Series([_cell(v.values.get(a)) for v in g.variants]) for a in axes}
        v_idx, e_idx = np.nonzero(ran.T)  # variant-major, epochs ascending
        frame = {"variant": index[v_idx], "epoch": e_idx + 1}
        frame.update({a: col.take(v_idx).to_numpy() for a, col in values.items()})
        frame.update({k: _column(stacked[k][e_idx, v_idx]) for k in names})
        frames.append(pd.DataFrame(frame))
        summary = _summary(g, gi, stacked, ran, names, index, values)
        summaries.append(_with_test(summary, out.get("test") or {}))
        for j, v in enumerate(g.variants):
            trained[v.index] = _trained_model(g.program, out["state"], j, v)
    history = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not history.empty:
        history = history[_column_order(list(history.columns), axes)]
        history = history.sort_values(["variant", "epoch"], kind="stable").reset_index(drop=True)
    variants = pd.concat(summaries, ignore_index=True).sort_values("variant", kind="stable")
    variants.index = variants["variant"].to_numpy()
    return Result(plan.spec, history, variants, trained, [o["timing"] for o in outputs])


def _column(a: np.ndarray) -> np.ndarray:
    """History values as pandas holds Python scalars: float64 and int64."""
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64)
    return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a


def _summary(g, gi: int, stacked: dict, ran: np.ndarray, names: list[str], index, values
             ) -> pd.DataFrame:
    """One row per variant of group ``g``: status, stop epoch, final and best values."""
    n = ran.shape[1]
    epochs_run = ran.sum(0)
    status = np.full(n, "ok", dtype=object)
    stop_epoch = np.full(n, -1)
    # At most one epoch of a variant carries a flag: it stops training after it.
    for flag in ("pruned", "stopped", "diverged"):  # later ones take precedence
        if flag in stacked:
            hit = (stacked[flag].astype(bool) & ran).any(0)
            status[hit] = flag
            stop_epoch[hit] = np.argmax(stacked[flag].astype(bool) & ran, axis=0)[hit] + 1
    out = {"variant": index, **{a: col.to_numpy() for a, col in values.items()},
           "group": np.full(n, gi), "status": status, "stop_epoch": stop_epoch,
           "epochs_run": epochs_run}
    best_epoch = np.full(n, np.nan)
    for k in names:
        if k in ("lr", "updates", "examples"):
            continue
        x = _column(stacked[k])
        out[conventions.summary_column("final", k)] = conventions.final_value(x, ran)
        if k.startswith(_DIAGNOSTICS):  # final value only: "best" means nothing here
            continue
        best, epoch = conventions.best_value(x, ran, conventions.maximize(k))
        out[conventions.summary_column("best", k)] = best
        for j, v in enumerate(g.variants):
            if epoch[j] >= 0 and k == _monitor(v, names):
                best_epoch[j] = epoch[j] + 1
    diverged = status == "diverged"
    best_epoch[diverged] = np.nan
    for value in conventions.SUMMARIES:
        for k in conventions.summarized(out, value):
            c = conventions.summary_column(value, k)
            out[c] = conventions.void_diverged(out[c], diverged)
    found_all = not np.isnan(best_epoch).any()
    out["best_epoch"] = best_epoch.astype(np.int64) if found_all else best_epoch
    return pd.DataFrame(out)


def _with_test(summary: pd.DataFrame, test: dict) -> pd.DataFrame:
    """``summary`` with a ``test_<metric>`` column per test-part value (``(V,)`` each), NaN
    for diverged variants."""
    diverged = (summary["status"] == "diverged").to_numpy()
    for k, v in test.items():
        col = conventions.summary_column("test", k)
        summary[col] = conventions.void_diverged(np.asarray(v, np.float64), diverged)
    return summary


def _trained_model(prog, state, j: int, v) -> TrainedModel:
    """Variant ``j`` of a group's final state, cut to its own width and depth."""
    params = _take(state.params, j)
    stats = _take(state.model_state, j) if state.model_state else {}
    net = prog.net
    if isinstance(net, networks.ModuleNet):
        return TrainedModel(
            arch=None, objective=prog.objective, dtype=prog.dtype, params=params,
            batch_stats=stats, widths=(), depth=0,
            module={"factory": net.factory, "options": dict(net.options), "n_in": net.n_in,
                    "n_out": net.n_out})
    width = max(v.model.widths)
    arch = dataclasses.replace(prog.arch, width=width, depth=len(v.model.widths))
    return TrainedModel(
        arch=arch, objective=prog.objective, dtype=prog.dtype,
        params=_shrink(_depth_cut(params, arch.depth), width),
        batch_stats=_shrink(_depth_cut(stats, arch.depth), width) if stats else {},
        widths=tuple(v.model.widths), depth=len(v.model.widths))


_DIAGNOSTICS = ("grad_norm", "weight_norm", "dead", "saturated", "sharpness", "gns_",
                "noise_scale")  # instruments: no "best" either


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
    return conventions.default_monitor("val_loss" in names)


def _module_meta(module: dict | None) -> dict | None:
    """A user module's description for ``result.json`` (the factory by name)."""
    if module is None:
        return None
    return {**module, "factory": plugins.name_of(module["factory"]),
            "options": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in module["options"].items()}}


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

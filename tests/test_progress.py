"""Tests for jaxlab.progress: what the bar says, that it counts every epoch of every group,
and that it is silent off a terminal unless forced."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest

import jaxlab as jl
from jaxlab import progress, sweep

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm"]


def tiny_spec(**train) -> jl.Sweep:
    return jl.Sweep(data=jl.DataConfig("blobs", options={"n_samples": 120}, train_size=80),
                    model=jl.ModelConfig(hidden=(8,)),
                    train=jl.TrainConfig(**{"epochs": 4, "metrics": ("accuracy",), **train}),
                    grid={"learning_rate": [0.01, 0.1, 1.0]}, name="tiny")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report(epoch: int, epochs: int, *, acc, active, stopped=(), diverged=(), group=0,
           indices=(0, 1, 2), compile_s=1.25) -> sweep.EpochReport:
    v = len(indices)
    rec = {k: np.full(v, 0.5, np.float32) for k in METRICS}
    rec["val_accuracy"] = np.asarray(acc, np.float32)
    div = np.isin(np.arange(v), diverged)
    rec.update(trained=np.ones(v, bool), stopped=np.isin(np.arange(v), stopped),
               diverged=div, updates=np.zeros(v), examples=np.zeros(v))
    return sweep.EpochReport(group, list(indices), epoch, epochs, rec, np.asarray(active, bool),
                             div, np.full(v, -1), compile_s if epoch == 0 else 0.0)


def test_bar_shows_compile_phase_epochs_best_metric_and_counts():
    out = Terminal()
    bar = progress.ProgressBar(jl.plan(tiny_spec()), file=out)
    assert bar.enabled and bar.metric == "val_accuracy"
    bar(report(0, 4, acc=[0.5, 0.6, 0.4], active=[1, 1, 0], diverged=[2]))
    bar(report(1, 4, acc=[0.7, 0.65, np.nan], active=[1, 0, 0], stopped=[1]))
    bar.close()  # tqdm redraws at most every 0.1 s; closing draws the last state
    text = out.getvalue()
    assert "compiling" in text
    assert "group 1/1: 3 variants compiled in 1.2 s" in text
    assert "epoch 2/4" in text
    assert "best val_accuracy 0.7 (v0)" in text
    assert "1 running, 1 stopped, 1 diverged" in text
    assert bar.lines == ["group 1/1: 3 variants compiled in 1.2 s"]


def test_bar_counts_skipped_epochs_when_a_group_stops_early():
    plan = jl.plan(tiny_spec(early_stopping=True, monitor="val_loss", patience=1))
    bar = progress.ProgressBar(plan, enabled=True, file=io.StringIO())
    assert bar._bar.total == 4
    bar(report(0, 4, acc=[0.5, 0.5, 0.5], active=[1, 1, 1]))
    bar(report(1, 4, acc=[0.5, 0.5, 0.5], active=[0, 0, 0], stopped=[0, 1, 2]))
    assert bar._bar.n == 4  # done: the skipped epochs 3 and 4 are counted
    bar.close()


def test_loss_is_minimized_when_it_is_the_metric():
    bar = progress.ProgressBar(jl.plan(tiny_spec()), metric="val_loss", enabled=True,
                               file=io.StringIO())
    r = report(0, 4, acc=[0.5, 0.5, 0.5], active=[1, 1, 1])
    r.record["val_loss"] = np.float32([0.3, 0.1, 0.2])
    bar(r)
    assert (bar.best, bar.best_variant) == (pytest.approx(0.1), 1)


@pytest.mark.parametrize("names, expect", [
    (["loss", "accuracy", "val_loss", "val_accuracy"], "val_accuracy"),
    (["loss", "val_loss"], "val_loss"),
    (["loss", "mae"], "mae"),
    (["loss"], "loss"),
])
def test_default_metric(names, expect):
    assert progress.default_metric(names) == expect


def test_quiet_off_a_terminal_unless_forced():
    plan = jl.plan(tiny_spec())
    out = io.StringIO()
    bar = progress.ProgressBar(plan, file=out)
    assert not bar.enabled
    bar(report(0, 4, acc=[0.5, 0.6, 0.4], active=[1, 1, 1]))
    bar.close()
    assert out.getvalue() == ""
    assert progress.ProgressBar(plan, file=out, enabled=True).enabled


def test_run_with_progress_prints_to_stderr(capsys):
    jl.run(tiny_spec(epochs=2), progress=True, compilation_cache=False)
    err = capsys.readouterr().err
    assert "compiled in" in err and "epoch 2/2" in err and "2/2" in err
    jl.run(tiny_spec(epochs=2), progress=False, compilation_cache=False)
    assert capsys.readouterr().err == ""


def test_a_jupyter_kernel_counts_as_interactive(monkeypatch):
    class Shell:
        config = {"IPKernelApp": {}}  # what IPython's kernel app sets, as tqdm.auto checks

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: Shell()
    assert not progress.in_notebook()  # pytest is no kernel
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.in_notebook()
    assert progress.interactive(sys.stderr)
    assert not progress.interactive(io.StringIO())  # a stream of the caller's: as told
    Shell.config = {"TerminalIPythonApp": {}}  # the IPython console is not a notebook
    assert not progress.in_notebook()


def test_the_default_stream_uses_tqdm_auto_and_a_given_one_the_text_bar():
    import tqdm.auto
    import tqdm.std

    plan = jl.plan(tiny_spec())
    assert type(progress.ProgressBar(plan, enabled=False)._bar) is tqdm.auto.tqdm
    assert type(progress.ProgressBar(plan, file=io.StringIO())._bar) is tqdm.std.tqdm


def test_the_bar_shows_in_a_jupyter_notebook_by_default(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JAXLAB_COMPILATION_CACHE", "0")  # the kernel inherits it
    code = ("import jaxlab as jl\n"
            "spec = jl.Sweep(data=jl.DataConfig('blobs', options={'n_samples': 60}, "
            "train_size=40), model=jl.ModelConfig(hidden=(4,)), "
            "train=jl.TrainConfig(epochs=2), name='nb')\n"
            "result = jl.run(spec)")  # progress=None: a bar in a notebook too
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                 for o in outputs)
    assert "compiled in" in text  # the compile line, on the bar's stream
    assert widget or "2/2" in text  # a widget (ipywidgets installed) or the text bar
